// Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_).
#include <cmath>

#include "tessera/autograd.h"
#include "tessera/ops.h"
#include "tessera/optim.h"

namespace tessera::optim {

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                       bool error_if_nonfinite) {
  TESSERA_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be > 0 (or inf), got ",
                norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (g.defined()) grads.push_back(g);
  }
  if (grads.empty()) return 0.0;
  // The joint norm is the norm of the per-tensor norms; combined in double.
  const bool inf = std::isinf(norm_type);
  double total = 0;
  for (const auto& g : grads) {
    if (g.numel() == 0) continue;
    const double n = inf ? read_as_double(amax(abs(g)), 0) : read_as_double(norm(g, norm_type), 0);
    total = inf ? std::max(total, n) : total + std::pow(n, norm_type);
  }
  if (!inf) total = std::pow(total, 1.0 / norm_type);
  TESSERA_CHECK(!error_if_nonfinite || std::isfinite(total),
                "clip_grad_norm_: the total gradient norm (order ", norm_type, ") is ", total,
                "; gradients can't be clipped (pass error_if_nonfinite=false to skip this check)");
  // PyTorch's coefficient: max_norm / (total + 1e-6), applied only when it is below 1.
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    for (auto& g : grads) g.mul_(Scalar(coef));
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  TESSERA_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be >= 0, got ", clip_value);
  NoGradGuard no_grad;
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (g.defined()) clamp_(g, Scalar(-clip_value), Scalar(clip_value));
  }
}

}  // namespace tessera::optim
