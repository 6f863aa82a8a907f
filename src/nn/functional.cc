// torch.nn.functional, except convolution and pooling (src/nn/functional_conv.cc): linear layers,
// normalization, dropout, embedding, attention and the losses. Each function is a
// composite of differentiable ops, so autograd (and grad-of-grad) needs no code here; the
// definitions follow PyTorch's documented formulas so results agree with it.
#include "tessera/nn/functional.h"

#include <cmath>
#include <limits>
#include <vector>

#include "ops/elementwise.h"
#include "ops/nn.h"
#include "tessera/grad_mode.h"  // NoGradGuard
#include "tessera/traced.h"

namespace tessera::nn::functional {
namespace {

// The composites' spelling of a reduction (an attribute of cross_entropy and nll_loss).
const char* reduction_name(Reduction r) {
  return r == Reduction::None ? "none" : r == Reduction::Sum ? "sum" : "mean";
}

Tensor reduce(const Tensor& loss, Reduction reduction) {
  return ops::reduce_loss(loss, reduction_name(reduction));
}

void check_float(const char* op, const char* what, const Tensor& t) {
  TESSERA_CHECK(t.is_floating_point(), op, ": expected a floating point ", what, ", got ",
                t.describe());
}

void check_channel_param(const char* op, const char* what, const Tensor& p, int64_t channels) {
  if (!p.defined()) return;
  TESSERA_CHECK(p.dim() == 1 && p.size(0) == channels, op, ": expected ", what, " of shape [",
                channels, "], got ", p.describe());
}

// Every dim but the last: the batch dims that bilinear's inputs share.
IntArrayRef leading(const Tensor& t) { return IntArrayRef(t.sizes().data(), static_cast<size_t>(t.dim() - 1)); }

}  // namespace

// ---------------------------------------------------------------- linear

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, CallSite at) {
  detail::UserCallScope scope(at);
  std::vector<Tensor> in{x, weight};
  if (bias.defined()) in.push_back(bias);
  return ops::call1(ops::kLinear, std::move(in), {{"bias", bias.defined()}});
}

Tensor bilinear(const Tensor& x1, const Tensor& x2, const Tensor& weight, const Tensor& bias,
                CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(weight.dim() == 3, "bilinear: expected a 3-D weight [out, in1, in2], got ",
                weight.describe());
  const int64_t out = weight.size(0), in1 = weight.size(1), in2 = weight.size(2);
  TESSERA_CHECK(x1.dim() >= 1 && x2.dim() == x1.dim() && x1.size(-1) == in1 &&
                    x2.size(-1) == in2 && leading(x1).equals(leading(x2)),
                "bilinear: inputs ", x1.describe(), " and ", x2.describe(),
                " must share their leading dims and end in ", in1, " and ", in2,
                " features (weight ", weight.describe(), ")");
  if (bias.defined())
    TESSERA_CHECK(bias.dim() == 1 && bias.size(0) == out, "bilinear: expected a bias of shape [",
                  out, "], got ", bias.describe());
  Shape lead = leading(x1);
  const Tensor a = x1.reshape({-1, in1});
  const Tensor b = x2.reshape({-1, in2});
  // y[n, o] = sum_j (sum_i a[n, i] W[o, i, j]) b[n, j]: one GEMM, then a row-wise dot.
  const Tensor w = weight.permute({1, 0, 2}).reshape({in1, out * in2});
  const Tensor t = mm(a, w).view({-1, out, in2});
  Tensor y = sum(mul(t, b.unsqueeze(1)), {2});
  if (bias.defined()) y = add(y, bias);
  lead.push_back(out);
  return y.view(lead);
}

// ---------------------------------------------------------------- normalization

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(running_mean.defined() == running_var.defined(), "batch_norm: running_mean and "
                "running_var must both be given or both be undefined");
  std::vector<Tensor> in{x};
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias})
    if (t->defined()) in.push_back(*t);
  return ops::call1(ops::kBatchNorm, std::move(in),
                    {{"training", training}, {"momentum", momentum}, {"eps", eps},
                     {"running_stats", running_mean.defined()}, {"weight", weight.defined()},
                     {"bias", bias.defined()}});
}

Tensor layer_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps, CallSite at) {
  detail::UserCallScope scope(at);
  std::vector<Tensor> in{x};
  for (const Tensor* t : {&weight, &bias})
    if (t->defined()) in.push_back(*t);
  return ops::call1(ops::kLayerNorm, std::move(in),
                    {{"normalized_shape", normalized_shape.vec()}, {"eps", eps},
                     {"weight", weight.defined()}, {"bias", bias.defined()}});
}

Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias,
                  double eps, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(x.dim() >= 2, "group_norm: expected an input [N, C, ...] of rank >= 2, got ",
                x.describe());
  check_float("group_norm", "input", x);
  const int64_t channels = x.size(1);
  TESSERA_CHECK(num_groups > 0 && channels % num_groups == 0, "group_norm: ", channels,
                " channels of input ", x.describe(), " cannot be split into ", num_groups,
                " groups");
  check_channel_param("group_norm", "weight", weight, channels);
  check_channel_param("group_norm", "bias", bias, channels);
  const Tensor g = x.reshape({x.size(0), num_groups, -1});
  const Tensor mu = mean(g, {2}, true);
  const Tensor var = tessera::var(g, {2}, 0, true);
  Tensor y = mul(sub(g, mu), rsqrt(add(var, eps))).view(x.sizes());
  if (weight.defined()) y = mul(y, ops::channel_view(weight, x.dim()));
  if (bias.defined()) y = add(y, ops::channel_view(bias, x.dim()));
  return y;
}

