#pragma once
// ONNX Runtime from the tests (issue 10): the Python that has onnx and onnxruntime, and a
// run of tests/onnx/export_ort_check.py over exported models. That Python is
// $TESSERA_ONNX_PYTHON, else build/venv's (scripts/venv installs onnx and onnxruntime from
// scripts/venv-requirements.txt), else /usr/bin/python3; "" when none imports them (the
// caller skips, saying so). Nothing is downloaded.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::test {

inline std::string python_with_ort(std::string* tried) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("TESSERA_ONNX_PYTHON"); env != nullptr && *env) candidates.emplace_back(env);
  candidates.push_back(std::string(TESSERA_TEST_DIR) + "/../build/venv/bin/python");
  candidates.emplace_back("/usr/bin/python3");
  for (const std::string& p : candidates) {
    *tried += (tried->empty() ? "" : ", ") + p;
    if (!std::filesystem::exists(p)) continue;
    if (std::system((p + " -c 'import numpy, onnx, onnxruntime' >/dev/null 2>&1").c_str()) == 0) return p;
  }
  return "";
}

// Runs export_ort_check.py on `dir` for `names` (space-separated); its output in *out, its
// exit status returned (0: every model passed the checker and matched).
inline int run_ort_check(const std::string& python, const std::string& dir, const std::string& names,
                         std::string* out) {
  const std::string cmd =
      python + " " + TESSERA_TEST_DIR + "/onnx/export_ort_check.py " + dir + " " + names + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    *out = "could not start: " + cmd;
    return -1;
  }
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe) != nullptr) *out += buf.data();
  return ::pclose(pipe);
}

}  // namespace tessera::test
