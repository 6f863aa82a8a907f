// The export functions of the operator table: each Tessera op of an inference graph written
// as ONNX nodes, its attributes converted (docs/onnx.md, "Export"). A row names the ONNX
// operator the op becomes (its import row in the table, so each mapping's two directions
// sit side by side: op_table.cc joins them) and the first opset the function writes.
//
// Conventions: ONNX wants the operands of an arithmetic node to have one type, where
// Tessera promotes (int + 2.5, a wrapped scalar); export functions convert each operand to
// the dtype the op computes in (ExportContext::in_as). Where ONNX has no single operator
// (expm1, silu, remainder of floats, floor_divide, var...) the function writes a
// decomposition that computes the same values.
#include <cmath>
#include <limits>
#include <map>

#include "onnx/exporter.h"
#include "tessera/error.h"

namespace tessera::onnx::detail {

namespace {

using tessera::detail::concat;
using C = ExportContext;

int64_t wrap(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }
DType out_dt(C& c) { return c.out_meta(0).dtype; }

// One ONNX operator over inputs converted to the output's dtype.
void same_type_op(C& c, const char* op) {
  const DType t = out_dt(c);
  std::vector<std::string> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i) ins.push_back(c.in_as(i, t));
  c.add(op, ins, {c.out(0)});
}

// A comparison: operands in their promoted dtype, a bool result.
void compare_op(C& c, const char* op, bool negate = false) {
  const DType t = promote_types(c.in_meta(0).dtype, c.in_meta(1).dtype);
  const std::string a = c.in_as(0, t), b = c.in_as(1, t);
  if (!negate) {
    c.add(op, {a, b}, {c.out(0)});
  } else {
    c.add("Not", {c.op1(op, {a, b})}, {c.out(0)});
  }
}

void logical_op(C& c, const char* op) {
  std::vector<std::string> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i) ins.push_back(c.in_as(i, DType::Bool));
  c.add(op, ins, {c.out(0)});
}

// ---- elementwise ----

void ex_unary(C& c) {
  static const std::map<std::string, const char*> names{
      {"neg", "Neg"},   {"abs", "Abs"},   {"sign", "Sign"},       {"exp", "Exp"},         {"log", "Log"},
      {"sqrt", "Sqrt"}, {"sin", "Sin"},   {"cos", "Cos"},         {"tan", "Tan"},         {"tanh", "Tanh"},
      {"sigmoid", "Sigmoid"}, {"erf", "Erf"}, {"reciprocal", "Reciprocal"}, {"floor", "Floor"},
      {"ceil", "Ceil"}, {"round", "Round"}, {"relu", "Relu"}, {"clone", "Identity"}};
  const std::string op = c.op_name();
  const DType t = out_dt(c);
  // Floor, Ceil and Round of integers are the integers (ONNX defines them for floats only).
  if (!is_floating(t) && (op == "floor" || op == "ceil" || op == "round")) {
    c.add("Identity", {c.in(0)}, {c.out(0)});
    return;
  }
  // Relu of integers arrived at opset 14.
  if (!is_floating(t) && op == "relu" && c.opset() < 14) {
    c.add("Max", {c.in(0), c.const_scalar(0, t)}, {c.out(0)});
    return;
  }
  c.add(names.at(op), {c.in_as(0, t)}, {c.out(0)});
}

void ex_exp_family(C& c) {
  const std::string op = c.op_name();
  const DType t = out_dt(c);
  const std::string x = c.in_as(0, t);
  if (op == "expm1") {
    c.add("Sub", {c.op1("Exp", {x}), c.const_scalar(1, t)}, {c.out(0)});
  } else if (op == "log1p") {
    c.add("Log", {c.op1("Add", {x, c.const_scalar(1, t)})}, {c.out(0)});
  } else if (op == "log2") {
    c.add("Div", {c.op1("Log", {x}), c.const_scalar(std::log(2.0), t)}, {c.out(0)});
  } else if (op == "rsqrt") {
    c.add("Reciprocal", {c.op1("Sqrt", {x})}, {c.out(0)});
  } else if (op == "square") {
    c.add("Mul", {x, x}, {c.out(0)});
  } else if (op == "silu") {
    c.add("Mul", {x, c.op1("Sigmoid", {x})}, {c.out(0)});
  } else {
    c.unsupported("no export");
  }
}

void ex_gelu(C& c) {
  const DType t = out_dt(c);
  const std::string x = c.in_as(0, t);
  const std::string approx = c.attrs().get<std::string>("approximate");
  if (c.opset() >= 20) {
    onnxpb::NodeProto* n = c.add("Gelu", {x}, {c.out(0)});
    set_attr(n, "approximate", approx);
    return;
  }
  // Below opset 20: 0.5 x (1 + erf(x / sqrt 2)), or the tanh form.
  std::string inner;
  if (approx == "tanh") {
    const std::string x3 = c.op1("Mul", {c.op1("Mul", {x, x}), x});
    const std::string poly = c.op1("Add", {x, c.op1("Mul", {x3, c.const_scalar(0.044715, t)})});
    inner = c.op1("Tanh", {c.op1("Mul", {poly, c.const_scalar(std::sqrt(2.0 / M_PI), t)})});
  } else {
    inner = c.op1("Erf", {c.op1("Mul", {x, c.const_scalar(M_SQRT1_2, t)})});
  }
  const std::string half_x = c.op1("Mul", {x, c.const_scalar(0.5, t)});
  c.add("Mul", {half_x, c.op1("Add", {inner, c.const_scalar(1, t)})}, {c.out(0)});
}

// softplus(x; beta, threshold) = x where beta x > threshold, else log(1 + exp(beta x)) / beta.
void ex_softplus(C& c) {
  const DType t = out_dt(c);
  const double beta = c.attrs().f("beta"), threshold = c.attrs().f("threshold");
  const std::string x = c.in_as(0, t);
  const std::string bx = beta == 1 ? x : c.op1("Mul", {x, c.const_scalar(beta, t)});
  std::string sp = c.op1("Softplus", {bx});
  if (beta != 1) sp = c.op1("Div", {sp, c.const_scalar(beta, t)});
  const std::string big = c.op1("Greater", {bx, c.const_scalar(threshold, t)});
  c.add("Where", {big, x, sp}, {c.out(0)});
}

// float32: LeakyRelu (its alpha is a float attribute). float64: the same select with the
// slope as a double constant, so the round trip keeps the slope's bits.
void ex_leaky_relu(C& c) {
  const DType t = out_dt(c);
  const double slope = c.attrs().f("negative_slope");
  const std::string x = c.in_as(0, t);
  if (t == DType::Float32) {
    set_attr(c.add("LeakyRelu", {x}, {c.out(0)}), "alpha", slope);
    return;
  }
  const std::string pos = c.op1("Greater", {x, c.const_scalar(0, t)});
  c.add("Where", {pos, x, c.op1("Mul", {x, c.const_scalar(slope, t)})}, {c.out(0)});
}