// ---------------------------------------------------------------- dropout, embedding

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  check_float("dropout", "input", x);
  // mul keeps the result attached to x's graph (with a zero gradient), as PyTorch does.
  if (p == 1.0) return mul(x, zeros_like(x));
  // Inverted dropout: survivors are scaled by 1/(1-p) so evaluation needs no rescaling.
  const Tensor keep = bernoulli(x.sizes(), 1.0 - p, x.dtype(), gen);
  return mul(x, mul(keep, 1.0 / (1.0 - p)));
}

Tensor embedding(const Tensor& indices, const Tensor& weight, int64_t padding_idx, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(weight.dim() == 2, "embedding: expected a 2-D weight [num_embeddings, dim], got ",
                weight.describe());
  TESSERA_CHECK(is_integral(indices.dtype(), false), "embedding: expected integer indices, got ",
                indices.describe());
  const int64_t n = weight.size(0);
  TESSERA_CHECK(padding_idx == -1 || (padding_idx >= 0 && padding_idx < n),
                "embedding: padding_idx must be -1 (none) or in [0, ", n, "), got ", padding_idx);
  const Tensor flat = indices.reshape({-1});
  Tensor rows = index_select(weight, 0, flat);
  // rows has an autograd slot only when the autograd layer recorded index_select (it
  // then requires grad). Read the slot, not requires_grad(): this file is part of the ops
  // layer, below autograd, and is linked into tessera_inference, which has no autograd.
  if (padding_idx >= 0 && rows.impl()->autograd != nullptr) {
    // Rows looked up at padding_idx keep their values but take them from a detached
    // weight, so no gradient reaches weight[padding_idx].
    const Tensor pad = eq(flat, padding_idx).unsqueeze(1);
    rows = where(pad, index_select(weight.detach(), 0, flat), rows);
  }
  Shape out(indices.sizes());
  out.push_back(weight.size(1));
  return rows.view(out);
}

// ---------------------------------------------------------------- attention, activations

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2,
                "scaled_dot_product_attention: q, k and v need rank >= 2, got ", q.describe(),
                ", ", k.describe(), ", ", v.describe());
  check_float("scaled_dot_product_attention", "query", q);
  const int64_t L = q.size(-2), S = k.size(-2), E = q.size(-1);
  TESSERA_CHECK(k.size(-1) == E && v.size(-2) == S, "scaled_dot_product_attention: expected k [..., S, ",
                E, "] and v [..., S, Ev] with the same S, got q ", q.describe(), ", k ",
                k.describe(), ", v ", v.describe());
  TESSERA_CHECK(!(is_causal && attn_mask.defined()), "scaled_dot_product_attention: pass either "
                "attn_mask or is_causal, not both");
  TESSERA_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, "scaled_dot_product_attention: dropout_p "
                "must be in [0, 1], got ", dropout_p);
  if (dropout_p == 0.0) {
    // The composite op: one unit for fusion and export. With dropout, the random draw
    // comes from dropout's own op below (its generator state stays with the caller).
    std::vector<Tensor> in{q, k, v};
    if (attn_mask.defined()) in.push_back(attn_mask);
    return ops::call1(ops::kScaledDotProductAttention, std::move(in),
                      {{"dropout_p", dropout_p}, {"is_causal", is_causal}, {"mask", attn_mask.defined()}});
  }
  Tensor scores = mul(matmul(q, k.transpose(-2, -1)), 1.0 / std::sqrt(static_cast<double>(E)));
  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (is_causal) {
    const Tensor keep = tril(ones({L, S}, kBool));
    scores = masked_fill(scores, logical_not(keep), neg_inf);
  } else if (attn_mask.defined()) {
    if (attn_mask.dtype() == kBool) {
      scores = masked_fill(scores, logical_not(attn_mask), neg_inf);
    } else {
      scores = add(scores, attn_mask);
    }
  }
  Tensor attn = softmax(scores, -1);
  if (dropout_p > 0.0) attn = dropout(attn, dropout_p, true, gen);
  return matmul(attn, v);
}

Tensor leaky_relu(const Tensor& x, double negative_slope, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kLeakyRelu, {x}, {{"negative_slope", negative_slope}});
}

