// `tessera onnx-conformance`: ONNX's backend node tests through the importer
// (docs/onnx.md). Each case prints as pass, fail (the worst error) or unsupported (what is
// not supported); the last line is the summary the acceptance figures quote.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>

#include "commands.h"
#include "tessera/error.h"
#include "tessera/onnx.h"

namespace tessera_cli {

namespace fs = std::filesystem;

CLI::App* add_onnx_conformance_command(CLI::App& app, OnnxConformanceConfig& cfg) {
  CLI::App* cmd = app.add_subcommand(
      "onnx-conformance",
      "Runs ONNX's backend node tests (model.onnx + test_data_set_*) through the ONNX importer\n"
      "and prints each case as pass, fail (worst error) or unsupported (the op), then\n"
      "`onnx node tests: P passed, F failed, U unsupported of N`.");
  cmd->add_option("--data", cfg.data,
                  "the folder of test cases (default: Debian's libonnx-testdata,\n"
                  "/usr/share/libonnx-testdata/data/node)")
      ->check(non_empty())->type_name("DIR");
  cmd->add_option("--filter", cfg.filter, "only the cases whose name matches this regex (search)")
      ->type_name("REGEX");
  cmd->add_flag("--compiled", cfg.compiled, "run each model through tessera::compile (graph mode)");
  cmd->add_option("--write-passing", cfg.write_passing,
                  "write the names of the passing cases to FILE (the expected-pass list)")
      ->type_name("FILE");
  cmd->add_option("--expect-pass", cfg.expect_pass,
                  "exit with status 1 when a case named in FILE (one per line, e.g.\n"
                  "tests/onnx/expected_pass.txt) does not pass")
      ->type_name("FILE");
  cmd->add_flag("--ops-markdown", cfg.ops_markdown,
                "print the operator table (import and export) as Markdown (docs/onnx.md) and exit");
  return cmd;
}

int run_onnx_conformance(const OnnxConformanceConfig& cfg) {
  namespace ox = tessera::onnx;
  if (cfg.ops_markdown) {
    std::cout << "| ONNX operator | import since opset | import: what it becomes | export: Tessera ops written as it |\n"
                 "|---|---|---|---|\n";
    for (const ox::OpSupport& s : ox::supported_ops())
      std::cout << ox::ops_markdown_row(s) << "\n";
    return 0;
  }
  std::string data = cfg.data.empty() ? ox::default_node_test_dir() : cfg.data;
  TESSERA_CHECK_IO(!data.empty(), "tessera onnx-conformance: no --data given and Debian's libonnx-testdata "
                   "is not installed (apt-get install libonnx-testdata)");
  TESSERA_CHECK_IO(fs::is_directory(data), "tessera onnx-conformance --data: '", data, "' is not a folder");
  std::regex filter;
  try {
    filter = std::regex(cfg.filter.empty() ? std::string(".") : cfg.filter);
  } catch (const std::regex_error& e) {
    throw tessera::InvalidArgumentError("tessera onnx-conformance --filter: '" + cfg.filter +
                                        "' is not a valid regex: " + e.what());
  }
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(data))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx") &&
        std::regex_search(e.path().filename().string(), filter))
      cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());
  ox::ConformanceOptions opts;
  opts.compiled = cfg.compiled;
  int passed = 0, failed = 0, unsupported = 0;
  std::vector<std::string> passing;
  for (const fs::path& c : cases) {
    const ox::CaseResult r = ox::run_node_test(c.string(), opts);
    switch (r.status) {
      case ox::CaseStatus::Pass:
        ++passed;
        passing.push_back(r.name);
        std::cout << "pass         " << r.name << "\n";
        break;
      case ox::CaseStatus::Fail:
        ++failed;
        std::cout << "fail         " << r.name << ": " << r.detail << "\n";
        break;
      case ox::CaseStatus::Unsupported:
        ++unsupported;
        std::cout << "unsupported  " << r.name << ": " << r.detail << "\n";
        break;
    }
  }
  if (!cfg.write_passing.empty()) {
    std::ofstream out(cfg.write_passing);
    TESSERA_CHECK_IO(out.good(), "tessera onnx-conformance --write-passing: cannot write '", cfg.write_passing, "'");
    for (const std::string& n : passing) out << n << "\n";
  }
  std::cout << "onnx node tests: " << passed << " passed, " << failed << " failed, " << unsupported
            << " unsupported of " << cases.size() << std::endl;
  if (!cfg.expect_pass.empty()) {
    std::ifstream in(cfg.expect_pass);
    TESSERA_CHECK_IO(in.good(), "tessera onnx-conformance --expect-pass: cannot read '", cfg.expect_pass, "'");
    const std::set<std::string> ok(passing.begin(), passing.end());
    int missing = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#' || !std::regex_search(line, filter)) continue;
      if (!ok.count(line)) {
        std::cout << "expected to pass but did not: " << line << "\n";
        ++missing;
      }
    }
    if (missing > 0) return 1;
  }
  return 0;
}

}  // namespace tessera_cli
