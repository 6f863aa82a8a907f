// The `tessera` command line, on CLI11 (tools/cli_options.h).
//
//   tessera [--threads N] <command> [options...]
//   tessera --version | --help
//   tessera <command> --help
//
// Commands: demo (here), train (train.cc), bench (runs tessera-bench, the workloads
// binary, with the arguments that follow), board (board.cc), onnx-conformance, inspect and
// convert (onnx_conformance.cc, onnx_tools.cc). Each declares its options with a validator, so
// a malformed value (`--epochs abc`) is a usage error naming the option and the value.
//
// Failures end with an exit status per error kind (cli_errors.h, listed by --help): 2 bad
// usage, 3 invalid argument, 4 I/O, 5 out of memory, 6 not implemented, 70 a bug.
#include <tessera/tessera.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"

namespace {

// ---------------------------------------------------------------------------------------
// demo

void section(const char* title) { std::cout << "\n== " << title << " ==\n"; }

template <typename F>
void show(const char* what, F&& make) {
  std::cout << "\n>>> " << what << "\n" << make() << "\n";
}

// Runs `fn`, which must throw tessera::Error, and prints the message.
template <typename F>
void show_error(const char* what, F&& fn) {
  std::cout << "\n>>> " << what << "\n";
  try {
    fn();
    std::cout << "(no error?)\n";
  } catch (const tessera::Error& e) {
    std::cout << "tessera::Error (" << tessera::error_kind_name(e.kind()) << "): " << e.what() << "\n";
  }
}

int run_demo() {
  using namespace tessera;
  Generator gen(42);

  section("creation");
  show("tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3})", [] { return tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3}); });
  show("arange(6)  (int64: all arguments are integers)", [] { return arange(6); });
  show("linspace(0, 1, 5)", [] { return linspace(0, 1, 5); });
  show("zeros({2, 2}, kInt32)", [] { return zeros({2, 2}, kInt32); });
  show("full({2, 3}, 7.5)", [] { return full({2, 3}, 7.5); });
  show("eye(3)", [] { return eye(3); });
  show("randn({2, 3}, {}, &gen)  (seeded: the same for any thread count)",
       [&] { return randn({2, 3}, {}, &gen); });

  section("views share storage");
  Tensor x = arange(12).reshape({3, 4});
  show("x = arange(12).reshape({3, 4})", [&] { return x; });
  Tensor xt = x.t();
  show("x.t()  (a view: strides swapped, no copy)", [&] { return xt; });
  std::cout << "x.t().is_contiguous() = " << std::boolalpha << xt.is_contiguous()
            << ", shares storage with x: " << xt.shares_storage(x) << "\n";
  show("x.slice(1, 0, 4, 2)  (columns 0 and 2)", [&] { return x.slice(1, 0, 4, 2); });
  show("x.select(0, 1)  (row 1)", [&] { return x.select(0, 1); });
  show("x.unsqueeze(0).expand({2, 3, 4})  (stride 0 on the new dim)", [&] { return x.unsqueeze(0).expand({2, 3, 4}); });
  Tensor row = x.select(0, 0);
  row.fill_(100);
  show("x after x.select(0, 0).fill_(100)  (writes through the view)", [&] { return x; });

  section("broadcasting and type promotion");
  Tensor m = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor v = tensor<float>({10, 20, 30});
  show("m + v  ([2, 3] + [3])", [&] { return m + v; });
  show("m * 2", [&] { return m * 2; });
  show("arange(3) + 0.5  (i64 + float scalar -> f32)", [] { return arange(3) + 0.5; });
  show("arange(3) / 2  (true division -> f32)", [] { return arange(3) / 2; });
  show("m.to(kFloat64) + arange(3)  (f64 + i64 -> f64)", [&] { return m.to(kFloat64) + arange(3); });
  show("gt(m, 3)  (comparisons give bool)", [&] { return gt(m, 3); });

  section("reductions");
  show("m.sum()", [&] { return m.sum(); });
  show("sum(m, {1})", [&] { return sum(m, {1}); });
  show("mean(m, {0}, /*keepdim=*/true)", [&] { return mean(m, {0}, true); });
  auto [values, indices] = max(m, 1);
  show("max(m, 1): values", [&] { return values; });
  show("max(m, 1): indices", [&] { return indices; });
  show("softmax(m, -1)", [&] { return softmax(m, -1); });

  section("matmul");
  Tensor a = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = tensor<float>({1, 0, 0, 1, 1, 1}, {3, 2});
  show("matmul(a [2, 3], b [3, 2])", [&] { return matmul(a, b); });
  show("matmul(randn({4, 2, 3}), b).sizes()  (batch dims broadcast)",
       [&] { return shape_str(matmul(randn({4, 2, 3}, {}, &gen), b).sizes()); });
  show("matmul(a, v3)  (matrix @ vector)", [&] { return matmul(a, tensor<float>({1, 1, 1})); });

  section("errors name the op and the shapes");
  show_error("matmul(a [2, 3], a [2, 3])", [&] { (void)matmul(a, a); });
  show_error("m + ones({4})", [&] { (void)(m + ones({4})); });
  show_error("x.t().view({12})  (strides forbid a view; reshape would copy)",
             [&] { (void)x.t().view({12}); });
  show_error("x.select(0, 5)", [&] { (void)x.select(0, 5); });

  std::cout << "\ndemo done.\n";
  return 0;
}

