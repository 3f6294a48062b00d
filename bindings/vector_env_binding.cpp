#include "vector_env_binding.h"

#include <sstream>

namespace rlft::bindings {

py::dtype NumpyDType(DType dtype) {
  switch (dtype) {
    case DType::kBool: return py::dtype::of<bool>();
    case DType::kInt8: return py::dtype::of<int8_t>();
    case DType::kInt32: return py::dtype::of<int32_t>();
    case DType::kInt64: return py::dtype::of<int64_t>();
    case DType::kFloat32: return py::dtype::of<float>();
    case DType::kFloat64: return py::dtype::of<double>();
  }
  throw InvalidArgument("unknown dtype");
}

namespace {
std::string ShapeString(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << (shape.size() == 1 ? ",)" : ")");
  return out.str();
}
}  // namespace

void CheckArray(const py::array& array, DType dtype, const std::vector<int64_t>& shape,
                const std::string& what, bool writeable) {
  if (!array.dtype().is(NumpyDType(dtype))) {
    ThrowInvalid(what, " must have dtype ", DTypeName(dtype), ", got ",
                 std::string(py::str(array.dtype())));
  }
  std::vector<int64_t> actual(array.shape(), array.shape() + array.ndim());
  if (actual != shape) {
    ThrowInvalid(what, " must have shape ", ShapeString(shape), ", got ", ShapeString(actual));
  }
  if (!(array.flags() & py::array::c_style)) ThrowInvalid(what, " must be C-contiguous");
  if (writeable && !array.writeable()) ThrowInvalid(what, " must be writeable");
}

BufferMap BindBuffers(const py::dict& buffers, const std::vector<BufferSpec>& specs,
                      std::vector<py::array>* keep_alive) {
  BufferMap map;
  for (const auto& spec : specs) {
    const py::str key(spec.name);
    if (!buffers.contains(key)) ThrowInvalid("missing buffer '", spec.name, "'");
    py::object value = buffers[key];
    if (!py::isinstance<py::array>(value)) {
      ThrowInvalid("buffer '", spec.name, "' must be a numpy array");
    }
    auto array = py::reinterpret_borrow<py::array>(value);
    CheckArray(array, spec.dtype, spec.shape, "buffer '" + spec.name + "'", true);
    map.Set(spec, array.mutable_data());
    keep_alive->push_back(array);
  }
  if (buffers.size() != specs.size()) {
    for (auto item : buffers) {
      const auto name = py::str(item.first).cast<std::string>();
      bool known = false;
      for (const auto& spec : specs) known = known || spec.name == name;
      if (!known) ThrowInvalid("unknown buffer '", name, "'");
    }
  }
  return map;
}

py::list SpecsToPython(const std::vector<BufferSpec>& specs) {
  py::list out;
  for (const auto& spec : specs) {
    out.append(py::make_tuple(spec.name, DTypeName(spec.dtype), py::tuple(py::cast(spec.shape)),
                              spec.doc));
  }
  return out;
}

}  // namespace rlft::bindings
