// Kernels of the optimizer updates (ops/optim.h): gather the hyperparameters into the
// fused loops of optim/kernels.h and run them over the parameter, split across threads
// for large parameters. A parameter or buffer that is not contiguous (rare: parameters
// are made contiguous) is updated in a contiguous copy that is written back.
#include <cmath>
#include <vector>

#include "backends/cpu/optim/kernels.h"
#include "ops/copy.h"
#include "ops/optim.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;

// Runs fn(begin, end) over [0, n), on the thread pool when n is large.
template <typename Fn>
void chunked(int64_t n, Fn&& fn) {
  if (n < kElementwiseGrain || get_num_threads() == 1 || in_parallel_region()) {
    fn(int64_t{0}, n);
    return;
  }
  parallel_for(0, n, kElementwiseGrain, [&](int64_t b, int64_t e) { fn(b, e); });
}

template <typename T>
T* shift(T* p, int64_t by) {
  return p == nullptr ? nullptr : p + by;
}

// The written tensors as the loops need them (contiguous), and the write-back after. The
// step count (the last output) is incremented here, before the loops read it.
struct Operands {
  std::vector<Tensor> dense;  // dense[i] for call.outputs[i], the step count left out
  Tensor grad;
  double step = 0;            // the count after this update: 1 on the first
  explicit Operands(const KernelCall& c) {
    for (size_t i = 0; i + 1 < c.outputs.size(); ++i) dense.push_back(contiguous(c.outputs[i]));
    grad = contiguous(cast(c.inputs[1], c.outputs[0].dtype()));
    double* count = c.outputs.back().data<double>();
    step = *count += 1;
  }
  template <typename T>
  T* out(size_t i) const {
    return i < dense.size() ? dense[i].data<T>() : nullptr;
  }
  void write_back(const KernelCall& c) const {
    for (size_t i = 0; i < dense.size(); ++i)
      if (!dense[i].is_same(c.outputs[i])) copy_into(c.outputs[i], dense[i]);
  }
};

template <typename T>
void sgd(const KernelCall& c, const optim::Table<T>& table) {
  const Operands o(c);
  const ops::Attrs& a = c.attrs;
  optim::SgdArgs<T> args{};
  args.param = o.out<T>(0);
  args.grad = o.grad.data<T>();
  args.buf = a.f("momentum") != 0 ? o.out<T>(1) : nullptr;
  args.lr = static_cast<T>(a.f("lr"));
  args.momentum = static_cast<T>(a.f("momentum"));
  args.weight_decay = static_cast<T>(a.f("weight_decay"));
  args.one_minus_dampening = static_cast<T>(1.0 - a.f("dampening"));
  args.nesterov = a.b("nesterov");
  args.first_step = o.step == 1;  // the momentum buffer starts as the gradient
  chunked(c.outputs[0].numel(), [&](int64_t b, int64_t e) {
    optim::SgdArgs<T> p = args;
    p.param = shift(args.param, b);
    p.grad = shift(args.grad, b);
    p.buf = shift(args.buf, b);
    table.sgd(p, e - b);
  });
  o.write_back(c);
}

template <typename T>
void adam(const KernelCall& c, const optim::Table<T>& table) {
  const Operands o(c);
  const ops::Attrs& a = c.attrs;
  const double lr = a.f("lr"), beta1 = a.f("beta1"), beta2 = a.f("beta2");
  const double wd = a.f("weight_decay");
  const double step = o.step;
  optim::AdamArgs<T> args{};
  args.param = o.out<T>(0);
  args.grad = o.grad.data<T>();
  args.exp_avg = o.out<T>(1);
  args.exp_avg_sq = o.out<T>(2);
  args.max_exp_avg_sq = a.b("amsgrad") ? o.out<T>(3) : nullptr;
  args.beta1 = static_cast<T>(beta1);
  args.one_minus_beta1 = static_cast<T>(1.0 - beta1);
  args.beta2 = static_cast<T>(beta2);
  args.one_minus_beta2 = static_cast<T>(1.0 - beta2);
  args.eps = static_cast<T>(a.f("eps"));
  args.weight_decay = static_cast<T>(wd);
  // Bias corrections in double, as PyTorch computes them in Python.
  args.step_size = static_cast<T>(lr / (1.0 - std::pow(beta1, step)));
  args.bias_correction2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(beta2, step)));
  args.decay_factor = static_cast<T>(1.0 - lr * wd);
  args.decoupled = a.b("decoupled");
  chunked(c.outputs[0].numel(), [&](int64_t b, int64_t e) {
    optim::AdamArgs<T> p = args;
    p.param = shift(args.param, b);
    p.grad = shift(args.grad, b);
    p.exp_avg = shift(args.exp_avg, b);
    p.exp_avg_sq = shift(args.exp_avg_sq, b);
    p.max_exp_avg_sq = shift(args.max_exp_avg_sq, b);
    table.adam(p, e - b);
  });
  o.write_back(c);
}

