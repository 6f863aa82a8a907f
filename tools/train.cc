// `tessera train`: the main job. Trains CNN28 (../shared/bench/WORKLOADS.md) on
// Fashion-MNIST with train::fit, saves a checkpoint (model + optimizer state), evaluates on
// the test set and ends with the line `test_accuracy: 0.XXXX`.
//
// Everything random (initialization, dropout, shuffling) derives from --seed, so two runs
// with the same seed and the same --threads print the same per-epoch losses. A different
// thread count changes the kernels' summation order and so the last bits (epoch 1's loss
// was 0.5142 on 2 threads, 0.5135 on 1).
#include <tessera/models.h>
#include <tessera/tessera.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "commands.h"

namespace tessera_cli {

namespace {

constexpr const char* kDefaultOut = "build/cnn28.safetensors";

struct TrainConfig {
  int epochs = 5;
  int batch_size = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  int threads = 0;  // 0: leave the runtime's choice
  int workers = 0;
  std::string out = kDefaultOut;
  bool out_given = false;
  std::string data;
  bool validate = true;
  bool distributed = false;  // data-parallel over the ranks `tessera launch` started
  int nproc = 0;             // > 0: start that many ranks (through the launcher) first
};

template <typename T>
bool parse_number(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Parses `args` into `cfg`; on a usage error prints it and returns false.
bool parse_args(Args args, TrainConfig& cfg) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view opt = args[i];
    std::string_view value;
    bool inline_value = false;
    // Both "--epochs 5" and "--epochs=5".
    if (size_t eq = opt.find('='); opt.starts_with("--") && eq != std::string_view::npos) {
      value = opt.substr(eq + 1);
      opt = opt.substr(0, eq);
      inline_value = true;
    }
    if (opt == "-h" || opt == "--help") {
      std::cout << "usage: tessera train [options]\n\n" << kTrainHelp;
      std::exit(0);  // help anywhere on the line, as `tessera train --help` does
    }
    if (opt == "--no-validate") {
      cfg.validate = false;
      continue;
    }
    if (opt == "--distributed") {
      cfg.distributed = true;
      continue;
    }
    static constexpr std::string_view kValued[] = {"--epochs", "--batch-size", "--lr", "--seed",
                                                   "--threads", "--workers", "--out", "--data",
                                                   "--nproc"};
    if (std::find(std::begin(kValued), std::end(kValued), opt) == std::end(kValued)) {
      std::cerr << "tessera train: unknown option '" << opt << "' (see tessera train --help)\n";
      return false;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        std::cerr << "tessera train: " << opt << " needs a value (see tessera train --help)\n";
        return false;
      }
      value = args[++i];
    }
    bool ok = false;
    if (opt == "--epochs") {
      ok = parse_number(value, cfg.epochs) && cfg.epochs > 0;
    } else if (opt == "--batch-size") {
      ok = parse_number(value, cfg.batch_size) && cfg.batch_size > 0;
    } else if (opt == "--lr") {
      ok = parse_number(value, cfg.lr) && cfg.lr > 0;
    } else if (opt == "--seed") {
      ok = parse_number(value, cfg.seed);
    } else if (opt == "--threads") {
      ok = parse_number(value, cfg.threads) && cfg.threads > 0;
    } else if (opt == "--workers") {
      ok = parse_number(value, cfg.workers) && cfg.workers >= 0;
    } else if (opt == "--out") {
      cfg.out = std::string(value);
      cfg.out_given = true;
      ok = !cfg.out.empty();
    } else if (opt == "--data") {
      cfg.data = std::string(value);
      ok = true;
    } else if (opt == "--nproc") {
      ok = parse_number(value, cfg.nproc) && cfg.nproc > 0;
    } else {
      std::cerr << "tessera train: unknown option '" << opt << "' (see tessera train --help)\n";
      return false;
    }
    if (!ok) {
      std::cerr << "tessera train: bad value '" << value << "' for " << opt << "\n";
      return false;
    }
  }
  return true;
}

// `--nproc N` outside a launched job: runs this same command line as N ranks under the
// launcher (without --nproc, with --distributed), and returns the job's status.
int relaunch(Args args, const TrainConfig& cfg) {
  std::vector<std::string> command = {std::filesystem::read_symlink("/proc/self/exe").string(), "train"};
  bool has_distributed = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (args[i].starts_with("--nproc=")) continue;
    has_distributed = has_distributed || args[i] == "--distributed";
    command.emplace_back(args[i]);
  }
  if (!has_distributed) command.emplace_back("--distributed");
  LaunchConfig launch;
  launch.nproc = cfg.nproc;
  return launch_ranks(launch, command);
}

}  // namespace

