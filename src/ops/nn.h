#pragma once
// Composite ops: the nn functions that fusion and export care about as units (linear,
// layer_norm, batch_norm, cross_entropy, scaled-dot-product attention). Each is an OpDef
// with a shape rule holding every argument check, and a decomposition into primitive
// ops. A backend with a fused kernel for one runs it; otherwise the dispatcher runs the
// decomposition (through dispatch, so autograd records its primitive ops and no backward
// rule is needed here). The tracer can keep the composite as one node, for fusion and for
// ONNX's LayerNormalization / Gemm, and lower it through the decomposition when it must.
//
// Optional tensors are trailing inputs announced by boolean attributes:
//   linear:        x, weight[, bias]                      attrs: bias
//   layer_norm:    x[, weight][, bias]                    attrs: normalized_shape, eps, weight, bias
//   batch_norm:    x[, running_mean, running_var][, weight][, bias]
//                  attrs: training, momentum, eps, running_stats, weight, bias. In training
//                  with running stats, the decomposition updates them in place (mul_/add_).
//   cross_entropy: logits, target[, weight]               attrs: reduction ("none", "mean",
//                  "sum"), ignore_index, label_smoothing, weight
//   nll_loss:      log_probs, target[, weight]            attrs: as cross_entropy (label_smoothing 0)
//   scaled_dot_product_attention: q, k, v[, attn_mask]    attrs: dropout_p, is_causal, mask
#include <string_view>

#include "ops/op.h"

namespace tessera::ops {
extern OpDef kLinear;
extern OpDef kLayerNorm;
extern OpDef kBatchNorm;
extern OpDef kCrossEntropy;
extern OpDef kNllLoss;
extern OpDef kScaledDotProductAttention;
void register_nn_ops();

// Shared with nn::functional's other norms and losses.
// A per-channel vector [C] viewed to broadcast along dim 1 of a rank-`rank` tensor.
Tensor channel_view(const Tensor& v, int64_t rank);
// Per-element losses reduced as `reduction` says: "none", "mean" or "sum".
Tensor reduce_loss(const Tensor& loss, std::string_view reduction);
}  // namespace tessera::ops