template <typename T>
void rmsprop(const KernelCall& c, const optim::Table<T>& table) {
  const Operands o(c);
  const ops::Attrs& a = c.attrs;
  const bool momentum = a.f("momentum") > 0;
  optim::RmspropArgs<T> args{};
  args.param = o.out<T>(0);
  args.grad = o.grad.data<T>();
  args.square_avg = o.out<T>(1);
  args.buf = momentum ? o.out<T>(2) : nullptr;
  args.grad_avg = a.b("centered") ? o.out<T>(momentum ? 3 : 2) : nullptr;
  args.lr = static_cast<T>(a.f("lr"));
  args.alpha = static_cast<T>(a.f("alpha"));
  args.one_minus_alpha = static_cast<T>(1.0 - a.f("alpha"));
  args.eps = static_cast<T>(a.f("eps"));
  args.weight_decay = static_cast<T>(a.f("weight_decay"));
  args.momentum = static_cast<T>(a.f("momentum"));
  chunked(c.outputs[0].numel(), [&](int64_t b, int64_t e) {
    optim::RmspropArgs<T> p = args;
    p.param = shift(args.param, b);
    p.grad = shift(args.grad, b);
    p.square_avg = shift(args.square_avg, b);
    p.grad_avg = shift(args.grad_avg, b);
    p.buf = shift(args.buf, b);
    table.rmsprop(p, e - b);
  });
  o.write_back(c);
}

template <typename T>
void adagrad(const KernelCall& c, const optim::Table<T>& table) {
  const Operands o(c);
  const ops::Attrs& a = c.attrs;
  optim::AdagradArgs<T> args{};
  args.param = o.out<T>(0);
  args.grad = o.grad.data<T>();
  args.sum = o.out<T>(1);
  args.clr = static_cast<T>(a.f("lr") / (1.0 + (o.step - 1) * a.f("lr_decay")));
  args.eps = static_cast<T>(a.f("eps"));
  args.weight_decay = static_cast<T>(a.f("weight_decay"));
  chunked(c.outputs[0].numel(), [&](int64_t b, int64_t e) {
    optim::AdagradArgs<T> p = args;
    p.param = shift(args.param, b);
    p.grad = shift(args.grad, b);
    p.sum = shift(args.sum, b);
    table.adagrad(p, e - b);
  });
  o.write_back(c);
}

template <typename T>
void adadelta(const KernelCall& c, const optim::Table<T>& table) {
  const Operands o(c);
  const ops::Attrs& a = c.attrs;
  optim::AdadeltaArgs<T> args{};
  args.param = o.out<T>(0);
  args.grad = o.grad.data<T>();
  args.square_avg = o.out<T>(1);
  args.acc_delta = o.out<T>(2);
  args.lr = static_cast<T>(a.f("lr"));
  args.rho = static_cast<T>(a.f("rho"));
  args.one_minus_rho = static_cast<T>(1.0 - a.f("rho"));
  args.eps = static_cast<T>(a.f("eps"));
  args.weight_decay = static_cast<T>(a.f("weight_decay"));
  chunked(c.outputs[0].numel(), [&](int64_t b, int64_t e) {
    optim::AdadeltaArgs<T> p = args;
    p.param = shift(args.param, b);
    p.grad = shift(args.grad, b);
    p.square_avg = shift(args.square_avg, b);
    p.acc_delta = shift(args.acc_delta, b);
    table.adadelta(p, e - b);
  });
  o.write_back(c);
}

// One kernel per update: the loops for the parameter's dtype.
template <void (*F32)(const KernelCall&, const optim::Table<float>&),
          void (*F64)(const KernelCall&, const optim::Table<double>&)>
void by_dtype(const KernelCall& c) {
  if (c.outputs[0].dtype() == DType::Float32) F32(c, optim::float_table());
  else F64(c, optim::double_table());
}

}  // namespace

void register_optim_kernels() {
  register_kernel(ops::kSgdUpdate, Device::CPU, by_dtype<sgd<float>, sgd<double>>, ops::kFloatMask);
  register_kernel(ops::kAdamUpdate, Device::CPU, by_dtype<adam<float>, adam<double>>, ops::kFloatMask);
  register_kernel(ops::kRmspropUpdate, Device::CPU, by_dtype<rmsprop<float>, rmsprop<double>>, ops::kFloatMask);
  register_kernel(ops::kAdagradUpdate, Device::CPU, by_dtype<adagrad<float>, adagrad<double>>, ops::kFloatMask);
  register_kernel(ops::kAdadeltaUpdate, Device::CPU, by_dtype<adadelta<float>, adadelta<double>>, ops::kFloatMask);
}

}  // namespace tessera::cpu
