// The reduction family: shape/dtype rules and argument validation of reductions, scans
// (cumsum) and softmax, and their public functions. Kernels: backends/cpu/reduce*.cc.
#include "ops/reduce.h"

#include <algorithm>
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
void check_nonempty(const InputMeta& x, const std::vector<bool>& mask, const char* what) {
  if (x.dim() == 0) return;
  for (size_t d = 0; d < mask.size(); ++d)
    TESSERA_CHECK(!mask[d] || x.sizes()[d] != 0, "cannot compute ", what, " over dim ", d,
                  " of size 0 (the reduction has no identity); name non-empty dims");
}

void check_floating(const InputMeta& x, const char* hint) {
  TESSERA_CHECK(x.is_floating_point(), "expected a floating point input, got ",
                dtype_name(x.dtype()), hint);
}

DType sum_dtype(DType t) { return is_integral(t, /*include_bool=*/true) ? kInt64 : t; }

InferResult infer_sum(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  const DType out = a.has("dtype") ? a.get<DType>("dtype") : sum_dtype(x.dtype());
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), out}}, out};
}

InferResult infer_mean(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  check_floating(x, " (mean of integers: convert first, e.g. x.to(kFloat32))");
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), x.dtype()}}, x.dtype()};
}

InferResult infer_prod(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  const DType out = sum_dtype(x.dtype());
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), out}}, out};
}

template <const char* kWhat>
InferResult infer_extremum(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  check_nonempty(x, mask, kWhat);
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), x.dtype()}}, std::nullopt};
}
constexpr char kMaxWord[] = "the maximum";
constexpr char kMinWord[] = "the minimum";

// Along one dim: values and int64 indices.
InferResult infer_extremum_dim(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  const int64_t d = wrap_one_dim(a.i("dim"), x.dim());
  const auto mask = reduced_dims_mask(x.dim(), {d});
  check_nonempty(x, mask, "the maximum/minimum");
  Shape s = reduced_shape(x.sizes(), mask, a.b("keepdim"));
  return {{{s, x.dtype()}, {s, kInt64}}, std::nullopt};
}

InferResult infer_arg(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
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

InferResult infer_var(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  check_floating(x, " (var and std need floating point values)");
  TESSERA_CHECK(a.i("correction") >= 0, "correction must be >= 0, got ", a.i("correction"));
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), x.dtype()}}, x.dtype()};
}

InferResult infer_norm(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  check_floating(x, " (norm needs floating point values)");
  const double p = a.f("p");
  TESSERA_CHECK(!std::isnan(p), "p must not be NaN");
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  if (std::isinf(p)) check_nonempty(x, mask, "an infinity norm");
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), x.dtype()}}, x.dtype()};
}

InferResult infer_logsumexp(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  // Integers are promoted to the default float, as in PyTorch.
  const DType dt = x.is_floating_point() ? x.dtype() : kFloat32;
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), dt}}, dt};
}

InferResult infer_logical(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  const auto mask = reduced_dims_mask(x.dim(), dims_of(a));
  return {{{reduced_shape(x.sizes(), mask, a.b("keepdim")), kBool}}, std::nullopt};
}

InferResult infer_cumsum(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  wrap_one_dim(a.i("dim"), x.dim());
  const DType out = sum_dtype(x.dtype());
  return {{{Shape(x.sizes()), out}}, out};
}

InferResult infer_softmax(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  check_floating(x, " (softmax needs floating point values; convert integers first)");
  wrap_one_dim(a.i("dim"), x.dim());
  return {{{Shape(x.sizes()), x.dtype()}}, x.dtype()};
}

constexpr uint32_t kRD = kReduction | kDifferentiable;

}  // namespace

// ---- backward rules ----
// Written with ops, never kernels, so that they are differentiable again (create_graph).
// A rule works on "keepdim-shaped" values (the reduced dims kept as size 1), which
// broadcast against the input.
namespace {
// The reduced dims of the call: the `dims` attribute, or the single `dim` of the
// along-one-dim ops, made non-negative and sorted.
std::vector<int64_t> reduced_dims(const BackwardCall& c) {
  const int64_t rank = static_cast<int64_t>(c.input_sizes(0).size());
  const auto mask = c.attrs().has("dim") ? reduced_dims_mask(rank, {c.attrs().i("dim")})
                                         : reduced_dims_mask(rank, dims_of(c.attrs()));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < rank; ++d)
    if (mask[static_cast<size_t>(d)]) dims.push_back(d);
  return dims;
}
// Gives a reduced value (a gradient or the output) back its reduced dims as size 1.
Tensor keep_dims(const Tensor& t, const BackwardCall& c) {
  if (c.attrs().has("keepdim") && c.attrs().b("keepdim")) return t;
  Tensor r = t;
  for (int64_t d : reduced_dims(c)) r = r.unsqueeze(d);  // ascending: each d is final
  return r;
}
// The gradient of a reduction, broadcast back over the reduced dims.
Tensor expand_reduced(const Tensor& g, const BackwardCall& c) {
  return keep_dims(g, c).expand(c.input_sizes(0));
}
// How many elements each output element reduces.
int64_t reduced_count(const BackwardCall& c) {
  int64_t n = 1;
  for (int64_t d : reduced_dims(c)) n *= c.input_sizes(0)[static_cast<size_t>(d)];
  return n;
}
// `g` where cond holds, 0 elsewhere.
Tensor keep_where(const Tensor& cond, const Tensor& g) { return where(cond, g, 0.0); }

