// Tensor factories. The ones that compute values (full, arange, linspace, eye) are ops,
// so a captured graph can record them as constants or ONNX ConstantOfShape/Range.
#include "ops/factory.h"

#include <cmath>

#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

InferResult infer_full(const std::vector<InputMeta>&, const Attrs& a) {
  const auto& sizes = a.ints("sizes");
  numel_of(sizes);  // validates: no negative dims, no overflow
  return {{{Shape(IntArrayRef(sizes)), a.get<DType>("dtype")}}, std::nullopt};
}

InferResult infer_arange(const std::vector<InputMeta>&, const Attrs& a) {
  const double start = a.f("start"), end = a.f("end"), step = a.f("step");
  TESSERA_CHECK(step != 0, "step must be nonzero");
  TESSERA_CHECK(std::isfinite(start) && std::isfinite(end), "start and end must be finite, got ",
                start, " and ", end);
  TESSERA_CHECK((step > 0 && end >= start) || (step < 0 && end <= start),
                "upper bound and step sign are inconsistent (start ", start, ", end ", end, ", step ",
                step, ")");
  const double n = std::ceil((end - start) / step);
  TESSERA_CHECK(n < 9.0e15, "too many elements (", n, ")");
  return {{{Shape{static_cast<int64_t>(n)}, a.get<DType>("dtype")}}, std::nullopt};
}

InferResult infer_linspace(const std::vector<InputMeta>&, const Attrs& a) {
  TESSERA_CHECK(a.i("steps") >= 0, "number of steps must be non-negative, got ", a.i("steps"));
  return {{{Shape{a.i("steps")}, a.get<DType>("dtype")}}, std::nullopt};
}

InferResult infer_eye(const std::vector<InputMeta>&, const Attrs& a) {
  TESSERA_CHECK(a.i("n") >= 0 && a.i("m") >= 0, "n and m must be non-negative, got ", a.i("n"),
                " and ", a.i("m"));
  return {{{Shape{a.i("n"), a.i("m")}, a.get<DType>("dtype")}}, std::nullopt};
}

}  // namespace

OpDef kFull{"full", 0, 0,
            {attr("sizes", AttrType::Ints), attr("value", AttrType::Scalar),
             attr("dtype", AttrType::DType)},
            infer_full, nullptr, "ConstantOfShape"};
OpDef kArange{"arange", 0, 0,
              {attr("start", AttrType::Float), attr("end", AttrType::Float),
               attr("step", AttrType::Float), attr("dtype", AttrType::DType)},
              infer_arange, nullptr, "Range"};
OpDef kLinspace{"linspace", 0, 0,
                {attr("start", AttrType::Float), attr("end", AttrType::Float),
                 attr("steps", AttrType::Int), attr("dtype", AttrType::DType)},
                infer_linspace, nullptr, nullptr};
OpDef kEye{"eye", 0, 0,
           {attr("n", AttrType::Int), attr("m", AttrType::Int), attr("dtype", AttrType::DType)},
           infer_eye, nullptr, "EyeLike"};

void register_factory_ops() {
  for (OpDef* op : {&kFull, &kArange, &kLinspace, &kEye}) register_op(*op);
}

}  // namespace tessera::ops

namespace tessera {

Tensor empty(IntArrayRef sizes, TensorOptions opts, CallSite at) {
  detail::UserCallScope scope(at);
  return make_tensor(sizes, opts.dtype);
}

Tensor full(IntArrayRef sizes, const Scalar& value, TensorOptions opts, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kFull, {}, {{"sizes", sizes.vec()}, {"value", value}, {"dtype", opts.dtype}});
}
Tensor zeros(IntArrayRef sizes, TensorOptions opts, CallSite at) {
  detail::UserCallScope scope(at);
  return full(sizes, 0, opts);
}
Tensor ones(IntArrayRef sizes, TensorOptions opts, CallSite at) {
  detail::UserCallScope scope(at);
  return full(sizes, 1, opts);
}
Tensor scalar_tensor(const Scalar& value, TensorOptions opts, CallSite at) {
  detail::UserCallScope scope(at);
  return full({}, value, opts);
}
Tensor empty_like(const Tensor& t, CallSite at) {
  detail::UserCallScope scope(at);
  return empty(t.sizes(), t.dtype());
}
Tensor zeros_like(const Tensor& t, CallSite at) {
  detail::UserCallScope scope(at);
  return zeros(t.sizes(), t.dtype());
}
Tensor ones_like(const Tensor& t, CallSite at) {
  detail::UserCallScope scope(at);
  return ones(t.sizes(), t.dtype());
}
Tensor full_like(const Tensor& t, const Scalar& value, CallSite at) {
  detail::UserCallScope scope(at);
  return full(t.sizes(), value, t.dtype());
}