void ex_binary(C& c) {
  static const std::map<std::string, const char*> names{
      {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"},
      {"pow", "Pow"}, {"minimum", "Min"}, {"maximum", "Max"}};
  const DType t = out_dt(c);
  if (t == DType::Bool) c.unsupported("bool arithmetic has no ONNX operator");
  same_type_op(c, names.at(c.op_name()));
}

// remainder: the sign of the divisor (Python's %). Integers: Mod with fmod=0 is that; floats
// must use fmod=1 (C's fmod, the dividend's sign), then move a non-zero result whose sign
// differs from the divisor's by one divisor.
void ex_remainder(C& c) {
  const DType t = out_dt(c);
  const std::string a = c.in_as(0, t), b = c.in_as(1, t);
  if (!is_floating(t)) {
    onnxpb::NodeProto* n = c.add("Mod", {a, b}, {c.out(0)});
    set_attr(n, "fmod", int64_t{0});
    return;
  }
  onnxpb::NodeProto* n = c.add("Mod", {a, b}, {});
  set_attr(n, "fmod", int64_t{1});
  const std::string r = n->output(0), zero = c.const_scalar(0, t);
  const std::string nonzero = c.op1("Not", {c.op1("Equal", {r, zero})});
  const std::string signs_differ = c.op1("Xor", {c.op1("Less", {r, zero}), c.op1("Less", {b, zero})});
  c.add("Where", {c.op1("And", {nonzero, signs_differ}), c.op1("Add", {r, b}), r}, {c.out(0)});
}

// floor_divide: floats floor(a / b); integers truncate in ONNX's Div, so subtract one where
// the remainder is non-zero and its sign differs from the divisor's.
void ex_floor_divide(C& c) {
  const DType t = out_dt(c);
  const std::string a = c.in_as(0, t), b = c.in_as(1, t);
  if (is_floating(t)) {
    c.add("Floor", {c.op1("Div", {a, b})}, {c.out(0)});
    return;
  }
  const std::string q = c.op1("Div", {a, b});
  onnxpb::NodeProto* m = c.add("Mod", {a, b}, {});
  set_attr(m, "fmod", int64_t{1});
  const std::string r = m->output(0), zero = c.const_scalar(0, t);
  const std::string nonzero = c.op1("Not", {c.op1("Equal", {r, zero})});
  const std::string signs_differ = c.op1("Xor", {c.op1("Less", {r, zero}), c.op1("Less", {b, zero})});
  const std::string fix = c.cast(c.op1("And", {nonzero, signs_differ}), t);
  c.add("Sub", {q, fix}, {c.out(0)});
}

// atan2(y, x): ONNX has no such operator: atan(y / x), moved by pi into the left half-plane
// (by the sign of y), 0 at the origin.
void ex_atan2(C& c) {
  const DType t = out_dt(c);
  const std::string y = c.in_as(0, t), x = c.in_as(1, t), zero = c.const_scalar(0, t);
  const std::string q = c.op1("Atan", {c.op1("Div", {y, x})});
  const std::string pi = c.const_scalar(M_PI, t);
  const std::string left = c.op1("Where", {c.op1("Less", {y, zero}), c.op1("Sub", {q, pi}), c.op1("Add", {q, pi})});
  const std::string moved = c.op1("Where", {c.op1("Less", {x, zero}), left, q});
  const std::string origin = c.op1("And", {c.op1("Equal", {x, zero}), c.op1("Equal", {y, zero})});
  c.add("Where", {origin, zero, moved}, {c.out(0)});
}

void ex_compare(C& c) {
  static const std::map<std::string, const char*> names{
      {"eq", "Equal"}, {"ne", "Equal"}, {"lt", "Less"}, {"le", "LessOrEqual"}, {"gt", "Greater"},
      {"ge", "GreaterOrEqual"}};
  const std::string op = c.op_name();
  compare_op(c, names.at(op), op == "ne");
}

void ex_logical(C& c) {
  static const std::map<std::string, const char*> names{
      {"logical_and", "And"}, {"logical_or", "Or"}, {"logical_xor", "Xor"}, {"logical_not", "Not"}};
  logical_op(c, names.at(c.op_name()));
}

void ex_isnan_isinf(C& c) {
  const std::string op = c.op_name();
  const DType t = c.in_meta(0).dtype;
  if (!is_floating(t)) {
    // Integers are never NaN or infinite: a false of the input's shape.
    const std::string x = c.in(0);
    const std::string f = c.op1("Not", {c.op1("Equal", {x, x})});
    if (op == "isfinite") c.add("Not", {f}, {c.out(0)});
    else c.add("Identity", {f}, {c.out(0)});
    return;
  }
  const std::string x = c.in(0);
  if (op == "isnan") {
    c.add("IsNaN", {x}, {c.out(0)});
  } else if (op == "isinf") {
    c.add("IsInf", {x}, {c.out(0)});
  } else {
    c.add("Not", {c.op1("Or", {c.op1("IsNaN", {x}), c.op1("IsInf", {x})})}, {c.out(0)});
  }
}

void ex_nan_to_num(C& c) {
  const DType t = out_dt(c);
  const std::string x = c.in(0);
  if (!is_floating(t)) {
    c.add("Identity", {x}, {c.out(0)});
    return;
  }
  std::string y = c.op1("Where", {c.op1("IsNaN", {x}), c.const_scalar(c.attrs().f("nan"), t), x});
  onnxpb::NodeProto* pos = c.add("IsInf", {x}, {});
  set_attr(pos, "detect_negative", int64_t{0});
  y = c.op1("Where", {pos->output(0), c.const_scalar(c.attrs().f("posinf"), t), y});
  onnxpb::NodeProto* neg = c.add("IsInf", {x}, {});
  set_attr(neg, "detect_positive", int64_t{0});
  c.add("Where", {neg->output(0), c.const_scalar(c.attrs().f("neginf"), t), y}, {c.out(0)});
}

// clamp's bounds are attributes (either may be absent); Clip takes them as inputs from
// opset 11, for integers from 12.
void ex_clamp(C& c) {
  const DType t = out_dt(c);
  const std::string x = c.in_as(0, t);
  const bool has_min = c.attrs().b("has_min"), has_max = c.attrs().b("has_max");
  const std::string lo = has_min ? c.const_scalar(c.attrs().scalar("min").to<double>(), t) : "";
  const std::string hi = has_max ? c.const_scalar(c.attrs().scalar("max").to<double>(), t) : "";
  if (is_floating(t) || c.opset() >= 12) {
    std::vector<std::string> ins{x, lo};
    if (has_max) ins.push_back(hi);
    c.add("Clip", ins, {c.out(0)});
    return;
  }
  std::string y = x;
  if (has_min) y = c.op1("Max", {y, lo});
  if (has_max) y = c.op1("Min", {y, hi});
  c.add("Identity", {y}, {c.out(0)});
}

// clamp with tensor bounds: ONNX's Clip takes scalars only, so min(max(x, lo), hi).
void ex_clamp_tensor(C& c) {
  const DType t = out_dt(c);
  const std::string lo_applied = c.op1("Max", {c.in_as(0, t), c.in_as(1, t)});
  c.add("Min", {lo_applied, c.in_as(2, t)}, {c.out(0)});
}

void ex_where(C& c) {
  const DType t = out_dt(c);
  c.add("Where", {c.in_as(0, DType::Bool), c.in_as(1, t), c.in_as(2, t)}, {c.out(0)});
}

void ex_masked_fill(C& c) {
  const DType t = out_dt(c);
  const std::string v = c.const_scalar(c.attrs().scalar("value").to<double>(), t);
  c.add("Where", {c.in_as(1, DType::Bool), v, c.in_as(0, t)}, {c.out(0)});
}

void ex_cast(C& c) {
  onnxpb::NodeProto* n = c.add("Cast", {c.in(0)}, {c.out(0)});
  set_attr(n, "to", int64_t{onnx_type_of(out_dt(c))});
}

// ---- factories ----

void ex_full(C& c) {
  const DType t = out_dt(c);
  const Tensor v = full({1}, Scalar(c.attrs().scalar("value").to<double>()), TensorOptions(kFloat64)).to(t);
  onnxpb::NodeProto* n = c.add("ConstantOfShape", {c.const_i64(c.attrs().ints("sizes"))}, {c.out(0)});
  set_attr_tensor(n, "value", v);
}

// arange, linspace, eye: no inputs, so their values are known: one Constant node.
void ex_constant(C& c) {
  const Tensor v = ops::call(*c.node().op, {}, c.attrs()).at(0);
  onnxpb::NodeProto* n = c.add("Constant", {}, {c.out(0)});
  set_attr_tensor(n, "value", v);
}

// ---- indexing ----

// 0-d operands (which ONNX's gathers cannot index) are lifted to 1-D and the result shaped
// as the op's.
std::string lift0(C& c, size_t i, DType t) {
  const std::string x = c.in_as(i, t);
  return c.in_rank(i) == 0 ? c.op1("Reshape", {x, c.const_i64({1})}) : x;
}
void shape_out(C& c, const std::string& y) {
  const auto& os = c.out_meta(0).sizes;
  c.add("Reshape", {y, c.const_i64(std::vector<int64_t>(os.begin(), os.end()))}, {c.out(0)});
}

void ex_gather(C& c) {
  if (c.in_rank(0) == 0 || c.in_rank(1) == 0) {
    onnxpb::NodeProto* n = c.add("GatherElements", {lift0(c, 0, c.in_meta(0).dtype), lift0(c, 1, kInt64)}, {});
    set_attr(n, "axis", int64_t{0});
    shape_out(c, n->output(0));
    return;
  }
  onnxpb::NodeProto* n = c.add("GatherElements", {c.in(0), c.in_as(1, kInt64)}, {c.out(0)});
  set_attr(n, "axis", c.attrs().i("dim"));
}

// scatter / scatter_add: ScatterElements (reduction "add" from opset 16). PyTorch lets the
// source be larger than the index; ONNX takes updates of the index's shape.
void ex_scatter(C& c) {
  const DType t = out_dt(c);
  const std::string red = c.attrs().get<std::string>("reduction");
  if (red != "none" && red != "add") c.unsupported(concat("reduction '", red, "' has no export"));
  if (red == "add" && c.opset() < 16) c.unsupported("ScatterElements' reduction 'add' needs opset 16 or later");
  std::string src = c.in_as(2, t);
  const auto& is = c.in_meta(1).sizes;
  const auto& ss = c.in_meta(2).sizes;
  if (!IntArrayRef(is).equals(ss)) {
    std::vector<int64_t> zeros(is.size(), 0), ends(is.begin(), is.end()), axes;
    for (size_t d = 0; d < is.size(); ++d) axes.push_back(static_cast<int64_t>(d));
    src = c.op1("Slice", {src, c.const_i64(zeros), c.const_i64(ends), c.const_i64(axes)});
  }
  onnxpb::NodeProto* n = c.add("ScatterElements", {c.in_as(0, t), c.in_as(1, kInt64), src}, {c.out(0)});
  set_attr(n, "axis", c.attrs().i("dim"));
  if (red == "add") set_attr(n, "reduction", std::string("add"));
}

// index_select takes a 0-d index as one of length 1 (the dim stays).
void ex_index_select(C& c) {
  if (c.in_rank(0) == 0 || c.in_rank(1) == 0) {
    onnxpb::NodeProto* n = c.add("Gather", {lift0(c, 0, c.in_meta(0).dtype), lift0(c, 1, kInt64)}, {});
    set_attr(n, "axis", c.in_rank(0) == 0 ? int64_t{0} : c.attrs().i("dim"));
    shape_out(c, n->output(0));
    return;
  }
  onnxpb::NodeProto* n = c.add("Gather", {c.in(0), c.in_as(1, kInt64)}, {c.out(0)});
  set_attr(n, "axis", c.attrs().i("dim"));
}

void ex_select(C& c) {
  onnxpb::NodeProto* n = c.add("Gather", {c.in(0), c.const_i64_scalar(c.attrs().i("index"))}, {c.out(0)});
  set_attr(n, "axis", c.attrs().i("dim"));
}

void ex_topk(C& c) {
  const std::string op = c.op_name();
  const int64_t rank = c.in_rank(0);
  const int64_t dim = wrap(c.attrs().i("dim"), std::max<int64_t>(rank, 1));
  int64_t k;
  bool largest, sorted = true;
  if (op == "topk") {
    k = c.attrs().i("k");
    largest = c.attrs().b("largest");
    sorted = c.attrs().b("sorted");
  } else {  // sort: all of them
    k = rank == 0 ? 1 : c.in_meta(0).sizes[static_cast<size_t>(dim)];
    largest = c.attrs().b("descending");
  }
  if (rank == 0) {
    c.add("Identity", {c.in(0)}, {c.out(0)});
    c.add("Identity", {c.const_i64_scalar(0)}, {c.out(1)});
    return;
  }
  onnxpb::NodeProto* n = c.add("TopK", {c.in(0), c.const_i64({k})}, {c.out(0), c.out(1)});
  set_attr(n, "axis", dim);
  set_attr(n, "largest", int64_t{largest ? 1 : 0});
  set_attr(n, "sorted", int64_t{sorted ? 1 : 0});
}

void ex_one_hot(C& c) {
  const int64_t depth = c.out_meta(0).sizes.back();
  onnxpb::NodeProto* n =
      c.add("OneHot", {c.in_as(0, kInt64), c.const_i64_scalar(depth), c.const_i64({0, 1})}, {c.out(0)});
  set_attr(n, "axis", int64_t{-1});
}

// ---- linear algebra ----

void ex_matmul(C& c) { same_type_op(c, "MatMul"); }

// addmm(bias, a, b) = beta bias + alpha (a @ b): Gemm for floats; integers as MatMul, Mul,
// Add (runtimes implement Gemm for floats only).
void ex_addmm(C& c) {
  const DType t = out_dt(c);
  const double beta = c.attrs().scalar("beta").to<double>(), alpha = c.attrs().scalar("alpha").to<double>();
  const std::string bias = c.in_as(0, t), a = c.in_as(1, t), b = c.in_as(2, t);
  if (is_floating(t)) {
    std::vector<std::string> ins{a, b};
    if (beta != 0) ins.push_back(bias);  // beta 0 ignores the bias, NaNs included
    onnxpb::NodeProto* n = c.add("Gemm", ins, {c.out(0)});
    set_attr(n, "alpha", alpha);
    set_attr(n, "beta", beta);
    return;
  }
  std::string y = c.op1("MatMul", {a, b});
  if (alpha != 1) y = c.op1("Mul", {y, c.const_scalar(alpha, t)});
  if (beta != 0) y = c.op1("Add", {y, beta == 1 ? bias : c.op1("Mul", {bias, c.const_scalar(beta, t)})});
  c.add("Identity", {y}, {c.out(0)});
}

void ex_outer(C& c) {
  const DType t = out_dt(c);
  c.add("Mul", {c.unsqueeze(c.in_as(0, t), {1}), c.unsqueeze(c.in_as(1, t), {0})}, {c.out(0)});
}

// linear_fused (a frozen graph's op): x @ w (w already [K, N]) + b [+ residual], ReLU.
void ex_linear_fused(C& c) {
  std::string y = c.op1("Add", {c.op1("MatMul", {c.in(0), c.in(1)}), c.in(2)});
  if (c.num_inputs() == 4) y = c.op1("Add", {y, c.in(3)});
  if (c.attrs().get<std::string>("activation") == "relu") y = c.op1("Relu", {y});
  c.add("Identity", {y}, {c.out(0)});
}

// ---- shapes ----

void ex_cat(C& c) {
  const DType t = out_dt(c);
  const int64_t rank = c.out_rank(0);
  std::vector<std::string> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    // PyTorch's legacy rule: a 1-D empty tensor joins anything (and adds nothing).
    if (rank != 1 && c.in_rank(i) == 1 && c.in_meta(i).sizes[0] == 0) continue;
    ins.push_back(c.in_as(i, t));
  }
  if (ins.empty()) ins.push_back(c.in_as(0, t));
  onnxpb::NodeProto* n = c.add("Concat", ins, {c.out(0)});
  set_attr(n, "axis", wrap(c.attrs().i("dim"), rank));
}