std::vector<Tensor> sum_backward(const BackwardCall& c) {
  return {expand_reduced(c.grad(0), c)};
}
std::vector<Tensor> mean_backward(const BackwardCall& c) {
  return {div(expand_reduced(c.grad(0), c), static_cast<double>(reduced_count(c)))};
}
// d prod / dx_i = the product of the others. result / x_i is that product wherever
// x_i != 0; for a zero element it is the product of the slice's non-zero others when
// it is the slice's only zero, else 0. Zeros are replaced by 1 before dividing and before
// the product, so no 0/0 appears even in the second derivative.
std::vector<Tensor> prod_backward(const BackwardCall& c) {
  const Tensor& x = c.input(0);
  const std::vector<int64_t> dims = reduced_dims(c);
  const Tensor g = keep_dims(c.grad(0), c);
  const Tensor result = keep_dims(c.output(0), c);
  const Tensor is_zero = eq(x, 0);
  const Tensor nonzero_x = where(logical_not(is_zero), x, 1.0);
  const Tensor zeros_in_slice = sum(is_zero, dims, /*keepdim=*/true);
  const Tensor others_of_zero =
      keep_where(eq(zeros_in_slice, 1), prod(nonzero_x, dims, /*keepdim=*/true));
  const Tensor others = where(is_zero, others_of_zero, div(result, nonzero_x));
  return {mul(g, others)};
}
// max/min: the gradient goes to the elements equal to the result, split evenly among
// ties (PyTorch's amax/amin rule; used for the values of max/min along a dim too).
std::vector<Tensor> extremum_backward(const BackwardCall& c) {
  const Tensor& x = c.input(0);
  const Tensor hit = eq(x, keep_dims(c.output(0), c));
  const Tensor count = sum(hit, reduced_dims(c), /*keepdim=*/true);
  return {keep_where(hit, div(keep_dims(c.grad(0), c), count))};
}
// var = sum((x - mean)^2) / (N - correction): 2 (x - mean) / (N - correction).
Tensor centered(const BackwardCall& c) {
  return sub(c.input(0), mean(c.input(0), reduced_dims(c), /*keepdim=*/true));
}
double var_denominator(const BackwardCall& c) {
  return static_cast<double>(reduced_count(c) - c.attrs().i("correction"));
}
std::vector<Tensor> var_backward(const BackwardCall& c) {
  const Tensor g = keep_dims(c.grad(0), c);
  return {mul(mul(g, centered(c)), 2.0 / var_denominator(c))};
}
// std = sqrt(var): (x - mean) / ((N - correction) std), and 0 where std is 0 (PyTorch).
std::vector<Tensor> std_backward(const BackwardCall& c) {
  const Tensor g = keep_dims(c.grad(0), c);
  const Tensor s = keep_dims(c.output(0), c);
  const Tensor positive = ne(s, 0);
  const Tensor scale = keep_where(positive, div(g, mul(where(positive, s, 1.0), var_denominator(c))));
  return {mul(centered(c), scale)};
}
// ||x||_p = (sum |x|^p)^(1/p): sign(x) |x|^(p-1) / ||x||^(p-1), following PyTorch's
// cases: p = 0 is piecewise constant; p = 1 is sign(x); +-inf goes to the elements whose
// |x| is the norm, split among ties; elsewhere a zero norm gives 0.
std::vector<Tensor> norm_backward(const BackwardCall& c) {
  const Tensor& x = c.input(0);
  const double p = c.attrs().f("p");
  const Tensor g = keep_dims(c.grad(0), c);
  if (p == 0) return {zeros(x.sizes(), x.dtype())};
  if (p == 1) return {mul(g, sign(x))};
  const Tensor n = keep_dims(c.output(0), c);
  if (std::isinf(p)) {
    const Tensor hit = eq(abs(x), n);
    const Tensor count = sum(hit, reduced_dims(c), /*keepdim=*/true);
    return {keep_where(hit, mul(sign(x), div(g, count)))};
  }
  if (p < 1) {
    // |x|^(p-1) is infinite at 0 (its factor sign(x) is 0): replace those x first.
    const Tensor nonzero = ne(x, 0);
    const Tensor safe_abs = abs(where(nonzero, x, 1.0));
    const Tensor scaled = keep_where(nonzero, mul(sign(x), pow(safe_abs, p - 1)));
    return {mul(mul(scaled, g), pow(n, 1 - p))};
  }
  const Tensor scaled = p == 2 ? x : p < 2 ? mul(sign(x), pow(abs(x), p - 1))
                                           : mul(x, pow(abs(x), p - 2));
  const Tensor positive = ne(n, 0);
  const Tensor safe_n = where(positive, n, 1.0);
  const Tensor scale = keep_where(positive, div(g, p == 2 ? safe_n : pow(safe_n, p - 1)));
  return {mul(scaled, scale)};
}
// d logsumexp / dx = exp(x - logsumexp): the softmax over the reduced dims.
std::vector<Tensor> logsumexp_backward(const BackwardCall& c) {
  const Tensor g = keep_dims(c.grad(0), c);
  return {mul(g, exp(sub(c.input(0), keep_dims(c.output(0), c))))};
}
// Element i contributes to outputs i.. along dim: the reversed cumulative sum.
std::vector<Tensor> cumsum_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  if (g.dim() == 0) return {g};
  const int64_t d = c.attrs().i("dim");
  return {flip(cumsum(flip(g, {d}), d), {d})};
}
// softmax: y (g - sum(g y)); log_softmax: g - exp(y) sum(g).
std::vector<Tensor> softmax_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const Tensor y = c.output(0);
  const int64_t d = c.attrs().i("dim");
  return {mul(y, sub(g, sum(mul(g, y), {d}, /*keepdim=*/true)))};
}
std::vector<Tensor> log_softmax_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const int64_t d = c.attrs().i("dim");
  return {sub(g, mul(exp(c.output(0)), sum(g, {d}, /*keepdim=*/true)))};
}
}  // namespace

