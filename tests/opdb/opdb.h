#pragma once
// The op database: one entry per registered OpDef (src/ops/op.h), the third place an op is
// added (after its OpDef and its kernel). From the entries the tests of tests/opdb/ are
// generated: forward against PyTorch (or a float64 reference), gradcheck and gradgradcheck
// in float64, error inputs, in-place writes and version bumps, view aliasing, and the
// moments of random ops. The compiled-vs-eager test of graph mode iterates the same table:
//
//   for (const opdb::OpEntry& e : opdb::entries())
//     for (DType t : e.dtypes)
//       for (const opdb::Sample& s : e.samples(t)) {
//         std::vector<Tensor> eager = e.invoke(s.inputs, s.attrs);
//         ...
//       }
//
// samples() is deterministic (seeded by the op's name and the dtype), so two calls give
// equal inputs. invoke() takes the sample's attributes too (its non-tensor arguments:
// dims, a scalar operand, the OpDef's attributes for ops called through dispatch).
// Some samples write their inputs (writes_inputs(): ops with OpDef::mutates, the in-place
// forms such as x.add_(y), batch_norm's running stats in training): take fresh samples, or
// clone, for each run. Random ops take their seed from the sample's "seed" attribute, so
// two runs of one sample draw the same numbers.
#include <functional>
#include <string>
#include <vector>

#include "ops/op.h"
#include "tessera/tessera.h"

namespace tessera::opdb {

using Tensors = std::vector<Tensor>;
using ops::Attrs;

// One set of arguments: the input tensors and the other arguments (named as the entry's
// invoke reads them; for most ops the OpDef's own attribute names).
struct Sample {
  Sample(std::string name_, Tensors inputs_, Attrs attrs_ = {}, bool grad_ = true)
      : name(std::move(name_)), inputs(std::move(inputs_)), attrs(std::move(attrs_)), grad(grad_) {}
  std::string name;  // "contiguous", "noncontiguous", "broadcast", "empty", "large", ...
  Tensors inputs;
  Attrs attrs;
  bool grad = true;  // part of the float64 gradcheck (large samples are not)
  // Non-empty: where Tessera deliberately differs from PyTorch on this sample (said why);
  // it is gradchecked but not compared with PyTorch's output.
  std::string differs_from_torch;
  // > 0: the forward comparison is normwise, max|got - reference| <= this * max|reference|,
  // instead of element by element: an algorithm whose error bound is normwise (Winograd
  // F(4x4, 3x3), whose rounding scales with the output's largest values, not each one's).
  double normwise = 0;
};

// An argument the op must refuse: invoke throws tessera::Error whose text contains
// `message`.
struct ErrorCase {
  std::string name;
  Tensors inputs;
  Attrs attrs;
  std::string message;
};

// Forward comparison per element (a = Tessera, b = reference): passes when
// |a - b| <= atol + rtol * |b|; NaN matches NaN, an infinity the same infinity. Integer and
// bool outputs must match exactly, as must shapes and dtypes.
struct Tolerance {
  double rtol32 = 1e-5, atol32 = 1e-6;
  double rtol64 = 1e-10, atol64 = 1e-12;
};

using InvokeFn = std::function<Tensors(const Tensors& inputs, const Attrs& attrs)>;
using SamplesFn = std::function<std::vector<Sample>(DType dtype)>;

// What a random op's samples must show instead of agreeing with PyTorch's numbers.
struct Moments {
  double mean = 0, var = 0;  // of every element of output 0
  double tol = 0.05;         // absolute, on the mean and on the variance
};

struct OpEntry {
  std::string op;      // the OpDef's registry name
  std::string family;  // the file of tests/opdb/ it lives in
  InvokeFn invoke;     // through the public API (ops::call where the op has no public function)
  SamplesFn samples;
  std::vector<DType> dtypes{kFloat32, kFloat64};
  // PyTorch's output, as a Python expression over `x` (the inputs, torch tensors) and `A`
  // (the sample's attributes, a dict); it may return a tensor or a sequence of them
  // (helpers in tests/opdb/torch_ref.py). Empty: no PyTorch equivalent, see `reference`.
  std::string torch;
  InvokeFn reference;  // a float64 reference where PyTorch has none
  Tolerance tol;
  // Where gradients are checked: described for the reader; the samples' float values lie
  // in it (e.g. "positive" for log, "away from integers" for floor).
  std::string grad_domain = "any";
  // Bit i: gradcheck treats input i as a variable (float inputs only). Default: all.
  uint32_t grad_inputs = ~0u;
  double grad_atol = 1e-5, grad_rtol = 1e-3;
  bool gradgrad = true;  // some second derivatives are not defined (e.g. a tie rule)
  // > 0: the compiled-vs-eager test compares normwise, max|graph - eager| <= this *
  // max|eager|, instead of element by element: for ops a graph may run with another
  // algorithm (a convolution with Winograd), whose error bound is normwise.
  double compiled_normwise = 0;
  std::function<std::vector<ErrorCase>()> errors;
  Moments moments;  // random ops
  // A composite without kDifferentiable whose decomposition autograd records (linear,
  // layer_norm, ...): gradchecked too.
  bool differentiable_composite = false;
};

// The OpDef's kDifferentiable flag, or differentiable_composite.
bool is_differentiable(const OpEntry& e);

// Whether invoke(s.inputs, s.attrs) writes any of s.inputs.
bool writes_inputs(const OpEntry& e, const Sample& s);

// Every entry, in family order. Built once; holds no tensors (samples are made on demand).
const std::vector<OpEntry>& entries();
const OpEntry* find_entry(const std::string& op);

// ---- helpers for the family files ----

// Values of float inputs: uniform in [lo, hi], optionally with |x| >= away (random sign)
// or kept `away` from integers (for floor, round, ...).
struct Domain {
  double lo = -2, hi = 2;
  double away_from_zero = 0;    // > 0: |x| in [away, hi], random sign
  double away_from_int = 0;     // > 0: x = k + u, u in [away, 1 - away]
  static Domain any() { return {}; }
  static Domain positive(double lo = 0.3, double hi = 2) { return {lo, hi}; }
  static Domain nonzero(double away = 0.3, double hi = 2) { return {-hi, hi, away}; }
  static Domain off_integer() { return {-3, 3, 0, 0.1}; }
};

// Makes the inputs of one sample: floats in the entry's domain in the requested dtype
// (integers or bools when the dtype is one), indices, masks. Seeded per (op, dtype).
class Maker {
 public:
  Maker(const std::string& op, DType dtype, Domain domain = {});
  DType dtype() const { return dtype_; }
  Generator& gen() { return gen_; }
  Tensor operator()(IntArrayRef shape) { return values(shape, domain_, dtype_); }
  Tensor operator()(IntArrayRef shape, Domain d) { return values(shape, d, dtype_); }
  Tensor values(IntArrayRef shape, Domain d, DType dtype);
  Tensor f64(IntArrayRef shape, Domain d = {}) { return values(shape, d, kFloat64); }
  Tensor index(IntArrayRef shape, int64_t lo, int64_t hi);  // int64 in [lo, hi)
  Tensor mask(IntArrayRef shape, double p = 0.5);           // bool
  Domain domain() const { return domain_; }

