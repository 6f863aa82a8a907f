#pragma once
// Define-by-run reverse-mode autograd. Every differentiable op records a node when one of
// its inputs requires grad; backward() walks the recorded graph in reverse. Backward rules
// are written with ordinary ops, so they are themselves differentiable: create_graph=true
// gives higher-order gradients.
#include <functional>
#include <string>
#include <vector>

#include "tessera/grad_mode.h"  // is_grad_enabled, NoGradGuard, EnableGradGuard
#include "tessera/tensor.h"

namespace tessera::autograd {

// Accumulates d(outputs)/d(leaf) into every leaf's .grad(). `grad_outputs` may be empty
// when every output is a one-element tensor (the gradient 1 is implied).
TESSERA_API void backward(const std::vector<Tensor>& outputs,
                          const std::vector<Tensor>& grad_outputs = {},
                          bool retain_graph = false, bool create_graph = false);

// The functional form (TensorFlow's GradientTape): returns d(outputs)/d(inputs) without
// touching any .grad(). With create_graph the results are differentiable again.
// An input the outputs do not depend on is an error unless allow_unused (then undefined).
TESSERA_API std::vector<Tensor> grad(const std::vector<Tensor>& outputs,
                                     const std::vector<Tensor>& inputs,
                                     const std::vector<Tensor>& grad_outputs = {},
                                     bool retain_graph = false, bool create_graph = false,
                                     bool allow_unused = false);

// Finite-difference checks in float64: every input must be f64. `fn` maps the inputs to
// one tensor; the check compares the vector-Jacobian product for random projections
// with central differences.
struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  int projections = 2;
  uint64_t seed = 0;
};
struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;
  std::string message;  // what differed, where, when !ok
};
using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;
TESSERA_API GradcheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs,
                                      const GradcheckOptions& options = {});
// The same check on the gradient itself (second derivatives).
TESSERA_API GradcheckResult gradgradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs,
                                          const GradcheckOptions& options = {});

}  // namespace tessera::autograd