int run_train(Args args) {
  using namespace tessera;
  TrainConfig cfg;
  if (!parse_args(args, cfg)) return kExitUsage;
  if (cfg.nproc > 0 && std::getenv("RANK") == nullptr) return relaunch(args, cfg);
  if (cfg.nproc > 0) cfg.distributed = true;
  if (cfg.threads > 0) set_num_threads(cfg.threads);
  if (cfg.distributed) {
    if (std::getenv("RANK") == nullptr) {
      std::cerr << "tessera train: --distributed runs as one rank of a job: add --nproc N, or "
                   "start it with `tessera launch --nproc N tessera train --distributed ...`\n";
      return kExitUsage;
    }
    distributed::init_process_group();
  }
  const int rank = distributed::get_rank();
  const int world = distributed::get_world_size();
  if (cfg.batch_size % world != 0) {
    if (rank == 0)
      std::cerr << "tessera train: --batch-size " << cfg.batch_size << " is the global batch and "
                << "must divide evenly over " << world << " ranks\n";
    return kExitUsage;
  }

  // The checkpoint's path is checked before minutes of training, not after them: its folder
  // must exist and take a file (probed). The default's build/ is ours to create (a fresh
  // clone run from elsewhere has none); a folder the user named is never created, so a
  // typo in it fails here instead of growing a new tree.
  if (rank == 0) {  // distributed: rank 0 alone writes the checkpoint
    if (!cfg.out_given) {
      const std::filesystem::path parent = std::filesystem::path(cfg.out).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
    }
    check_writable(cfg.out, "tessera train --out");
  }

  // Seed before building the model: its initialization and dropout draw from the default
  // generator; the loader's own seed fixes the shuffling.
  manual_seed(cfg.seed);
  auto model = models::cnn28();
  constexpr double kFashionMean = 0.2860, kFashionStd = 0.3530;  // train-set pixel statistics
  auto train_set = std::make_shared<data::FashionMNIST>(cfg.data, /*train=*/true);
  auto test_set = std::make_shared<data::FashionMNIST>(cfg.data, /*train=*/false);
  // Standardized inputs with the training set's statistics, as the PyTorch peer does.
  const data::Normalize normalize({kFashionMean}, {kFashionStd});
  // Distributed: each rank takes its shard of every epoch (reshuffled per epoch, the same
  // permutation everywhere) and batch_size / world of each global batch; evaluation splits
  // the test set too and fit/evaluate reduce the results over the ranks.
  data::DataLoaderOptions train_options{.batch_size = cfg.batch_size / world,
                                        .shuffle = !cfg.distributed,
                                        .seed = cfg.seed,
                                        .num_workers = cfg.workers,
                                        .transform = normalize};
  // Evaluation needs no gradients, so bigger batches only cost memory and run faster.
  data::DataLoaderOptions test_options{.batch_size = 256, .num_workers = cfg.workers, .transform = normalize};
  if (cfg.distributed) {
    train_options.sampler = distributed::distributed_sampler({.seed = cfg.seed});
    test_options.sampler = distributed::distributed_sampler({.shuffle = false});
  }
  data::DataLoader train_loader(train_set, train_options);
  data::DataLoader test_loader(test_set, test_options);
  std::shared_ptr<nn::Module> trained = model;
  if (cfg.distributed) trained = std::make_shared<distributed::DistributedDataParallel>(model);

  if (rank == 0) {
    std::cout << "CNN28 on Fashion-MNIST: " << train_set->size() << " train / " << test_set->size()
              << " test images, " << model->num_parameters() << " parameters\n"
              << "Adam lr " << cfg.lr << ", batch " << cfg.batch_size << ", " << cfg.epochs
              << " epochs, seed " << cfg.seed << ", " << get_num_threads() << " threads, "
              << cfg.workers << " loader workers";
    if (cfg.distributed) std::cout << ", " << world << " ranks (batch " << cfg.batch_size / world << " each)";
    std::cout << std::endl;  // flushed: shown before the first epoch ends, even in a pipe
  }

  optim::Adam opt(trained->parameters(), {.lr = cfg.lr});
  train::LossFn loss = [](const Tensor& out, const Tensor& y) {
    return nn::functional::cross_entropy(out, y);
  };
  train::FitOptions fo;
  fo.epochs = cfg.epochs;
  fo.optimizer = &opt;
  fo.loss = loss;
  fo.metrics = {std::make_shared<train::Accuracy>()};
  if (cfg.validate) fo.validation = &test_loader;

  auto start = std::chrono::steady_clock::now();
  train::History history = train::fit(*trained, train_loader, fo);
  double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  train::Logs test =
      train::evaluate(*trained, test_loader, loss, {std::make_shared<train::Accuracy>()});
  if (rank != 0) {
    distributed::destroy_process_group();
    return 0;
  }

  NamedTensors optim_state;
  for (auto& [name, t] : opt.state_dict()) optim_state.emplace_back(name, t);
  char acc_text[32];
  std::snprintf(acc_text, sizeof acc_text, "%.4f", test.at("accuracy"));
  save_checkpoint(cfg.out, model->state_dict(), optim_state,
                  {{"model", "cnn28"},
                   {"dataset", "fashion-mnist"},
                   {"epochs", std::to_string(history.size())},
                   {"seed", std::to_string(cfg.seed)},
                   {"test_accuracy", acc_text}});

  std::printf("train_time: %.1fs (%.1fs per epoch)\n", train_s,
              train_s / static_cast<double>(history.size() ? history.size() : 1));
  std::printf("checkpoint: %s\n", cfg.out.c_str());
  std::printf("test_loss: %.4f\n", test.at("loss"));
  std::printf("test_accuracy: %s\n", acc_text);
  std::fflush(stdout);
  distributed::destroy_process_group();
  return 0;
}

}  // namespace tessera_cli
