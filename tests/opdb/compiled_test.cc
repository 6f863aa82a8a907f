// Graph mode over the op database: every sample of every entry, run compiled (traced on one
// copy of its inputs, then run as a graph on another), gives what eager gives, written
// inputs included. The third test the entries generate (tests/opdb/opdb.h).
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <set>
#include <sstream>

#include "opdb/opdb.h"
#include "tessera/graph.h"

using namespace tessera;
using namespace tessera::opdb;

namespace {

// "" when equal within the entry's tolerance (NaN matches NaN, infinities match exactly);
// normwise (see OpEntry::compiled_normwise) where the entry asks for it.
std::string differs(const Tensor& got, const Tensor& want, const Tolerance& tol, double normwise = 0) {
  std::ostringstream why;
  if (!got.sizes().equals(want.sizes()) || got.dtype() != want.dtype()) {
    why << "graph gave " << got.describe() << ", eager " << want.describe();
    return why.str();
  }
  if (normwise > 0 && want.dtype() == kFloat32) {
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
      const double a = read_as_double(got, i), b = read_as_double(want, i);
      scale = std::max(scale, std::fabs(b));
      worst = std::max(worst, std::isfinite(b) ? std::fabs(a - b) : (a == b ? 0.0 : HUGE_VAL));
    }
    if (worst > normwise * scale) why << "max |graph - eager| " << worst << " > " << normwise << " * " << scale;
    return why.str();
  }
  const bool f64 = want.dtype() == kFloat64;
  const double rtol = f64 ? tol.rtol64 : tol.rtol32, atol = f64 ? tol.atol64 : tol.atol32;
  const bool exact = !is_floating(want.dtype());
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double a = read_as_double(got, i), b = read_as_double(want, i);
    const bool ok = exact ? a == b
                    : std::isnan(b) ? std::isnan(a)
                    : std::isinf(b) ? a == b
                                    : std::fabs(a - b) <= atol + rtol * std::fabs(b);
    if (!ok) {
      why << "element " << i << ": graph " << a << ", eager " << b;
      return why.str();
    }
  }
  return "";
}

TEST(OpDb, CompiledMatchesEager) {
  int samples = 0, random_samples = 0, refused = 0;
  std::set<std::string> ops_covered;
  std::vector<std::string> failures;
  for (const OpEntry& e : entries()) {
    const ops::OpDef* def = ops::find_op(e.op);
    ASSERT_NE(def, nullptr) << e.op;
    const bool random = (def->flags & ops::kRandom) != 0;
    for (DType t : e.dtypes) {
      // Three copies of the same (deterministic) samples: eager, the trace, the graph run.
      std::vector<Sample> eager_s = e.samples(t), trace_s = e.samples(t), graph_s = e.samples(t);
      for (size_t i = 0; i < eager_s.size(); ++i) {
        const Sample& s = eager_s[i];
        const std::string where = e.op + " [" + dtype_name(t) + ", " + s.name + "]";
        const Tensors eager = e.invoke(s.inputs, s.attrs);
        const Attrs attrs = s.attrs;
        CompiledFunction f = compile([&e, attrs](const Tensors& in) { return e.invoke(in, attrs); });
        try {
          f(trace_s[i].inputs);
        } catch (const InvalidArgumentError& err) {
          // Only an op whose output shape the values decide may refuse to be traced.
          if ((def->flags & ops::kDataDependentShape) &&
              std::string(err.what()).find("read while tracing") != std::string::npos) {
            ++refused;
            continue;
          }
          failures.push_back(where + ": trace failed: " + err.what());
          continue;
        }
        const Tensors got = f(graph_s[i].inputs);
        if (f.stats().graph_runs != 1) {
          failures.push_back(where + ": the second call did not run the graph");
          continue;
        }
        ++samples;
        ops_covered.insert(e.op);
        if (got.size() != eager.size()) {
          failures.push_back(where + ": output count differs");
          continue;
        }
        for (size_t k = 0; k < got.size(); ++k) {
          if (random) {
            // A graph draws from the current generator, not the sample's own seeded one:
            // shapes and dtypes must agree (tests/graph/compile_test.cc checks the draws).
            if (!got[k].sizes().equals(eager[k].sizes()) || got[k].dtype() != eager[k].dtype())
              failures.push_back(where + ": output " + std::to_string(k) + " is " + got[k].describe() +
                                 ", eager " + eager[k].describe());
            continue;
          }
          const std::string why = differs(got[k], eager[k], e.tol, e.compiled_normwise);
          if (!why.empty()) failures.push_back(where + ": output " + std::to_string(k) + ": " + why);
        }
        if (random) ++random_samples;
        // What a writing op wrote must agree too.
        if (!random && writes_inputs(e, s))
          for (size_t k = 0; k < s.inputs.size(); ++k) {
            const std::string why = differs(graph_s[i].inputs[k], s.inputs[k], e.tol);
            if (!why.empty()) failures.push_back(where + ": written input " + std::to_string(k) + ": " + why);
          }
      }
    }
  }
  for (const std::string& f : failures) ADD_FAILURE() << f;
  std::cout << "opdb compiled-vs-eager: " << samples << " samples over " << ops_covered.size()
            << " ops run as graphs and agree (" << random_samples << " random: shapes only); " << refused
            << " refused at trace (data-dependent shapes); " << failures.size() << " failed\n";
  EXPECT_GE(ops_covered.size(), entries().size() - 5);
}

}  // namespace
