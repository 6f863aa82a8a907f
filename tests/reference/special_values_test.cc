// Special values against PyTorch (issue 8): every elementwise op and every reduction of the
// op table, plus sort and topk, on inputs holding +-0, +-inf, NaN, denormals, the smallest
// normal, small and large normals and the largest finite value, in float32 and float64.
//
// The list of ops comes from the op table: the test writes every OpDef flagged kElementwise
// or kReduction (and the ordering ops) into ops.txt, and special_values_ref.py (run with
// Debian's /usr/bin/python3 and python3-torch 1.13, as tests/opdb/torch_ref.py is) writes PyTorch's
// results for each into the build directory. An op the script cannot sweep (no torch
// function of its name and no entry in its tables) and an op without a case in both dtypes
// fail the test by name, so a new op is swept or reported, never skipped silently.
//
// Layouts. An elementwise case runs
//   whole    on the inputs as written: contiguous, longer than 64 elements, so the float32
//            loops of every ISA run their vector body and their scalar tail;
//   single   on each element alone (1-element tensors: the scalar path of every loop);
//   strided  on stride-2 views (the gather path of the float32 kernels);
//   vs, sv   (two-input cases) with one operand a 1-element tensor broadcast against three
//            copies of the values (the scalar-operand loops).
// A reduction case (and sort, topk) runs over the rows of a row-major and of a
// column-major copy of its input (the engine's row and column loops), with rows of 70 and
// of 16,500 elements (more than one chunk: partial results are merged). ctest also runs the
// test with TESSERA_ISA=avx2 and =baseline (tests/CMakeLists.txt), so every ISA's float32
// loops are checked where the CPU has them.
//
// Comparison, per output element (a = Tessera, b = PyTorch):
//   b NaN        a must be NaN (sign and payload are not compared: PyTorch's vary too);
//   b +-inf      a must be the same infinity;
//   b +-0        a must be a zero of the same sign;
//   b finite     a within `ulps` units in the last place of the dtype, counted as the number
//                of representable values between a and b (so a denormal is measured in the
//                denormal spacing). ulps is 0, an exact match, unless the case sets it:
//                special_values_ref.py gives 4 for transcendental functions (Tessera's
//                float32 ones are within 2-3 ulp of the exact value, PyTorch's Sleef within
//                1), 8-16 for composites (gelu, silu, softplus), 2-8 for reductions, whose
//                order of summation differs from PyTorch's, and n / 32 more on the rows of
//                n = 16,500 (a sum in another order can be off by n eps);
//   integer and bool outputs (indices, comparisons, all/any) must be equal.
// PyTorch's answer is not always unique: its vectorized loop and its scalar loop disagree
// on some special values (gelu(-0) is +0 in one and -0 in the other; remainder(0.5, 1e-40)
// is NaN in one and 5.4e-41 in the other), as do its row and column reductions (the sign
// of max over {+0, -0}). The script saves both where they differ, and a result agrees when
// it matches either; the summary counts those. Where Tessera is deliberately more accurate
// than PyTorch (kDeviations), a result may instead match the exact value (mpmath, or
// extended precision for the reductions), within the same ulps; an op that does so
// without an entry there fails. What is not compared at all is in kExclusions. All three
// lists are printed on every run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "backends/cpu/vec/float_loops.h"
#include "ops/op.h"
#include "reference/torch_cases.h"
#include "tessera/io.h"
#include "tessera/ops.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::torch_ref;  // NOLINT: the manifest types and op table

