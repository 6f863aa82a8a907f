// Copies and conversions: clone, to(dtype), contiguous, copy_, fill_.
#include "ops/copy.h"

#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

InferResult infer_clone(const std::vector<Tensor>& in, const Attrs&) {
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}

InferResult infer_cast(const std::vector<Tensor>& in, const Attrs& attrs) {
  return {{{Shape(in[0].sizes()), attrs.get<DType>("dtype")}}, std::nullopt};
}

// The gradient passes through (the engine casts it back to the input's dtype).
std::vector<Tensor> identity_backward(const BackwardCall& c) { return {c.grad(0)}; }

}  // namespace

OpDef kClone{"clone", 1, kElementwise | kDifferentiable, infer_clone, nullptr, "Identity",
             identity_backward};
OpDef kCast{"cast", 1, kElementwise | kDifferentiable, infer_cast, nullptr, "Cast", identity_backward};

void register_copy_ops() {
  register_op(kClone);
  register_op(kCast);
}

}  // namespace tessera::ops

namespace tessera {

Tensor Tensor::clone() const { return ops::call1(ops::kClone, {*this}); }

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  return ops::call1(ops::kCast, {*this}, {{"dtype", dtype}});
}

Tensor& Tensor::copy_(const Tensor& src) {
  TESSERA_CHECK(src.defined(), "copy_: the source tensor is undefined");
  ops::broadcast_shapes(sizes(), src.sizes(), "copy_");
  Shape target = ops::broadcast_shapes(sizes(), src.sizes(), "copy_");
  TESSERA_CHECK(IntArrayRef(target).equals(sizes()), "copy_: source ", src.describe(),
                " does not broadcast to the destination ", describe());
  // A source overlapping the destination (e.g. x.copy_(x.t())) is copied out first.
  const Tensor source = shares_storage(src) && !src.is_same(*this) ? src.clone() : src;
  cpu::copy_into(*this, source);
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::fill_(const Scalar& value) {
  TESSERA_CHECK(!(value.is_floating() && !is_floating(dtype())), "fill_: cannot fill a ",
                dtype_name(dtype()), " tensor with the floating value ", value.str());
  cpu::fill(*this, value);
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0); }

}  // namespace tessera
