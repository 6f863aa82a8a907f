#pragma once
// Commands of the `tessera` CLI that live in their own files. Each has an add_<cmd>_command
// that declares it and its options on the CLI11 app (tessera_main.cc calls them), and a
// run_<cmd> that runs it once parsed and returns the exit status (errors are thrown and
// mapped to their status by cli_errors.h).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli_errors.h"
#include "cli_options.h"

namespace tessera_cli {

// tools/train.cc: `tessera train`.
struct TrainConfig {
  int epochs = 5;
  int batch_size = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  int threads = 0;  // 0: leave the runtime's choice
  int workers = 0;
  std::string out = "build/cnn28.safetensors";
  bool out_given = false;
  std::string data;
  bool validate = true;
  std::string logdir;  // empty: no TensorBoard log
  int64_t limit = 0;   // > 0: only the first N training and N test images
  std::string backup;  // empty: <out>.backup
  bool resume = false;
  bool compile = false;  // run each training step as one compiled graph (docs/graph.md)
  std::string precision = "f32";  // or "bf16": fit and the test evaluation under autocast
  bool distributed = false;  // data-parallel over the ranks `tessera launch` started
  int nproc = 0;             // > 0: start that many ranks (through the launcher) first
  // The arguments after `train`, as given: --nproc relaunches this same command line.
  std::vector<std::string> args;
};
// Declares the command and its options (validated: a malformed value is a usage error).
CLI::App* add_train_command(CLI::App& app, TrainConfig& cfg);
int run_train(const TrainConfig& cfg);

// tools/board.cc: `tessera board`.
struct BoardConfig {
  std::string logdir;
  int port = 6006;  // TensorBoard's
  std::string host = "127.0.0.1";
};
CLI::App* add_board_command(CLI::App& app, BoardConfig& cfg);
int run_board(const BoardConfig& cfg);

// tools/onnx_conformance.cc: `tessera onnx-conformance`.
struct OnnxConformanceConfig {
  std::string data;    // empty: Debian's libonnx-testdata
  std::string filter;  // regex over case names; empty: all
  bool compiled = false;
  std::string write_passing;
  std::string expect_pass;  // a list of cases that must pass (exit 1 otherwise)
  bool ops_markdown = false;
};
CLI::App* add_onnx_conformance_command(CLI::App& app, OnnxConformanceConfig& cfg);
int run_onnx_conformance(const OnnxConformanceConfig& cfg);

// tools/onnx_tools.cc: `tessera inspect FILE`, `tessera convert IN OUT`.
struct InspectConfig {
  std::string file;
};
CLI::App* add_inspect_command(CLI::App& app, InspectConfig& cfg);
int run_inspect(const InspectConfig& cfg);
struct ConvertConfig {
  std::string input, output;
  int64_t opset = 17;
  int64_t batch = 1;
  bool dynamic_batch = false;
  bool no_optimize = false;
  bool external_data = false;  // -> ONNX: weights in "<out>.data" (ONNX's external data)
};
CLI::App* add_convert_command(CLI::App& app, ConvertConfig& cfg);
int run_convert(const ConvertConfig& cfg);

// tools/launch.cc: `tessera launch`. It takes its own options and then a command line to
// run, which CLI11 hands over untouched (a prefix command): run_launch parses the rest.
using Args = std::span<const std::string_view>;
struct LaunchConfig {
  int nproc = 1;       // ranks on this node
  int nnodes = 1;
  int node_rank = 0;
  std::string master;  // ADDR:PORT of node 0's store; empty: 127.0.0.1 and a free port
  int timeout_s = 0;   // > 0: TESSERA_DIST_TIMEOUT for the ranks
  int grace_s = 5;     // SIGTERM to SIGKILL when stopping the ranks
};
// Runs `command` as cfg.nproc ranks; returns the job's exit status.
int launch_ranks(const LaunchConfig& cfg, const std::vector<std::string>& command);
int run_launch(Args args);
inline constexpr std::string_view kLaunchHelp =
    "Starts the ranks of a distributed job (one process per rank) and watches them.\n"
    "Every rank gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and\n"
    "MASTER_PORT, which distributed::init_process_group() reads; rank 0 hosts the store.\n"
    "\n"
    "usage: tessera launch [options] CMD [ARGS...]\n"
    "options (before CMD):\n"
    "  --nproc N         ranks on this node (default 1)\n"
    "  --nnodes M        nodes in the job (default 1); run the launcher once per node\n"
    "  --node-rank K     this node's index in [0, M) (default 0); ranks are K*N .. K*N+N-1\n"
    "  --master A:P      node 0's address and a free port on it (required with M > 1;\n"
    "                    default 127.0.0.1 and a free port)\n"
    "  --timeout S       seconds a collective or the rendezvous may take before the ranks\n"
    "                    fail (sets TESSERA_DIST_TIMEOUT; default 60)\n"
    "  --grace S         seconds between SIGTERM and SIGKILL when stopping ranks (default 5)\n"
    "\n"
    "SIGINT, SIGTERM and SIGHUP are forwarded to every rank. When a rank fails, the others\n"
    "are stopped and the launcher exits with the failed rank's status (128 + N for a\n"
    "signal N). Ranks on other nodes see the loss as a collective failing with\n"
    "`lost rank R` within the timeout.\n";

}  // namespace tessera_cli
