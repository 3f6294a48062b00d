// Placeholder until the action parser lands.
#include "registry.h"

namespace rlft::bindings {
void RegisterText(pybind11::module_&) {}
}  // namespace rlft::bindings
