// opdb entries of the optimizers' updates (src/ops/optim.h): each writes the parameter, its
// state buffers and its step count (the last input, a 0-d f64 tensor the update increments
// before using it) in place. They have no public function of their own (the optimizers
// of tessera/optim.h call them), so invoke goes through dispatch. PyTorch's reference is
// its functional optimizer (torch.optim._functional) on the same state, one step.
#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

InvokeFn dispatch(const char* op) {
  return [op](const Tensors& x, const Attrs& a) {
    ops::ensure_registered();
    return ops::call(*ops::find_op(op), x, a);
  };
}

OpEntry entry(const char* op, SamplesFn samples, std::string torch) {
  OpEntry e;
  e.op = op;
  e.family = "optim";
  e.invoke = dispatch(op);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  e.tol.rtol32 = 1e-5;
  e.tol.atol32 = 1e-6;
  e.tol.rtol64 = 1e-10;
  return e;
}

Tensor step_count(int64_t steps) { return scalar_tensor(static_cast<double>(steps), kFloat64); }

// param, grad and `buffers` state buffers of `shape`; the squared-average ones positive.
// "noncontiguous" makes the parameter and the gradient non-contiguous (the kernel updates a
// contiguous copy and writes it back).
// `steps`: the updates already made (the count the update then makes steps + 1).
Tensors state(Maker& m, IntArrayRef shape, int buffers, int positive_from, int64_t steps, bool nc = false) {
  Tensors t{m(shape), m(shape)};
  for (int i = 0; i < buffers; ++i) t.push_back(i >= positive_from ? m(shape, Domain::positive(0.1, 1)) : m(shape, Domain{-0.5, 0.5}));
  if (nc) {
    t[0] = noncontiguous(t[0]);
    t[1] = noncontiguous(t[1]);
  }
  t.push_back(step_count(steps));
  return t;
}

}  // namespace