namespace {

const char* const kPython = "/usr/bin/python3";

// Ops swept besides the elementwise and reduction ones: NaN's place in an ordering.
const char* const kOrderingOps[] = {"sort", "topk"};

// Where Tessera deliberately differs from PyTorch 1.13 (docs/tensors.md, "Special
// values"): there a result that is not PyTorch's must be the exact one (within the case's
// ulps), which special_values_ref.py computes with mpmath or in extended precision.
struct Deviation {
  const char* op;
  const char* why;
};
const Deviation kDeviations[] = {
    {"gelu", "PyTorch computes x (1 + erf(x / sqrt 2)) / 2, which cancels for x < 0 (its "
             "gelu(-3.75) is 4000 ulps off in float32, gelu(-30) is 0); Tessera uses erfc"},
    {"sigmoid", "PyTorch's 1 / (1 + e^-x) underflows to 0 once e^-x overflows (float32 "
                "x < -88.7); Tessera's e^x / (1 + e^x) keeps the tiny result"},
    {"silu", "x sigmoid(x): as sigmoid"},
    {"softplus", "log1p(e^(beta x)) / beta: as sigmoid, PyTorch underflows to 0 early"},
    {"log1p", "PyTorch's (Sleef's) log1p returns 0 for the smallest denormals and inf for x "
              "near the largest float; log1p(x) is x there, and log(x) + tiny"},
    {"tan", "PyTorch's float64 tan returns 0 for denormal x; tan(x) is x there"},
    {"norm", "PyTorch accumulates float32 |x|^p in float32, so the norm of denormals or of "
             "values near the smallest normal is 0; Tessera accumulates in double"},
    {"norm_l2", "as norm"},
    {"sum", "partial sums that overflow in one order and not in another (+-FLT_MAX "
            "alternating): PyTorch's vectorized order gives inf - inf = NaN where Tessera's "
            "column loop adds in sequence and gets the exact sum"},
    {"mean", "as sum"},
};
const Deviation* deviation(const std::string& op) {
  for (const Deviation& d : kDeviations)
    if (op == d.op) return &d;
  return nullptr;
}

// What the sweep does not compare against PyTorch, and why. Printed on every run.
struct Exclusion {
  const char* what;
  const char* why;
};
const Exclusion kExclusions[] = {
    {"the sign of a zero max/min (amax, amin, max, min, topk) of a row holding both +0 "
     "and -0",
     "which zero comes out depends on the order of the scan (PyTorch's own row and column "
     "reductions give different ones): a zero of either sign agrees"},
    {"topk indices", "PyTorch leaves the order of equal values unspecified: Tessera's are "
                     "checked to point at the values returned"},
    {"cast to integer dtypes", "a NaN, infinity or out-of-range float converted to an integer "
                               "is undefined behaviour in C++ (PyTorch returns whatever the "
                               "instruction does)"},
};

std::string fmt(double v) {
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Position of a finite value on the line of representable values of its dtype (+0 and -0
// both at 0), so that the difference of two is their distance in ulps.
int64_t ordinal(double v, DType dt) {
  if (dt == kFloat32) {
    uint32_t u;
    const float f = static_cast<float>(v);
    std::memcpy(&u, &f, 4);
    const int64_t mag = u & 0x7fffffffu;
    return (u >> 31) ? -mag : mag;
  }
  uint64_t u;
  std::memcpy(&u, &v, 8);
  const int64_t mag = static_cast<int64_t>(u & 0x7fffffffffffffffull);
  return (u >> 63) ? -mag : mag;
}

// The rule of the header comment. Returns the distance in ulps (0 for special values that
// match), or -1 when a and b disagree whatever the tolerance.
int64_t distance(double a, double b, DType dt) {
  if (!is_floating(dt)) return a == b ? 0 : -1;
  if (std::isnan(b)) return std::isnan(a) ? 0 : -1;
  if (std::isinf(b) || b == 0) return (a == b && std::signbit(a) == std::signbit(b)) ? 0 : -1;
  if (!std::isfinite(a)) return -1;
  return std::llabs(ordinal(a, dt) - ordinal(b, dt));
}

struct Expected {
  std::vector<double> values;
  Shape sizes;
  DType dtype;
};

Expected expected(const Tensor& t) { return {t.to_vector<double>(), Shape(t.sizes()), t.dtype()}; }

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

// The ops to sweep, from the op table.
struct SweptOp {
  std::string name, kind;
  int arity;
};
std::vector<SweptOp> swept_ops() {
  ops::ensure_registered();
  std::vector<SweptOp> out;
  for (const ops::OpDef* op : ops::all_ops()) {
    // fused_elementwise (graph fusion) runs the float32 loops of the ops swept here, one per
    // step, unchanged; its opdb entry compares whole programs with PyTorch, and
    // GraphPasses.ElementwiseChainsRunAsOneNodeWithEagersBits with eager bit for bit.
    if (std::string_view(op->name) == "fused_elementwise") continue;
    if (op->flags & ops::kElementwise) out.push_back({op->name, "elementwise", op->num_inputs});
    else if (op->flags & ops::kReduction) out.push_back({op->name, "reduction", op->num_inputs});
  }
  for (const char* name : kOrderingOps) {
    const ops::OpDef* op = ops::find_op(name);
    TESSERA_INTERNAL_ASSERT(op != nullptr, "no op '", name, "' in the op table");
    out.push_back({op->name, "ordering", op->num_inputs});
  }
  return out;
}

// One case run in every layout that applies to it.
class CaseRun {
 public:
  CaseRun(const std::string& dir, const Case& c) : c_(c) {
    for (const std::string& f : c.inputs) inputs_.push_back(load_input(dir, f));
    for (const std::string& f : c.outputs) want_.push_back(expected(load_npy(dir + "/" + f)));
    for (const char* key : {"alt", "exact"}) {
      if (!c.attrs.has(key)) continue;
      std::vector<Expected>& refs = key[0] == 'a' ? alt_ : exact_;
      for (const std::string& f : split_list(c.attrs.s(key)))
        refs.push_back(expected(load_npy(dir + "/" + f)));
    }
    if (c.attrs.has("rows")) rows_ = split_list(c.attrs.s("rows"));
    // zero_ties: per row, whether it holds zeros of both signs.
    if (c.attrs.has("zero_ties")) {
      const std::vector<double> x = inputs_[0].to_vector<double>();
      const size_t per_row = x.size() / rows_.size();
      for (size_t r = 0; r < rows_.size(); ++r) {
        bool pos = false, neg = false;
        for (size_t i = r * per_row; i < (r + 1) * per_row; ++i)
          if (x[i] == 0) (std::signbit(x[i]) ? neg : pos) = true;
        mixed_zeros_.push_back(pos && neg);
      }
    }
    ulps_ = c.attrs.has("ulps") ? c.attrs.i("ulps") : 0;
  }

  void run() {
    const std::string kind = c_.attrs.s("kind");
    if (kind == "reduce") {
      check("rows", inputs_, identity());
      Inputs cols;
      for (const Tensor& t : inputs_) cols.push_back(t.t().contiguous().t());
      check("columns", cols, identity());
      return;
    }
    check("whole", inputs_, identity());
    check("strided", map_inputs([](const Tensor& t) { return stack({t, t}, 1).select(1, 0); }),
          identity());
    const int64_t n = inputs_[0].numel();
    for (int64_t i = 0; i < n; ++i)
      check("single", map_inputs([i](const Tensor& t) { return t.slice(0, i, i + 1); }),
            [i](int64_t) { return i; });
    if (kind == "binary") {
      const int64_t np = c_.attrs.i("pairs");
      const Tensor& a = inputs_[0];
      const Tensor& b = inputs_[1];
      for (int64_t j = 0; j < np; ++j) {  // b fixed at V[j]: a[i * np + j] = V[i]
        const Tensor va = a.slice(0, j, n, np);
        check("vs", {cat({va, va, va}), b.slice(0, j, j + 1)},
              [=](int64_t e) { return (e % np) * np + j; });
      }
      for (int64_t i = 0; i < np; ++i) {  // a fixed at V[i]
        const Tensor vb = b.slice(0, i * np, (i + 1) * np);
        check("sv", {a.slice(0, i * np, i * np + 1), cat({vb, vb, vb})},
              [=](int64_t e) { return i * np + e % np; });
      }
    }
  }

  int64_t compared() const { return compared_; }
  int64_t worst_ulps() const { return worst_; }
  int64_t torch_paths_differ() const { return torch_paths_differ_; }
  int64_t exact_only() const { return exact_only_; }
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  using IndexMap = std::function<int64_t(int64_t)>;
  static IndexMap identity() {
    return [](int64_t e) { return e; };
  }
  template <typename F>
  Inputs map_inputs(F f) const {
    Inputs out;
    for (const Tensor& t : inputs_) out.push_back(f(t));
    return out;
  }

  std::vector<Tensor> call(Inputs in) const {
    auto it = op_table().find(c_.op);
    if (it != op_table().end()) return it->second(in, c_.attrs);
    // An op of the table that torch_cases.h does not know yet (swept generically).
    const ops::OpDef* def = ops::find_op(c_.op);
    if (def == nullptr)
      throw std::runtime_error("'" + c_.op + "' is neither in torch_cases.h nor in the op table");
    return ops::call(*def, std::move(in));
  }

  // What element e of the want tensors came from, for a failure message.
  std::string origin(int64_t e) const {
    std::ostringstream os;
    if (!rows_.empty()) {
      const int64_t per_row = static_cast<int64_t>(want_[0].values.size() / rows_.size());
      const int64_t row = e / std::max<int64_t>(1, per_row);
      os << "row " << rows_[static_cast<size_t>(row)];
      if (per_row > 1) os << ", element " << e % per_row;
      return os.str();
    }
    os << "inputs (";
    for (size_t k = 0; k < inputs_.size(); ++k) {
      const Tensor v = inputs_[k].slice(0, e, e + 1);
      os << (k ? ", " : "") << fmt(v.to_vector<double>()[0]);
    }
    os << ")";
    return os.str();
  }

  void fail(const std::string& layout, const std::string& what) {
    if (++failures_in_[layout] > 3) return;  // the first few per layout say enough
    failures_.push_back(c_.name + " [" + layout + "]: " + what);
  }

  // Runs the op on `in` and compares output element e with want element map(e).
  void check(const std::string& layout, const Inputs& in, const IndexMap& map) {
    std::vector<Tensor> got;
    try {
      got = call(in);
    } catch (const std::exception& e) {
      fail(layout, std::string("threw: ") + e.what());
      return;
    }
    if (got.size() != want_.size()) {
      fail(layout, "returned " + std::to_string(got.size()) + " outputs, PyTorch " +
                       std::to_string(want_.size()));
      return;
    }
    for (size_t k = 0; k < got.size(); ++k) {
      const Expected& w = want_[k];
      if (got[k].dtype() != w.dtype) {
        fail(layout, "output " + std::to_string(k) + " is " + got[k].describe() +
                         ", PyTorch's " + dtype_name(w.dtype));
        continue;
      }
      if (k == 1 && c_.attrs.has("indices")) {
        check_indices(layout, in[0], got[0], got[1]);
        continue;
      }
      const std::vector<double> g = got[k].to_vector<double>();
      if (layout != "single" && layout != "vs" && layout != "sv" &&
          !got[k].sizes().equals(w.sizes)) {
        fail(layout, "output " + std::to_string(k) + " is " + got[k].describe() + ", PyTorch's " +
                         shape_str(w.sizes));
        continue;
      }
      for (size_t e = 0; e < g.size(); ++e) {
        const auto src = static_cast<size_t>(map(static_cast<int64_t>(e)));
        ++compared_;
        const std::string why = judge(k, src, g[e]);
        if (!why.empty())
          fail(layout, "output " + std::to_string(k) + " at " + origin(static_cast<int64_t>(src)) +
                           ": got " + fmt(g[e]) + ", " + why);
      }
    }
  }

  // Whether want element src is the extremum of a row holding zeros of both signs, where
  // either zero agrees (kExclusions).
  bool mixed_zeros(size_t src) const {
    if (mixed_zeros_.empty()) return false;
    const size_t per_row = want_[0].values.size() / rows_.size();
    return mixed_zeros_[src / per_row];
  }

  // The rule of the header comment for one element: "" when `a` agrees with PyTorch's
  // result (on either of its paths), or with the exact one where kDeviations allows it.
  std::string judge(size_t k, size_t src, double a) {
    const DType dt = want_[k].dtype;
    auto agrees = [&](const std::vector<Expected>& refs, int64_t* ulps) {
      if (refs.size() <= k) return false;
      const double b = refs[k].values[src];
      if (a == 0 && b == 0 && mixed_zeros(src)) return true;
      const int64_t d = distance(a, b, dt);
      if (ulps) *ulps = d;
      return d >= 0 && d <= ulps_;
    };
    int64_t d = -1;
    if (agrees(want_, &d)) {
      worst_ = std::max(worst_, d);
      return "";
    }
    if (agrees(alt_, nullptr)) {
      ++torch_paths_differ_;
      return "";
    }
    std::ostringstream os;
    os << "PyTorch " << fmt(want_[k].values[src]);
    if (alt_.size() > k) os << " (" << fmt(alt_[k].values[src]) << " in its other loop)";
    if (d > 0) os << ", " << d << " ulps > " << ulps_;
    if (exact_.size() > k) {
      int64_t de = -1;
      const bool exact = agrees(exact_, &de);
      os << ", exact " << fmt(exact_[k].values[src]);
      if (de > 0) os << " (" << de << " ulps away)";
      if (exact) {
        if (deviation(def_) != nullptr) {
          ++exact_only_;
          return "";
        }
        os << ": Tessera is exact where PyTorch is not; if that is deliberate, say why in "
              "kDeviations";
      }
    }
    return os.str();
  }

  // topk: PyTorch's indices are not compared (see kExclusions); ours must point at the
  // values returned.
  void check_indices(const std::string& layout, const Tensor& x, const Tensor& values,
                     const Tensor& indices) {
    const int64_t dim = c_.attrs.i("dim");
    const std::vector<double> at = gather(x, dim, indices).to_vector<double>();
    const std::vector<double> v = values.to_vector<double>();
    for (size_t e = 0; e < v.size(); ++e) {
      ++compared_;
      if (distance(at[e], v[e], values.dtype()) != 0)
        fail(layout, "index " + std::to_string(e) + " points at " + fmt(at[e]) +
                         ", the value returned is " + fmt(v[e]));
    }
  }

  const Case& c_;
  const std::string def_ = c_.attrs.s("def");
  Inputs inputs_;
  std::vector<Expected> want_, alt_, exact_;  // PyTorch's two paths; the exact values
  std::vector<bool> mixed_zeros_;  // per row, for zero_ties cases
  int64_t torch_paths_differ_ = 0, exact_only_ = 0;
  std::vector<std::string> rows_;
  int64_t ulps_ = 0;
  int64_t compared_ = 0;
  int64_t worst_ = 0;
  std::map<std::string, int> failures_in_;
  std::vector<std::string> failures_;
};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

}  // namespace

TEST(SpecialValues, EveryElementwiseOpAndReductionAgreesWithPyTorch) {
  if (!fs::exists(kPython) ||
      std::system((std::string(kPython) + " -c 'import torch, numpy, mpmath' >/dev/null 2>&1")
                      .c_str()) != 0) {
    const std::string why = std::string(kPython) +
                            " with torch, numpy and mpmath is missing (install python3-torch: "
                            "scripts/deps)";
    std::cerr << "\n***** WARNING: special values NOT CHECKED: " << why << " *****\n\n";
    GTEST_SKIP() << why;
  }
  // One directory per process: ctest may run the ISA variants of this test in parallel.
  const std::string dir =
      std::string(TESSERA_TEST_BINARY_DIR) + "/special_values/" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);

  const std::vector<SweptOp> ops_list = swept_ops();
  {
    std::ofstream f(dir + "/ops.txt");
    for (const SweptOp& op : ops_list) f << op.name << " " << op.kind << " " << op.arity << "\n";
  }
  const std::string cmd = std::string(kPython) + " " + TESSERA_TEST_DIR +
                          "/reference/special_values_ref.py " + dir + " " + dir + "/ops.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "reference script failed: " << cmd;
  const std::vector<Case> cases = read_manifest(dir + "/manifest.txt");
  ASSERT_FALSE(cases.empty());

  // Coverage: every op listed has cases in both dtypes, or the script said why not.
  std::map<std::string, std::set<std::string>> dtypes_of;  // op -> dtypes with a case
  std::map<std::string, int64_t> values_per_dtype;
  for (const Case& c : cases) {
    dtypes_of[c.attrs.s("def")].insert(c.attrs.s("dtype"));
    if (c.attrs.has("pairs")) values_per_dtype[c.attrs.s("dtype")] = c.attrs.i("pairs");
  }
  for (const std::string& line : read_lines(dir + "/missing.txt"))
    ADD_FAILURE() << "not swept: " << line;
  int n_elementwise = 0, n_reductions = 0, n_ordering = 0;
  for (const SweptOp& op : ops_list) {
    for (const char* dt : {"f32", "f64"})
      EXPECT_TRUE(dtypes_of[op.name].count(dt))
          << op.kind << " op '" << op.name << "' has no " << dt << " special-values case";
    (op.kind == "elementwise" ? n_elementwise : op.kind == "reduction" ? n_reductions : n_ordering)++;
  }

  int64_t compared = 0, failed_cases = 0;
  std::map<std::string, int64_t> other_path;  // op -> results that match PyTorch's other path
  std::map<std::string, int64_t> worst;  // op -> worst ulps seen
  std::map<std::string, int64_t> exact_only;  // op -> results that are exact, not PyTorch's
  for (const Case& c : cases) {
    CaseRun run(dir, c);
    run.run();
    compared += run.compared();
    if (run.torch_paths_differ()) other_path[c.attrs.s("def")] += run.torch_paths_differ();
    if (run.exact_only()) exact_only[c.attrs.s("def")] += run.exact_only();
    int64_t& w = worst[c.attrs.s("def")];
    w = std::max(w, run.worst_ulps());
    if (!run.failures().empty()) ++failed_cases;
    for (const std::string& f : run.failures()) ADD_FAILURE() << f;
  }

  std::ostringstream ulps;
  for (const auto& [op, u] : worst)
    if (u > 0) ulps << " " << op << " " << u;
  std::cout << "special values: " << n_elementwise << " elementwise ops, " << n_reductions
            << " reductions, " << n_ordering << " ordering ops, 2 dtypes, "
            << values_per_dtype["f32"] << " values (f32) and " << values_per_dtype["f64"]
            << " (f64), float32 loops " << tessera::cpu::vec::cpu_isa_name() << ": "
            << cases.size() << " cases, " << compared << " results compared: "
            << (failed_cases == 0 ? "all agree with PyTorch"
                                  : std::to_string(failed_cases) + " cases disagree")
            << "\n  worst ulps:" << ulps.str() << "\n";
  std::cout << "  matching PyTorch's scalar loop (reductions: its other order) where its "
               "vectorized one differs:";
  for (const auto& [op, n] : other_path) std::cout << " " << op << " " << n;
  std::cout << "\n";
  for (const auto& [op, n] : exact_only)
    std::cout << "  " << op << ": " << n << " results exact where PyTorch is not ("
              << deviation(op)->why << ")\n";
  for (const Exclusion& x : kExclusions)
    std::cout << "  not compared: " << x.what << " (" << x.why << ")\n";
  std::cout << std::flush;
  if (failed_cases == 0 && !HasFailure()) fs::remove_all(dir, ec);
  else std::cerr << "special values: inputs and PyTorch outputs kept in " << dir << "\n";
}
