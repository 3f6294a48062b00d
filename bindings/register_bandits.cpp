// Placeholder until the bandit envs land (filled in by the bandits work).
#include "registry.h"

namespace rlft::bindings {
void RegisterBandits(pybind11::module_&) {}
}  // namespace rlft::bindings
