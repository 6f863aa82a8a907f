// Copies and conversions: clone, to(dtype), contiguous, copy_, fill_.
#include "ops/copy.h"

#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

InferResult infer_clone(const std::vector<InputMeta>& in, const Attrs&) {
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}

InferResult infer_cast(const std::vector<InputMeta>& in, const Attrs& attrs) {
  return {{{Shape(in[0].sizes()), attrs.get<DType>("dtype")}}, std::nullopt};
}

// The gradient passes through (the engine casts it back to the input's dtype).
std::vector<Tensor> identity_backward(const BackwardCall& c) { return {c.grad(0)}; }

InferResult infer_copy(const std::vector<InputMeta>& in, const Attrs&) {
  const Shape target = broadcast_shapes(in[0].sizes(), in[1].sizes(), "copy_");
  TESSERA_CHECK(IntArrayRef(target).equals(in[0].sizes()), "copy_: source ", in[1].describe(),
                " does not broadcast to the destination ", in[0].describe());
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}

// The overwritten value gets a zero gradient (as PyTorch's CopyBackwards); the source
// gets the gradient, summed over the dims it was broadcast along.
std::vector<Tensor> copy_backward(const BackwardCall& c) {
  return {c.needs(0) ? zeros_like(c.grad(0)) : Tensor(),
          c.needs(1) ? sum_to(c.grad(0), c.input_sizes(1)) : Tensor()};
}

InferResult infer_fill(const std::vector<InputMeta>& in, const Attrs& attrs) {
  const Scalar& value = attrs.scalar("value");
  TESSERA_CHECK(!(value.is_floating() && !is_floating(in[0].dtype())), "fill_: cannot fill a ",
                dtype_name(in[0].dtype()), " tensor with the floating value ", value.str());
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}

std::vector<Tensor> fill_backward(const BackwardCall& c) {
  return {c.needs(0) ? zeros_like(c.grad(0)) : Tensor()};
}

}  // namespace

OpDef kClone{"clone", 1, kElementwise | kDifferentiable, {}, infer_clone, nullptr, "Identity",
             identity_backward};
OpDef kCast{"cast", 1, kElementwise | kDifferentiable,
            {attr("dtype", AttrType::DType)},
            infer_cast, nullptr, "Cast", identity_backward};
OpDef kCopy{"copy_", 2, kDifferentiable, {}, infer_copy, nullptr, nullptr, copy_backward, /*mutates=*/0b1};
OpDef kFill{"fill_", 1, kDifferentiable,
            {attr("value", AttrType::Scalar)},
            infer_fill, nullptr, nullptr, fill_backward, /*mutates=*/0b1};

void register_copy_ops() {
  register_op(kClone);
  register_op(kCast);
  register_op(kCopy);
  register_op(kFill);
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
  ops::call(ops::kCopy, {*this, src});
  return *this;
}

Tensor& Tensor::fill_(const Scalar& value) {
  ops::call(ops::kFill, {*this}, {{"value", value}});
  return *this;
}

Tensor& Tensor::zero_() { return fill_(0); }

}  // namespace tessera
