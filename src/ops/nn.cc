// Composite ops (see ops/nn.h): shape rules with every argument check, and their
// decompositions into primitive ops, which follow PyTorch's documented formulas.
#include "ops/nn.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/registration.h"
#include "tessera/grad_mode.h"  // NoGradGuard for the running statistics
#include "tessera/traced.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

void check_float(const char* what, const InputMeta& t) {
  TESSERA_CHECK(t.is_floating_point(), "expected a floating point ", what, ", got ", t.describe());
}

// The optional inputs after the required ones, in order, as the flags announce them.
struct Optional {
  const std::vector<Tensor>& in;
  size_t next;
  Tensor take(bool present) { return present ? in.at(next++) : Tensor(); }
};

void check_count(const std::vector<InputMeta>& in, size_t expected, const char* order) {
  TESSERA_CHECK(in.size() == expected, "expected ", expected, " inputs (", order,
                ") for these attributes, got ", in.size());
}

// ---------------------------------------------------------------- linear

InferResult infer_linear(const std::vector<InputMeta>& in, const Attrs& a) {
  check_count(in, a.b("bias") ? 3 : 2, a.b("bias") ? "x, weight, bias" : "x, weight");
  const InputMeta& x = in[0];
  const InputMeta& w = in[1];
  TESSERA_CHECK(w.dim() == 2, "expected a 2-D weight [out, in], got ", w.describe());
  TESSERA_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), "input ", x.describe(), " has ",
                x.dim() >= 1 ? x.size(-1) : 0, " features, the weight ", w.describe(), " expects ",
                w.size(1));
  if (a.b("bias"))
    TESSERA_CHECK(in[2].dim() == 1 && in[2].size(0) == w.size(0), "expected a bias of shape [",
                  w.size(0), "], got ", in[2].describe());
  Shape out(x.sizes());
  out.back() = w.size(0);
  DType dt = promote_types(x.dtype(), w.dtype());
  if (a.b("bias")) dt = promote_types(dt, in[2].dtype());
  return {{{out, dt}}, std::nullopt};
}

std::vector<Tensor> linear_decomposition(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const Tensor& w = in[1];
  // addmm fuses the bias into the GEMM (one pass over the output) for the common 2-D case.
  if (a.b("bias") && x.dim() == 2) return {addmm(in[2], x, w.t())};
  Tensor y = matmul(x, w.t());
  return {a.b("bias") ? add(y, in[2]) : y};
}

// ---------------------------------------------------------------- layer_norm

InferResult infer_layer_norm(const std::vector<InputMeta>& in, const Attrs& a) {
  const bool has_w = a.b("weight"), has_b = a.b("bias");
  check_count(in, 1 + (has_w ? 1 : 0) + (has_b ? 1 : 0), "x[, weight][, bias]");
  const InputMeta& x = in[0];
  const std::vector<int64_t>& shape = a.ints("normalized_shape");
  const auto k = static_cast<int64_t>(shape.size());
  TESSERA_CHECK(k >= 1 && x.dim() >= k &&
                    IntArrayRef(x.sizes().data() + (x.dim() - k), static_cast<size_t>(k)).equals(shape),
                "input ", x.describe(), " must end in the normalized shape ", shape_str(shape));
  check_float("input", x);
  for (size_t i = 1; i < in.size(); ++i)
    TESSERA_CHECK(in[i].sizes().equals(shape), "expected ", i == 1 && has_w ? "weight" : "bias",
                  " of shape ", shape_str(shape), ", got ", in[i].describe());
  TESSERA_CHECK(a.f("eps") >= 0, "eps must be >= 0, got ", a.f("eps"));
  return {{{Shape(x.sizes()), x.dtype()}}, std::nullopt};
}

std::vector<Tensor> layer_norm_decomposition(const std::vector<Tensor>& in, const Attrs& a) {
  Optional opt{in, 1};
  const Tensor weight = opt.take(a.b("weight")), bias = opt.take(a.b("bias"));
  const Tensor& x = in[0];
  const auto k = static_cast<int64_t>(a.ints("normalized_shape").size());
  std::vector<int64_t> dims;
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) dims.push_back(d);
  const Tensor mu = mean(x, dims, true);
  const Tensor v = var(x, dims, 0, true);
  Tensor y = mul(sub(x, mu), rsqrt(add(v, a.f("eps"))));
  if (weight.defined()) y = mul(y, weight);
  if (bias.defined()) y = add(y, bias);
  return {y};
}

