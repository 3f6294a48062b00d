// Per-instance random number generator: xoshiro256** seeded through SplitMix64 from
// (seed, stream). Every env instance owns one stream, so results never depend on batch
// size, thread count or stepping order. The distributions are written out here (not
// taken from <random>) so that the same seed gives the same numbers on every platform.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace rlft {

inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Mixes two 64-bit values into one seed; used to derive (seed, instance id) streams.
inline uint64_t MixSeed(uint64_t seed, uint64_t stream) {
  uint64_t state = seed ^ (0xD1B54A32D192ED03ULL * (stream + 1));
  SplitMix64(state);
  return SplitMix64(state);
}

// 128-bit product for Lemire's method; __extension__ keeps -Wpedantic quiet.
__extension__ using Uint128 = unsigned __int128;

class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  Rng() : Rng(0, 0) {}
  Rng(uint64_t seed, uint64_t stream) { Seed(seed, stream); }

  void Seed(uint64_t seed, uint64_t stream) {
    uint64_t sm = MixSeed(seed, stream);
    for (auto& word : s_) word = SplitMix64(sm);
  }

  uint64_t NextU64() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform double in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }

  // Unbiased integer in [0, n) (Lemire's multiply-and-reject). Requires n > 0.
  uint64_t UniformInt(uint64_t n) {
    Uint128 m = static_cast<Uint128>(NextU64()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<Uint128>(NextU64()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Standard normal by Box-Muller; one value per call, no cached spare, so the state is
  // exactly the four words (easy to checkpoint).
  double Normal() {
    double u1 = Uniform();
    while (u1 <= 0.0) u1 = Uniform();
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  double Normal(double mean, double stddev) { return mean + stddev * Normal(); }

  bool Bernoulli(double p) { return Uniform() < p; }

  const State& state() const { return s_; }
  void set_state(const State& state) { s_ = state; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  State s_{};
};

}  // namespace rlft
