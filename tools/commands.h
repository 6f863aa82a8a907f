#pragma once
// Commands of the `tessera` CLI that live in their own files; tessera_main.cc lists them
// in its command table. Each takes the arguments after the command name and returns the
// process exit status (kExitUsage for bad usage; errors are thrown and mapped to their
// status by cli_errors.h).
#include <span>
#include <string_view>

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
    "  --logdir DIR      write a TensorBoard event file into DIR (created): per-epoch loss,\n"
    "                    accuracy, val_*, lr and samples_per_second, weight and gradient\n"
    "                    histograms, 16 test images and their predictions, hyper-parameters\n"
    "                    (view with `tensorboard --logdir DIR` or `tessera board`)\n"
    "  --limit N         only the first N training and N test images (quick runs)\n"
    "  -h, --help        this help\n"
    "\n"
    "Errors end the run with the exit status of its kind (see `tessera --help`).\n";

}  // namespace tessera_cli