// ---------------------------------------------------------------- batch_norm

InferResult infer_batch_norm(const std::vector<InputMeta>& in, const Attrs& a) {
  const bool stats = a.b("running_stats"), has_w = a.b("weight"), has_b = a.b("bias");
  check_count(in, 1 + (stats ? 2 : 0) + (has_w ? 1 : 0) + (has_b ? 1 : 0),
              "x[, running_mean, running_var][, weight][, bias]");
  const InputMeta& x = in[0];
  TESSERA_CHECK(x.dim() >= 2, "expected an input [N, C, ...] of rank >= 2, got ", x.describe());
  check_float("input", x);
  const int64_t channels = x.size(1);
  const char* names[] = {"running_mean", "running_var", "weight", "bias"};
  size_t i = 1;
  for (int k = 0; k < 4; ++k) {
    const bool present = k < 2 ? stats : k == 2 ? has_w : has_b;
    if (!present) continue;
    const InputMeta& p = in[i++];
    TESSERA_CHECK(p.dim() == 1 && p.size(0) == channels, "expected ", names[k], " of shape [",
                  channels, "], got ", p.describe());
  }
  if (a.b("training")) {
    const int64_t per_channel = channels == 0 ? 0 : x.numel() / channels;
    TESSERA_CHECK(per_channel > 1, "expected more than 1 value per channel when training, got input ",
                  x.describe());
  } else {
    TESSERA_CHECK(stats, "evaluation mode (training=false) needs running_mean and running_var, "
                  "got undefined tensors");
  }
  return {{{Shape(x.sizes()), x.dtype()}}, std::nullopt};
}

std::vector<Tensor> batch_norm_decomposition(const std::vector<Tensor>& in, const Attrs& a) {
  Optional opt{in, 1};
  const Tensor running_mean = opt.take(a.b("running_stats"));
  const Tensor running_var = opt.take(a.b("running_stats"));
  const Tensor weight = opt.take(a.b("weight")), bias = opt.take(a.b("bias"));
  const Tensor& x = in[0];
  const int64_t rank = x.dim(), channels = x.size(1);
  Tensor mu, v;
  if (a.b("training")) {
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < rank; ++d)
      if (d != 1) dims.push_back(d);
    mu = mean(x, dims, true);
    v = var(x, dims, 0, true);  // biased: what the batch is normalized with
    if (running_mean.defined()) {
      NoGradGuard no_grad;
      // PyTorch keeps the unbiased variance in the running estimate.
      const double momentum = a.f("momentum");
      const double per_channel = static_cast<double>(x.numel() / channels);
      const double unbias = per_channel / (per_channel - 1);
      Tensor rm = running_mean, rv = running_var;
      rm.mul_(1.0 - momentum).add_(mul(mu.detach().view({channels}), momentum));
      rv.mul_(1.0 - momentum).add_(mul(v.detach().view({channels}), momentum * unbias));
    }
  } else {
    mu = channel_view(running_mean, rank);
    v = channel_view(running_var, rank);
  }
  Tensor y = mul(sub(x, mu), rsqrt(add(v, a.f("eps"))));
  if (weight.defined()) y = mul(y, channel_view(weight, rank));
  if (bias.defined()) y = add(y, channel_view(bias, rank));
  return {y};
}

// ---------------------------------------------------------------- cross_entropy

enum class Reduction { None, Mean, Sum };

Reduction parse_reduction(std::string_view r) {
  if (r == "none") return Reduction::None;
  if (r == "sum") return Reduction::Sum;
  TESSERA_CHECK(r == "mean", "reduction must be \"none\", \"mean\" or \"sum\", got \"", r, "\"");
  return Reduction::Mean;
}

Reduction reduction_of(const Attrs& a) { return parse_reduction(a.get<std::string>("reduction")); }

