// tessera-bench --workload NAME [--workload NAME...] [--threads N] [--iters N] [--minutes M] [--list]
// Prints JSON Lines on stdout (see bench.h); diagnostics go to stderr. Exit code 2 for
// a usage error or an unknown workload; a failing workload exits with the status of its
// error kind, as `tessera` does (tools/cli_errors.h: 3 invalid argument, 4 I/O, 5 out of
// memory, 6 not implemented, 70 a bug). It writes no files, so has no output path to check.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bench.h"
#include "cli_errors.h"
#include "tessera/parallel.h"

namespace {

using tessera::bench::Workload;
using tessera::bench::workloads;

std::string known_names() {
  std::string s;
  for (const Workload& w : workloads()) s += (s.empty() ? "" : ", ") + std::string(w.name);
  return s;
}

int usage(const char* msg) {
  std::fprintf(stderr,
               "tessera-bench: %s\n"
               "usage: tessera-bench [--workload NAME]... [--mode eager|graph] [--threads N] [--iters N] [--minutes M] [--list]\n"
               "workloads: %s\n",
               msg, known_names().c_str());
  return tessera_cli::kExitUsage;
}

bool parse_int(const char* s, int& out) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v <= 0 || v > 1000000000) return false;
  out = static_cast<int>(v);
  return true;
}

// A positive number of minutes, fractions allowed (--minutes 0.5), at most a week.
bool parse_minutes(const char* s, double& out) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !(v > 0) || v > 7 * 24 * 60) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> names;
  tessera::bench::BenchContext ctx;
  bool threads_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--list") {
      for (const Workload& w : workloads())
        std::printf("%-18s %s%s\n", w.name, w.what, w.by_default ? "" : " [only with --workload]");
      return 0;
    } else if (arg == "--workload") {
      const char* v = value();
      if (v == nullptr) return usage("--workload needs a name");
      names.emplace_back(v);
    } else if (arg == "--threads") {
      const char* v = value();
      if (v == nullptr || !parse_int(v, ctx.threads)) return usage("--threads needs a positive integer");
      threads_given = true;
    } else if (arg == "--mode") {
      const char* v = value();
      const std::string mode = v == nullptr ? "" : v;
      if (mode != "eager" && mode != "graph") return usage("--mode needs 'eager' or 'graph'");
      ctx.graph = mode == "graph";
    } else if (arg == "--iters") {
      const char* v = value();
      if (v == nullptr || !parse_int(v, ctx.iters)) return usage("--iters needs a positive integer");
    } else if (arg == "--minutes") {
      const char* v = value();
      if (v == nullptr || !parse_minutes(v, ctx.minutes))
        return usage("--minutes needs a positive number of minutes");
    } else if (arg == "-h" || arg == "--help") {
      usage("runs the workloads of shared/bench/WORKLOADS.md");
      std::fprintf(stderr, "\n%s", std::string(tessera_cli::kExitStatusHelp).c_str());
      return 0;
    } else {
      return usage(("unknown argument '" + arg + "'").c_str());
    }
  }

  // Resolve every name before running anything, so a typo fails fast.
  std::vector<const Workload*> todo;
  if (names.empty())
    for (const Workload& w : workloads())
      if (w.by_default) todo.push_back(&w);
  for (const std::string& n : names) {
    const Workload* found = nullptr;
    for (const Workload& w : workloads())
      if (n == w.name) found = &w;
    if (found == nullptr) {
      std::fprintf(stderr, "tessera-bench: unknown workload '%s'; known workloads: %s\n", n.c_str(),
                   known_names().c_str());
      return tessera_cli::kExitUsage;
    }
    todo.push_back(found);
  }

  if (threads_given) tessera::set_num_threads(ctx.threads);
  ctx.threads = tessera::get_num_threads();

  try {
    for (const Workload* w : todo) {
      const double t0 = tessera::bench::now_s();
      w->run(ctx);
      std::fprintf(stderr, "# %s done in %.1f s\n", w->name, tessera::bench::now_s() - t0);
    }
  } catch (...) {
    std::fflush(stdout);  // the figures printed so far stay ahead of the error
    return tessera_cli::report_current_exception("tessera-bench");
  }

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  // ru_maxrss is in KiB on Linux.
  tessera::bench::emit("peak_rss", "tessera-eager", "rss_mb", "max",
                       static_cast<double>(ru.ru_maxrss) / 1024.0, "MB", ctx.threads, 1);
  return 0;
}
