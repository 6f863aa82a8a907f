#include <algorithm>
// The reduction family: shape/dtype rules and argument validation of reductions, scans
// (cumsum) and softmax, and their public functions. Kernels: backends/cpu/reduce*.cc.
#include "ops/reduce.h"

#include <cmath>

#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {

std::vector<bool> reduced_dims_mask(int64_t rank, const std::vector<int64_t>& dims) {
  std::vector<bool> mask(static_cast<size_t>(rank), dims.empty());
  // A 0-d tensor reduces its single element whatever dim (0 or -1) names it.
  const int64_t r = std::max<int64_t>(rank, 1);
  std::vector<bool> seen(static_cast<size_t>(r), false);
  for (int64_t d : dims) {
    TESSERA_CHECK(d >= -r && d < r, "dim ", d, " is out of range for a tensor of rank ", rank,
                  " (expected a dim in [", -r, ", ", r - 1, "])");
    const int64_t w = d < 0 ? d + r : d;
    TESSERA_CHECK(!seen[static_cast<size_t>(w)], "dim ", w, " appears more than once in dims ",
                  shape_str(dims));
    seen[static_cast<size_t>(w)] = true;
    if (rank > 0) mask[static_cast<size_t>(w)] = true;
  }
  return mask;
}

namespace {

const std::vector<int64_t> kNoDims;

const std::vector<int64_t>& dims_of(const Attrs& a) { return a.has("dims") ? a.ints("dims") : kNoDims; }

int64_t wrap_one_dim(int64_t d, int64_t rank) {
  const int64_t r = std::max<int64_t>(rank, 1);
  TESSERA_CHECK(d >= -r && d < r, "dim ", d, " is out of range for a tensor of rank ", rank,
                " (expected a dim in [", -r, ", ", r - 1, "])");
  return d < 0 ? d + r : d;
}

Shape reduced_shape(IntArrayRef sizes, const std::vector<bool>& mask, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (!mask[d]) out.push_back(sizes[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// Reductions without an identity (max, min, their arg forms, the inf-norms) refuse a
// reduced dim of size 0, as PyTorch does.
void check_nonempty(const Tensor& x, const std::vector<bool>& mask, const char* what) {
  if (x.dim() == 0) return;
  for (size_t d = 0; d < mask.size(); ++d)
    TESSERA_CHECK(!mask[d] || x.sizes()[d] != 0, "cannot compute ", what, " over dim ", d,
                  " of size 0 (the reduction has no identity); name non-empty dims");
}

void check_floating(const Tensor& x, const char* hint) {
  TESSERA_CHECK(x.is_floating_point(), "expected a floating point input, got ",
                dtype_name(x.dtype()), hint);
}

DType sum_dtype(DType t) { return is_integral(t, /*include_bool=*/true) ? kInt64 : t; }

InferResult infer_sum(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  const DType out = a.has("dtype") ? a.get<DType>("dtype") : sum_dtype(x.dtype());
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), out}}, out};
}

InferResult infer_mean(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  check_floating(x, " (mean of integers: convert first, e.g. x.to(kFloat32))");
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), x.dtype()}}, x.dtype()};
}

InferResult infer_prod(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  const DType out = sum_dtype(x.dtype());
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), out}}, out};
}

template <const char* kWhat>
InferResult infer_extremum(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  check_nonempty(x, mask, kWhat);
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), x.dtype()}}, std::nullopt};
}
constexpr char kMaxWord[] = "the maximum";
constexpr char kMinWord[] = "the minimum";

// Along one dim: values and int64 indices.
InferResult infer_extremum_dim(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const int64_t d = wrap_one_dim(a.i("dim"), x.dim());
  const auto mask = reduced_dims_mask(x.dim(), {d});
  check_nonempty(x, mask, "the maximum/minimum");
  Shape s = reduced_shape(x.sizes(), mask, a.b("keepdim"));
  return {{{s, x.dtype()}, {s, kInt64}}, std::nullopt};
}

InferResult infer_arg(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  if (a.has("dim")) {
    const int64_t d = wrap_one_dim(a.i("dim"), x.dim());
    const auto mask = reduced_dims_mask(x.dim(), {d});
    check_nonempty(x, mask, "an argmax/argmin");
    return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), kInt64}}, std::nullopt};
  }
  TESSERA_CHECK(x.numel() > 0, "cannot compute an argmax/argmin of an empty tensor");
  // Flattened: keepdim gives a tensor of ones of the input's rank, as in PyTorch.
  Shape s;
  if (a.b("keepdim")) s = Shape(static_cast<size_t>(x.dim()), 1);
  return {{{s, kInt64}}, std::nullopt};
}

