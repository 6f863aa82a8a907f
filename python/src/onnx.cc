// tessera._C.onnx: ONNX import and export (include/tessera/onnx.h, docs/onnx.md). The
// user-facing API, with PyTorch's and ONNX Runtime's names, is python/tessera/onnx.py; this
// file binds the C++ calls it needs, each releasing the GIL while it parses, runs or writes.
//
// Export traces a Python callable: the C++ exporter runs with the GIL released and calls the
// function back through pybind11's std::function wrapper, which takes the GIL for the
// duration of the Python code only (the tracer is per thread, and the callback runs on the
// exporting thread, so it records the ops the Python code dispatches).
#include "common.h"
#include "tessera/onnx.h"

namespace tessera::python {
namespace {

namespace ox = tessera::onnx;

// "Conv: 2, Relu: 3" (the C++ summaries' form) -> {"Conv": 2, "Relu": 3}, in that order.
py::dict histogram_dict(const std::string& text) {
  py::dict d;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(", ", pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    const size_t colon = item.rfind(": ");
    if (colon != std::string::npos) d[py::str(item.substr(0, colon))] = std::stoll(item.substr(colon + 2));
    pos = end + 2;
  }
  return d;
}

// A declared shape as Python sees it: None when the file declares none, else a tuple of
// ints, with a symbolic dim as its dim_param (a str) or None when it is unnamed.
py::object shape_of(const ox::ValueInfo& v) {
  if (!v.has_shape) return py::none();
  py::tuple t(v.dims.size());
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (v.dims[i] >= 0) {
      t[i] = py::int_(v.dims[i]);
    } else {
      const std::string name = i < v.dim_names.size() ? v.dim_names[i] : std::string();
      t[i] = name.empty() ? py::object(py::none()) : py::object(py::str(name));
    }
  }
  return std::move(t);
}

py::dict summary_dict(const ox::ExportSummary& s) {
  py::dict d;
  d["opset"] = s.opset;
  d["num_nodes"] = s.num_nodes;
  d["num_initializers"] = s.num_initializers;
  d["op_histogram"] = histogram_dict(s.op_histogram);
  return d;
}

ox::ExportOptions export_options(int64_t opset, std::vector<std::string> input_names,
                                 std::vector<std::string> output_names,
                                 std::map<std::string, std::map<int64_t, std::string>> dynamic_axes,
                                 bool dynamic_batch, std::vector<std::pair<std::string, Tensor>> tensor_names,
                                 std::string producer_name) {
  ox::ExportOptions o;
  o.opset = opset;
  o.input_names = std::move(input_names);
  o.output_names = std::move(output_names);
  o.dynamic_axes = std::move(dynamic_axes);
  o.dynamic_batch = dynamic_batch;
  o.tensor_names = std::move(tensor_names);
  if (!producer_name.empty()) o.producer_name = std::move(producer_name);
  return o;
}

// Bytes and the summary of what was written.
py::tuple export_bytes(const ox::FunctionToExport& fn, const std::vector<Tensor>& inputs,
                       const ox::ExportOptions& options) {
  ox::ExportSummary summary;
  std::string bytes;
  {
    py::gil_scoped_release release;
    bytes = ox::export_function_to_bytes(fn, inputs, options, &summary);
  }
  return py::make_tuple(py::bytes(bytes), summary_dict(summary));
}

ox::ImportOptions import_options(bool trainable, std::optional<int64_t> max_tensor_bytes,
                                 std::optional<int64_t> max_file_bytes) {
  ox::ImportOptions o;
  o.trainable = trainable;
  if (max_tensor_bytes) o.max_tensor_bytes = *max_tensor_bytes;
  if (max_file_bytes) o.max_file_bytes = *max_file_bytes;
  return o;
}

}  // namespace