InferResult infer_cross_entropy(const std::vector<InputMeta>& in, const Attrs& a) {
  const bool has_w = a.b("weight");
  check_count(in, has_w ? 3 : 2, has_w ? "logits, target, weight" : "logits, target");
  const InputMeta& logits = in[0];
  const InputMeta& target = in[1];
  check_float("input", logits);
  const double ls = a.f("label_smoothing");
  TESSERA_CHECK(ls >= 0.0 && ls <= 1.0, "label_smoothing must be in [0, 1], got ", ls);
  TESSERA_CHECK(logits.dim() >= 1, "expected an input [N, C, ...] or [C], got ", logits.describe());
  const int64_t cdim = logits.dim() == 1 ? 0 : 1;
  const int64_t classes = logits.size(cdim);
  if (has_w)
    TESSERA_CHECK(in[2].dim() == 1 && in[2].size(0) == classes, "expected class weights of shape [",
                  classes, "], got ", in[2].describe());
  Shape per_element(logits.sizes());
  per_element.erase(static_cast<size_t>(cdim));
  if (target.is_floating_point()) {
    TESSERA_CHECK(target.sizes().equals(logits.sizes()), "probability targets must have the input's shape ",
                  shape_str(logits.sizes()), ", got ", target.describe());
  } else {
    TESSERA_CHECK(target.dtype() == kInt64 || target.dtype() == DType::Int32,
                  "expected int64 class indices as target, got ", target.describe());
    TESSERA_CHECK(target.sizes().equals(per_element), "input ", logits.describe(),
                  " expects a target of shape ", shape_str(per_element), ", got ", target.describe());
  }
  const Reduction r = reduction_of(a);
  return {{{r == Reduction::None ? per_element : Shape{}, logits.dtype()}}, std::nullopt};
}

struct NllParts {
  Tensor loss;        // per element, target's shape, weighted, 0 where ignored
  Tensor weight_sum;  // what Mean divides by: the summed weights of counted targets
  Tensor target_w;    // per-element weights (0 where ignored); undefined = all ones
};

NllParts nll_parts(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                   int64_t ignore_index) {
  const int64_t cdim = log_probs.dim() == 1 ? 0 : 1;
  const int64_t classes = log_probs.size(cdim);
  // The bounds check reads the targets' values: it belongs to the computation, not to the
  // shape rule, which sees metadata only.
  {
    ValueCheckScope check;
    for (int64_t t : target.to_vector<int64_t>())
      TESSERA_CHECK(t == ignore_index || (t >= 0 && t < classes), "target ", t,
                    " is out of bounds for ", classes, " classes");
  }
  const Tensor ignored = eq(target, ignore_index);
  // Eager skips the masking when no target is ignored; a trace can't branch on the
  // targets (its graph serves later batches), so it always masks: the same values.
  const bool tracing = detail::trace_observer() != nullptr;
  const bool any_ignored = tracing || any(ignored).item<bool>();
  // Ignored entries point at class 0 for the gather; their loss is zeroed below.
  const Tensor safe = any_ignored ? masked_fill(target, ignored, 0) : target;
  const Tensor idx = safe.to(kInt64).unsqueeze(cdim);
  const Tensor picked = neg(gather(log_probs, cdim, idx).squeeze(cdim));
  NllParts p;
  if (weight.defined()) {
    Tensor w = index_select(weight, 0, idx.reshape({-1})).view(target.sizes());
    if (any_ignored) w = masked_fill(w, ignored, 0.0);
    p.target_w = w;
    p.loss = mul(picked, w);
    p.weight_sum = sum(w);
  } else if (any_ignored) {
    p.target_w = logical_not(ignored).to(log_probs.dtype());
    p.loss = mul(picked, p.target_w);
    p.weight_sum = sum(p.target_w);
  } else {
    p.loss = picked;
    p.weight_sum = scalar_tensor(static_cast<double>(target.numel()), log_probs.dtype());
  }
  return p;
}

Tensor reduce_nll(const NllParts& p, Reduction reduction) {
  switch (reduction) {
    case Reduction::None: return p.loss;
    case Reduction::Sum: return sum(p.loss);
    case Reduction::Mean: break;
  }
  return div(sum(p.loss), p.weight_sum);
}