void ex_stack(C& c) {
  const DType t = out_dt(c);
  const int64_t dim = wrap(c.attrs().i("dim"), c.out_rank(0));
  std::vector<std::string> ins;
  for (size_t i = 0; i < c.num_inputs(); ++i) ins.push_back(c.unsqueeze(c.in_as(i, t), {dim}));
  onnxpb::NodeProto* n = c.add("Concat", ins, {c.out(0)});
  set_attr(n, "axis", dim);
}

void ex_repeat(C& c) {
  const std::vector<int64_t>& reps = c.attrs().ints("repeats");
  std::string x = c.in(0);
  std::vector<int64_t> shape(c.in_meta(0).sizes.begin(), c.in_meta(0).sizes.end());
  if (reps.size() > shape.size()) {
    std::vector<int64_t> lifted(reps.size() - shape.size(), 1);
    lifted.insert(lifted.end(), shape.begin(), shape.end());
    x = c.op1("Reshape", {x, c.const_i64(lifted)});
  }
  c.add("Tile", {x, c.const_i64(reps)}, {c.out(0)});
}

void ex_flip(C& c) {
  const std::vector<int64_t>& dims = c.attrs().ints("dims");
  if (dims.empty() || c.in_rank(0) == 0) {
    c.add("Identity", {c.in(0)}, {c.out(0)});
    return;
  }
  const size_t k = dims.size();
  c.add("Slice",
        {c.in(0), c.const_i64(std::vector<int64_t>(k, -1)),
         c.const_i64(std::vector<int64_t>(k, std::numeric_limits<int64_t>::min())), c.const_i64(dims),
         c.const_i64(std::vector<int64_t>(k, -1))},
        {c.out(0)});
}

