// tessera-bench --workload NAME [--workload NAME...] [--threads N] [--iters N] [--minutes M] [--list]
// (also `tessera bench ...`). Prints JSON Lines on stdout (see bench.h); diagnostics go to
// stderr. Arguments are parsed with CLI11 (tools/cli_options.h). Exit code 2 for a usage
// error or an unknown workload; a failing workload exits with the status of its
// error kind, as `tessera` does (tools/cli_errors.h: 3 invalid argument, 4 I/O, 5 out of
// memory, 6 not implemented, 70 a bug). It writes no files, so has no output path to check.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "bench.h"
#include "cli_errors.h"
#include "cli_options.h"
#include "tessera/autocast.h"
#include "tessera/parallel.h"

namespace {

using tessera::bench::Workload;
using tessera::bench::workloads;

std::string known_names() {
  std::string s;
  for (const Workload& w : workloads()) s += (s.empty() ? "" : ", ") + std::string(w.name);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera_cli;
  std::vector<std::string> names;
  tessera::bench::BenchContext ctx;
  CLI::App app("Runs the workloads of shared/bench/WORKLOADS.md and prints JSON Lines.",
               "tessera-bench");
  app.footer("workloads: " + known_names() + "\n\n" + std::string(kExitStatusHelp));
  app.allow_extras();
  bool list = false;
  app.add_flag("--list", list, "list the workloads and exit");
  app.add_option("--workload", names, "a workload to run (repeatable; default: all but the long ones)")
      ->type_name("NAME")->take_all();
  auto* threads = app.add_option("--threads", ctx.threads, "intra-op threads (default: the runtime's)")
                      ->check(positive_int())->type_name("N");
  std::string mode = "eager";
  app.add_option("--mode", mode,
                 "eager; graph: the model workloads compiled (docs/graph.md); onnx: the inference "
                 "workloads on the ONNX files of --onnx-dir, imported and compiled (docs/onnx.md)")
      ->check(CLI::IsMember({"eager", "graph", "onnx"}))->type_name("MODE");
  app.add_option("--onnx-dir", ctx.onnx_dir,
                 "with --mode onnx: the folder of the models' ONNX files (cnn28.onnx, cnn64.onnx, "
                 "resnet18.onnx, encoder.onnx: the peers' exports)")
      ->check(CLI::ExistingDirectory)->type_name("DIR");
  std::string precision = "f32";
  app.add_option("--precision", precision,
                 "f32, or bf16: the workloads under autocast (convolutions and matrix products in bfloat16; "
                 "docs/autocast.md), "
                 "reported as <system>-bf16; where the CPU has no bfloat16 instructions, refused")
      ->check(CLI::IsMember({"f32", "bf16"}))->type_name("P");
  app.add_option("--iters", ctx.iters, "counted iterations (default: each workload's own)")
      ->check(positive_int())->type_name("N");
  app.add_option("--minutes", ctx.minutes,
                 "how long a run-for-a-while workload (soak) runs; fractions allowed, at most a week")
      ->check(positive_number(7 * 24 * 60))->type_name("M");
  if (int rc = parse_command_line(app, argc, argv, "tessera-bench"); rc >= 0) return rc;
  if (int rc = reject_extras(app, "tessera-bench"); rc >= 0) return rc;
  const bool threads_given = threads->count() > 0;
  ctx.graph = mode == "graph";
  ctx.bf16 = precision == "bf16";
  if (ctx.bf16 && !tessera::bf16_supported()) {
    // A bf16 figure that silently ran in float32 would mislead: refuse instead.
    std::fprintf(stderr, "tessera-bench: --precision bf16: this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)\n");
    return tessera_cli::kExitUsage;
  }
  if ((mode == "onnx") != !ctx.onnx_dir.empty()) {
    std::fprintf(stderr, "tessera-bench: --mode onnx and --onnx-dir DIR go together\n");
    return tessera_cli::kExitUsage;
  }
  // An imported model is an inference model: only the *_infer_* workloads have one.
  auto runs_in_mode = [&](const Workload& w) {
    return mode != "onnx" || std::string(w.name).find("_infer_") != std::string::npos;
  };
  if (list) {
    for (const Workload& w : workloads())
      std::printf("%-18s %s%s\n", w.name, w.what, w.by_default ? "" : " [only with --workload]");
    return 0;
  }

  // Resolve every name before running anything, so a typo fails fast.
  std::vector<const Workload*> todo;
  if (names.empty())
    for (const Workload& w : workloads())
      if (w.by_default && runs_in_mode(w)) todo.push_back(&w);
  for (const std::string& n : names) {
    const Workload* found = nullptr;
    for (const Workload& w : workloads())
      if (n == w.name) found = &w;
    if (found == nullptr) {
      std::fprintf(stderr, "tessera-bench: unknown workload '%s'; known workloads: %s\n", n.c_str(),
                   known_names().c_str());
      return tessera_cli::kExitUsage;
    }
    if (!runs_in_mode(*found)) {
      std::fprintf(stderr, "tessera-bench: --mode onnx runs the inference workloads (*_infer_*), not '%s'\n",
                   n.c_str());
      return tessera_cli::kExitUsage;
    }
    todo.push_back(found);
  }

  if (threads_given) tessera::set_num_threads(ctx.threads);
  ctx.threads = tessera::get_num_threads();

  try {
    std::optional<tessera::AutocastGuard> autocast;
    if (ctx.bf16) autocast.emplace(tessera::kBFloat16);
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
  tessera::bench::emit("peak_rss", tessera::bench::system_of(ctx), "rss_mb", "max",
                       static_cast<double>(ru.ru_maxrss) / 1024.0, "MB", ctx.threads, 1);
  return 0;
}