std::vector<Tensor> cross_entropy_decomposition(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& logits = in[0];
  const Tensor& target = in[1];
  const Tensor weight = a.b("weight") ? in[2] : Tensor();
  const Reduction reduction = reduction_of(a);
  const double label_smoothing = a.f("label_smoothing");
  const int64_t ignore_index = a.i("ignore_index");
  const int64_t cdim = logits.dim() == 1 ? 0 : 1;
  const int64_t classes = logits.size(cdim);
  const Tensor logp = log_softmax(logits, cdim);
  // Class weights broadcast along the class dim.
  const Tensor wb = weight.defined() && logits.dim() > 1 ? channel_view(weight, logits.dim()) : weight;

  if (target.is_floating_point()) {
    // Class probabilities: -sum_c w_c * t_c * log p_c, with t smoothed towards uniform.
    Tensor t = target;
    if (label_smoothing > 0.0)
      t = add(mul(t, 1.0 - label_smoothing), label_smoothing / static_cast<double>(classes));
    Tensor prod = mul(logp, t);
    if (weight.defined()) prod = mul(prod, wb);
    return {reduce_loss(neg(sum(prod, {cdim})), a.get<std::string>("reduction"))};
  }

  const NllParts nll = nll_parts(logp, target, weight, ignore_index);
  const Tensor nll_value = reduce_nll(nll, reduction);
  if (label_smoothing == 0.0) return {nll_value};
  // PyTorch's definition: (1 - eps) * nll + eps / C * smooth, where smooth is
  // -sum_c w_c log p_c per element, zero where ignored, and Mean divides it by the same
  // weight sum as nll.
  Tensor smooth = neg(sum(weight.defined() ? mul(logp, wb) : logp, {cdim}));
  if (nll.target_w.defined() && !weight.defined()) smooth = mul(smooth, nll.target_w);
  if (weight.defined()) smooth = masked_fill(smooth, eq(target, ignore_index), 0.0);
  Tensor smooth_value;
  switch (reduction) {
    case Reduction::None: smooth_value = smooth; break;
    case Reduction::Sum: smooth_value = sum(smooth); break;
    case Reduction::Mean: smooth_value = div(sum(smooth), nll.weight_sum); break;
  }
  return {add(mul(nll_value, 1.0 - label_smoothing),
              mul(smooth_value, label_smoothing / static_cast<double>(classes)))};
}

InferResult infer_nll_loss(const std::vector<InputMeta>& in, const Attrs& a) {
  TESSERA_CHECK(in.size() >= 2 && !in[1].is_floating_point(), "expected int64 class indices as target",
                in.size() >= 2 ? ", got " + in[1].describe() : std::string());
  TESSERA_CHECK(a.f("label_smoothing") == 0.0, "nll_loss has no label_smoothing");
  return infer_cross_entropy(in, a);
}

std::vector<Tensor> nll_loss_decomposition(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor weight = a.b("weight") ? in[2] : Tensor();
  return {reduce_nll(nll_parts(in[0], in[1], weight, a.i("ignore_index")), reduction_of(a))};
}

// ---------------------------------------------------------------- attention

InferResult infer_sdpa(const std::vector<InputMeta>& in, const Attrs& a) {
  const bool has_mask = a.b("mask");
  check_count(in, has_mask ? 4 : 3, has_mask ? "q, k, v, attn_mask" : "q, k, v");
  const InputMeta& q = in[0];
  const InputMeta& k = in[1];
  const InputMeta& v = in[2];
  TESSERA_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, "q, k and v need rank >= 2, got ",
                q.describe(), ", ", k.describe(), ", ", v.describe());
  check_float("query", q);
  const int64_t L = q.size(-2), S = k.size(-2), E = q.size(-1);
  TESSERA_CHECK(k.size(-1) == E && v.size(-2) == S, "expected k [..., S, ", E,
                "] and v [..., S, Ev] with the same S, got q ", q.describe(), ", k ", k.describe(),
                ", v ", v.describe());
  TESSERA_CHECK(!(a.b("is_causal") && has_mask), "pass either attn_mask or is_causal, not both");
  // The output: the batch dims of q @ k^T broadcast with v's, then [L, Ev].
  Shape scores = broadcast_shapes(IntArrayRef(q.sizes().data(), static_cast<size_t>(q.dim() - 2)),
                                  IntArrayRef(k.sizes().data(), static_cast<size_t>(k.dim() - 2)),
                                  "scaled_dot_product_attention");
  scores.push_back(L);
  scores.push_back(S);
  if (has_mask) {
    // As PyTorch: a bool mask, or an additive one of the query's dtype (another float
    // dtype would promote the scores past the output's dtype).
    TESSERA_CHECK(in[3].dtype() == DType::Bool || in[3].dtype() == q.dtype(), "attn_mask ", in[3].describe(),
                  ": expected bool or the query's dtype ", dtype_name(q.dtype()));
    // The mask broadcasts to the scores, not the scores to a larger mask.
    const Shape masked = broadcast_shapes(scores, in[3].sizes(), "scaled_dot_product_attention: attn_mask");
    TESSERA_CHECK(IntArrayRef(masked).equals(IntArrayRef(scores)), "attn_mask ", in[3].describe(),
                  " must broadcast to the scores' shape ", shape_str(scores));
  }
  Shape out = broadcast_shapes(IntArrayRef(scores.data(), scores.size() - 2),
                               IntArrayRef(v.sizes().data(), static_cast<size_t>(v.dim() - 2)),
                               "scaled_dot_product_attention");
  out.push_back(L);
  out.push_back(v.size(-1));
  return {{{out, promote_types(promote_types(q.dtype(), k.dtype()), v.dtype())}}, std::nullopt};
}

