// rlft._core.ActionParser: the C++ action parser over a batch of Python str/bytes.
// The texts are pinned (a tuple holds a reference to every item) and viewed in place while
// the GIL is held; the scan itself runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry.h"
#include "rlft/core/check.h"
#include "rlft/core/thread_pool.h"
#include "rlft/text/action_parser.h"
#include "vector_env_binding.h"

namespace rlft::bindings {

namespace py = pybind11;

namespace {

// A view of one text. A str is read in place in CPython's own layout (1, 2 or 4 bytes per
// code point), so no UTF-8 copy is made or cached on the object; bytes are read as UTF-8; a
// bytearray (mutable) is copied first, the copy kept alive in `owned`.
// index < 0: a single text (named so in errors).
text::TextRef TextView(py::handle item, int64_t index, std::vector<py::object>* owned) {
  PyObject* obj = item.ptr();
  if (PyUnicode_Check(obj)) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(obj) != 0) throw py::error_already_set();
#endif
    using Encoding = text::TextRef::Encoding;
    const int kind = PyUnicode_KIND(obj);
    const Encoding encoding = kind == PyUnicode_1BYTE_KIND   ? Encoding::kLatin1
                              : kind == PyUnicode_2BYTE_KIND ? Encoding::kUcs2
                                                             : Encoding::kUcs4;
    return {PyUnicode_DATA(obj), static_cast<size_t>(PyUnicode_GET_LENGTH(obj)), encoding};
  }
  if (PyByteArray_Check(obj)) {
    PyObject* copy =
        PyBytes_FromStringAndSize(PyByteArray_AS_STRING(obj), PyByteArray_GET_SIZE(obj));
    if (copy == nullptr) throw py::error_already_set();
    owned->push_back(py::reinterpret_steal<py::object>(copy));
    obj = copy;
  } else if (!PyBytes_Check(obj)) {
    const std::string what = index < 0 ? "text" : "texts[" + std::to_string(index) + "]";
    throw py::type_error(what + " must be str or bytes, got " + std::string(Py_TYPE(obj)->tp_name));
  }
  return text::TextRef::Utf8({PyBytes_AS_STRING(obj), static_cast<size_t>(PyBytes_GET_SIZE(obj))});
}

class PyActionParser {
 public:
  PyActionParser(std::vector<std::string> labels, std::vector<std::string> patterns,
                 int num_threads)
      : parser_(std::move(labels), std::move(patterns)) {
    Check(num_threads >= 1, "num_threads must be >= 1, got ", num_threads);
    if (num_threads > 1) pool_ = std::make_unique<ThreadPool>(num_threads);
  }

  py::tuple Parse(const py::object& texts, const std::optional<py::array>& legal_mask) {
    if (!PyList_Check(texts.ptr()) && !PyTuple_Check(texts.ptr())) {
      throw py::type_error("texts must be a list or tuple of str/bytes, got " +
                           std::string(Py_TYPE(texts.ptr())->tp_name));
    }
    // A tuple copy holds its own reference to every item, so a list changed by another
    // thread while the GIL is released cannot free a text under the scan.
    const auto pinned = py::reinterpret_steal<py::tuple>(PySequence_Tuple(texts.ptr()));
    if (!pinned) throw py::error_already_set();
    const auto count = static_cast<int64_t>(pinned.size());
    std::vector<text::TextRef> views(static_cast<size_t>(count));
    std::vector<py::object> owned;
    for (int64_t i = 0; i < count; ++i) {
      views[static_cast<size_t>(i)] =
          TextView(pinned[static_cast<size_t>(i)], i, &owned);
    }
    const bool* legal = nullptr;
    if (legal_mask.has_value()) {
      CheckArray(*legal_mask, DType::kBool, {count, parser_.num_labels()}, "legal_mask", false);
      legal = static_cast<const bool*>(legal_mask->data());
    }
    py::array_t<int32_t> actions(count);
    py::array_t<int8_t> statuses(count);
    int32_t* action_data = actions.mutable_data();
    int8_t* status_data = statuses.mutable_data();
    {
      py::gil_scoped_release release;
      const text::TextRef* view_data = views.data();
      if (pool_ == nullptr) {
        parser_.ParseRange(view_data, 0, count, legal, action_data, status_data);
      } else {
        // One batch at a time per parser: the pool runs one ParallelFor at once.
        std::lock_guard<std::mutex> lock(pool_mutex_);
        pool_->ParallelFor(count, [&](int64_t begin, int64_t end) {
          parser_.ParseRange(view_data, begin, end, legal, action_data, status_data);
        });
      }
    }
    return py::make_tuple(actions, statuses);
  }

  py::tuple ParseOne(const py::object& text, const std::optional<py::array>& legal_row) {
    std::vector<py::object> owned;
    const text::TextRef view = TextView(text, -1, &owned);
    const bool* legal = nullptr;
    if (legal_row.has_value()) {
      CheckArray(*legal_row, DType::kBool, {parser_.num_labels()}, "legal", false);
      legal = static_cast<const bool*>(legal_row->data());
    }
    text::ParseOutcome outcome;
    {
      py::gil_scoped_release release;
      outcome = parser_.Parse(view, legal);
    }
    return py::make_tuple(outcome.action, static_cast<int>(outcome.status));
  }

  const text::ActionParser& parser() const { return parser_; }
  int num_threads() const { return pool_ == nullptr ? 1 : pool_->num_threads(); }

 private:
  text::ActionParser parser_;
  std::unique_ptr<ThreadPool> pool_;
  std::mutex pool_mutex_;
};

}  // namespace

void RegisterText(py::module_& m) {
  py::class_<PyActionParser>(
      m, "ActionParser",
      "Extracts action indices from model generations; see rlft.text.parser for the rules.")
      .def(py::init<std::vector<std::string>, std::vector<std::string>, int>(), py::arg("labels"),
           py::arg("patterns"), py::arg("num_threads") = 1,
           "labels and patterns as UTF-8 bytes (or str); raises ValueError on bad ones.")
      .def("parse", &PyActionParser::Parse, py::arg("texts"), py::arg("legal_mask") = py::none(),
           "Parse a list/tuple of str/bytes; returns (actions int32[B], status int8[B]).")
      .def("parse_one", &PyActionParser::ParseOne, py::arg("text"), py::arg("legal") = py::none(),
           "Parse one str/bytes; returns (action, status).")
      .def_property_readonly("num_labels",
                             [](const PyActionParser& p) { return p.parser().num_labels(); })
      .def_property_readonly("num_threads", &PyActionParser::num_threads)
      .def_property_readonly(
          "labels", [](const PyActionParser& p) {
            py::list out;
            for (const auto& label : p.parser().labels()) out.append(py::bytes(label));
            return out;
          })
      .def_property_readonly("patterns", [](const PyActionParser& p) {
        py::list out;
        for (const auto& pattern : p.parser().patterns()) out.append(py::bytes(pattern));
        return out;
      });
  m.attr("PARSE_MAX_OPENERS") = text::kMaxOpeners;
}

}  // namespace rlft::bindings
