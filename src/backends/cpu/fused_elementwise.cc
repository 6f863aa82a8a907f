// The CPU kernel of fused_elementwise (ops/fused_elementwise.h): the output is walked in
// blocks of kBlock elements; each step of the program runs the float32 loop eager's kernel
// for its op runs (vec::float_loops()), on the block, into a scratch row that stays in L1,
// and the last step writes the output. Eager's bits, one pass over memory.
#include <algorithm>
#include <array>
#include <unordered_map>
#include <vector>

#include "backends/cpu/threshold_loop.h"
#include "backends/cpu/vec/float_loops.h"
#include "core/parallel_internal.h"
#include "ops/copy.h"
#include "ops/fused_elementwise.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;
using vec::Binary;
using vec::Unary;

constexpr int64_t kBlock = 1024;

enum class Kind : uint8_t { Unary, Binary, ThresholdBackward };

struct Step {
  Kind kind;
  int code = 0;  // vec::Unary or vec::Binary
  vec::UnaryParams params;
  float threshold = 0;
  std::array<int, 2> operands{};
};

struct UnaryName {
  const char* name;
  Unary op;
};
constexpr UnaryName kUnary[] = {
    {"neg", Unary::Neg},       {"abs", Unary::Abs},         {"sign", Unary::Sign},
    {"exp", Unary::Exp},       {"expm1", Unary::Expm1},     {"log", Unary::Log},
    {"log1p", Unary::Log1p},   {"log2", Unary::Log2},       {"sqrt", Unary::Sqrt},
    {"rsqrt", Unary::Rsqrt},   {"sin", Unary::Sin},         {"cos", Unary::Cos},
    {"tan", Unary::Tan},       {"tanh", Unary::Tanh},       {"sigmoid", Unary::Sigmoid},
    {"erf", Unary::Erf},       {"relu", Unary::Relu},       {"silu", Unary::Silu},
    {"square", Unary::Square}, {"reciprocal", Unary::Reciprocal}, {"floor", Unary::Floor},
    {"ceil", Unary::Ceil},     {"round", Unary::Round},     {"gelu", Unary::GeluErf},
    {"gelu_tanh", Unary::GeluTanh}, {"leaky_relu", Unary::LeakyRelu},
};
struct BinaryName {
  const char* name;
  Binary op;
};
constexpr BinaryName kBinary[] = {{"add", Binary::Add},         {"sub", Binary::Sub},
                                  {"mul", Binary::Mul},         {"div", Binary::Div},
                                  {"minimum", Binary::Minimum}, {"maximum", Binary::Maximum}};

std::vector<Step> compile_program(const std::string& text, size_t num_inputs) {
  std::vector<Step> out;
  for (const ops::FusedStep& f : ops::parse_fused_program(text, num_inputs)) {
    Step s;
    for (size_t i = 0; i < f.operands.size(); ++i) s.operands[i] = f.operands[i];
    if (f.op == "threshold_backward") {
      s.kind = Kind::ThresholdBackward;
      s.threshold = static_cast<float>(f.params[0]);
    } else {
      // parse_fused_program accepted the name; these tables must know it too.
      s.code = -1;
      s.kind = f.operands.size() == 1 ? Kind::Unary : Kind::Binary;
      if (s.kind == Kind::Unary) {
        for (const UnaryName& u : kUnary)
          if (f.op == u.name) s.code = static_cast<int>(u.op);
      } else {
        for (const BinaryName& b : kBinary)
          if (f.op == b.name) s.code = static_cast<int>(b.op);
      }
      TESSERA_INTERNAL_ASSERT(s.code >= 0, "fused_elementwise: no float32 loop for step '", f.op, "'");
      if (!f.params.empty()) s.params.a = static_cast<float>(f.params[0]);  // leaky_relu's slope
    }
    out.push_back(s);
  }
  return out;
}

// The compiled steps of a program, parsed once per thread: a graph runs the same few
// programs on every call.
const std::vector<Step>& steps_of(const std::string& text, size_t num_inputs) {
  thread_local std::unordered_map<std::string, std::vector<Step>> cache;
  if (auto it = cache.find(text); it != cache.end()) return it->second;
  if (cache.size() >= 64) cache.clear();  // bounded: programs come from a few graphs
  return cache.emplace(text, compile_program(text, num_inputs)).first->second;
}

