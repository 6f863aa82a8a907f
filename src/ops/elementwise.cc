#include "ops/elementwise.h"

#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {

InferResult infer_binary_arith(const std::vector<Tensor>& in, const Attrs&) {
  DType dt = result_type(in);
  return {{{broadcast_shapes(in[0].sizes(), in[1].sizes(), ""), dt}}, dt};
}

OpDef kAdd{"add", 2, kElementwise | kDifferentiable, infer_binary_arith, nullptr, "Add"};

void register_elementwise_ops() { register_op(kAdd); }

}  // namespace tessera::ops

namespace tessera {

Tensor add(const Tensor& a, const Tensor& b) { return ops::call1(ops::kAdd, {a, b}); }
Tensor add(const Tensor& a, const Scalar& b) { return ops::call1(ops::kAdd, {a, ops::wrap_scalar(b)}); }

}  // namespace tessera
