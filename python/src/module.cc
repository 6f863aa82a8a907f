// tessera._C: the extension module. Registers the exception classes that tessera::Error
// kinds become, then each binding file's part.
#include "common.h"

namespace tessera::python {
namespace {

// Exception classes: each is a tessera.Error (a RuntimeError, as PyTorch raises for op
// errors) and also the built-in exception a Python caller would expect for its kind, so
// both `except ValueError` and `except RuntimeError` catch a bad shape.
py::object make_exception(py::module_& m, const char* name, py::tuple bases, const char* doc) {
  std::string full = std::string("tessera.") + name;
  PyObject* e = PyErr_NewExceptionWithDoc(full.c_str(), doc, bases.ptr(), nullptr);
  if (!e) throw py::error_already_set();
  py::object cls = py::reinterpret_steal<py::object>(e);
  m.attr(name) = cls;
  return cls;
}

}  // namespace
}  // namespace tessera::python

PYBIND11_MODULE(_C, m) {
  using namespace tessera;
  using namespace tessera::python;
  m.doc() = "Tessera's C++ core (import tessera, not this module)";
  // The bindings' calls into the core are Tessera's own, not the user's: errors should not
  // name a line of these files (include/tessera/call_site.h). Their build names files from
  // its own root, which this file's name gives.
  {
    const std::string self = CallSite::current().file_name();
    const std::string tail = "python/src/module.cc";
    if (self.size() >= tail.size() && self.compare(self.size() - tail.size(), tail.size(), tail) == 0)
      detail::register_library_sources(self.substr(0, self.size() - tail.size()).c_str());
  }

  py::object base = make_exception(m, "Error", py::make_tuple(py::handle(PyExc_RuntimeError)),
                                   "Any error raised by Tessera's C++ core.");
  static py::object invalid = make_exception(
      m, "InvalidArgumentError", py::make_tuple(base, py::handle(PyExc_ValueError)),
      "The caller's mistake: a wrong shape, dtype, attribute or option, or corrupt file content.");
  static py::object io = make_exception(m, "IOError", py::make_tuple(base, py::handle(PyExc_OSError)),
                                        "A file or folder is missing, unreadable or unwritable.");
  static py::object oom = make_exception(m, "OutOfMemoryError",
                                         py::make_tuple(base, py::handle(PyExc_MemoryError)),
                                         "An allocation failed.");
  static py::object notimpl = make_exception(
      m, "NotImplementedError", py::make_tuple(base, py::handle(PyExc_NotImplementedError)),
      "A valid request Tessera does not support (yet).");
  static py::object internal = make_exception(m, "InternalError", py::make_tuple(base),
                                              "A broken invariant: a bug in Tessera.");
  static py::object base_s = base;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      PyObject* cls = base_s.ptr();
      switch (e.kind()) {
        case ErrorKind::InvalidArgument: cls = invalid.ptr(); break;
        case ErrorKind::IO: cls = io.ptr(); break;
        case ErrorKind::OutOfMemory: cls = oom.ptr(); break;
        case ErrorKind::NotImplemented: cls = notimpl.ptr(); break;
        case ErrorKind::Internal: cls = internal.ptr(); break;
      }
      PyErr_SetString(cls, e.what());
    }
  });

  py::class_<Generator>(m, "Generator", "A Philox random generator (seed, offset).")
      .def(py::init<uint64_t>(), py::arg("seed") = 0x5eed)
      .def("manual_seed", [](Generator& g, uint64_t s) -> Generator& {
        g.manual_seed(s);
        return g;
      }, py::arg("seed"), py::return_value_policy::reference_internal)
      .def("initial_seed", &Generator::seed)
      .def("seed", &Generator::seed)
      .def_property("offset", &Generator::offset, &Generator::set_offset);
  m.def("manual_seed", [](uint64_t s) { manual_seed(s); }, py::arg("seed"),
        "Reseeds the default generator (initialization, dropout, rand...).");
  m.def("default_generator", &default_generator, py::return_value_policy::reference);
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.attr("__version__") = "0.1.0";

  init_dtype(m);
  init_tensor(m);
  init_ops(m);
  init_autograd(m);
  init_nn(m);
  init_optim(m);
  init_data(m);
  init_train(m);
  init_io(m);
  init_graph(m);
  init_onnx(m);
}