InferResult infer_var(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  check_floating(x, " (var and std need floating point values)");
  TESSERA_CHECK(a.i("correction") >= 0, "correction must be >= 0, got ", a.i("correction"));
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), x.dtype()}}, x.dtype()};
}

InferResult infer_norm(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  check_floating(x, " (norm needs floating point values)");
  const double p = a.f("p");
  TESSERA_CHECK(!std::isnan(p), "p must not be NaN");
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  if (std::isinf(p)) check_nonempty(x, mask, "an infinity norm");
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), x.dtype()}}, x.dtype()};
}

InferResult infer_logsumexp(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  // Integers are promoted to the default float, as in PyTorch.
  const DType dt = x.is_floating_point() ? x.dtype() : kFloat32;
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), dt}}, dt};
}

InferResult infer_logical(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), kBool}}, std::nullopt};
}

InferResult infer_cumsum(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  wrap_one_dim(a.i("dim"), x.dim());
  const DType out = sum_dtype(x.dtype());
  return {{{Shape(x.sizes()), out}}, out};
}

InferResult infer_softmax(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  check_floating(x, " (softmax needs floating point values; convert integers first)");
  wrap_one_dim(a.i("dim"), x.dim());
  return {{{Shape(x.sizes()), x.dtype()}}, x.dtype()};
}

constexpr uint32_t kRD = kReduction | kDifferentiable;

}  // namespace

namespace {
// The gradient of a reduction, broadcast back over the reduced dims.
Tensor expand_reduced(const Tensor& g, const BackwardCall& c) {
  const IntArrayRef sizes = c.input_sizes(0);
  Tensor r = g;
  if (!c.attrs().b("keepdim")) {
    std::vector<int64_t> dims = dims_of(c.attrs());
    const int64_t rank = static_cast<int64_t>(sizes.size());
    if (dims.empty())
      for (int64_t d = 0; d < rank; ++d) dims.push_back(d);
    for (int64_t& d : dims) d = d < 0 ? d + rank : d;
    std::sort(dims.begin(), dims.end());
    for (int64_t d : dims) r = r.unsqueeze(d);
  }
  return r.expand(sizes);
}
std::vector<Tensor> sum_backward(const BackwardCall& c) {
  return {expand_reduced(c.grad(0), c)};
}
}  // namespace

OpDef kSum{"sum", 1, kRD, infer_sum, nullptr, "ReduceSum", sum_backward};
OpDef kMean{"mean", 1, kRD, infer_mean, nullptr, "ReduceMean"};
OpDef kProd{"prod", 1, kRD, infer_prod, nullptr, "ReduceProd"};
OpDef kAmax{"amax", 1, kRD, infer_extremum<kMaxWord>, nullptr, "ReduceMax"};
OpDef kAmin{"amin", 1, kRD, infer_extremum<kMinWord>, nullptr, "ReduceMin"};
OpDef kMaxDim{"max", 1, kRD, infer_extremum_dim, nullptr, nullptr};
OpDef kMinDim{"min", 1, kRD, infer_extremum_dim, nullptr, nullptr};
OpDef kArgmax{"argmax", 1, kReduction, infer_arg, nullptr, "ArgMax"};
OpDef kArgmin{"argmin", 1, kReduction, infer_arg, nullptr, "ArgMin"};
OpDef kVar{"var", 1, kRD, infer_var, nullptr, nullptr};
OpDef kStd{"std", 1, kRD, infer_var, nullptr, nullptr};
OpDef kNorm{"norm", 1, kRD, infer_norm, nullptr, nullptr};
OpDef kNormL1{"norm_l1", 1, kRD, infer_norm, nullptr, "ReduceL1"};
OpDef kNormL2{"norm_l2", 1, kRD, infer_norm, nullptr, "ReduceL2"};
OpDef kLogSumExp{"logsumexp", 1, kRD, infer_logsumexp, nullptr, "ReduceLogSumExp"};
OpDef kAll{"all", 1, kReduction, infer_logical, nullptr, nullptr};
OpDef kAny{"any", 1, kReduction, infer_logical, nullptr, nullptr};
OpDef kCumsum{"cumsum", 1, kRD, infer_cumsum, nullptr, "CumSum"};
OpDef kSoftmax{"softmax", 1, kRD, infer_softmax, nullptr, "Softmax"};
OpDef kLogSoftmax{"log_softmax", 1, kRD, infer_softmax, nullptr, "LogSoftmax"};

