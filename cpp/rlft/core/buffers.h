// Batch buffers: arrays owned by the caller (numpy in Python, std::vector in C++ tests)
// that the envs write into. An env declares the buffers it needs as BufferSpecs; the
// caller allocates them, and a BufferMap hands their data pointers to the env after the
// binding has checked dtype, shape and contiguity once.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "rlft/core/check.h"

namespace rlft {

enum class DType : uint8_t { kBool, kInt8, kInt32, kInt64, kFloat32, kFloat64 };

template <class T> constexpr DType DTypeOf();
template <> constexpr DType DTypeOf<bool>() { return DType::kBool; }
template <> constexpr DType DTypeOf<int8_t>() { return DType::kInt8; }
template <> constexpr DType DTypeOf<int32_t>() { return DType::kInt32; }
template <> constexpr DType DTypeOf<int64_t>() { return DType::kInt64; }
template <> constexpr DType DTypeOf<float>() { return DType::kFloat32; }
template <> constexpr DType DTypeOf<double>() { return DType::kFloat64; }

inline const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kBool: return "bool";
    case DType::kInt8: return "int8";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
  }
  return "unknown";
}

inline int64_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kBool: case DType::kInt8: return 1;
    case DType::kInt32: case DType::kFloat32: return 4;
    case DType::kInt64: case DType::kFloat64: return 8;
  }
  return 0;
}

struct BufferSpec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;  // first dimension is the batch
  std::string doc;
};

inline int64_t NumElements(const BufferSpec& spec) {
  int64_t n = 1;
  for (int64_t d : spec.shape) n *= d;
  return n;
}

// Name -> data pointer of a checked buffer.
class BufferMap {
 public:
  void Set(const BufferSpec& spec, void* data) { entries_[spec.name] = Entry{spec.dtype, data}; }

  template <class T>
  T* Get(const std::string& name) const {
    auto it = entries_.find(name);
    Check(it != entries_.end(), "missing buffer '", name, "'");
    Check(it->second.dtype == DTypeOf<T>(), "buffer '", name, "' has dtype ",
          DTypeName(it->second.dtype), ", expected ", DTypeName(DTypeOf<T>()));
    return static_cast<T*>(it->second.data);
  }

 private:
  struct Entry {
    DType dtype;
    void* data;
  };
  std::unordered_map<std::string, Entry> entries_;
};

// Owns std::vector storage for every spec: the C++ tests' stand-in for numpy buffers.
class OwnedBuffers {
 public:
  explicit OwnedBuffers(const std::vector<BufferSpec>& specs) {
    storage_.reserve(specs.size());
    for (const auto& spec : specs) {
      storage_.emplace_back(static_cast<size_t>(NumElements(spec) * DTypeSize(spec.dtype)));
      map_.Set(spec, storage_.back().data());
    }
  }
  const BufferMap& map() const { return map_; }
  template <class T>
  T* Get(const std::string& name) const { return map_.Get<T>(name); }

 private:
  // 8-byte words keep every buffer aligned for any dtype.
  struct alignas(8) Word { uint8_t bytes[8]; };
  struct Storage {
    explicit Storage(size_t bytes) : words((bytes + 7) / 8) {}
    void* data() { return words.data(); }
    std::vector<Word> words;
  };
  std::vector<Storage> storage_;
  BufferMap map_;
};

}  // namespace rlft