OpDef kSum{"sum", 1, kRD,
           {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false),
            attr_optional("dtype", AttrType::DType)},
           infer_sum, nullptr, "ReduceSum", sum_backward};
OpDef kMean{"mean", 1, kRD,
            {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false)},
            infer_mean, nullptr, "ReduceMean", mean_backward};
OpDef kProd{"prod", 1, kRD,
            {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false)},
            infer_prod, nullptr, "ReduceProd", prod_backward};
OpDef kAmax{"amax", 1, kRD,
            {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false)},
            infer_extremum<kMaxWord>, nullptr, "ReduceMax", extremum_backward};
OpDef kAmin{"amin", 1, kRD,
            {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false)},
            infer_extremum<kMinWord>, nullptr, "ReduceMin", extremum_backward};
// The values output is differentiable; the int64 indices are not.
OpDef kMaxDim{"max", 1, kRD,
              {attr("dim", AttrType::Int), attr("keepdim", AttrType::Bool, false)},
              infer_extremum_dim, nullptr, nullptr, extremum_backward};
OpDef kMinDim{"min", 1, kRD,
              {attr("dim", AttrType::Int), attr("keepdim", AttrType::Bool, false)},
              infer_extremum_dim, nullptr, nullptr, extremum_backward};
// Index and bool results: nothing to differentiate.
OpDef kArgmax{"argmax", 1, kReduction,
              {attr_optional("dim", AttrType::Int), attr("keepdim", AttrType::Bool, false)},
              infer_arg, nullptr, "ArgMax"};
OpDef kArgmin{"argmin", 1, kReduction,
              {attr_optional("dim", AttrType::Int), attr("keepdim", AttrType::Bool, false)},
              infer_arg, nullptr, "ArgMin"};
OpDef kVar{"var", 1, kRD,
           {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false),
            attr("correction", AttrType::Int, int64_t{1})},
           infer_var, nullptr, nullptr, var_backward};
OpDef kStd{"std", 1, kRD,
           {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false),
            attr("correction", AttrType::Int, int64_t{1})},
           infer_var, nullptr, nullptr, std_backward};
OpDef kNorm{"norm", 1, kRD,
            {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false),
             attr("p", AttrType::Float)},
            infer_norm, nullptr, nullptr, norm_backward};
OpDef kNormL1{"norm_l1", 1, kRD,
              {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false),
               attr("p", AttrType::Float)},
              infer_norm, nullptr, "ReduceL1", norm_backward};
