#pragma once
// Commands of the `tessera` CLI that live in their own files. Each has an add_<cmd>_command
// that declares it and its options on the CLI11 app (tessera_main.cc calls them), and a
// run_<cmd> that runs it once parsed and returns the exit status (errors are thrown and
// mapped to their status by cli_errors.h).
#include <cstdint>
#include <string>

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

}  // namespace tessera_cli
