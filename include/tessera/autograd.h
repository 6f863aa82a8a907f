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

// ---- hooks for libraries that act on gradients as backward produces them (distributed
// data parallel starts reducing a bucket of gradients while backward still runs) ----

// Runs after backward() has accumulated a gradient into `leaf`.grad(), once per backward
// call (a leaf used several times gets its summed gradient first), with the leaf itself.
// Not run by autograd::grad(), which never touches .grad(). Returns an id for removal.
using PostAccumulateGradHook = std::function<void(const Tensor& leaf)>;
TESSERA_API int64_t register_post_accumulate_grad_hook(const Tensor& leaf,
                                                       PostAccumulateGradHook hook);
// Removes a hook by the id register_post_accumulate_grad_hook returned (unknown ids are
// ignored, so a destructor may remove hooks of a leaf that was replaced).
TESSERA_API void remove_post_accumulate_grad_hook(const Tensor& leaf, int64_t id);
// Runs `fn` once, on this thread, when the backward() in progress has run every node
// (before backward() returns); an exception from it leaves backward() with that
// exception. Callable only from inside backward (a hook); elsewhere it is an error.
TESSERA_API void queue_callback(std::function<void()> fn);

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