// A one-element operand's value as float32, converted as eager's promotion converts it.
float scalar_value(const Tensor& t) {
  switch (t.dtype()) {
    case DType::Float32: return *t.data<float>();
    case DType::Float64: return static_cast<float>(*t.data<double>());
    case DType::Int64: return static_cast<float>(*t.data<int64_t>());
    case DType::Int32: return static_cast<float>(*t.data<int32_t>());
    case DType::Int8: return static_cast<float>(*t.data<int8_t>());
    case DType::UInt8: return static_cast<float>(*t.data<uint8_t>());
    default: break;
  }
  TESSERA_NOT_IMPLEMENTED("fused_elementwise: a one-element operand of dtype ", dtype_name(t.dtype()));
}

void fused_elementwise_kernel(const KernelCall& c) {
  const Tensor& out = c.outputs[0];
  const int64_t n = out.numel();
  const size_t num_inputs = c.inputs.size();
  const std::vector<Step>& steps = steps_of(c.attrs.get<std::string>("program"), num_inputs);
  std::vector<Tensor> dense(num_inputs);
  std::vector<const float*> data(num_inputs, nullptr);
  std::vector<float> scalar(num_inputs, 0.0f);
  for (size_t i = 0; i < num_inputs; ++i) {
    const Tensor& t = c.inputs[i];
    if (t.numel() == 1 && (n != 1 || t.dtype() != DType::Float32)) {
      scalar[i] = scalar_value(t);
    } else {
      dense[i] = contiguous(t);
      data[i] = dense[i].data<float>();
    }
  }
  float* y = out.data<float>();
  const vec::FloatLoops& table = vec::float_loops();

  auto run_blocks = [&](int64_t begin, int64_t end) {
    // One scratch row per step, plus one to spread a one-element operand when an op has no
    // scalar form for it.
    std::vector<float> scratch(static_cast<size_t>(kBlock) * (steps.size() + 2));
    float* spread = scratch.data() + kBlock * static_cast<int64_t>(steps.size());
    float* spread2 = spread + kBlock;
    for (int64_t b = begin; b < end; b += kBlock) {
      const int64_t m = std::min(kBlock, end - b);
      // Where operand o of the block is: a row, or a scalar (row == nullptr).
      auto row = [&](int o) -> const float* {
        if (o < 0) return scratch.data() + kBlock * static_cast<int64_t>(-1 - o);
        const float* p = data[static_cast<size_t>(o)];
        return p == nullptr ? nullptr : p + b;
      };
      auto value = [&](int o) { return scalar[static_cast<size_t>(o)]; };
      auto filled = [&](int o, float* buf) {
        std::fill(buf, buf + m, value(o));
        return static_cast<const float*>(buf);
      };
      for (size_t k = 0; k < steps.size(); ++k) {
        const Step& s = steps[k];
        float* dst = k + 1 == steps.size() ? y + b : scratch.data() + kBlock * static_cast<int64_t>(k);
        const float* x0 = row(s.operands[0]);
        if (s.kind == Kind::Unary) {
          if (x0 == nullptr) x0 = filled(s.operands[0], spread);
          table.unary[s.code](x0, dst, m, s.params);
          continue;
        }
        const float* x1 = row(s.operands[1]);
        if (s.kind == Kind::ThresholdBackward) {
          if (x0 == nullptr) x0 = filled(s.operands[0], spread);
          if (x1 == nullptr) x1 = filled(s.operands[1], spread2);
          threshold_backward_loop(dst, x0, x1, s.threshold, m);
          continue;
        }
        if (x0 != nullptr && x1 != nullptr) table.binary[s.code](x0, x1, dst, m);
        else if (x0 != nullptr) table.binary_vs[s.code](x0, value(s.operands[1]), dst, m);
        else if (x1 != nullptr) table.binary_sv[s.code](value(s.operands[0]), x1, dst, m);
        else table.binary[s.code](filled(s.operands[0], spread), filled(s.operands[1], spread2), dst, m);
      }
    }
  };
  if (n < kElementwiseGrain || get_num_threads() == 1 || in_parallel_region()) {
    run_blocks(0, n);
    return;
  }
  // Whole blocks per task, so a task's blocks line up with the serial run's.
  parallel_for(0, (n + kBlock - 1) / kBlock, kElementwiseGrain / kBlock, [&](int64_t b, int64_t e) {
    run_blocks(b * kBlock, std::min(n, e * kBlock));
  });
}

}  // namespace

void register_fused_elementwise_kernel() {
  register_kernel(ops::kFusedElementwise, Device::CPU, fused_elementwise_kernel,
                  ops::dtype_bit(DType::Float32));
}

}  // namespace tessera::cpu