std::string slice1(C& c, const std::string& x, int64_t dim, int64_t start, int64_t end) {
  return c.op1("Slice", {x, c.const_i64({start}), c.const_i64({end}), c.const_i64({dim})});
}

// roll: per dim, the last `shift` elements moved to the front (Slice, Concat); no dims:
// over the flattened tensor.
void ex_roll(C& c) {
  const std::vector<int64_t>& shifts = c.attrs().ints("shifts");
  std::vector<int64_t> dims = c.attrs().ints("dims");
  std::vector<int64_t> shape(c.in_meta(0).sizes.begin(), c.in_meta(0).sizes.end());
  std::string x = c.in(0);
  const bool flat = dims.empty();
  if (flat) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    x = c.op1("Reshape", {x, c.const_i64({n})});
    dims = {0};
    shape = {n};
  }
  for (size_t k = 0; k < dims.size() && k < shifts.size(); ++k) {
    const int64_t d = wrap(dims[k], static_cast<int64_t>(shape.size()));
    const int64_t n = shape[static_cast<size_t>(d)];
    if (n == 0) continue;
    const int64_t s = ((shifts[k] % n) + n) % n;
    if (s == 0) continue;
    onnxpb::NodeProto* cat = c.add("Concat", {slice1(c, x, d, n - s, n), slice1(c, x, d, 0, n - s)}, {});
    set_attr(cat, "axis", d);
    x = cat->output(0);
  }
  if (flat) x = c.op1("Reshape", {x, c.const_i64(std::vector<int64_t>(c.in_meta(0).sizes.begin(), c.in_meta(0).sizes.end()))});
  c.add("Identity", {x}, {c.out(0)});
}

void ex_trilu(C& c) {
  onnxpb::NodeProto* n = c.add("Trilu", {c.in(0), c.const_i64_scalar(c.attrs().i("diagonal"))}, {c.out(0)});
  set_attr(n, "upper", int64_t{std::string(c.op_name()) == "triu" ? 1 : 0});
}

// diagonal(offset, dim1, dim2): the two dims moved last and flattened into one, then the
// diagonal's positions gathered from it (a constant index list) as the last dim.
void ex_diagonal(C& c) {
  const auto& in = c.in_meta(0).sizes;
  const int64_t rank = c.in_rank(0);
  const int64_t d1 = wrap(c.attrs().i("dim1"), rank), d2 = wrap(c.attrs().i("dim2"), rank);
  const int64_t off = c.attrs().i("offset");
  std::vector<int64_t> perm, moved;
  for (int64_t d = 0; d < rank; ++d)
    if (d != d1 && d != d2) perm.push_back(d);
  for (int64_t d : perm) moved.push_back(in[static_cast<size_t>(d)]);
  perm.push_back(d1);
  perm.push_back(d2);
  const int64_t n = in[static_cast<size_t>(d1)], m = in[static_cast<size_t>(d2)];
  std::vector<int64_t> transposed = moved;
  transposed.push_back(n);
  transposed.push_back(m);
  onnxpb::NodeProto* tr = c.add("Transpose", {c.in(0)}, {});
  set_attr(tr, "perm", perm);
  std::vector<int64_t> flat_shape = moved;
  flat_shape.push_back(n * m);
  const std::string flat = c.reshape(tr->output(0), transposed, flat_shape);
  const int64_t len = c.out_meta(0).sizes.back();
  std::vector<int64_t> idx;
  for (int64_t k = 0; k < len; ++k) idx.push_back((k + std::max<int64_t>(-off, 0)) * m + k + std::max<int64_t>(off, 0));
  onnxpb::NodeProto* g = c.add("Gather", {flat, c.const_i64(idx)}, {c.out(0)});
  set_attr(g, "axis", int64_t{-1});
}

void ex_view(C& c) {
  const auto& in = c.in_meta(0).sizes;
  const auto& out = c.out_meta(0).sizes;
  c.reshape(c.in(0), std::vector<int64_t>(in.begin(), in.end()), std::vector<int64_t>(out.begin(), out.end()),
            c.out(0));
}

void ex_permute(C& c) {
  std::vector<int64_t> perm = c.attrs().ints("dims");
  for (int64_t& d : perm) d = wrap(d, c.in_rank(0));
  onnxpb::NodeProto* n = c.add("Transpose", {c.in(0)}, {c.out(0)});
  set_attr(n, "perm", perm);
}

void ex_slice(C& c) {
  const int64_t rank = c.in_rank(0);
  const int64_t dim = wrap(c.attrs().i("dim"), rank);
  const int64_t n = c.in_meta(0).sizes[static_cast<size_t>(dim)];
  auto clampi = [n](int64_t v) { return std::min(std::max(v < 0 ? v + n : v, int64_t{0}), n); };
  const int64_t start = clampi(c.attrs().i("start"));
  int64_t end = clampi(c.attrs().i("end"));
  // To the end of a dim: "the end" (follows a symbolic dim), not the traced size.
  if (end == n) end = std::numeric_limits<int64_t>::max();
  c.add("Slice",
        {c.in(0), c.const_i64({start}), c.const_i64({end}), c.const_i64({dim}), c.const_i64({c.attrs().i("step")})},
        {c.out(0)});
}

