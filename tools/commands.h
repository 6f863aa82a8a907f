#pragma once
// Commands of the `tessera` CLI that live in their own files; tessera_main.cc lists them
// in its command table. Each takes the arguments after the command name and returns the
// process exit status (kExitUsage for bad usage; errors are thrown and mapped to their
// status by cli_errors.h).
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli_errors.h"

namespace tessera_cli {

using Args = std::span<const std::string_view>;

// tools/train.cc
int run_train(Args args);
// The options, for `tessera train --help` (here, so the command table can stay constexpr).
inline constexpr std::string_view kTrainHelp =
    "Trains CNN28 on Fashion-MNIST with fit(), Adam and cross-entropy, saves a checkpoint\n"
    "and ends with the line `test_accuracy: 0.XXXX` (accuracy on the 10,000 test images).\n"
    "\n"
    "options:\n"
    "  --epochs N        epochs over the 60,000 training images (default 5)\n"
    "  --batch-size N    examples per step (default 64)\n"
    "  --lr X            Adam's learning rate (default 0.001)\n"
    "  --seed N          seeds initialization, dropout and shuffling (default 0); the same\n"
    "                    seed and --threads give the same per-epoch losses\n"
    "  --threads N       threads for the kernels (default: TESSERA_NUM_THREADS, else all cores)\n"
    "  --workers N       DataLoader worker threads building batches ahead (default 0: on the\n"
    "                    training thread); the batches are the same for any N\n"
    "  --out PATH        checkpoint (safetensors: model.* and optim.* tensors), written\n"
    "                    atomically; its folder must exist and is checked before training\n"
    "                    (default build/cnn28.safetensors, whose build/ is created)\n"
    "  --data DIR        Fashion-MNIST's IDX files (default: $TESSERA_FASHION_MNIST, else\n"
    "                    /usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist)\n"
    "  --no-validate     skip the per-epoch pass over the test set (val_loss, val_accuracy)\n"
    "  --nproc N         data-parallel over N processes on this host: starts them through\n"
    "                    `tessera launch` (with --distributed); give --threads per process\n"
    "  --distributed     run as one rank of a job `tessera launch` started: the model is\n"
    "                    wrapped in DistributedDataParallel, each rank trains on its shard\n"
    "                    and --batch-size / ranks of every global batch; rank 0 prints and\n"
    "                    writes the checkpoint\n"
    "  -h, --help        this help\n"
    "\n"
    "Errors end the run with the exit status of its kind (see `tessera --help`).\n";

// tools/launch.cc
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