std::vector<Tensor> sdpa_decomposition(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& q = in[0];
  const Tensor& k = in[1];
  const Tensor& v = in[2];
  const int64_t L = q.size(-2), S = k.size(-2), E = q.size(-1);
  Tensor scores = mul(matmul(q, k.transpose(-2, -1)), 1.0 / std::sqrt(static_cast<double>(E)));
  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (a.b("is_causal")) {
    const Tensor keep = tril(ones({L, S}, kBool));
    scores = masked_fill(scores, logical_not(keep), neg_inf);
  } else if (a.b("mask")) {
    const Tensor& mask = in[3];
    scores = mask.dtype() == kBool ? masked_fill(scores, logical_not(mask), neg_inf) : add(scores, mask);
  }
  return {matmul(softmax(scores, -1), v)};
}

}  // namespace

OpDef kLinear{"linear", -1, 0,
              {attr("bias", AttrType::Bool)},
              infer_linear, nullptr, "Gemm", nullptr, 0, linear_decomposition};
OpDef kLayerNorm{"layer_norm", -1, 0,
                 {attr("normalized_shape", AttrType::Ints), attr("weight", AttrType::Bool),
                  attr("bias", AttrType::Bool), attr("eps", AttrType::Float, 1e-5)},
                 infer_layer_norm, nullptr, "LayerNormalization", nullptr, 0,
                 layer_norm_decomposition};
OpDef kBatchNorm{"batch_norm", -1, 0,
                 {attr("weight", AttrType::Bool), attr("bias", AttrType::Bool),
                  attr("running_stats", AttrType::Bool), attr("training", AttrType::Bool),
                  attr("momentum", AttrType::Float, 0.1), attr("eps", AttrType::Float, 1e-5)},
                 infer_batch_norm, nullptr, "BatchNormalization", nullptr, 0,
                 batch_norm_decomposition};
OpDef kCrossEntropy{"cross_entropy", -1, 0,
                    {attr("weight", AttrType::Bool, false),
                     attr("ignore_index", AttrType::Int, int64_t{-100}),
                     attr("label_smoothing", AttrType::Float, 0.0),
                     attr("reduction", AttrType::String, std::string("mean"))},
                    infer_cross_entropy, nullptr, "SoftmaxCrossEntropyLoss",
                    nullptr, 0, cross_entropy_decomposition};
OpDef kNllLoss{"nll_loss", -1, 0,
               {attr("weight", AttrType::Bool, false),
                attr("ignore_index", AttrType::Int, int64_t{-100}),
                attr("label_smoothing", AttrType::Float, 0.0),
                attr("reduction", AttrType::String, std::string("mean"))},
               infer_nll_loss, nullptr, "NegativeLogLikelihoodLoss", nullptr, 0,
               nll_loss_decomposition};
OpDef kScaledDotProductAttention{"scaled_dot_product_attention", -1, 0,
                                 {attr("mask", AttrType::Bool, false),
                                  attr("is_causal", AttrType::Bool, false),
                                  attr("dropout_p", AttrType::Float, 0.0)},
                                 infer_sdpa, nullptr, "Attention",
                                 nullptr, 0, sdpa_decomposition};

Tensor channel_view(const Tensor& v, int64_t rank) {
  Shape s(static_cast<size_t>(rank), 1);
  s[1] = v.numel();
  return v.view(s);
}

Tensor reduce_loss(const Tensor& loss, std::string_view reduction) {
  switch (parse_reduction(reduction)) {
    case Reduction::None: return loss;
    case Reduction::Sum: return sum(loss);
    case Reduction::Mean: break;
  }
  return mean(loss);
}

void register_nn_ops() {
  for (OpDef* op : {&kLinear, &kLayerNorm, &kBatchNorm, &kCrossEntropy, &kNllLoss,
                    &kScaledDotProductAttention})
    register_op(*op);
}

}  // namespace tessera::ops