Tensor arange(const Scalar& end, CallSite at) {
  detail::UserCallScope scope(at);
  return arange(0, end, 1);
}

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, CallSite at) {
  detail::UserCallScope scope(at);
  const bool all_int = !start.is_floating() && !end.is_floating() && !step.is_floating();
  return arange(start, end, step, all_int ? kInt64 : kFloat32);
}

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, TensorOptions opts,
              CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kArange, {},
                    {{"start", start.to_double()}, {"end", end.to_double()},
                     {"step", step.to_double()}, {"dtype", opts.dtype}});
}

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kLinspace, {},
                    {{"start", start}, {"end", end}, {"steps", steps}, {"dtype", opts.dtype}});
}

Tensor eye(int64_t n, int64_t m, TensorOptions opts, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kEye, {}, {{"n", n}, {"m", m < 0 ? n : m}, {"dtype", opts.dtype}});
}

template <typename T>
Tensor tensor(const std::vector<T>& values, IntArrayRef shape) {
  Shape sizes = shape.empty() ? Shape{static_cast<int64_t>(values.size())} : Shape(shape);
  TESSERA_CHECK(numel_of(sizes) == static_cast<int64_t>(values.size()), "tensor: shape ",
                shape_str(sizes), " holds ", numel_of(sizes), " elements but ", values.size(),
                " values were given");
  Tensor t = make_tensor(sizes, dtype_of<T>);
  T* out = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

#define TESSERA_INSTANTIATE_TENSOR(T) \
  template TESSERA_API Tensor tensor<T>(const std::vector<T>& values, IntArrayRef shape);
TESSERA_INSTANTIATE_TENSOR(float)
TESSERA_INSTANTIATE_TENSOR(double)
TESSERA_INSTANTIATE_TENSOR(int64_t)
TESSERA_INSTANTIATE_TENSOR(int32_t)
TESSERA_INSTANTIATE_TENSOR(int8_t)
TESSERA_INSTANTIATE_TENSOR(uint8_t)
TESSERA_INSTANTIATE_TENSOR(bool)
TESSERA_INSTANTIATE_TENSOR(Half)
TESSERA_INSTANTIATE_TENSOR(BFloat16)
#undef TESSERA_INSTANTIATE_TENSOR

Tensor from_blob(void* data, IntArrayRef sizes, DType dtype, std::function<void(void*)> deleter,
                 CallSite at) {
  detail::UserCallScope scope(at);
  return from_blob(data, sizes, contiguous_strides(sizes), dtype, std::move(deleter));
}

Tensor from_blob(void* data, IntArrayRef sizes, IntArrayRef strides, DType dtype,
                 std::function<void(void*)> deleter, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(sizes.size() == strides.size(), "from_blob: ", sizes.size(), " sizes but ",
                strides.size(), " strides");
  const int64_t n = numel_of(sizes);
  TESSERA_CHECK(data != nullptr || n == 0, "from_blob: null data for ", n, " elements");
  int64_t extent = n == 0 ? 0 : 1;
  for (size_t i = 0; i < sizes.size(); ++i) {
    TESSERA_CHECK(strides[i] >= 0, "from_blob: negative stride ", strides[i]);
    if (n > 0) extent += (sizes[i] - 1) * strides[i];
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(data, static_cast<size_t>(extent) * itemsize(dtype),
                                            std::move(deleter));
  impl->layout.sizes = Shape(sizes);
  impl->layout.strides = Shape(strides);
  impl->dtype = dtype;
  impl->refresh();
  return Tensor(std::move(impl));
}

}  // namespace tessera
