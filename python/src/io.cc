// tessera._C.io: safetensors files, checkpoints and NPY.
#include "common.h"

namespace tessera::python {

void init_io(py::module_& m) {
  auto io = m.def_submodule("io", "safetensors, checkpoints, NPY");
  io.def("save_safetensors", [](const std::string& path, const StateDict& tensors, const Metadata& meta) {
    py::gil_scoped_release r;
    save_safetensors(path, tensors, meta);
  }, py::arg("path"), py::arg("tensors"), py::arg("metadata") = Metadata{});
  io.def("load_safetensors", [](const std::string& path) {
    SafetensorsContents c;
    {
      py::gil_scoped_release r;
      c = load_safetensors(path);
    }
    return py::make_tuple(c.tensors, c.metadata);
  }, py::arg("path"));
  io.def("save_checkpoint", [](const std::string& path, const StateDict& model, const StateDict& opt,
                               const Metadata& meta, const StateDict& sched) {
    py::gil_scoped_release r;
    save_checkpoint(path, Checkpoint{model, opt, sched, meta});
  }, py::arg("path"), py::arg("model_state"), py::arg("optimizer_state") = StateDict{},
         py::arg("metadata") = Metadata{}, py::arg("scheduler_state") = StateDict{});
  io.def("load_checkpoint", [](const std::string& path) {
    Checkpoint c;
    {
      py::gil_scoped_release r;
      c = load_checkpoint(path);
    }
    return py::make_tuple(c.model, c.optimizer, c.scheduler, c.metadata);
  }, py::arg("path"));
  io.def("load_npy", &load_npy, py::arg("path"), GilRelease());
  io.def("save_npy", &save_npy, py::arg("path"), py::arg("tensor"), GilRelease());
}

}  // namespace tessera::python
