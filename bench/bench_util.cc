#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench.h"

namespace tessera::bench {

std::string system_of(const BenchContext& ctx) {
  const std::string base = !ctx.onnx_dir.empty() ? "tessera-onnx" : ctx.graph ? "tessera-graph" : "tessera-eager";
  return ctx.bf16 ? base + "-bf16" : base;
}

namespace {
// JSON strings here are our own identifiers; escaping covers the two characters that
// could still break a line.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

// Four decimals like the peers' round(value, 4), without trailing zeros.
std::string number(double v) {
  if (!std::isfinite(v)) return "null";  // JSON has no NaN/inf
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s += '0';
  }
  return s;
}
}  // namespace

void emit(const std::string& workload, const std::string& system, const std::string& metric,
          const std::string& stat, double value, const std::string& unit, int threads, int64_t n) {
  std::printf("{\"workload\": %s, \"system\": %s, \"metric\": %s, \"stat\": %s, \"value\": %s, "
              "\"unit\": %s, \"threads\": %d, \"n\": %lld}\n",
              quoted(workload).c_str(), quoted(system).c_str(), quoted(metric).c_str(),
              quoted(stat).c_str(), number(value).c_str(), quoted(unit).c_str(), threads,
              static_cast<long long>(n));
  std::fflush(stdout);
}

void warm_up(const std::function<void()>& fn, int min_iters, double min_s) {
  const double t0 = now_s();
  for (int k = 0; k < min_iters || now_s() - t0 < min_s; ++k) fn();
}

std::vector<double> time_calls(const std::function<void()>& fn, int n, double budget_s, int min_n) {
  warm_up(fn);
  std::vector<double> ts;
  ts.reserve(static_cast<size_t>(n));
  const double start = now_s();
  while (static_cast<int>(ts.size()) < n) {
    const double a = now_s();
    fn();
    const double b = now_s();
    ts.push_back(b - a);
    if (static_cast<int>(ts.size()) >= min_n && b - start > budget_s) break;
  }
  return ts;
}

double quantile(std::vector<double> xs, double q) {
  if (xs.empty()) return std::nan("");
  std::sort(xs.begin(), xs.end());
  const double pos = q * static_cast<double>(xs.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, xs.size() - 1);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace tessera::bench