// expand: dims the input already has (aligned right) are written as 1, which Expand keeps,
// so a symbolic batch passes through.
void ex_expand(C& c) {
  const auto& in = c.in_meta(0).sizes;
  const auto& out = c.out_meta(0).sizes;
  std::vector<int64_t> shape(out.begin(), out.end());
  const size_t lead = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d)
    if (in[d] == out[lead + d]) shape[lead + d] = 1;
  c.add("Expand", {c.in(0), c.const_i64(shape)}, {c.out(0)});
}

void ex_squeeze(C& c) {
  const auto& in = c.in_meta(0).sizes;
  const int64_t rank = c.in_rank(0);
  std::vector<int64_t> dims = c.attrs().ints("dims"), axes;
  if (dims.empty())
    for (int64_t d = 0; d < rank; ++d) dims.push_back(d);
  for (int64_t d : dims) {
    const int64_t w = wrap(d, std::max<int64_t>(rank, 1));
    if (w < rank && in[static_cast<size_t>(w)] == 1 && std::find(axes.begin(), axes.end(), w) == axes.end())
      axes.push_back(w);
  }
  if (axes.empty()) {
    c.add("Identity", {c.in(0)}, {c.out(0)});
    return;
  }
  c.squeeze(c.in(0), axes, c.out(0));
}

void ex_unsqueeze(C& c) {
  c.unsqueeze(c.in(0), {wrap(c.attrs().i("dim"), c.out_rank(0))}, c.out(0));
}

// ---- reductions ----

std::vector<int64_t> reduce_dims(C& c, const char* name = "dims") {
  if (!c.attrs().has(name)) return {};
  std::vector<int64_t> d = c.attrs().ints(name);
  for (int64_t& x : d) x = wrap(x, std::max<int64_t>(c.in_rank(0), 1));
  return d;
}

void ex_reduce(C& c) {
  struct R {
    const char* op;
    int axes_input_from;
  };
  static const std::map<std::string, R> names{
      {"sum", {"ReduceSum", 13}},      {"mean", {"ReduceMean", 18}}, {"prod", {"ReduceProd", 18}},
      {"amax", {"ReduceMax", 18}},     {"amin", {"ReduceMin", 18}},  {"norm_l1", {"ReduceL1", 18}},
      {"norm_l2", {"ReduceL2", 18}},   {"logsumexp", {"ReduceLogSumExp", 18}}};
  const R& r = names.at(c.op_name());
  const DType t = out_dt(c);
  if (c.in_rank(0) == 0) {  // a 0-d tensor reduces to itself (a norm: its magnitude)
    const std::string op = c.op_name();
    c.add(op == "norm_l1" || op == "norm_l2" ? "Abs" : "Identity", {c.in_as(0, t)}, {c.out(0)});
    return;
  }
  c.reduce(r.op, c.in_as(0, t), reduce_dims(c), c.attrs().b("keepdim"), c.out(0), r.axes_input_from);
}

// The number of elements each output of a reduction over `dims` (empty: all) combines.
int64_t reduced_count(C& c, const std::vector<int64_t>& dims) {
  const auto& s = c.in_meta(0).sizes;
  int64_t n = 1;
  if (dims.empty()) {
    for (int64_t d : s) n *= d;
  } else {
    for (int64_t d : dims) n *= s[static_cast<size_t>(d)];
  }
  return n;
}

// var / std with a correction: sum((x - mean)^2) / max(n - correction, 0).
void ex_var(C& c) {
  const DType t = out_dt(c);
  const std::vector<int64_t> dims = reduce_dims(c);
  const bool keep = c.attrs().b("keepdim");
  const std::string x = c.in_as(0, t);
  const std::string m = c.reduce("ReduceMean", x, dims, true, c.fresh("mean"), 18)->output(0);
  const std::string d = c.op1("Sub", {x, m});
  const std::string ss = c.reduce("ReduceSum", c.op1("Mul", {d, d}), dims, keep, c.fresh("ss"), 13)->output(0);
  const double denom = std::max<double>(static_cast<double>(reduced_count(c, dims) - c.attrs().i("correction")), 0);
  const std::string var = c.op1("Div", {ss, c.const_scalar(denom, t)});
  if (std::string(c.op_name()) == "std") c.add("Sqrt", {var}, {c.out(0)});
  else c.add("Identity", {var}, {c.out(0)});
}

void ex_norm(C& c) {
  const DType t = out_dt(c);
  const std::vector<int64_t> dims = reduce_dims(c);
  const bool keep = c.attrs().b("keepdim");
  const double p = c.attrs().f("p");
  const std::string ax = c.op1("Abs", {c.in_as(0, t)});
  if (std::isinf(p)) {
    c.reduce(p > 0 ? "ReduceMax" : "ReduceMin", ax, dims, keep, c.out(0), 18);
  } else if (p == 0) {
    const std::string nz = c.cast(c.op1("Not", {c.op1("Equal", {ax, c.const_scalar(0, t)})}), t);
    c.reduce("ReduceSum", nz, dims, keep, c.out(0), 13);
  } else {
    const std::string powed = c.op1("Pow", {ax, c.const_scalar(p, t)});
    const std::string s = c.reduce("ReduceSum", powed, dims, keep, c.fresh("sum"), 13)->output(0);
    c.add("Pow", {s, c.const_scalar(1.0 / p, t)}, {c.out(0)});
  }
}

// max/min over one dim: the values (ReduceMax/ReduceMin) and the first index of each
// (ArgMax/ArgMin).
void ex_max_min_dim(C& c) {
  const bool is_max = std::string(c.op_name()) == "max";
  const bool keep = c.attrs().b("keepdim");
  if (c.in_rank(0) == 0) {
    c.add("Identity", {c.in(0)}, {c.out(0)});
    c.add("Identity", {c.const_i64_scalar(0)}, {c.out(1)});
    return;
  }
  const int64_t dim = wrap(c.attrs().i("dim"), c.in_rank(0));
  c.reduce(is_max ? "ReduceMax" : "ReduceMin", c.in(0), {dim}, keep, c.out(0), 18);
  if (c.output_used(1)) {
    onnxpb::NodeProto* n = c.add(is_max ? "ArgMax" : "ArgMin", {c.in(0)}, {c.out(1)});
    set_attr(n, "axis", dim);
    set_attr(n, "keepdims", int64_t{keep ? 1 : 0});
  }
}

void ex_arg(C& c) {
  const char* op = std::string(c.op_name()) == "argmax" ? "ArgMax" : "ArgMin";
  const bool keep = c.attrs().b("keepdim");
  if (c.attrs().has("dim") && c.in_rank(0) > 0) {
    onnxpb::NodeProto* n = c.add(op, {c.in(0)}, {c.out(0)});
    set_attr(n, "axis", wrap(c.attrs().i("dim"), c.in_rank(0)));
    set_attr(n, "keepdims", int64_t{keep ? 1 : 0});
    return;
  }
  // Over all elements: flattened, then shaped as the output (0-d, or all ones).
  const std::string flat = c.op1("Reshape", {c.in(0), c.const_i64({-1})});
  onnxpb::NodeProto* n = c.add(op, {flat}, {});
  set_attr(n, "axis", int64_t{0});
  set_attr(n, "keepdims", int64_t{0});
  const auto& os = c.out_meta(0).sizes;
  c.add("Reshape", {n->output(0), c.const_i64(std::vector<int64_t>(os.begin(), os.end()))}, {c.out(0)});
}

// all / any: ONNX has no boolean reduction below opset 20; ReduceMin/ReduceMax of 0/1.
void ex_all_any(C& c) {
  const bool all = std::string(c.op_name()) == "all";
  const std::string bits = c.cast(c.in_as(0, DType::Bool), DType::Int32);
  std::string r = bits;
  if (c.in_rank(0) > 0)
    r = c.reduce(all ? "ReduceMin" : "ReduceMax", bits, reduce_dims(c), c.attrs().b("keepdim"), c.fresh("r"), 18)
            ->output(0);
  onnxpb::NodeProto* n = c.add("Cast", {r}, {c.out(0)});
  set_attr(n, "to", int64_t{onnx_type_of(DType::Bool)});
}

