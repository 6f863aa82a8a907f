#pragma once
// Neural-network functions (torch.nn.functional). Layers in nn/ are thin wrappers that own
// parameters and call these; each is an op (or a composite of ops) with a backward rule.
#include <optional>
#include <string>

#include "tessera/ops.h"

namespace tessera::nn::functional {

enum class Reduction { None, Mean, Sum };

// "same" or "valid". A type of its own so that conv2d(x, w, b, {1, 1}, {1, 1}) cannot
// mistake the braced padding for std::string's (count, char) constructor.
struct PaddingMode {
  std::string name;
  PaddingMode(const char* mode) : name(mode) {}          // NOLINT: implicit by design
  PaddingMode(std::string mode) : name(std::move(mode)) {}  // NOLINT
};

// ---- linear ----
TESSERA_API Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                          CallSite at = CallSite::current());
TESSERA_API Tensor bilinear(const Tensor& x1, const Tensor& x2, const Tensor& weight,
                            const Tensor& bias = {}, CallSite at = CallSite::current());

// ---- convolution and pooling (NCL / NCHW) ----
TESSERA_API Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                          int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1,
                          int64_t groups = 1, CallSite at = CallSite::current());
TESSERA_API Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                          IntArrayRef stride = {1, 1}, IntArrayRef padding = {0, 0},
                          IntArrayRef dilation = {1, 1}, int64_t groups = 1,
                          CallSite at = CallSite::current());
// padding "same" (stride 1; even kernels pad more at the end, as PyTorch) or "valid".
TESSERA_API Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                          IntArrayRef stride, const PaddingMode& padding,
                          IntArrayRef dilation = {1, 1}, int64_t groups = 1,
                          CallSite at = CallSite::current());
TESSERA_API Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = {},
                                    IntArrayRef stride = {1, 1}, IntArrayRef padding = {0, 0},
                                    IntArrayRef output_padding = {0, 0}, int64_t groups = 1,
                                    IntArrayRef dilation = {1, 1},
                                    CallSite at = CallSite::current());
// stride defaults to the kernel size when empty.
TESSERA_API Tensor max_pool2d(const Tensor& x, IntArrayRef kernel, IntArrayRef stride = {},
                              IntArrayRef padding = {0, 0}, IntArrayRef dilation = {1, 1},
                              bool ceil_mode = false, CallSite at = CallSite::current());
TESSERA_API Tensor avg_pool2d(const Tensor& x, IntArrayRef kernel, IntArrayRef stride = {},
                              IntArrayRef padding = {0, 0}, bool ceil_mode = false,
                              bool count_include_pad = true, CallSite at = CallSite::current());
TESSERA_API Tensor adaptive_avg_pool2d(const Tensor& x, IntArrayRef output_size,
                                       CallSite at = CallSite::current());

// ---- normalization, dropout, embedding, attention, activations ----
// running_mean/var (may be undefined) are updated in place when training.
TESSERA_API Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                              const Tensor& weight, const Tensor& bias, bool training,
                              double momentum = 0.1, double eps = 1e-5,
                              CallSite at = CallSite::current());
TESSERA_API Tensor layer_norm(const Tensor& x, IntArrayRef normalized_shape,
                              const Tensor& weight = {}, const Tensor& bias = {},
                              double eps = 1e-5, CallSite at = CallSite::current());
TESSERA_API Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = {},
                              const Tensor& bias = {}, double eps = 1e-5,
                              CallSite at = CallSite::current());
TESSERA_API Tensor dropout(const Tensor& x, double p = 0.5, bool training = true,
                           Generator* gen = nullptr, CallSite at = CallSite::current());
TESSERA_API Tensor embedding(const Tensor& indices, const Tensor& weight, int64_t padding_idx = -1,
                             CallSite at = CallSite::current());
// q [..., L, E], k [..., S, E], v [..., S, Ev]; attn_mask bool (true = keep) or additive float.
TESSERA_API Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                                const Tensor& attn_mask = {}, double dropout_p = 0.0,
                                                bool is_causal = false, Generator* gen = nullptr,
                                                CallSite at = CallSite::current());
TESSERA_API Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01,
                              CallSite at = CallSite::current());

// ---- losses ----
// target: class indices (int64, [N] or [N, d1...]) or class probabilities (float, logits' shape).
TESSERA_API Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight = {},
                                 int64_t ignore_index = -100, Reduction reduction = Reduction::Mean,
                                 double label_smoothing = 0.0, CallSite at = CallSite::current());
TESSERA_API Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const Tensor& weight = {},
                            int64_t ignore_index = -100, Reduction reduction = Reduction::Mean,
                            CallSite at = CallSite::current());
TESSERA_API Tensor mse_loss(const Tensor& input, const Tensor& target,
                            Reduction reduction = Reduction::Mean,
                            CallSite at = CallSite::current());
TESSERA_API Tensor l1_loss(const Tensor& input, const Tensor& target,
                           Reduction reduction = Reduction::Mean,
                           CallSite at = CallSite::current());
TESSERA_API Tensor smooth_l1_loss(const Tensor& input, const Tensor& target,
                                  Reduction reduction = Reduction::Mean, double beta = 1.0,
                                  CallSite at = CallSite::current());
TESSERA_API Tensor binary_cross_entropy(const Tensor& probs, const Tensor& target,
                                        const Tensor& weight = {},
                                        Reduction reduction = Reduction::Mean,
                                        CallSite at = CallSite::current());
TESSERA_API Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                                    const Tensor& weight = {},
                                                    const Tensor& pos_weight = {},
                                                    Reduction reduction = Reduction::Mean,
                                                    CallSite at = CallSite::current());
TESSERA_API Tensor kl_div(const Tensor& input, const Tensor& target,
                          Reduction reduction = Reduction::Mean, bool log_target = false,
                          CallSite at = CallSite::current());

}  // namespace tessera::nn::functional
