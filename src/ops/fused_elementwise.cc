#include "ops/fused_elementwise.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace tessera::ops {
namespace {

struct StepSpec {
  const char* name;
  size_t operands;
  size_t params;
};

// The ops a step may be: those the CPU backend runs through its float32 loop table.
constexpr StepSpec kSpecs[] = {
    {"neg", 1, 0},      {"abs", 1, 0},       {"sign", 1, 0},       {"exp", 1, 0},
    {"expm1", 1, 0},    {"log", 1, 0},       {"log1p", 1, 0},      {"log2", 1, 0},
    {"sqrt", 1, 0},     {"rsqrt", 1, 0},     {"sin", 1, 0},        {"cos", 1, 0},
    {"tan", 1, 0},      {"tanh", 1, 0},      {"sigmoid", 1, 0},    {"erf", 1, 0},
    {"relu", 1, 0},     {"silu", 1, 0},      {"square", 1, 0},     {"reciprocal", 1, 0},
    {"floor", 1, 0},    {"ceil", 1, 0},      {"round", 1, 0},      {"gelu", 1, 0},
    {"gelu_tanh", 1, 0}, {"add", 2, 0},      {"sub", 2, 0},        {"mul", 2, 0},
    {"div", 2, 0},      {"minimum", 2, 0},   {"maximum", 2, 0},
    {"threshold_backward", 2, 1}, {"leaky_relu", 1, 1},
};

const StepSpec* find_spec(std::string_view name) {
  for (const StepSpec& s : kSpecs)
    if (name == s.name) return &s;
  return nullptr;
}

InferResult infer_fused_elementwise(const std::vector<InputMeta>& in, const Attrs& attrs) {
  TESSERA_CHECK(!in.empty(), "expected at least one input");
  (void)parse_fused_program(attrs.get<std::string>("program"), in.size());
  const InputMeta* full = nullptr;
  for (const InputMeta& t : in)
    if (t.numel() != 1 && (full == nullptr || t.dim() > full->dim())) full = &t;
  if (full == nullptr) full = &in[0];
  for (size_t i = 0; i < in.size(); ++i) {
    const InputMeta& t = in[i];
    if (t.numel() == 1 && t.dim() <= full->dim()) {
      TESSERA_CHECK(t.dtype() != DType::Bool && !is_reduced_float(t.dtype()),
                    "input ", i, " ", t.describe(), ": a one-element operand must be numeric");
      continue;
    }
    TESSERA_CHECK(t.dtype() == DType::Float32, "input ", i, " ", t.describe(), ": expected float32");
    TESSERA_CHECK(t.sizes().equals(full->sizes()), "input ", i, " ", t.describe(), " must have the shape ",
                  shape_str(full->sizes()), " (or one element)");
  }
  return {{{Shape(full->sizes()), DType::Float32}}, std::nullopt};
}

}  // namespace

bool is_fusable_step(const std::string& op, size_t num_operands, size_t num_params) {
  const StepSpec* s = find_spec(op);
  return s != nullptr && s->operands == num_operands && s->params == num_params;
}

std::vector<FusedStep> parse_fused_program(const std::string& text, size_t num_inputs) {
  std::vector<FusedStep> steps;
  std::vector<bool> input_read(num_inputs, false);
  std::vector<int> step_reads;
  size_t pos = 0;
  auto fail = [&](auto&&... parts) {
    throw_error(ErrorKind::InvalidArgument,
                detail::concat("program \"", text, "\", step ", steps.size(), ": ", parts...));
  };
  while (pos < text.size()) {
    FusedStep step;
    const size_t name_end = text.find_first_of("[(", pos);
    if (name_end == std::string::npos) fail("expected op(operands)");
    step.op = text.substr(pos, name_end - pos);
    pos = name_end;
    if (text[pos] == '[') {
      const size_t close = text.find(']', pos);
      if (close == std::string::npos) fail("unclosed '['");
      size_t p = pos + 1;
      while (p < close) {
        const size_t comma = std::min(text.find(',', p), close);
        const std::string num = text.substr(p, comma - p);
        char* end = nullptr;
        const double v = std::strtod(num.c_str(), &end);
        if (num.empty() || end != num.c_str() + num.size()) fail("bad parameter '", num, "'");
        step.params.push_back(v);
        p = comma + 1;
      }
      pos = close + 1;
    }
    if (pos >= text.size() || text[pos] != '(') fail("expected '(' after ", step.op);
    const size_t close = text.find(')', pos);
    if (close == std::string::npos) fail("unclosed '('");
    size_t p = pos + 1;
    while (p < close) {
      const size_t comma = std::min(text.find(',', p), close);
      const std::string arg = text.substr(p, comma - p);
      int index = -1;
      const auto [end, ec] = arg.size() > 1 ? std::from_chars(arg.data() + 1, arg.data() + arg.size(), index)
                                             : std::from_chars_result{arg.data(), std::errc::invalid_argument};
      if (ec != std::errc() || end != arg.data() + arg.size() || index < 0 || (arg[0] != '%' && arg[0] != '$'))
        fail("bad operand '", arg, "' (expected %input or $step)");
      if (arg[0] == '%') {
        if (static_cast<size_t>(index) >= num_inputs) fail("input ", arg, " of ", num_inputs);
        input_read[static_cast<size_t>(index)] = true;
        step.operands.push_back(index);
      } else {
        if (static_cast<size_t>(index) >= steps.size()) fail("step ", arg, " is not computed yet");
        ++step_reads[static_cast<size_t>(index)];
        step.operands.push_back(-1 - index);
      }
      p = comma + 1;
    }
    pos = close + 1;
    if (!is_fusable_step(step.op, step.operands.size(), step.params.size()))
      fail("'", step.op, "' with ", step.operands.size(), " operands and ", step.params.size(),
           " parameters is not a step fused_elementwise runs");
    steps.push_back(std::move(step));
    step_reads.push_back(0);
    if (pos < text.size()) {
      if (text[pos] != ';') fail("expected ';'");
      ++pos;
    }
  }
  if (steps.empty()) throw_error(ErrorKind::InvalidArgument, "empty program");
  for (size_t i = 0; i + 1 < steps.size(); ++i)
    TESSERA_CHECK(step_reads[i] > 0, "program \"", text, "\": step $", i, " is never read");
  for (size_t i = 0; i < num_inputs; ++i)
    TESSERA_CHECK(input_read[i], "program \"", text, "\": input %", i, " is never read");
  return steps;
}

std::string fused_program_text(const std::vector<FusedStep>& steps) {
  std::string s;
  for (size_t k = 0; k < steps.size(); ++k) {
    if (k) s += ';';
    s += steps[k].op;
    if (!steps[k].params.empty()) {
      s += '[';
      for (size_t i = 0; i < steps[k].params.size(); ++i) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", steps[k].params[i]);
        if (i) s += ',';
        s += buf;
      }
      s += ']';
    }
    s += '(';
    for (size_t i = 0; i < steps[k].operands.size(); ++i) {
      const int o = steps[k].operands[i];
      if (i) s += ',';
      s += o >= 0 ? '%' : '$';
      s += std::to_string(o >= 0 ? o : -1 - o);
    }
    s += ')';
  }
  return s;
}

OpDef kFusedElementwise{"fused_elementwise", -1, kElementwise, {attr("program", AttrType::String)},
                        infer_fused_elementwise};

void register_fused_elementwise_op() { register_op(kFusedElementwise); }

}  // namespace tessera::ops
