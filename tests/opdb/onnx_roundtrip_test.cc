// ONNX export over the op database (issue 10): every sample of every entry is traced
// (without gradients, as export does), exported to ONNX, imported back with Tessera's
// importer and run; its outputs must equal the eager ones within the entry's tolerance.
// An op whose graph holds a Tessera op with no export function is listed as without an
// ONNX mapping (the NotImplementedError names it); any other failure fails the test.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "opdb/opdb.h"
#include "tessera/onnx.h"

using namespace tessera;
using namespace tessera::opdb;

namespace {

std::string differs(const Tensor& got, const Tensor& want, const Tolerance& tol) {
  std::ostringstream why;
  if (!got.sizes().equals(want.sizes()) || got.dtype() != want.dtype()) {
    why << "ONNX gave " << got.describe() << ", eager " << want.describe();
    return why.str();
  }
  const bool f64 = want.dtype() == kFloat64;
  // Decompositions (expm1 as exp - 1, a float remainder as fmod and a fix...) round
  // differently from Tessera's fused kernels: float32 gets a little more room.
  const double rtol = f64 ? tol.rtol64 : std::max(tol.rtol32, 1e-5), atol = f64 ? tol.atol64 : std::max(tol.atol32, 1e-5);
  const bool exact = !is_floating(want.dtype());
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double a = read_as_double(got, i), b = read_as_double(want, i);
    const bool ok = exact ? a == b
                    : std::isnan(b) ? std::isnan(a)
                    : std::isinf(b) ? a == b
                                    : std::fabs(a - b) <= atol + rtol * std::fabs(b);
    if (!ok) {
      why.precision(17);
      why << "element " << i << ": ONNX " << a << ", eager " << b;
      return why.str();
    }
  }
  return "";
}

struct RoundTrip {
  int samples = 0, refused_samples = 0;
  std::set<std::string> ops_covered;
  std::map<std::string, std::string> unmapped;  // op -> why (the first refusal)
  std::vector<std::string> failures;
};

RoundTrip round_trip(int64_t opset) {
  RoundTrip r;
  onnx::ExportOptions options;
  options.opset = opset;
  int& samples = r.samples;
  std::set<std::string>& ops_covered = r.ops_covered;
  std::map<std::string, std::string>& unmapped = r.unmapped;
  std::vector<std::string>& failures = r.failures;
  int& refused_samples = r.refused_samples;
  for (const OpEntry& e : entries()) {
    const ops::OpDef* def = ops::find_op(e.op);
    if (def == nullptr) {
      failures.push_back(e.op + ": no OpDef");
      continue;
    }
    // Random ops, optimizer updates and in-place writers have no ONNX form: export refuses
    // them by design (checked in tests/onnx/export_test.cc).
    if ((def->flags & ops::kRandom) || def->mutates != 0) {
      unmapped[e.op] = (def->flags & ops::kRandom) ? "random" : "writes its inputs";
      continue;
    }
    for (DType t : e.dtypes) {
      std::vector<Sample> eager_s = e.samples(t), trace_s = e.samples(t), run_s = e.samples(t);
      for (size_t i = 0; i < eager_s.size(); ++i) {
        const Sample& s = eager_s[i];
        if (writes_inputs(e, s)) continue;
        const std::string where = e.op + " [" + dtype_name(t) + ", " + s.name + ", opset " + std::to_string(opset) + "]";
        const Attrs attrs = s.attrs;
        Tensors eager;
        {
          NoGradGuard no_grad;
          eager = e.invoke(s.inputs, attrs);
        }
        std::string bytes;
        try {
          bytes = onnx::export_function_to_bytes([&e, attrs](const Tensors& in) { return e.invoke(in, attrs); },
                                                 trace_s[i].inputs, options);
        } catch (const NotImplementedError& err) {
          ++refused_samples;
          if (!unmapped.count(e.op)) unmapped[e.op] = err.what();
          continue;
        } catch (const InvalidArgumentError& err) {
          // A value read while tracing: an op whose output shape its values decide.
          if ((def->flags & ops::kDataDependentShape) &&
              std::string(err.what()).find("read while tracing") != std::string::npos) {
            ++refused_samples;
            continue;
          }
          failures.push_back(where + ": export failed: " + err.what());
          continue;
        } catch (const Error& err) {
          failures.push_back(where + ": export failed: " + err.what());
          continue;
        }
        Tensors got;
        try {
          onnx::Model m = onnx::import_model_from_bytes(bytes);
          got = m.run(run_s[i].inputs);
        } catch (const Error& err) {
          failures.push_back(where + ": re-import or run failed: " + err.what());
          continue;
        }
        if (got.size() != eager.size()) {
          failures.push_back(where + ": " + std::to_string(got.size()) + " outputs, eager " +
                             std::to_string(eager.size()));
          continue;
        }
        bool ok = true;
        for (size_t k = 0; k < got.size(); ++k) {
          const std::string why = differs(got[k], eager[k], e.tol);
          if (!why.empty()) {
            failures.push_back(where + ": output " + std::to_string(k) + ": " + why);
            ok = false;
          }
        }
        if (ok) {
          ++samples;
          ops_covered.insert(e.op);
        }
      }
    }
  }
  return r;
}

TEST(OpDb, OnnxExportRoundTrips) {
  // The default opset, then the lowest export writes and the ones where operators change
  // form (axes as inputs at 13 and 18, Softmax on any axis at 13): each path is checked.
  for (int64_t opset : {11, 13, 18}) {
    const RoundTrip r = round_trip(opset);
    for (const std::string& f : r.failures) ADD_FAILURE() << f;
    std::cout << "opdb onnx round trip at opset " << opset << ": " << r.samples << " samples over "
              << r.ops_covered.size() << " ops agree; " << r.refused_samples << " samples refused; "
              << r.failures.size() << " failed\n";
  }
  const RoundTrip r = round_trip(17);
  const int samples = r.samples, refused_samples = r.refused_samples;
  const std::set<std::string>& ops_covered = r.ops_covered;
  const std::map<std::string, std::string>& unmapped = r.unmapped;
  const std::vector<std::string>& failures = r.failures;
  // Ops with some samples exported are mapped; their refused samples are listed with them.
  std::string without;
  int n_without = 0;
  for (const auto& [op, why] : unmapped) {
    if (ops_covered.count(op)) continue;
    ++n_without;
    without += (without.empty() ? "" : ", ") + op;
  }
  for (const std::string& f : failures) ADD_FAILURE() << f;
  std::cout << "opdb onnx round trip: " << samples << " samples over " << ops_covered.size()
            << " ops agree; " << refused_samples << " samples refused; " << n_without
            << " ops without an ONNX mapping: " << without << "\n";
  for (const auto& [op, why] : unmapped)
    if (!ops_covered.count(op)) std::cout << "  " << op << ": " << why << "\n";
  EXPECT_GE(ops_covered.size(), 80u);
}

}  // namespace