 private:
  DType dtype_;
  Domain domain_;
  Generator gen_;
};

// The same values, in a non-contiguous layout (last two dims transposed in memory, or every
// other element of a buffer for 1-D), built with differentiable ops: gradcheck applies it
// to its leaves so that the backward rules see the layout too. A 0-d or empty tensor is
// returned as it is.
Tensor noncontiguous(const Tensor& t);
// `values` in the layout kind of `like`: non-contiguous when `like` is.
Tensor same_layout(const Tensor& values, const Tensor& like);

// Samples of an elementwise unary op: contiguous [3, 4], non-contiguous, 0-d, empty
// [0, 3], large [65, 67].
std::vector<Sample> unary_samples(Maker& m, Attrs attrs = {});
// Of a broadcasting binary op: same shape, broadcast [3, 4] x [4] and [3, 1] x [1, 4],
// non-contiguous, with a 0-d operand, empty, large.
// `make` (optional) makes the two operands of given shapes, for ops whose operands depend on
// each other (floor_divide's quotient kept away from integers).
using PairFn = std::function<Tensors(Maker& m, IntArrayRef a, IntArrayRef b)>;
std::vector<Sample> binary_samples(Maker& m, Attrs attrs = {}, PairFn make = nullptr);

Tensors one(const Tensor& t);
template <typename A, typename B>
Tensors two(const std::pair<A, B>& p) {
  return {p.first, p.second};
}

// Attribute readers with defaults (Attrs::get asserts on a missing name).
int64_t attr_i(const Attrs& a, std::string_view name, int64_t def = 0);
double attr_f(const Attrs& a, std::string_view name, double def = 0);
bool attr_b(const Attrs& a, std::string_view name, bool def = false);
std::vector<int64_t> attr_ints(const Attrs& a, std::string_view name, std::vector<int64_t> def = {});
std::string attr_s(const Attrs& a, std::string_view name, std::string def = "");

// The family files: each appends its entries.
void add_elementwise(std::vector<OpEntry>& out);
void add_reduce(std::vector<OpEntry>& out);
void add_shape(std::vector<OpEntry>& out);
void add_view(std::vector<OpEntry>& out);
void add_index(std::vector<OpEntry>& out);
void add_linalg(std::vector<OpEntry>& out);
void add_conv(std::vector<OpEntry>& out);
void add_pool(std::vector<OpEntry>& out);
void add_conv_blocked(std::vector<OpEntry>& out);
void add_nn(std::vector<OpEntry>& out);
void add_random(std::vector<OpEntry>& out);
void add_factory(std::vector<OpEntry>& out);
void add_copy(std::vector<OpEntry>& out);
void add_optim(std::vector<OpEntry>& out);
void add_collective(std::vector<OpEntry>& out);

}  // namespace tessera::opdb