// `tessera bench ARGS...`: tessera-bench (bench/main.cc) with ARGS, which parses and
// validates them itself (its --help lists them). It links Tessera statically and reaches
// oneDNN directly, so it stays its own binary; this finds it beside `tessera` (installed)
// or in the build tree's bench/ folder.
int run_bench(const std::vector<std::string>& args) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::vector<std::filesystem::path> candidates;
  if (!ec) {
    candidates.push_back(self.parent_path() / "tessera-bench");
    candidates.push_back(self.parent_path().parent_path() / "bench" / "tessera-bench");
  }
  for (const auto& c : candidates) {
    if (::access(c.c_str(), X_OK) != 0) continue;
    std::vector<std::string> argv_s = {c.string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::cout.flush();
    ::execv(argv[0], argv.data());
    std::cerr << "tessera bench: cannot run '" << c.string() << "': " << std::strerror(errno) << "\n";
    return tessera_cli::kExitIO;
  }
  std::cerr << "tessera bench: tessera-bench is not installed beside '" << self.string()
            << "' (build the tessera-bench target)\n";
  return tessera_cli::kExitIO;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera_cli;
  CLI::App app("Tessera: tensors, autograd and training in C++.", "tessera");
  app.footer(std::string(kExitStatusHelp));
  app.allow_extras();  // so an unknown command or option gets our message (reject_extras)
  app.require_subcommand(0, 1);
  int threads = 0;
  app.add_option("--threads", threads,
                 "threads for parallel kernels (default: TESSERA_NUM_THREADS, else the\n"
                 "machine's cores)")
      ->check(positive_int())->type_name("N");
  bool version = false;
  app.add_flag("--version", version,
               "print the version and what the runtime chose (ISA, kernels)");

  CLI::App* demo = app.add_subcommand(
      "demo", "a short tour of tensor ops: creation, views, broadcasting, reductions, matmul, errors");
  TrainConfig train_cfg;
  CLI::App* train = add_train_command(app, train_cfg);
  std::vector<std::string> bench_args;
  CLI::App* bench = app.add_subcommand(
      "bench", "runs the benchmark workloads (tessera-bench) with the arguments that follow;\n"
               "`tessera bench --help` lists them");
  bench->prefix_command();  // everything after `bench` goes to tessera-bench as it is
  bench->set_help_flag();   // --help too: tessera-bench answers it
  BoardConfig board_cfg;
  CLI::App* board = add_board_command(app, board_cfg);
  OnnxConformanceConfig onnx_cfg;
  CLI::App* onnx_conf = add_onnx_conformance_command(app, onnx_cfg);
  InspectConfig inspect_cfg;
  CLI::App* inspect = add_inspect_command(app, inspect_cfg);
  ConvertConfig convert_cfg;
  CLI::App* convert = add_convert_command(app, convert_cfg);
  CLI::App* launch = app.add_subcommand(
      "launch", "starts N ranks of a distributed job (env for init_process_group), stops all if one\n"
                "fails: tessera launch --nproc N [--nnodes M --node-rank K --master ADDR:PORT] CMD...");
  launch->prefix_command();  // its options, then the command line of the ranks, untouched
  launch->set_help_flag();   // run_launch answers --help (before the command)
  for (CLI::App* c : {demo, train, board, onnx_conf, inspect, convert}) c->allow_extras();

  try {
    if (int rc = parse_command_line(app, argc, argv, "tessera"); rc >= 0) return rc;
    if (version) {
      std::cout << "tessera " << tessera::version() << "\n" << tessera::build_info() << "\n";
      return 0;
    }
    if (threads > 0) tessera::set_num_threads(threads);
    if (app.got_subcommand(demo)) {
      if (int rc = reject_extras(*demo, "tessera demo"); rc >= 0) return rc;
      return run_demo();
    }
    if (app.got_subcommand(train)) {
      if (int rc = reject_extras(*train, "tessera train"); rc >= 0) return rc;
      // --nproc runs this same command line again as ranks: keep it as given.
      for (int i = 1; i < argc; ++i)
        if (std::string_view(argv[i]) == "train") {
          train_cfg.args.assign(argv + i + 1, argv + argc);
          break;
        }
      return run_train(train_cfg);
    }
    if (app.got_subcommand(launch)) {
      const std::vector<std::string> rest = launch->remaining();
      for (const std::string& a : rest) {
        if (!a.starts_with("-")) break;  // the ranks' command starts: its --help is its own
        if (a == "--help" || a == "-h") {
          std::cout << kLaunchHelp;
          return 0;
        }
      }
      const std::vector<std::string_view> views(rest.begin(), rest.end());
      return run_launch(views);
    }
    if (app.got_subcommand(bench)) return run_bench(bench->remaining());
    if (app.got_subcommand(board)) {
      if (int rc = reject_extras(*board, "tessera board"); rc >= 0) return rc;
      return run_board(board_cfg);
    }
    if (app.got_subcommand(onnx_conf)) {
      if (int rc = reject_extras(*onnx_conf, "tessera onnx-conformance"); rc >= 0) return rc;
      return run_onnx_conformance(onnx_cfg);
    }
    if (app.got_subcommand(inspect)) {
      if (int rc = reject_extras(*inspect, "tessera inspect"); rc >= 0) return rc;
      return run_inspect(inspect_cfg);
    }
    if (app.got_subcommand(convert)) {
      if (int rc = reject_extras(*convert, "tessera convert"); rc >= 0) return rc;
      return run_convert(convert_cfg);
    }
    const std::vector<std::string> extra = app.remaining();
    if (!extra.empty() && !extra.front().starts_with("-")) {
      std::cerr << "tessera: unknown command '" << extra.front() << "' (see tessera --help)\n";
      return kExitUsage;
    }
    if (int rc = reject_extras(app, "tessera"); rc >= 0) return rc;
    std::cerr << "tessera: no command given\n\n" << app.help();
    return kExitUsage;
  } catch (...) {
    // One mapping for every kind, shared with tessera-bench: a filesystem_error is an I/O
    // error and a bad_alloc out of memory, not "internal"; only a bug is reported as one.
    return report_current_exception("tessera");
  }
}
