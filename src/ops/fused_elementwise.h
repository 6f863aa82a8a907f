#pragma once
// fused_elementwise: a chain of float32 elementwise ops run as one pass over memory, made
// by the graph pass fuse_elementwise (graph/passes/fuse_elementwise.cc). Its attribute
// "program" is readable text, one step per op, each reading inputs (%i) or earlier steps
// ($j); the last step is the output:
//   mul(%1,%2);mul(%0,$0);threshold_backward[0](%3,$1)
// Operands are float32 tensors of the output's shape or one-element tensors of any numeric
// dtype (converted to float32 as eager promotion does). Each step runs the CPU backend's
// own vectorized loop for its op on a block of elements that stays in L1, so the result is
// eager's bit for bit; memory is read and written once instead of once per op.
// Not differentiable: graphs that train fuse after autograd has recorded the backward.
#include <string>
#include <vector>

#include "ops/op.h"

namespace tessera::ops {

extern OpDef kFusedElementwise;

struct FusedStep {
  std::string op;               // "mul", "exp", "threshold_backward", ...
  std::vector<double> params;   // threshold_backward's threshold, leaky_relu's slope
  std::vector<int> operands;    // >= 0: input i; < 0: step -1 - operand
};

// Parses and checks a program for `num_inputs` inputs: known ops with their operand and
// parameter counts, operands in range, every step but the last read later, every input
// read. Throws InvalidArgumentError naming the step.
std::vector<FusedStep> parse_fused_program(const std::string& text, size_t num_inputs);
// The text parse_fused_program reads.
std::string fused_program_text(const std::vector<FusedStep>& steps);
// Whether `op` (with `num_params` parameters) can be a step; unary or binary in `arity`.
bool is_fusable_step(const std::string& op, size_t num_operands, size_t num_params);

void register_fused_elementwise_op();
}  // namespace tessera::ops

namespace tessera::cpu {
void register_fused_elementwise_kernel();  // backends/cpu/fused_elementwise.cc
}  // namespace tessera::cpu
