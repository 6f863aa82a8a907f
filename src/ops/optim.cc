// Shape rules of the optimizer updates (see ops/optim.h): every input has the parameter's
// shape, the state buffers its dtype, and the count matches the options.
#include "ops/optim.h"

namespace tessera::ops {
namespace {

// `expected` counts the tensors before the step count, which comes last.
InferResult infer_update(const std::vector<InputMeta>& in, size_t expected, const char* what) {
  TESSERA_CHECK(in.size() == expected + 1, "expected ", expected + 1, " inputs (", what,
                ", step), got ", in.size());
  const InputMeta& param = in[0];
  TESSERA_CHECK(param.dtype() == DType::Float32 || param.dtype() == DType::Float64,
                "the parameter must be f32 or f64, got ", param.describe());
  const InputMeta& step = in.back();
  TESSERA_CHECK(step.dim() == 0 && step.dtype() == DType::Float64,
                "the step count must be a 0-d f64 tensor, got ", step.describe());
  InferResult r;
  for (size_t i = 0; i + 1 < in.size(); ++i) {
    TESSERA_CHECK(in[i].sizes().equals(param.sizes()), "input ", i, " ", in[i].describe(),
                  " does not match the parameter ", param.describe());
    if (i == 1) continue;  // the gradient is converted to the parameter's dtype
    TESSERA_CHECK(in[i].dtype() == param.dtype(), "state buffer ", in[i].describe(),
                  " does not have the parameter's dtype ", dtype_name(param.dtype()));
    r.outputs.push_back({Shape(param.sizes()), param.dtype()});
  }
  r.outputs.push_back({Shape{}, DType::Float64});
  return r;
}

InferResult infer_sgd(const std::vector<InputMeta>& in, const Attrs& a) {
  const bool momentum = a.f("momentum") != 0;
  return infer_update(in, momentum ? 3 : 2, momentum ? "param, grad, momentum_buffer" : "param, grad");
}

InferResult infer_adam(const std::vector<InputMeta>& in, const Attrs& a) {
  const bool ams = a.b("amsgrad");
  return infer_update(in, ams ? 5 : 4,
                      ams ? "param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq"
                          : "param, grad, exp_avg, exp_avg_sq");
}

InferResult infer_rmsprop(const std::vector<InputMeta>& in, const Attrs& a) {
  const size_t n = 3 + (a.f("momentum") > 0 ? 1 : 0) + (a.b("centered") ? 1 : 0);
  return infer_update(in, n, "param, grad, square_avg[, momentum_buffer][, grad_avg]");
}

InferResult infer_adagrad(const std::vector<InputMeta>& in, const Attrs&) {
  return infer_update(in, 3, "param, grad, sum");
}

InferResult infer_adadelta(const std::vector<InputMeta>& in, const Attrs&) {
  return infer_update(in, 4, "param, grad, square_avg, acc_delta");
}

// Every input but the gradient (input 1) is written, the step count included.
constexpr uint32_t kAllButGrad = ~0b10u;

}  // namespace

OpDef kSgdUpdate{"sgd_update_", -1, 0,
                 {attr("lr", AttrType::Float), attr("momentum", AttrType::Float),
                  attr("dampening", AttrType::Float), attr("weight_decay", AttrType::Float),
                  attr("nesterov", AttrType::Bool)},
                 infer_sgd, nullptr, nullptr, nullptr, kAllButGrad};
OpDef kAdamUpdate{"adam_update_", -1, 0,
                  {attr("lr", AttrType::Float), attr("beta1", AttrType::Float),
                   attr("beta2", AttrType::Float), attr("eps", AttrType::Float),
                   attr("weight_decay", AttrType::Float), attr("amsgrad", AttrType::Bool), attr("decoupled", AttrType::Bool)},
                  infer_adam, nullptr, nullptr, nullptr, kAllButGrad};
OpDef kRmspropUpdate{"rmsprop_update_", -1, 0,
                     {attr("lr", AttrType::Float), attr("alpha", AttrType::Float),
                      attr("eps", AttrType::Float), attr("weight_decay", AttrType::Float),
                      attr("momentum", AttrType::Float), attr("centered", AttrType::Bool)},
                     infer_rmsprop, nullptr, nullptr, nullptr, kAllButGrad};
OpDef kAdagradUpdate{"adagrad_update_", -1, 0,
                     {attr("lr", AttrType::Float), attr("lr_decay", AttrType::Float),
                      attr("eps", AttrType::Float), attr("weight_decay", AttrType::Float)},
                     infer_adagrad, nullptr, nullptr, nullptr, kAllButGrad};
OpDef kAdadeltaUpdate{"adadelta_update_", -1, 0,
                      {attr("lr", AttrType::Float), attr("rho", AttrType::Float),
                       attr("eps", AttrType::Float), attr("weight_decay", AttrType::Float)},
                      infer_adadelta, nullptr, nullptr, nullptr, kAllButGrad};

void register_optim_ops() {
  for (OpDef* op : {&kSgdUpdate, &kAdamUpdate, &kRmspropUpdate, &kAdagradUpdate,
                     &kAdadeltaUpdate}) register_op(*op);
}

}  // namespace tessera::ops