void init_onnx(py::module_& m) {
  auto o = m.def_submodule("onnx", "ONNX import and export (use tessera.onnx, not this module)");

  py::class_<ox::ValueInfo>(o, "ValueInfo", "A graph input or output as the ONNX file declares it.")
      .def_readonly("name", &ox::ValueInfo::name)
      .def_readonly("dtype", &ox::ValueInfo::dtype)
      .def_property_readonly("shape", &shape_of,
                             "A tuple of ints, a symbolic dim as its name (str) or None when unnamed; "
                             "None when the file declares no shape.")
      .def("__repr__", [](const ox::ValueInfo& v) {
        return "ValueInfo(name=" + py::repr(py::str(v.name)).cast<std::string>() + ", dtype=" + dtype_repr(v.dtype) +
               ", shape=" + py::repr(shape_of(v)).cast<std::string>() + ")";
      });

  py::class_<ox::Model>(o, "Model", "An imported ONNX model (tessera.onnx.Model wraps it).")
      .def_property_readonly("inputs", &ox::Model::inputs)
      .def_property_readonly("outputs", &ox::Model::outputs)
      .def_property_readonly("opset", &ox::Model::opset)
      .def_property_readonly("ir_version", &ox::Model::ir_version)
      .def_property_readonly("producer", &ox::Model::producer)
      .def_property_readonly("num_nodes", &ox::Model::num_nodes)
      .def("op_histogram", [](const ox::Model& mod) { return histogram_dict(mod.op_histogram()); },
           "Nodes per operator, sorted by operator name.")
      .def("initializers", &ox::Model::parameters,
           "(name, tensor) for every initializer, in file order: the tensors the model reads.")
      .def("run", [](const ox::Model& mod, const std::vector<Tensor>& inputs) {
        py::gil_scoped_release r;
        return mod.run(inputs);
      }, py::arg("inputs"), "Runs the nodes eagerly; the outputs in file order.")
      .def("compile", [](const ox::Model& mod, bool optimize, bool freeze, bool dynamic_batch, bool dump,
                         size_t max_cached_graphs) {
        CompileOptions opts;
        opts.optimize = optimize;
        opts.freeze = freeze;
        opts.dynamic_batch = dynamic_batch;
        opts.dump = dump;
        opts.max_cached_graphs = max_cached_graphs;
        return PyCompiled{mod.compile(opts), std::make_shared<ResultKind>()};
      }, py::kw_only(), py::arg("optimize") = true, py::arg("freeze") = false, py::arg("dynamic_batch") = false,
           py::arg("dump") = false, py::arg("max_cached_graphs") = 8,
           "A tessera.CompiledFunction of run(): one output as a Tensor, several as a tuple.");

  o.def("import_model", [](const std::string& path, bool trainable, std::optional<int64_t> max_tensor_bytes,
                           std::optional<int64_t> max_file_bytes) {
    const ox::ImportOptions opts = import_options(trainable, max_tensor_bytes, max_file_bytes);
    py::gil_scoped_release r;
    return ox::import_model(path, opts);
  }, py::arg("path"), py::kw_only(), py::arg("trainable") = false, py::arg("max_tensor_bytes") = py::none(),
        py::arg("max_file_bytes") = py::none());
  // string_view over the bytes object's own buffer: no copy; the argument keeps it alive.
  o.def("import_model_from_bytes", [](py::bytes data, const std::string& base_dir, bool trainable,
                                      std::optional<int64_t> max_tensor_bytes, std::optional<int64_t> max_file_bytes) {
    const ox::ImportOptions opts = import_options(trainable, max_tensor_bytes, max_file_bytes);
    const auto view = static_cast<std::string_view>(data);
    py::gil_scoped_release r;
    return ox::import_model_from_bytes(view, base_dir, opts);
  }, py::arg("data"), py::arg("base_dir") = "", py::kw_only(), py::arg("trainable") = false,
        py::arg("max_tensor_bytes") = py::none(), py::arg("max_file_bytes") = py::none());

  o.def("export_function_to_bytes", [](const ox::FunctionToExport& fn, const std::vector<Tensor>& inputs,
                                       int64_t opset, std::vector<std::string> input_names,
                                       std::vector<std::string> output_names,
                                       std::map<std::string, std::map<int64_t, std::string>> dynamic_axes,
                                       bool dynamic_batch, std::vector<std::pair<std::string, Tensor>> tensor_names,
                                       std::string producer_name) {
    return export_bytes(fn, inputs,
                        export_options(opset, std::move(input_names), std::move(output_names), std::move(dynamic_axes),
                                       dynamic_batch, std::move(tensor_names), std::move(producer_name)));
  }, py::arg("fn"), py::arg("inputs"), py::kw_only(), py::arg("opset") = 17,
        py::arg("input_names") = std::vector<std::string>{}, py::arg("output_names") = std::vector<std::string>{},
        py::arg("dynamic_axes") = std::map<std::string, std::map<int64_t, std::string>>{},
        py::arg("dynamic_batch") = false,
        py::arg("tensor_names") = std::vector<std::pair<std::string, Tensor>>{}, py::arg("producer_name") = "",
        "fn(list of tensors) -> list of tensors, traced on inputs: (ModelProto bytes, summary).");
  o.def("export_compiled_to_bytes", [](const PyCompiled& c, const std::vector<Tensor>& inputs, int64_t opset,
                                       std::vector<std::string> input_names, std::vector<std::string> output_names,
                                       std::map<std::string, std::map<int64_t, std::string>> dynamic_axes,
                                       bool dynamic_batch, std::vector<std::pair<std::string, Tensor>> tensor_names,
                                       std::string producer_name) {
    // As export_compiled: the function traced afresh, before the passes.
    const CompiledFunction::Fn& fn = c.fn.function();
    if (!fn)
      throw_error(ErrorKind::InvalidArgument,
                  "ONNX export: this compiled function was loaded from a file (load_compiled) and has no function "
                  "to trace; export the model it was saved from");
    return export_bytes(fn, inputs,
                        export_options(opset, std::move(input_names), std::move(output_names), std::move(dynamic_axes),
                                       dynamic_batch, std::move(tensor_names), std::move(producer_name)));
  }, py::arg("compiled"), py::arg("inputs"), py::kw_only(), py::arg("opset") = 17,
        py::arg("input_names") = std::vector<std::string>{}, py::arg("output_names") = std::vector<std::string>{},
        py::arg("dynamic_axes") = std::map<std::string, std::map<int64_t, std::string>>{},
        py::arg("dynamic_batch") = false,
        py::arg("tensor_names") = std::vector<std::pair<std::string, Tensor>>{}, py::arg("producer_name") = "");

  o.def("inspect_file", [](const std::string& path) {
    ox::FileReport rep;
    {
      py::gil_scoped_release r;
      rep = ox::inspect_file(path);
    }
    py::dict d;
    d["format"] = rep.format;
    d["details"] = rep.details;
    d["inputs"] = py::cast(rep.inputs);
    d["outputs"] = py::cast(rep.outputs);
    d["op_histogram"] = histogram_dict(rep.op_histogram);
    d["num_nodes"] = rep.num_nodes;
    d["parameters"] = rep.parameters;
    d["parameter_bytes"] = rep.parameter_bytes;
    py::dict tensors;
    for (const auto& [name, desc] : rep.tensors) tensors[py::str(name)] = desc;
    d["tensors"] = tensors;
    d["flops"] = rep.flops < 0 ? py::object(py::none()) : py::object(py::int_(rep.flops));
    d["flops_note"] = rep.flops_note;
    return d;
  }, py::arg("path"), "An ONNX or safetensors file's report (as `tessera inspect` prints it), as a dict.");

  o.def("load_tensor", &ox::load_tensor, py::arg("path"), GilRelease(),
        "A serialized TensorProto (.pb, as ONNX's test data) as a Tensor.");
  o.def("supported_ops", [] {
    py::list rows;
    for (const ox::OpSupport& s : ox::supported_ops()) {
      py::dict d;
      d["onnx_op"] = s.onnx_op;
      d["since_opset"] = s.since_opset;
      d["tessera"] = s.tessera;
      d["exports"] = s.exports;
      d["exported_from"] = s.exported_from;
      rows.append(d);
    }
    return rows;
  }, "The operator table: what each ONNX operator imports as, and which Tessera ops export to it.");
}

}  // namespace tessera::python
