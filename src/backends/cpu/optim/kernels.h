#pragma once
// Fused optimizer updates over contiguous float32 / float64 data: one pass reads the
// parameter, its gradient and its state buffers and writes them back, instead of the
// five to eight tensor ops (and temporaries) PyTorch's per-op formulation costs.
// The float32 loops are compiled once per ISA (kernels_{avx512,avx2,base}.cc include
// kernels_impl.h) and picked at run time like src/backends/cpu/vec/float_loops.h.
//
// Each kernel reproduces PyTorch's operation order, rounding every intermediate to T
// the way its sequence of in-place ops does, so trajectories agree to the last bits.
#include <cstdint>

namespace tessera::cpu::optim {

template <typename T>
struct SgdArgs {
  T* param;
  const T* grad;
  T* buf;  // momentum buffer, null without momentum
  T lr, momentum, weight_decay;
  T one_minus_dampening;  // scalars like 1 - x are computed in double, as Python does
  bool nesterov;
  bool first_step;  // the buffer starts as a copy of the (decayed) gradient
};

template <typename T>
struct AdamArgs {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  T* max_exp_avg_sq;  // null unless amsgrad
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay;
  T step_size;            // lr / (1 - beta1^step)
  T bias_correction2_sqrt;  // sqrt(1 - beta2^step)
  T decay_factor;         // AdamW: 1 - lr * weight_decay; Adam: unused
  bool decoupled;
};

template <typename T>
struct RmspropArgs {
  T* param;
  const T* grad;
  T* square_avg;
  T* grad_avg;  // null unless centered
  T* buf;       // null unless momentum > 0
  T lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
};

template <typename T>
struct AdagradArgs {
  T* param;
  const T* grad;
  T* sum;
  T clr, eps, weight_decay;  // clr: lr / (1 + (step - 1) * lr_decay)
};

template <typename T>
struct AdadeltaArgs {
  T* param;
  const T* grad;
  T* square_avg;
  T* acc_delta;
  T lr, rho, one_minus_rho, eps, weight_decay;
};

template <typename T>
struct Table {
  void (*sgd)(const SgdArgs<T>&, int64_t n);
  void (*adam)(const AdamArgs<T>&, int64_t n);
  void (*rmsprop)(const RmspropArgs<T>&, int64_t n);
  void (*adagrad)(const AdagradArgs<T>&, int64_t n);
  void (*adadelta)(const AdadeltaArgs<T>&, int64_t n);
};

// The float32 table for this CPU (same ISA choice as the elementwise loops).
const Table<float>& float_table();
const Table<double>& double_table();

}  // namespace tessera::cpu::optim
