// Finite-difference gradient checks in float64. Rather than the full Jacobian, each check
// compares vector-Jacobian products for random projections v of the output: the analytic
// d<v, f(x)>/dx from one backward pass against central differences of <v, f(x)>.
#include <cmath>
#include <sstream>

#include "tessera/autograd.h"
#include "tessera/ops.h"

namespace tessera::autograd {
namespace {

// Recording stays on: the function may itself differentiate (gradgradcheck).
double projected(const TensorFn& fn, const std::vector<Tensor>& inputs, const Tensor& v) {
  return sum(mul(fn(inputs), v)).item<double>();
}

GradcheckResult check(const TensorFn& fn, const std::vector<Tensor>& raw_inputs,
                      const GradcheckOptions& o, const char* what) {
  GradcheckResult result;
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < raw_inputs.size(); ++i) {
    const Tensor& t = raw_inputs[i];
    TESSERA_CHECK(t.dtype() == kFloat64 || !t.requires_grad(), what, ": input ", i, " is ",
                  t.describe(), "; finite differences need float64 inputs");
    inputs.push_back(t.requires_grad() ? t.detach().clone().requires_grad_() : t);
  }
  Generator gen(o.seed);
  for (int p = 0; p < o.projections; ++p) {
    Tensor y = fn(inputs);
    TESSERA_CHECK(y.dtype() == kFloat64, what, ": the function returned ", y.describe(),
                  "; expected float64");
    Tensor v = randn(y.sizes(), kFloat64, &gen);
    std::vector<Tensor> wrt;
    for (const Tensor& t : inputs)
      if (t.requires_grad()) wrt.push_back(t);
    if (wrt.empty()) break;
    std::vector<Tensor> analytic;
    if (y.requires_grad()) {
      analytic = grad({y}, wrt, {v}, false, false, true);
    } else {
      analytic.resize(wrt.size());
    }
    size_t k = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].requires_grad()) continue;
      Tensor x = inputs[i];
      Tensor a = analytic[k].defined() ? analytic[k].contiguous() : zeros(x.sizes(), kFloat64);
      ++k;
      std::vector<double> av = a.to_vector<double>();
      for (int64_t e = 0; e < x.numel(); ++e) {
        Tensor flat = x.detach().view({-1});  // writes the leaf's values, not its history
        const double orig = flat[e].item<double>();
        flat[e].fill_(orig + o.eps);
        const double plus = projected(fn, inputs, v);
        flat[e].fill_(orig - o.eps);
        const double minus = projected(fn, inputs, v);
        flat[e].fill_(orig);
        const double numeric = (plus - minus) / (2 * o.eps);
        const double err = std::abs(numeric - av[static_cast<size_t>(e)]);
        result.max_abs_error = std::max(result.max_abs_error, err);
        if (err > o.atol + o.rtol * std::abs(numeric) && result.ok) {
          std::ostringstream os;
          os << what << ": input " << i << " " << x.describe() << ", element " << e
             << ": analytic " << av[static_cast<size_t>(e)] << " vs numeric " << numeric
             << " (projection " << p << ")";
          result.ok = false;
          result.message = os.str();
        }
      }
    }
  }
  return result;
}

}  // namespace

GradcheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  return check(fn, inputs, options, "gradcheck");
}

GradcheckResult gradgradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options) {
  // The function checked is x -> sum over inputs of <w_i, d<v, f(x)>/dx_i>, whose gradient
  // needs second derivatives of f.
  Generator gen(options.seed + 1);
  Tensor probe;
  {
    NoGradGuard no_grad;
    probe = fn(inputs);
  }
  Tensor v = randn(probe.sizes(), kFloat64, &gen);
  std::vector<Tensor> w;
  for (const Tensor& t : inputs) w.push_back(randn(t.sizes(), kFloat64, &gen));
  TensorFn first_derivative = [&](const std::vector<Tensor>& xs) {
    std::vector<Tensor> wrt;
    std::vector<size_t> where;
    for (size_t i = 0; i < xs.size(); ++i)
      if (xs[i].requires_grad()) {
        wrt.push_back(xs[i]);
        where.push_back(i);
      }
    Tensor y = fn(xs);
    Tensor total = zeros({}, kFloat64);
    if (!y.requires_grad()) return total;
    std::vector<Tensor> g = grad({y}, wrt, {v}, true, true, true);
    for (size_t k = 0; k < g.size(); ++k)
      if (g[k].defined()) total = add(total, sum(mul(g[k], w[where[k]])));
    return total;
  };
  return check(first_derivative, inputs, options, "gradgradcheck");
}

}  // namespace tessera::autograd