// ---------------------------------------------------------------- classification losses

Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight,
                int64_t ignore_index, Reduction reduction, CallSite at) {
  detail::UserCallScope scope(at);
  std::vector<Tensor> in{log_probs, target};
  if (weight.defined()) in.push_back(weight);
  return ops::call1(ops::kNllLoss, std::move(in),
                    {{"reduction", std::string(reduction_name(reduction))}, {"ignore_index", ignore_index},
                     {"label_smoothing", 0.0}, {"weight", weight.defined()}});
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight,
                     int64_t ignore_index, Reduction reduction, double label_smoothing,
CallSite at) {
  detail::UserCallScope scope(at);
  std::vector<Tensor> in{logits, target};
  if (weight.defined()) in.push_back(weight);
  return ops::call1(ops::kCrossEntropy, std::move(in),
                    {{"reduction", std::string(reduction_name(reduction))}, {"ignore_index", ignore_index},
                     {"label_smoothing", label_smoothing}, {"weight", weight.defined()}});
}

// ---------------------------------------------------------------- regression losses

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction, CallSite at) {
  detail::UserCallScope scope(at);
  check_float("mse_loss", "input", input);
  return reduce(square(sub(input, target)), reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, CallSite at) {
  detail::UserCallScope scope(at);
  check_float("l1_loss", "input", input);
  return reduce(abs(sub(input, target)), reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta,
                      CallSite at) {
  detail::UserCallScope scope(at);
  check_float("smooth_l1_loss", "input", input);
  TESSERA_CHECK(beta >= 0.0, "smooth_l1_loss: beta must be >= 0, got ", beta);
  const Tensor d = abs(sub(input, target));
  if (beta == 0.0) return reduce(d, reduction);  // the quadratic zone vanishes: plain L1
  // 0.5 d^2 / beta inside |d| < beta, d - beta / 2 outside (the two meet with slope 1).
  const Tensor loss = where(lt(d, beta), mul(square(d), 0.5 / beta), sub(d, 0.5 * beta));
  return reduce(loss, reduction);
}

// ---------------------------------------------------------------- binary and divergence losses

Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target, const Tensor& weight,
                            Reduction reduction, CallSite at) {
  detail::UserCallScope scope(at);
  check_float("binary_cross_entropy", "input", probs);
  TESSERA_CHECK(target.sizes().equals(probs.sizes()), "binary_cross_entropy: target ",
                target.describe(), " must have the input's shape ", shape_str(probs.sizes()));
  if (probs.numel() > 0) {
    NoGradGuard no_grad;
    ValueCheckScope check;
    const double lo = min(probs).item<double>(), hi = max(probs).item<double>();
    TESSERA_CHECK(lo >= 0.0 && hi <= 1.0, "binary_cross_entropy: every input must be a "
                  "probability in [0, 1], got values in [", lo, ", ", hi, "]");
  }
  // PyTorch clamps each log at -100 so that p = 0 or 1 gives a finite loss.
  const Tensor log_p = clamp(log(probs), Scalar(-100.0), std::nullopt);
  const Tensor log_1mp = clamp(log(1.0 - probs), Scalar(-100.0), std::nullopt);
  Tensor loss = neg(add(mul(target, log_p), mul(1.0 - target, log_1mp)));
  if (weight.defined()) loss = mul(loss, weight);
  return reduce(loss, reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const Tensor& weight, const Tensor& pos_weight,
                                        Reduction reduction, CallSite at) {
  detail::UserCallScope scope(at);
  check_float("binary_cross_entropy_with_logits", "input", logits);
  TESSERA_CHECK(target.sizes().equals(logits.sizes()), "binary_cross_entropy_with_logits: target ",
                target.describe(), " must have the input's shape ", shape_str(logits.sizes()));
  // -[y log s(x) + (1 - y) log(1 - s(x))] = (1 - y) x + softplus(-x), and softplus never
  // overflows; pos_weight scales the positive term: (1 - y) x + (1 + (pw - 1) y) softplus(-x).
  const Tensor sp = softplus(neg(logits));
  const Tensor lin = mul(1.0 - target, logits);
  Tensor loss;
  if (pos_weight.defined()) {
    const Tensor log_weight = add(mul(sub(pos_weight, 1.0), target), 1.0);
    loss = add(lin, mul(log_weight, sp));
  } else {
    loss = add(lin, sp);
  }
  if (weight.defined()) loss = mul(loss, weight);
  return reduce(loss, reduction);
}

Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction, bool log_target,
              CallSite at) {
  detail::UserCallScope scope(at);
  check_float("kl_div", "input", input);
  Tensor loss;
  if (log_target) {
    loss = mul(exp(target), sub(target, input));
  } else {
    // target * (log target - input), with 0 log 0 = 0. The log reads 1 where target is 0 so
    // that neither the value nor the gradient picks up 0 * inf.
    const Tensor safe = where(gt(target, 0), target, 1.0);
    loss = mul(target, sub(log(safe), input));
  }
  return reduce(loss, reduction);
}

}  // namespace tessera::nn::functional