void ex_cumsum(C& c) {
  const DType t = out_dt(c);
  if (c.in_rank(0) == 0) {
    c.add("Identity", {c.in_as(0, t)}, {c.out(0)});
    return;
  }
  c.add("CumSum", {c.in_as(0, t), c.const_i64_scalar(wrap(c.attrs().i("dim"), c.in_rank(0)))}, {c.out(0)});
}

// softmax / log_softmax: any axis from opset 13; before it the operators work on the input
// coerced to 2-D, which equals the op only for the last axis: other axes are moved there.
void ex_softmax(C& c) {
  const char* op = std::string(c.op_name()) == "softmax" ? "Softmax" : "LogSoftmax";
  const int64_t rank = c.in_rank(0);
  const DType t = out_dt(c);
  if (rank == 0) {
    if (std::string(op) == "Softmax") c.add("Identity", {c.const_scalar(1, t)}, {c.out(0)});
    else c.add("Identity", {c.const_scalar(0, t)}, {c.out(0)});
    return;
  }
  const int64_t dim = wrap(c.attrs().i("dim"), rank);
  if (c.opset() >= 13 || dim == rank - 1) {
    onnxpb::NodeProto* n = c.add(op, {c.in_as(0, t)}, {c.out(0)});
    set_attr(n, "axis", dim);
    return;
  }
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < rank; ++d) perm.push_back(d);
  std::swap(perm[static_cast<size_t>(dim)], perm.back());
  onnxpb::NodeProto* to = c.add("Transpose", {c.in_as(0, t)}, {});
  set_attr(to, "perm", perm);
  onnxpb::NodeProto* s = c.add(op, {to->output(0)}, {});
  set_attr(s, "axis", rank - 1);
  onnxpb::NodeProto* back = c.add("Transpose", {s->output(0)}, {c.out(0)});
  set_attr(back, "perm", perm);
}

// ---- neural network ----

// layer_norm over the last len(normalized_shape) dims: LayerNormalization from opset 17,
// else mean, variance (population) and sqrt.
void ex_layer_norm(C& c) {
  const DType t = out_dt(c);
  const std::vector<int64_t>& ns = c.attrs().ints("normalized_shape");
  const bool has_w = c.attrs().b("weight"), has_b = c.attrs().b("bias");
  const double eps = c.attrs().f("eps");
  const int64_t rank = c.in_rank(0), k = static_cast<int64_t>(ns.size());
  const std::string x = c.in_as(0, t);
  size_t next = 1;
  const std::string w = has_w ? c.in_as(next++, t) : "";
  const std::string b = has_b ? c.in_as(next++, t) : "";
  // LayerNormalization's epsilon is a float attribute: float64 models whose eps float32
  // cannot hold exactly take the decomposition, which carries it as a float64 constant.
  const bool eps_fits = t != DType::Float64 || static_cast<double>(static_cast<float>(eps)) == eps;
  if (c.opset() >= 17 && eps_fits) {
    const std::string scale = has_w ? w : c.const_tensor(full(ns, Scalar(1.0), TensorOptions(t)));
    std::vector<std::string> ins{x, scale};
    if (has_b) ins.push_back(b);
    onnxpb::NodeProto* n = c.add("LayerNormalization", ins, {c.out(0)});
    set_attr(n, "axis", -k);
    set_attr(n, "epsilon", eps);
    return;
  }
  std::vector<int64_t> axes;
  for (int64_t d = rank - k; d < rank; ++d) axes.push_back(d);
  const std::string m = c.reduce("ReduceMean", x, axes, true, c.fresh("mean"), 18)->output(0);
  const std::string d = c.op1("Sub", {x, m});
  const std::string var = c.reduce("ReduceMean", c.op1("Mul", {d, d}), axes, true, c.fresh("var"), 18)->output(0);
  std::string y = c.op1("Div", {d, c.op1("Sqrt", {c.op1("Add", {var, c.const_scalar(eps, t)})})});
  if (has_w) y = c.op1("Mul", {y, w});
  if (has_b) y = c.op1("Add", {y, b});
  c.add("Identity", {y}, {c.out(0)});
}

// scaled_dot_product_attention (inference: dropout is a training op) as its decomposition:
// MatMul(q, k^T) scaled, the mask applied (Where for a bool or causal one, Add for a
// float one), Softmax on the last axis, MatMul by v. ONNX's own Attention (opset 23) is
// newer than the runtimes this export aims at.
void ex_sdpa(C& c) {
  const DType t = out_dt(c);
  if (c.attrs().f("dropout_p") != 0.0) c.unsupported("dropout inside attention (a training op)");
  const int64_t rank_k = c.in_rank(1);
  const auto& qs = c.in_meta(0).sizes;
  const auto& ks = c.in_meta(1).sizes;
  const int64_t L = qs[qs.size() - 2], S = ks[ks.size() - 2], E = qs.back();
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < rank_k; ++d) perm.push_back(d);
  std::swap(perm[static_cast<size_t>(rank_k - 2)], perm[static_cast<size_t>(rank_k - 1)]);
  onnxpb::NodeProto* kt = c.add("Transpose", {c.in_as(1, t)}, {});
  set_attr(kt, "perm", perm);
  std::string scores = c.op1("MatMul", {c.in_as(0, t), kt->output(0)});
  scores = c.op1("Mul", {scores, c.const_scalar(1.0 / std::sqrt(static_cast<double>(E)), t)});
  const std::string neg_inf = c.const_scalar(-std::numeric_limits<double>::infinity(), t);
  if (c.attrs().b("is_causal")) {
    scores = c.op1("Where", {c.const_tensor(tril(ones({L, S}, kBool))), scores, neg_inf});
  } else if (c.attrs().b("mask")) {
    scores = c.in_meta(3).dtype == DType::Bool ? c.op1("Where", {c.in(3), scores, neg_inf})
                                                : c.op1("Add", {scores, c.in_as(3, t)});
  }
  onnxpb::NodeProto* p = c.add("Softmax", {scores}, {});
  set_attr(p, "axis", static_cast<int64_t>(c.out_meta(0).sizes.size()) - 1);  // the last, also before opset 11
  c.add("MatMul", {p->output(0), c.in_as(2, t)}, {c.out(0)});
}

// batch_norm in eval mode (running statistics; training mode is traced decomposed, and
// refused for writing them): BatchNormalization, scale and bias ones and zeros when absent.
void ex_batch_norm(C& c) {
  const DType t = out_dt(c);
  if (!c.attrs().b("running_stats")) c.unsupported("batch statistics without running ones (training mode)");
  const int64_t channels = c.in_meta(0).sizes.size() >= 2 ? c.in_meta(0).sizes[1] : 0;
  if (c.in_rank(0) < 2) c.unsupported("an input of fewer than 2 dims");
  size_t next = 1;
  const std::string mean = c.in_as(next++, t), var = c.in_as(next++, t);
  const std::string w = c.attrs().b("weight") ? c.in_as(next++, t)
                                               : c.const_tensor(full({channels}, Scalar(1.0), TensorOptions(t)));
  const std::string b = c.attrs().b("bias") ? c.in_as(next++, t)
                                             : c.const_tensor(full({channels}, Scalar(0.0), TensorOptions(t)));
  onnxpb::NodeProto* n = c.add("BatchNormalization", {c.in_as(0, t), w, b, mean, var}, {c.out(0)});
  set_attr(n, "epsilon", c.attrs().f("eps"));
  set_attr(n, "momentum", 1.0 - c.attrs().f("momentum"));  // ONNX weighs the running value
}

