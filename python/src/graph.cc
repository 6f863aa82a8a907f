// tessera.compile / tessera.load_compiled: graph mode (docs/graph.md) over any Python
// callable that takes and returns tensors, nn.Module included.
//
// The C++ compiled function calls the Python callable only when it traces (the first call
// per signature, or a retrace); it holds the callable (and so a module) alive. The GIL is
// released while a call runs and taken back only around the traced Python code, so calls
// answered by a cached graph run in parallel with other Python threads.
#include "common.h"

namespace tessera::python {
namespace {

std::vector<Tensor> tensors_of(const py::object& result, ResultKind& kind) {
  if (py::isinstance<Tensor>(result)) {
    kind.single = true;
    return {result.cast<Tensor>()};
  }
  if (py::isinstance<py::tuple>(result) || py::isinstance<py::list>(result)) {
    kind.single = false;
    kind.list = py::isinstance<py::list>(result);
    std::vector<Tensor> out;
    for (py::handle h : result) {
      if (!py::isinstance<Tensor>(h))
        throw py::type_error(std::string("compile: the function must return a Tensor or a tuple/list of "
                                         "Tensors; one element is ") + py::str(py::type::of(h)).cast<std::string>());
      out.push_back(h.cast<Tensor>());
    }
    return out;
  }
  throw py::type_error(std::string("compile: the function must return a Tensor or a tuple/list of Tensors, got ") +
                       py::str(py::type::of(result)).cast<std::string>());
}

py::object call(PyCompiled& c, const py::args& args) {
  std::vector<Tensor> inputs;
  for (py::handle h : args) {
    if (!py::isinstance<Tensor>(h))
      throw py::type_error(std::string("compiled function: every argument must be a Tensor, got ") +
                           py::str(py::type::of(h)).cast<std::string>());
    inputs.push_back(h.cast<Tensor>());
  }
  std::vector<Tensor> out;
  {
    py::gil_scoped_release release;
    out = c.fn(inputs);
  }
  if (c.kind->single && out.size() == 1) return py::cast(out[0]);
  py::list l;
  for (const Tensor& t : out) l.append(py::cast(t));
  if (c.kind->list) return std::move(l);
  return py::tuple(l);
}

CompileOptions options_of(bool optimize, bool freeze, bool dynamic_batch, bool dump, size_t max_cached_graphs) {
  CompileOptions o;
  o.optimize = optimize;
  o.freeze = freeze;
  o.dynamic_batch = dynamic_batch;
  o.dump = dump;
  o.max_cached_graphs = max_cached_graphs;
  return o;
}

}  // namespace

void init_graph(py::module_& m) {
  py::class_<PyCompiled>(m, "CompiledFunction",
                         "A function (or module) compiled into graphs: see tessera.compile.")
      .def("__call__", &call)
      .def_property_readonly("stats", [](const PyCompiled& c) {
        const CompileStats s = c.fn.stats();
        py::dict d;
        d["traces"] = s.traces;
        d["graph_runs"] = s.graph_runs;
        d["evictions"] = s.evictions;
        d["batch_respecializations"] = s.batch_respecializations;
        return d;
      }, "traces, graph_runs, evictions and batch_respecializations so far")
      .def_property_readonly("cached_graphs", [](const PyCompiled& c) { return c.fn.cached_graphs(); })
      .def("last_graph", [](const PyCompiled& c) { return c.fn.last_graph(); },
           "The optimized graph the last call used, as text.")
      .def("save", [](const PyCompiled& c, const std::string& path) {
        py::gil_scoped_release r;
        c.fn.save(path);
      }, py::arg("path"), "Writes the last call's graph and its weights to one safetensors file.");

  m.def("compile", [](py::object fn, bool optimize, bool freeze, bool dynamic_batch, bool dump,
                      size_t max_cached_graphs) {
    if (!PyCallable_Check(fn.ptr()))
      throw py::type_error(std::string("compile: expected a function or an nn.Module, got ") +
                           py::str(py::type::of(fn)).cast<std::string>());
    auto kind = std::make_shared<ResultKind>();
    // The std::function holds the Python callable; it is destroyed with the compiled
    // function, from Python (the GIL held).
    auto held = std::make_shared<py::object>(std::move(fn));
    CompiledFunction::Fn traced = [held, kind](const std::vector<Tensor>& inputs) {
      py::gil_scoped_acquire gil;
      py::tuple args(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i) args[i] = py::cast(inputs[i]);
      return tensors_of((*held)(*args), *kind);
    };
    return PyCompiled{compile(std::move(traced), options_of(optimize, freeze, dynamic_batch, dump, max_cached_graphs)),
                      kind};
  }, py::arg("fn"), py::kw_only(), py::arg("optimize") = true, py::arg("freeze") = false,
        py::arg("dynamic_batch") = false, py::arg("dump") = false, py::arg("max_cached_graphs") = 8,
        R"(Compiles fn (a function of tensors, or an nn.Module) into graphs.

The first call per input signature traces fn (its results are eager ones) and optimizes the
graph; later calls run the graph. freeze: weights become constants (inference);
dynamic_batch: another batch size re-derives a cached graph instead of tracing.
See docs/graph.md.)");

  m.def("load_compiled", [](const std::string& path, bool dynamic_batch, size_t max_cached_graphs) {
    CompileOptions o;
    o.dynamic_batch = dynamic_batch;
    o.max_cached_graphs = max_cached_graphs;
    CompiledFunction f = [&] {
      py::gil_scoped_release r;
      return load_compiled(path, o);
    }();
    auto kind = std::make_shared<ResultKind>();
    // (ResultKind's default: one output comes back as a Tensor, several as a tuple)
    PyCompiled c{std::move(f), kind};
    return c;
  }, py::arg("path"), py::kw_only(), py::arg("dynamic_batch") = false, py::arg("max_cached_graphs") = 8,
        "Loads a graph saved by CompiledFunction.save.");
}

}  // namespace tessera::python