OpDef kNormL2{"norm_l2", 1, kRD,
              {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false),
               attr("p", AttrType::Float)},
              infer_norm, nullptr, "ReduceL2", norm_backward};
OpDef kLogSumExp{"logsumexp", 1, kRD,
                 {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false)},
                 infer_logsumexp, nullptr, "ReduceLogSumExp",
                 logsumexp_backward};
OpDef kAll{"all", 1, kReduction,
           {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false)},
           infer_logical, nullptr, nullptr};
OpDef kAny{"any", 1, kReduction,
           {attr_optional("dims", AttrType::Ints), attr("keepdim", AttrType::Bool, false)},
           infer_logical, nullptr, nullptr};
OpDef kCumsum{"cumsum", 1, kRD,
              {attr("dim", AttrType::Int)},
              infer_cumsum, nullptr, "CumSum", cumsum_backward};
OpDef kSoftmax{"softmax", 1, kRD,
               {attr("dim", AttrType::Int)},
               infer_softmax, nullptr, "Softmax", softmax_backward};
OpDef kLogSoftmax{"log_softmax", 1, kRD,
                  {attr("dim", AttrType::Int)},
                  infer_softmax, nullptr, "LogSoftmax",
                  log_softmax_backward};

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

Tensor sum(const Tensor& x, IntArrayRef dims, bool keepdim, std::optional<DType> dtype,
           CallSite at) {
  detail::UserCallScope scope(at);
  if (dtype) return ops::call1(ops::kSum, {x}, {{"dims", dims.vec()}, {"keepdim", keepdim}, {"dtype", *dtype}});
  return ops::call1(ops::kSum, {x}, dims_attrs(dims, keepdim));
}
Tensor mean(const Tensor& x, IntArrayRef dims, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kMean, {x}, dims_attrs(dims, keepdim));
}
Tensor prod(const Tensor& x, IntArrayRef dims, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kProd, {x}, dims_attrs(dims, keepdim));
}
Tensor amax(const Tensor& x, IntArrayRef dims, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kAmax, {x}, dims_attrs(dims, keepdim));
}
Tensor amin(const Tensor& x, IntArrayRef dims, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kAmin, {x}, dims_attrs(dims, keepdim));
}
Tensor max(const Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return amax(x);
}
Tensor min(const Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  return amin(x);
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  auto r = ops::call(ops::kMaxDim, {x}, {{"dim", dim}, {"keepdim", keepdim}});
  return {r[0], r[1]};
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  auto r = ops::call(ops::kMinDim, {x}, {{"dim", dim}, {"keepdim", keepdim}});
  return {r[0], r[1]};
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  if (dim) return ops::call1(ops::kArgmax, {x}, {{"dim", *dim}, {"keepdim", keepdim}});
  return ops::call1(ops::kArgmax, {x}, {{"keepdim", keepdim}});
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  if (dim) return ops::call1(ops::kArgmin, {x}, {{"dim", *dim}, {"keepdim", keepdim}});
  return ops::call1(ops::kArgmin, {x}, {{"keepdim", keepdim}});
}

Tensor var(const Tensor& x, IntArrayRef dims, int64_t correction, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kVar, {x},
                    {{"dims", dims.vec()}, {"correction", correction}, {"keepdim", keepdim}});
}
Tensor std(const Tensor& x, IntArrayRef dims, int64_t correction, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kStd, {x},
                    {{"dims", dims.vec()}, {"correction", correction}, {"keepdim", keepdim}});
}

Tensor norm(const Tensor& x, double p, IntArrayRef dims, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  const ops::OpDef& op = p == 1.0 ? ops::kNormL1 : p == 2.0 ? ops::kNormL2 : ops::kNorm;
  return ops::call1(op, {x}, {{"dims", dims.vec()}, {"p", p}, {"keepdim", keepdim}});
}

Tensor logsumexp(const Tensor& x, IntArrayRef dims, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kLogSumExp, {x}, dims_attrs(dims, keepdim));
}
Tensor all(const Tensor& x, IntArrayRef dims, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kAll, {x}, dims_attrs(dims, keepdim));
}
Tensor any(const Tensor& x, IntArrayRef dims, bool keepdim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kAny, {x}, dims_attrs(dims, keepdim));
}

Tensor cumsum(const Tensor& x, int64_t dim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kCumsum, {x}, {{"dim", dim}});
}
Tensor softmax(const Tensor& x, int64_t dim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kSoftmax, {x}, {{"dim", dim}});
}
Tensor log_softmax(const Tensor& x, int64_t dim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kLogSoftmax, {x}, {{"dim", dim}});
}

Tensor Tensor::sum() const { return tessera::sum(*this); }
Tensor Tensor::mean() const { return tessera::mean(*this); }

}  // namespace tessera