// linear(x, weight [out, in], bias): Gemm with transB for 2-D inputs, else MatMul with the
// transposed weight and Add.
void ex_linear(C& c) {
  const DType t = out_dt(c);
  const bool bias = c.attrs().b("bias");
  const std::string x = c.in_as(0, t), w = c.in_as(1, t);
  if (c.in_rank(0) == 2 && is_floating(t)) {
    std::vector<std::string> ins{x, w};
    if (bias) ins.push_back(c.in_as(2, t));
    onnxpb::NodeProto* n = c.add("Gemm", ins, {c.out(0)});
    set_attr(n, "transB", int64_t{1});
    return;
  }
  onnxpb::NodeProto* tr = c.add("Transpose", {w}, {});
  set_attr(tr, "perm", std::vector<int64_t>{1, 0});
  if (!bias) {
    c.add("MatMul", {x, tr->output(0)}, {c.out(0)});
    return;
  }
  c.add("Add", {c.op1("MatMul", {x, tr->output(0)}), c.in_as(2, t)}, {c.out(0)});
}

void conv_common(C& c, onnxpb::NodeProto* n) {
  const auto& w = c.in_meta(1).sizes;
  set_attr(n, "kernel_shape", std::vector<int64_t>{w[2], w[3]});
  set_attr(n, "strides", c.attrs().ints("stride"));
  set_attr(n, "pads", c.attrs().ints("padding"));  // [top, left, bottom, right], as ONNX's
  set_attr(n, "dilations", c.attrs().ints("dilation"));
  set_attr(n, "group", c.attrs().i("groups"));
}

void ex_conv(C& c) {
  std::vector<std::string> ins{c.in(0), c.in(1)};
  if (c.num_inputs() > 2) ins.push_back(c.in(2));
  const bool transpose = std::string(c.op_name()) == "conv_transpose2d";
  onnxpb::NodeProto* n = c.add(transpose ? "ConvTranspose" : "Conv", ins, {c.out(0)});
  conv_common(c, n);
  if (transpose) set_attr(n, "output_padding", c.attrs().ints("output_padding"));
}

// max_pool2d's indices are flat within each (n, c) plane (PyTorch's); MaxPool's Indices are
// flat over the whole NCHW tensor, so the planes' offsets are subtracted.
// PyTorch's ceil_mode drops a last window that would start in the right padding; ONNX's
// does not. Written as whichever of ONNX's modes gives the op's output size.
int64_t pool_ceil_mode(C& c, const std::vector<int64_t>& dilation) {
  const auto& in = c.in_meta(0).sizes;
  const auto& out = c.out_meta(0).sizes;
  const std::vector<int64_t>& k = c.attrs().ints("kernel");
  const std::vector<int64_t>& st = c.attrs().ints("stride");
  const std::vector<int64_t>& p = c.attrs().ints("padding");
  const size_t r = in.size();
  bool floor_ok = true, ceil_ok = true;
  for (size_t d = 0; d < 2; ++d) {
    const int64_t span = in[r - 2 + d] + 2 * p[d] - dilation[d] * (k[d] - 1) - 1;
    const int64_t fl = span / st[d] + 1, ce = (span + st[d] - 1) / st[d] + 1;
    floor_ok = floor_ok && fl == out[r - 2 + d];
    ceil_ok = ceil_ok && ce == out[r - 2 + d];
  }
  if (c.attrs().b("ceil_mode") ? ceil_ok : floor_ok) return c.attrs().b("ceil_mode") ? 1 : 0;
  if (floor_ok) return 0;
  if (ceil_ok) return 1;
  c.unsupported("ceil_mode gives an output size neither of ONNX's rounding modes gives");
}

void ex_max_pool(C& c) {
  const std::vector<int64_t>& p = c.attrs().ints("padding");
  const bool want_idx = c.output_used(1);
  const std::string idx = want_idx ? c.fresh("flat_indices") : "";
  std::vector<std::string> outs{c.out(0)};
  if (want_idx) outs.push_back(idx);
  onnxpb::NodeProto* n = c.add("MaxPool", {c.in(0)}, outs);
  set_attr(n, "kernel_shape", c.attrs().ints("kernel"));
  set_attr(n, "strides", c.attrs().ints("stride"));
  set_attr(n, "pads", std::vector<int64_t>{p[0], p[1], p[0], p[1]});
  set_attr(n, "dilations", c.attrs().ints("dilation"));
  set_attr(n, "ceil_mode", pool_ceil_mode(c, c.attrs().ints("dilation")));
  if (!want_idx) return;
  const auto& in = c.in_meta(0).sizes;
  const int64_t planes = in.size() == 4 ? in[0] * in[1] : in[0];
  const int64_t hw = in[in.size() - 2] * in[in.size() - 1];
  Tensor off = empty({planes}, TensorOptions(kInt64));
  for (int64_t k = 0; k < planes; ++k) off.data<int64_t>()[k] = k * hw;
  std::vector<int64_t> oshape(in.size(), 1);
  if (in.size() == 4) {
    oshape[0] = in[0];
    oshape[1] = in[1];
  } else {
    oshape[0] = in[0];
  }
  const std::string offsets = c.op1("Reshape", {c.const_tensor(off), c.const_i64(oshape)});
  c.add("Sub", {idx, offsets}, {c.out(1)});
}

void ex_avg_pool(C& c) {
  const std::vector<int64_t>& p = c.attrs().ints("padding");
  onnxpb::NodeProto* n = c.add("AveragePool", {c.in(0)}, {c.out(0)});
  set_attr(n, "kernel_shape", c.attrs().ints("kernel"));
  set_attr(n, "strides", c.attrs().ints("stride"));
  set_attr(n, "pads", std::vector<int64_t>{p[0], p[1], p[0], p[1]});
  set_attr(n, "ceil_mode", pool_ceil_mode(c, {1, 1}));
  set_attr(n, "count_include_pad", int64_t{c.attrs().b("count_include_pad") ? 1 : 0});
}

// adaptive average pooling: global when the output is 1x1, an AveragePool when every
// window is the same (input sizes divisible by the output's).
void ex_adaptive_pool(C& c) {
  const auto& in = c.in_meta(0).sizes;
  const auto& out = c.out_meta(0).sizes;
  const size_t r = in.size();
  const int64_t ih = in[r - 2], iw = in[r - 1], oh = out[r - 2], ow = out[r - 1];
  if (oh == 1 && ow == 1 && r == 4) {
    c.add("GlobalAveragePool", {c.in(0)}, {c.out(0)});
    return;
  }
  if (oh > 0 && ow > 0 && ih % oh == 0 && iw % ow == 0) {
    onnxpb::NodeProto* n = c.add("AveragePool", {c.in(0)}, {c.out(0)});
    set_attr(n, "kernel_shape", std::vector<int64_t>{ih / oh, iw / ow});
    set_attr(n, "strides", std::vector<int64_t>{ih / oh, iw / ow});
    return;
  }
  c.unsupported(concat("adaptive pooling from ", ih, "x", iw, " to ", oh, "x", ow,
                       " has uneven windows, which ONNX's AveragePool cannot express"));
}

}  // namespace