void add_optim(std::vector<OpEntry>& out) {
  {
    auto a = [](double momentum, double dampening, double wd, bool nesterov) {
      return Attrs{{"lr", 0.1}, {"momentum", momentum}, {"dampening", dampening}, {"weight_decay", wd}, {"nesterov", nesterov}};
    };
    OpEntry e = entry(
        "sgd_update_",
        [a](DType t) {
          Maker m("sgd_update_", t);
          std::vector<Sample> s;
          s.push_back({"plain", state(m, {3, 4}, 0, 9, 4), a(0, 0, 0, false)});
          // The first step (count 0 before it): the momentum buffer starts as the gradient.
          s.push_back({"momentum_first_step", state(m, {3, 4}, 1, 9, 0), a(0.9, 0.1, 0, false)});
          s.push_back({"nesterov_weight_decay", state(m, {3, 4}, 1, 9, 3, true), a(0.9, 0, 0.01, true)});
          s.push_back({"dampening", state(m, {5}, 1, 9, 1), a(0.5, 0.3, 0, false)});
          s.push_back({"empty", state(m, {0, 4}, 1, 9, 2), a(0.9, 0, 0, false)});
          s.push_back({"large", state(m, {300, 400}, 1, 9, 5), a(0.9, 0, 0.01, true), false});
          return s;
        },
        "sgd(x, A)");
    e.errors = [a] {
      return std::vector<ErrorCase>{
          {"missing_buffer", {ones({2}), ones({2}), step_count(0)}, a(0.9, 0, 0, false),
           "expected 4 inputs (param, grad, momentum_buffer, step), got 3"},
          {"shape", {ones({2}), ones({3}), step_count(0)}, a(0, 0, 0, false), "does not match the parameter"},
          {"int_param", {ones({2}, kInt64), ones({2}, kInt64), step_count(0)}, a(0, 0, 0, false), "the parameter must be f32 or f64"},
          {"step_dtype", {ones({2}), ones({2}), scalar_tensor(0.0, kFloat32)}, a(0, 0, 0, false),
           "the step count must be a 0-d f64 tensor"}};
    };
    out.push_back(std::move(e));
  }
  {
    auto a = [](double wd, bool amsgrad, bool decoupled) {
      return Attrs{{"lr", 0.01}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}, {"weight_decay", wd},
                   {"amsgrad", amsgrad}, {"decoupled", decoupled}};
    };
    OpEntry e = entry(
        "adam_update_",
        [a](DType t) {
          Maker m("adam_update_", t);
          std::vector<Sample> s;
          s.push_back({"first_step", state(m, {3, 4}, 2, 1, 0), a(0, false, false)});
          s.push_back({"weight_decay", state(m, {3, 4}, 2, 1, 2, true), a(0.01, false, false)});
          s.push_back({"amsgrad", state(m, {5}, 3, 1, 1), a(0, true, false)});
          s.push_back({"adamw", state(m, {3, 4}, 2, 1, 3), a(0.05, false, true)});
          s.push_back({"empty", state(m, {0, 4}, 2, 1, 0), a(0, false, false)});
          s.push_back({"large", state(m, {300, 400}, 3, 1, 6), a(0.01, true, true), false});
          return s;
        },
        "adam(x, A)");
    e.errors = [a] {
      return std::vector<ErrorCase>{
          {"step_shape", {ones({2}), ones({2}), ones({2}), ones({2}), zeros({1}, kFloat64)}, a(0, false, false),
           "the step count must be a 0-d f64 tensor"},
          {"buffer_dtype", {ones({2}), ones({2}), ones({2}, kFloat64), ones({2}), step_count(0)}, a(0, false, false),
           "does not have the parameter's dtype f32"}};
    };
    out.push_back(std::move(e));
  }
  {
    auto a = [](double momentum, bool centered, double wd) {
      return Attrs{{"lr", 0.01}, {"alpha", 0.99}, {"eps", 1e-8}, {"weight_decay", wd}, {"momentum", momentum}, {"centered", centered}};
    };
    OpEntry e = entry(
        "rmsprop_update_",
        [a](DType t) {
          Maker m("rmsprop_update_", t);
          // square_avg comfortably above grad_avg^2 (centered divides by their difference).
          auto st = [&](IntArrayRef shape, bool momentum, bool centered, bool nc = false) {
            Tensors x{m(shape), m(shape), m(shape, Domain::positive(1, 2))};
            if (momentum) x.push_back(m(shape, Domain{-0.5, 0.5}));
            if (centered) x.push_back(m(shape, Domain{-0.5, 0.5}));
            if (nc) x[0] = noncontiguous(x[0]);
            x.push_back(step_count(2));
            return x;
          };
          std::vector<Sample> s;
          s.push_back({"plain", st({3, 4}, false, false), a(0, false, 0)});
          s.push_back({"momentum", st({3, 4}, true, false, true), a(0.9, false, 0.01)});
          s.push_back({"centered", st({5}, false, true), a(0, true, 0)});
          s.push_back({"momentum_centered", st({3, 4}, true, true), a(0.5, true, 0)});
          s.push_back({"empty", st({0, 4}, false, false), a(0, false, 0)});
          s.push_back({"large", st({300, 400}, true, true), a(0.9, true, 0.01), false});
          return s;
        },
        "rmsprop(x, A)");
    e.errors = [a] {
      return std::vector<ErrorCase>{{"missing", {ones({2}), ones({2}), ones({2}), step_count(0)}, a(0, true, 0),
                                     "expected 5 inputs (param, grad, square_avg[, momentum_buffer][, grad_avg], step), got 4"}};
    };
    out.push_back(std::move(e));
  }
  {
    auto a = [](double lr_decay, double wd) {
      return Attrs{{"lr", 0.1}, {"lr_decay", lr_decay}, {"eps", 1e-10}, {"weight_decay", wd}};
    };
    OpEntry e = entry(
        "adagrad_update_",
        [a](DType t) {
          Maker m("adagrad_update_", t);
          std::vector<Sample> s;
          s.push_back({"first_step", state(m, {3, 4}, 1, 0, 0), a(0, 0)});
          s.push_back({"decay", state(m, {3, 4}, 1, 0, 2, true), a(0.01, 0.01)});
          s.push_back({"empty", state(m, {0, 4}, 1, 0, 0), a(0, 0)});
          s.push_back({"large", state(m, {300, 400}, 1, 0, 4), a(0.01, 0.01), false});
          return s;
        },
        "adagrad(x, A)");
    e.errors = [a] {
      return std::vector<ErrorCase>{{"no_step", {ones({2}), ones({2}), ones({2})}, a(0, 0),
                                     "expected 4 inputs (param, grad, sum, step), got 3"}};
    };
    out.push_back(std::move(e));
  }
  {
    auto a = [](double rho, double wd) {
      return Attrs{{"lr", 1.0}, {"rho", rho}, {"eps", 1e-6}, {"weight_decay", wd}};
    };
    OpEntry e = entry(
        "adadelta_update_",
        [a](DType t) {
          Maker m("adadelta_update_", t);
          std::vector<Sample> s;
          // Both running averages are squares: positive, as after earlier steps.
          s.push_back({"first_step", state(m, {3, 4}, 2, 0, 0), a(0.9, 0)});
          s.push_back({"weight_decay", state(m, {3, 4}, 2, 0, 3, true), a(0.5, 0.01)});
          s.push_back({"empty", state(m, {0, 4}, 2, 0, 0), a(0.9, 0)});
          s.push_back({"large", state(m, {300, 400}, 2, 0, 2), a(0.95, 0.01), false});
          return s;
        },
        "adadelta(x, A)");
    e.errors = [a] {
      return std::vector<ErrorCase>{{"no_acc_delta", {ones({2}), ones({2}), ones({2}), step_count(0)}, a(0.9, 0),
                                     "expected 5 inputs (param, grad, square_avg, acc_delta, step), got 4"}};
    };
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
