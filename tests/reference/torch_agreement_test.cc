// Agreement with PyTorch on random inputs (issue 2, acceptance point 2).
//
// At test time, torch_ref.py (run with Debian's /usr/bin/python3 and python3-torch) writes
// inputs, PyTorch's outputs and a manifest into the build directory; nothing generated is
// committed. Each manifest case names an op, its input files (with the view that makes an
// input non-contiguous), attributes and output files. This test applies the same views,
// calls Tessera through the table of torch_cases.h and compares.
//
// Error measure for floating outputs, per element (a = Tessera, b = PyTorch):
//     err = max(0, |a - b| - kAbsFloor) / |b|        (0 when |a - b| <= kAbsFloor)
// i.e. the smallest rtol for which numpy.isclose(a, b, rtol, atol=kAbsFloor) holds. The
// absolute floor (1e-6) keeps values near zero, where PyTorch's own result has a large
// relative error (e.g. 1 + erf(x) in gelu's tail), from dominating. NaN matches NaN and an
// infinity matches the same infinity. A case agrees when its max err <= 1e-5, or <= 1e-4
// when each output element reduces more than 10,000 inputs (manifest key reduce_n).
// Integer and bool outputs (indices included) must match exactly, as must shapes and dtypes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "reference/torch_cases.h"
#include "tessera/io.h"
#include "tessera/ops.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::torch_ref;  // NOLINT: the manifest types and op table

namespace {

constexpr double kAbsFloor = 1e-6;
constexpr double kRelTol = 1e-5;
constexpr double kRelTolLargeReduction = 1e-4;
constexpr int64_t kLargeReduction = 10000;
constexpr size_t kMinAgreeingOps = 80;
const char* const kPython = "/usr/bin/python3";

double element_error(double a, double b) {
  if (std::isnan(b)) return std::isnan(a) ? 0.0 : INFINITY;
  if (std::isinf(b)) return a == b ? 0.0 : INFINITY;
  if (!std::isfinite(a)) return INFINITY;
  double excess = std::fabs(a - b) - kAbsFloor;
  if (excess <= 0) return 0.0;
  return excess / std::fabs(b);
}

struct Outcome {
  std::string name, op;
  bool ok = false;
  double err = 0;  // max float error (0 for exact outputs)
  int strided_inputs = 0;  // inputs the recorded view made non-contiguous
  std::string message;
};

// Compares one output; returns "" on agreement, else what differs. `err` gets the max
// floating error seen.
std::string compare(const Tensor& got, const Tensor& want, double tol, double& err) {
  std::ostringstream why;
  if (!got.sizes().equals(want.sizes()) || got.dtype() != want.dtype()) {
    why << "got " << got.describe() << ", PyTorch " << want.describe();
    return why.str();
  }
  const bool exact = !is_floating(want.dtype());
  for (int64_t i = 0; i < want.numel(); ++i) {
    double a = read_as_double(got, i), b = read_as_double(want, i);
    if (exact) {
      if (a != b) {
        why << "element " << i << ": got " << a << ", PyTorch " << b << " (exact match needed)";
        return why.str();
      }
      continue;
    }
    double e = element_error(a, b);
    if (e > err) err = e;
    if (e > tol && why.tellp() == 0)
      why << "element " << i << ": got " << a << ", PyTorch " << b << ", rel err " << e
          << " > " << tol;
  }
  return why.str();
}

Outcome run_case(const std::string& dir, const Case& c) {
  Outcome o;
  o.name = c.name;
  o.op = c.op;
  const double tol = c.reduce_n > kLargeReduction ? kRelTolLargeReduction : kRelTol;
  try {
    auto it = op_table().find(c.op);
    if (it == op_table().end()) {
      o.message = "no entry in the op table for '" + c.op + "'";
      return o;
    }
    Inputs in;
    for (const std::string& spec : c.inputs) {
      in.push_back(load_input(dir, spec));
      o.strided_inputs += !in.back().is_contiguous();
    }
    std::vector<Tensor> got = it->second(in, c.attrs);
    if (got.size() != c.outputs.size()) {
      o.message = "returned " + std::to_string(got.size()) + " outputs, PyTorch " +
                  std::to_string(c.outputs.size());
      return o;
    }
    for (size_t k = 0; k < got.size(); ++k) {
      Tensor want = load_npy(dir + "/" + c.outputs[k]);
      std::string why = compare(got[k], want, tol, o.err);
      if (!why.empty()) {
        o.message = "output " + std::to_string(k) + ": " + why;
        return o;
      }
    }
    o.ok = true;
  } catch (const std::exception& e) {
    o.message = std::string("threw: ") + e.what();
  }
  return o;
}

// "max.dim" and "max" are one op; "Tensor::permute" is a Tensor method (a view), and a
// trailing '_' marks an in-place form. The acceptance count (>= 80) takes only the
// out-of-place functions of ops.h, so views and in-place twins cannot pad it.
std::string base_op(const std::string& op) { return op.substr(0, op.find('.')); }
bool is_function_op(const std::string& op) {
  return op.rfind("Tensor::", 0) != 0 && op.back() != '_';
}

struct Results {
  std::string skip_reason;  // non-empty: PyTorch is unavailable
  std::string setup_error;  // non-empty: the script or manifest failed
  std::vector<Outcome> outcomes;
  std::set<std::string> all_ops, agreeing_ops;  // an op agrees when all its cases do
  size_t agreeing_functions = 0, functions = 0;
};

const Results& results() {
  static const Results r = [] {
    Results r;
    if (!fs::exists(kPython) ||
        std::system((std::string(kPython) + " -c 'import torch, numpy' >/dev/null 2>&1").c_str()) != 0) {
      r.skip_reason = std::string(kPython) +
                      " with torch and numpy is missing (install python3-torch: scripts/deps)";
      std::cerr << "\n***** WARNING: torch agreement NOT CHECKED: " << r.skip_reason
                << " *****\n\n";
      return r;
    }
    // One directory per process: CTest runs each test of this file in its own process,
    // possibly in parallel, and each regenerates the data.
    const std::string dir =
        std::string(TESSERA_TEST_BINARY_DIR) + "/torch_ref/" + std::to_string(::getpid());
    std::error_code ec;
    fs::remove_all(dir, ec);
    const std::string cmd = std::string(kPython) + " " + TESSERA_TEST_DIR +
                            "/reference/torch_ref.py " + dir;
    if (std::system(cmd.c_str()) != 0) {
      r.setup_error = "reference script failed: " + cmd;
      return r;
    }
    std::vector<Case> cases;
    try {
      cases = read_manifest(dir + "/manifest.txt");
    } catch (const std::exception& e) {
      r.setup_error = e.what();
      return r;
    }
    std::set<std::string> failing_ops;
    for (const Case& c : cases) {
      r.outcomes.push_back(run_case(dir, c));
      r.all_ops.insert(base_op(c.op));
      if (!r.outcomes.back().ok) failing_ops.insert(base_op(c.op));
    }
    // Kept for inspection when something disagreed.
    if (failing_ops.empty()) fs::remove_all(dir, ec);
    else std::cerr << "torch agreement: inputs and PyTorch outputs kept in " << dir << "\n";
    for (const std::string& op : r.all_ops) {
      bool ok = !failing_ops.count(op);
      if (ok) r.agreeing_ops.insert(op);
      if (is_function_op(op)) {
        ++r.functions;
        r.agreeing_functions += ok;
      }
    }
    return r;
  }();
  return r;
}

}  // namespace

