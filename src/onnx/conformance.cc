// One case of ONNX's backend node tests: import model.onnx, run every test_data_set_*,
// compare with its outputs as onnx's runner does (same dtype and shape; integers and bools
// exactly; floats within rtol/atol, NaNs matching).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "tessera/error.h"
#include "tessera/onnx.h"

namespace tessera::onnx {

using tessera::detail::concat;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> numbered(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> files;
  for (int i = 0;; ++i) {
    const fs::path p = dir / concat(prefix, i, ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p.string());
  }
  return files;
}

// "" when equal; otherwise the reason. Updates `worst`.
std::string compare(const Tensor& got, const Tensor& want, const ConformanceOptions& o, double& worst) {
  if (got.dtype() != want.dtype())
    return concat("dtype ", dtype_name(got.dtype()), ", expected ", dtype_name(want.dtype()));
  if (!got.sizes().equals(want.sizes()))
    return concat("shape ", shape_str(got.sizes()), ", expected ", shape_str(want.sizes()));
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  const bool exact = !is_floating(want.dtype());
  std::string first;
  int64_t bad = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double a = g[i], b = w[i];
    if (std::isnan(a) || std::isnan(b)) {
      if (std::isnan(a) && std::isnan(b)) continue;
    } else if (a == b) {
      continue;
    } else if (!exact && !std::isinf(a) && !std::isinf(b)) {
      const double err = std::fabs(a - b);
      worst = std::max(worst, err);
      if (err <= o.atol + o.rtol * std::fabs(b)) continue;
    }
    if (!std::isnan(a) && !std::isnan(b) && !std::isinf(a - b)) worst = std::max(worst, std::fabs(a - b));
    if (bad++ == 0) first = concat("element ", i, ": ", a, ", expected ", b);
  }
  if (bad == 0) return "";
  return concat(bad, " of ", g.size(), " elements differ (max abs error ", worst, "; first: ", first, ")");
}

}  // namespace

std::string default_node_test_dir() {
  for (const char* d : {"/usr/share/libonnx-testdata/data/node", "/usr/include/onnx/backend/test/data/node"})
    if (fs::is_directory(d)) return d;
  return "";
}

CaseResult run_node_test(const std::string& case_dir, const ConformanceOptions& options) {
  CaseResult r;
  r.name = fs::path(case_dir).filename().string();
  if (r.name.empty()) r.name = fs::path(case_dir).parent_path().filename().string();
  try {
    Model m = import_model((fs::path(case_dir) / "model.onnx").string());
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(case_dir))
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    TESSERA_CHECK(!sets.empty(), "no test_data_set_* folder");
    std::optional<CompiledFunction> compiled;
    if (options.compiled) compiled = m.compile();
    for (const fs::path& set : sets) {
      std::vector<Tensor> inputs, expected;
      for (const std::string& f : numbered(set, "input_")) inputs.push_back(load_tensor(f));
      for (const std::string& f : numbered(set, "output_")) expected.push_back(load_tensor(f));
      const std::vector<Tensor> got = compiled ? (*compiled)(inputs) : m.run(inputs);
      TESSERA_CHECK(got.size() == expected.size(), "the model gives ", got.size(), " outputs; the data has ",
                    expected.size());
      for (size_t i = 0; i < got.size(); ++i) {
        const std::string why = compare(got[i], expected[i], options, r.worst_error);
        if (!why.empty()) {
          r.status = CaseStatus::Fail;
          r.detail = concat(set.filename().string(), " output ", i, ": ", why);
          return r;
        }
      }
    }
    r.status = CaseStatus::Pass;
  } catch (const Error& e) {
    r.status = e.kind() == ErrorKind::NotImplemented ? CaseStatus::Unsupported : CaseStatus::Fail;
    r.detail = e.what();
    // Compiled, a case whose graph input decides a shape (Reshape's shape, Pad's pads...)
    // cannot be one graph: the tracer refuses the read. That is a limit of graph mode, not
    // a wrong result; such models run eagerly.
    if (options.compiled && r.detail.find("is read while tracing") != std::string::npos) {
      r.status = CaseStatus::Unsupported;
      r.detail = "compiled: an input's values decide the graph (runs eagerly only): " + r.detail;
    }
  } catch (const std::exception& e) {
    r.status = CaseStatus::Fail;
    r.detail = concat("unexpected exception: ", e.what());
  }
  return r;
}

}  // namespace tessera::onnx
