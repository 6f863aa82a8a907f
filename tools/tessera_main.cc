// The `tessera` command line.
//
//   tessera [--threads N] <command> [args...]
//   tessera --version | --help
//
// Each command is one row of kCommands: a name, a one-line summary, its usage and a
// function taking the arguments after the command name, and optionally a longer help text
// for `tessera <command> --help`. Later commands (bench, inspect, serve) drop in as further
// rows; the bigger ones live in their own files (commands.h).
//
// Failures end with an exit status per error kind (cli_errors.h, listed by --help): 2 bad
// usage, 3 invalid argument, 4 I/O, 5 out of memory, 6 not implemented, 70 a bug.
#include <tessera/tessera.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"

namespace {

using Args = std::span<const std::string_view>;

struct Command {
  std::string_view name;
  std::string_view summary;
  std::string_view usage;  // what follows the command name
  int (*run)(Args args);
  std::string_view details;  // printed by `tessera <command> --help` after the summary
};

int run_demo(Args args);

constexpr Command kCommands[] = {
    {"demo", "a short tour of tensor ops: creation, views, broadcasting, reductions, matmul, errors",
     "", run_demo, ""},
    {"train", "trains CNN28 on Fashion-MNIST (fit, Adam), saves a checkpoint, prints test_accuracy",
     "[--epochs N] [--lr X] [--seed N] [--out PATH] [options]",
     tessera_cli::run_train, tessera_cli::kTrainHelp},
    {"launch", "starts N ranks of a distributed job (env for init_process_group), stops all if one fails",
     "--nproc N [--nnodes M --node-rank K --master ADDR:PORT] CMD [ARGS...]",
     tessera_cli::run_launch, tessera_cli::kLaunchHelp},
};

void print_usage(std::ostream& os) {
  os << "usage: tessera [--threads N] <command> [args...]\n"
        "       tessera --version | --help\n"
        "\ncommands:\n";
  for (const Command& c : kCommands) {
    // Built by appending: GCC 12's -Wrestrict misfires on `"  " + std::string(...)` at -O3.
    std::string head = "  ";
    head.append(c.name);
    if (!c.usage.empty()) head.append(" ").append(c.usage);
    // A long usage line gets the summary on the next line, aligned with the others.
    if (head.size() >= 26) head.append("\n").append(26, ' ');
    else head.append(26 - head.size(), ' ');
    os << head << c.summary << "\n";
  }
  os << "\noptions:\n"
        "  --threads N             threads for parallel kernels (default: TESSERA_NUM_THREADS,\n"
        "                          else the machine's cores)\n"
        "  --version               print the version and what the runtime chose (ISA, kernels)\n"
        "  -h, --help              print this help; `tessera <command> --help` for one command\n"
        "\n"
     << tessera_cli::kExitStatusHelp;
}

const Command* find_command(std::string_view name) {
  for (const Command& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

bool parse_positive_int(std::string_view s, int& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && out > 0;
}

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

int run_demo(Args args) {
  using namespace tessera;
  if (!args.empty()) {
    std::cerr << "tessera demo: takes no arguments\n";
    return tessera_cli::kExitUsage;
  }
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> argv_s(argv + 1, argv + argc);
  Args args(argv_s);
  try {
    while (!args.empty() && args.front().starts_with("-")) {
      std::string_view opt = args.front();
      if (opt == "--version") {
        std::cout << "tessera " << tessera::version() << "\n" << tessera::build_info() << "\n";
        return 0;
      }
      if (opt == "-h" || opt == "--help") {
        print_usage(std::cout);
        return 0;
      }
      if (opt == "--threads") {
        int n = 0;
        if (args.size() < 2 || !parse_positive_int(args[1], n)) {
          std::cerr << "tessera: --threads needs a positive integer\n";
          return tessera_cli::kExitUsage;
        }
        tessera::set_num_threads(n);
        args = args.subspan(2);
        continue;
      }
      std::cerr << "tessera: unknown option '" << opt << "'\n\n";
      print_usage(std::cerr);
      return tessera_cli::kExitUsage;
    }
    if (args.empty()) {
      print_usage(std::cerr);
      return tessera_cli::kExitUsage;
    }
    const Command* cmd = find_command(args.front());
    if (cmd == nullptr) {
      std::cerr << "tessera: unknown command '" << args.front() << "'\n\n";
      print_usage(std::cerr);
      return tessera_cli::kExitUsage;
    }
    Args rest = args.subspan(1);
    if (!rest.empty() && (rest.front() == "--help" || rest.front() == "-h")) {
      std::cout << "usage: tessera " << cmd->name << (cmd->usage.empty() ? "" : " ") << cmd->usage
                << "\n\n" << cmd->summary << "\n";
      if (!cmd->details.empty()) std::cout << "\n" << cmd->details;
      return 0;
    }
    return cmd->run(rest);
  } catch (...) {
    // One mapping for every kind, shared with tessera-bench: a filesystem_error is an I/O
    // error and a bad_alloc out of memory, not "internal"; only a bug is reported as one.
    return tessera_cli::report_current_exception("tessera");
  }
}