TEST(TorchAgreement, EveryCaseMatchesPyTorch) {
  const Results& r = results();
  if (!r.skip_reason.empty()) GTEST_SKIP() << r.skip_reason;
  ASSERT_TRUE(r.setup_error.empty()) << r.setup_error;
  ASSERT_FALSE(r.outcomes.empty());
  size_t passed = 0, strided = 0;
  const Outcome* worst = nullptr;
  for (const Outcome& o : r.outcomes) {
    strided += static_cast<size_t>(o.strided_inputs);
    if (!o.ok) {
      ADD_FAILURE() << o.name << " (" << o.op << "): " << o.message;
      continue;
    }
    ++passed;
    if (!worst || o.err > worst->err) worst = &o;
  }
  std::cout << "torch agreement: " << r.agreeing_ops.size() << " ops, " << passed
            << " cases, worst rel err " << (worst ? worst->err : 0.0) << " ("
            << (worst ? worst->name : "-") << "); " << r.agreeing_functions << " of "
            << r.functions << " out-of-place ops.h functions agree; " << r.outcomes.size()
            << " cases over " << r.all_ops.size() << " ops in all, " << strided
            << " non-contiguous inputs" << std::endl;
}

TEST(TorchAgreement, AtLeast80OpsAgree) {
  const Results& r = results();
  if (!r.skip_reason.empty()) GTEST_SKIP() << r.skip_reason;
  ASSERT_TRUE(r.setup_error.empty()) << r.setup_error;
  std::string failing;
  for (const std::string& op : r.all_ops)
    if (!r.agreeing_ops.count(op)) failing += " " + op;
  EXPECT_GE(r.agreeing_functions, kMinAgreeingOps) << "ops with a failing case:" << failing;
}
