// tessera._C.autograd: grad mode, backward / grad, gradcheck. The Python package adds
// no_grad / enable_grad / set_grad_enabled as context managers and decorators.
#include "common.h"

namespace tessera::python {

void init_autograd(py::module_& m) {
  auto a = m.def_submodule("autograd", "Reverse-mode automatic differentiation");
  a.def("is_grad_enabled", &autograd::is_grad_enabled);
  // Grad mode is per thread (as PyTorch's), so no GIL is needed to keep it consistent.
  a.def("set_grad_enabled", &autograd::set_grad_enabled, py::arg("mode"));
  // Autocast (docs/autocast.md) is per thread too.
  a.def("is_autocast_enabled", &is_autocast_enabled);
  a.def("set_autocast_enabled", &set_autocast_enabled, py::arg("enabled"));
  a.def("bf16_supported", &bf16_supported);
  a.def("backward",
        [](const std::vector<Tensor>& outputs, std::optional<std::vector<Tensor>> grads,
           std::optional<bool> retain_graph, bool create_graph) {
          py::gil_scoped_release r;
          autograd::backward(outputs, grads.value_or(std::vector<Tensor>{}),
                             retain_graph.value_or(create_graph), create_graph);
        },
        py::arg("tensors"), py::arg("grad_tensors") = py::none(), py::arg("retain_graph") = py::none(),
        py::arg("create_graph") = false);
  a.def("grad",
        [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
           std::optional<std::vector<Tensor>> grads, std::optional<bool> retain_graph,
           bool create_graph, bool allow_unused) {
          std::vector<Tensor> out;
          {
            py::gil_scoped_release r;
            out = autograd::grad(outputs, inputs, grads.value_or(std::vector<Tensor>{}),
                                 retain_graph.value_or(create_graph), create_graph, allow_unused);
          }
          py::tuple t(out.size());
          for (size_t i = 0; i < out.size(); ++i)
            t[i] = out[i].defined() ? py::cast(out[i]) : py::none();
          return t;
        },
        py::arg("outputs"), py::arg("inputs"), py::arg("grad_outputs") = py::none(),
        py::arg("retain_graph") = py::none(), py::arg("create_graph") = false,
        py::arg("allow_unused") = false);
  auto check = [](bool second) {
    return [second](py::function fn, const std::vector<Tensor>& inputs, double eps, double atol,
                    double rtol, bool raise_exception) {
      autograd::TensorFn f = [fn](const std::vector<Tensor>& xs) -> Tensor {
        py::gil_scoped_acquire g;
        py::tuple args(xs.size());
        for (size_t i = 0; i < xs.size(); ++i) args[i] = py::cast(xs[i]);
        return fn(*args).cast<Tensor>();
      };
      autograd::GradcheckOptions o;
      o.eps = eps;
      o.atol = atol;
      o.rtol = rtol;
      autograd::GradcheckResult r;
      {
        py::gil_scoped_release rel;
        r = second ? autograd::gradgradcheck(f, inputs, o) : autograd::gradcheck(f, inputs, o);
      }
      if (!r.ok && raise_exception) throw py::value_error("gradcheck failed: " + r.message);
      return r.ok;
    };
  };
  a.def("gradcheck", check(false), py::arg("func"), py::arg("inputs"), py::kw_only(),
        py::arg("eps") = 1e-6, py::arg("atol") = 1e-5, py::arg("rtol") = 1e-3,
        py::arg("raise_exception") = true,
        "Finite differences against the vector-Jacobian product, in float64 (inputs must be f64).");
  a.def("gradgradcheck", check(true), py::arg("func"), py::arg("inputs"), py::kw_only(),
        py::arg("eps") = 1e-6, py::arg("atol") = 1e-5, py::arg("rtol") = 1e-3,
        py::arg("raise_exception") = true);
}

}  // namespace tessera::python