void register_reduce_ops() {
  for (OpDef* op : {&kSum, &kMean, &kProd, &kAmax, &kAmin, &kMaxDim, &kMinDim, &kArgmax,
                    &kArgmin, &kVar, &kStd, &kNorm, &kNormL1, &kNormL2, &kLogSumExp, &kAll,
                    &kAny, &kCumsum, &kSoftmax, &kLogSoftmax})
    register_op(*op);
}

}  // namespace tessera::ops

namespace tessera {

namespace {
ops::Attrs dims_attrs(IntArrayRef dims, bool keepdim) {
  return {{"dims", dims.vec()}, {"keepdim", keepdim}};
}
}  // namespace

Tensor sum(const Tensor& x, IntArrayRef dims, bool keepdim, std::optional<DType> dtype) {
  if (dtype) return ops::call1(ops::kSum, {x}, {{"dims", dims.vec()}, {"keepdim", keepdim}, {"dtype", *dtype}});
  return ops::call1(ops::kSum, {x}, dims_attrs(dims, keepdim));
}
Tensor mean(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return ops::call1(ops::kMean, {x}, dims_attrs(dims, keepdim));
}
Tensor prod(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return ops::call1(ops::kProd, {x}, dims_attrs(dims, keepdim));
}
Tensor amax(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return ops::call1(ops::kAmax, {x}, dims_attrs(dims, keepdim));
}
Tensor amin(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return ops::call1(ops::kAmin, {x}, dims_attrs(dims, keepdim));
}
Tensor max(const Tensor& x) { return amax(x); }
Tensor min(const Tensor& x) { return amin(x); }

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  auto r = ops::call(ops::kMaxDim, {x}, {{"dim", dim}, {"keepdim", keepdim}});
  return {r[0], r[1]};
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  auto r = ops::call(ops::kMinDim, {x}, {{"dim", dim}, {"keepdim", keepdim}});
  return {r[0], r[1]};
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (dim) return ops::call1(ops::kArgmax, {x}, {{"dim", *dim}, {"keepdim", keepdim}});
  return ops::call1(ops::kArgmax, {x}, {{"keepdim", keepdim}});
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  if (dim) return ops::call1(ops::kArgmin, {x}, {{"dim", *dim}, {"keepdim", keepdim}});
  return ops::call1(ops::kArgmin, {x}, {{"keepdim", keepdim}});
}

Tensor var(const Tensor& x, IntArrayRef dims, int64_t correction, bool keepdim) {
  return ops::call1(ops::kVar, {x},
                    {{"dims", dims.vec()}, {"correction", correction}, {"keepdim", keepdim}});
}
Tensor std(const Tensor& x, IntArrayRef dims, int64_t correction, bool keepdim) {
  return ops::call1(ops::kStd, {x},
                    {{"dims", dims.vec()}, {"correction", correction}, {"keepdim", keepdim}});
}

Tensor norm(const Tensor& x, double p, IntArrayRef dims, bool keepdim) {
  const ops::OpDef& op = p == 1.0 ? ops::kNormL1 : p == 2.0 ? ops::kNormL2 : ops::kNorm;
  return ops::call1(op, {x}, {{"dims", dims.vec()}, {"p", p}, {"keepdim", keepdim}});
}

Tensor logsumexp(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return ops::call1(ops::kLogSumExp, {x}, dims_attrs(dims, keepdim));
}
Tensor all(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return ops::call1(ops::kAll, {x}, dims_attrs(dims, keepdim));
}
Tensor any(const Tensor& x, IntArrayRef dims, bool keepdim) {
  return ops::call1(ops::kAny, {x}, dims_attrs(dims, keepdim));
}

Tensor cumsum(const Tensor& x, int64_t dim) { return ops::call1(ops::kCumsum, {x}, {{"dim", dim}}); }
Tensor softmax(const Tensor& x, int64_t dim) {
  return ops::call1(ops::kSoftmax, {x}, {{"dim", dim}});
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  return ops::call1(ops::kLogSoftmax, {x}, {{"dim", dim}});
}

Tensor Tensor::sum() const { return tessera::sum(*this); }
Tensor Tensor::mean() const { return tessera::mean(*this); }

}  // namespace tessera