std::vector<ExportRow> export_rows() {
  // {ONNX operator (its import row), Tessera op, export function, first opset written}
  return {
      {"Abs", "abs", ex_unary, 6},
      {"Add", "add", ex_binary, 7},
      {"And", "logical_and", ex_logical, 7},
      {"ArgMax", "argmax", ex_arg, 11},
      {"Atan", "atan2", ex_atan2, 7},
      {"ArgMin", "argmin", ex_arg, 11},
      {"AveragePool", "avg_pool2d", ex_avg_pool, 11},
      {"BatchNormalization", "batch_norm", ex_batch_norm, 9},
      {"Cast", "cast", ex_cast, 6},
      {"Ceil", "ceil", ex_unary, 6},
      {"Clip", "clamp", ex_clamp, 11},
      {"Max", "clamp_tensor", ex_clamp_tensor, 8},
      {"Concat", "cat", ex_cat, 11},
      {"Concat", "stack", ex_stack, 11},
      {"Constant", "arange", ex_constant, 11},
      {"Constant", "linspace", ex_constant, 11},
      {"Constant", "eye", ex_constant, 11},
      {"ConstantOfShape", "full", ex_full, 9},
      {"Conv", "conv2d", ex_conv, 11},
      {"ConvTranspose", "conv_transpose2d", ex_conv, 11},
      {"Cos", "cos", ex_unary, 7},
      {"CumSum", "cumsum", ex_cumsum, 11},
      {"Div", "div", ex_binary, 7},
      {"Equal", "eq", ex_compare, 11},
      {"Equal", "ne", ex_compare, 11},
      {"Erf", "erf", ex_unary, 9},
      {"Exp", "exp", ex_unary, 6},
      {"Exp", "expm1", ex_exp_family, 6},
      {"Expand", "expand", ex_expand, 8},
      {"Floor", "floor", ex_unary, 6},
      {"Floor", "floor_divide", ex_floor_divide, 10},
      {"Gather", "index_select", ex_index_select, 11},
      {"Gather", "select", ex_select, 11},
      {"Gather", "diagonal", ex_diagonal, 11},
      {"GatherElements", "gather", ex_gather, 11},
      {"Gelu", "gelu", ex_gelu, 11},
      {"Gemm", "addmm", ex_addmm, 11},
      {"Gemm", "linear", ex_linear, 11},
      {"GlobalAveragePool", "global_avg_pool2d", ex_adaptive_pool, 1},
      {"AveragePool", "adaptive_avg_pool2d", ex_adaptive_pool, 11},
      {"Greater", "gt", ex_compare, 9},
      {"GreaterOrEqual", "ge", ex_compare, 12},
      {"IsInf", "isinf", ex_isnan_isinf, 10},
      {"IsInf", "isfinite", ex_isnan_isinf, 10},
      {"IsInf", "nan_to_num", ex_nan_to_num, 10},
      {"IsNaN", "isnan", ex_isnan_isinf, 9},
      {"LayerNormalization", "layer_norm", ex_layer_norm, 11},
      {"LeakyRelu", "leaky_relu", ex_leaky_relu, 6},
      {"Less", "lt", ex_compare, 9},
      {"LessOrEqual", "le", ex_compare, 12},
      {"Log", "log", ex_unary, 6},
      {"Log", "log1p", ex_exp_family, 6},
      {"Log", "log2", ex_exp_family, 6},
      {"LogSoftmax", "log_softmax", ex_softmax, 11},
      {"MatMul", "matmul", ex_matmul, 9},
      {"MatMul", "mm", ex_matmul, 9},
      {"MatMul", "bmm", ex_matmul, 9},
      {"MatMul", "dot", ex_matmul, 9},
      {"MatMul", "linear_fused", ex_linear_fused, 9},
      {"MatMul", "scaled_dot_product_attention", ex_sdpa, 9},
      {"Max", "maximum", ex_binary, 8},
      {"MaxPool", "max_pool2d", ex_max_pool, 11},
      {"Min", "minimum", ex_binary, 8},
      {"Mod", "remainder", ex_remainder, 10},
      {"Mul", "mul", ex_binary, 7},
      {"Mul", "outer", ex_outer, 7},
      {"Mul", "square", ex_exp_family, 7},
      {"Mul", "silu", ex_exp_family, 7},
      {"Neg", "neg", ex_unary, 6},
      {"Not", "logical_not", ex_logical, 1},
      {"OneHot", "one_hot", ex_one_hot, 11},
      {"Or", "logical_or", ex_logical, 7},
      {"Pow", "pow", ex_binary, 12},
      {"Reciprocal", "reciprocal", ex_unary, 6},
      {"Reciprocal", "rsqrt", ex_exp_family, 6},
      {"ReduceL1", "norm_l1", ex_reduce, 11},
      {"ReduceL2", "norm_l2", ex_reduce, 11},
      {"ReduceLogSumExp", "logsumexp", ex_reduce, 11},
      {"ReduceMax", "amax", ex_reduce, 11},
      {"ReduceMax", "max", ex_max_min_dim, 11},
      {"ReduceMax", "any", ex_all_any, 11},
      {"ReduceMin", "all", ex_all_any, 11},
      {"ReduceMean", "mean", ex_reduce, 11},
      {"ReduceMean", "var", ex_var, 11},
      {"ReduceMean", "std", ex_var, 11},
      {"ReduceMin", "amin", ex_reduce, 11},
      {"ReduceMin", "min", ex_max_min_dim, 11},
      {"ReduceProd", "prod", ex_reduce, 11},
      {"ReduceSum", "sum", ex_reduce, 11},
      {"ReduceSum", "norm", ex_norm, 11},
      {"Relu", "relu", ex_unary, 6},
      {"Reshape", "view", ex_view, 5},
      {"Round", "round", ex_unary, 11},
      {"ScatterElements", "scatter", ex_scatter, 11},
      {"ScatterElements", "scatter_add", ex_scatter, 16},
      {"Sigmoid", "sigmoid", ex_unary, 6},
      {"Sign", "sign", ex_unary, 9},
      {"Sin", "sin", ex_unary, 7},
      {"Slice", "slice", ex_slice, 11},
      {"Slice", "flip", ex_flip, 11},
      {"Slice", "roll", ex_roll, 11},
      {"Softmax", "softmax", ex_softmax, 11},
      {"Softplus", "softplus", ex_softplus, 1},
      {"Sqrt", "sqrt", ex_unary, 6},
      {"Squeeze", "squeeze", ex_squeeze, 11},
      {"Sub", "sub", ex_binary, 7},
      {"Tan", "tan", ex_unary, 7},
      {"Tanh", "tanh", ex_unary, 6},
      {"Identity", "clone", ex_unary, 1},
      {"Tile", "repeat", ex_repeat, 6},
      {"TopK", "topk", ex_topk, 11},
      {"TopK", "sort", ex_topk, 11},
      {"Transpose", "permute", ex_permute, 1},
      {"Trilu", "tril", ex_trilu, 14},
      {"Trilu", "triu", ex_trilu, 14},
      {"Unsqueeze", "unsqueeze", ex_unsqueeze, 11},
      {"Where", "where", ex_where, 9},
      {"Where", "masked_fill", ex_masked_fill, 9},
      {"Xor", "logical_xor", ex_logical, 7},
  };
}

const ExportRow* find_export(const std::string& tessera_op) {
  static const std::map<std::string, ExportRow> by_op = [] {
    std::map<std::string, ExportRow> m;
    for (const ExportRow& r : export_rows()) {
      TESSERA_INTERNAL_ASSERT(m.emplace(r.tessera_op, r).second, "Tessera op ", r.tessera_op,
                              " has two export rows");
    }
    return m;
  }();
  auto it = by_op.find(tessera_op);
  return it == by_op.end() ? nullptr : &it->second;
}

}  // namespace tessera::onnx::detail
