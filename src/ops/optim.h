#pragma once
// The optimizers' parameter updates as ops: each writes the parameter and its state
// buffers in place, so the update goes through dispatch like every other write (the
// storage versions move, so a graph saved before the step refuses to backpropagate
// through the stale values, and the tracer will capture the update as a graph node).
// Inputs, in order (optional ones present exactly when the attributes ask for them):
//   sgd_update_:     param, grad[, momentum_buffer (momentum != 0)], step
//   adam_update_:    param, grad, exp_avg, exp_avg_sq[, max_exp_avg_sq (amsgrad)], step
//   rmsprop_update_: param, grad, square_avg[, momentum_buffer (momentum > 0)][, grad_avg (centered)], step
//   adagrad_update_: param, grad, sum, step
//   adadelta_update_: param, grad, square_avg, acc_delta, step
// `step` is the parameter's step count, a 0-d float64 tensor the update increments before
// using it (Adam's bias corrections, Adagrad's lr decay, SGD's first momentum step): a
// tensor and not an attribute, so a compiled train step counts on every run instead of
// replaying the count it was traced with.
// The gradient may have any layout; the parameter and buffers are written where they are.
#include "ops/op.h"

namespace tessera::ops {
extern OpDef kSgdUpdate;      // attrs: lr, momentum, dampening, weight_decay, nesterov
extern OpDef kAdamUpdate;     // attrs: lr, beta1, beta2, eps, weight_decay, amsgrad, decoupled
extern OpDef kRmspropUpdate;  // attrs: lr, alpha, eps, weight_decay, momentum, centered
extern OpDef kAdagradUpdate;  // attrs: lr, lr_decay, eps, weight_decay
extern OpDef kAdadeltaUpdate;  // attrs: lr, rho, eps, weight_decay
void register_optim_ops();
}  // namespace tessera::ops

namespace tessera::cpu {
void register_optim_kernels();
}  // namespace tessera::cpu
