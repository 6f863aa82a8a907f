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
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "commands.h"

namespace tessera_cli {

namespace {

// `--nproc N` outside a launched job: runs this same command line as N ranks under the
// launcher (without --nproc, with --distributed), and returns the job's status.
int relaunch(const TrainConfig& cfg) {
  std::vector<std::string> command = {std::filesystem::read_symlink("/proc/self/exe").string(), "train"};
  bool has_distributed = false;
  for (size_t i = 0; i < cfg.args.size(); ++i) {
    const std::string& a = cfg.args[i];
    if (a == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (a.starts_with("--nproc=")) continue;
    has_distributed = has_distributed || a == "--distributed";
    command.push_back(a);
  }
  if (!has_distributed) command.emplace_back("--distributed");
  LaunchConfig launch;
  launch.nproc = cfg.nproc;
  return launch_ranks(launch, command);
}

// The first n examples of a dataset (--limit: quick runs and tests on real data).
class FirstN : public tessera::data::Dataset {
 public:
  FirstN(std::shared_ptr<const tessera::data::Dataset> base, int64_t n)
      : base_(std::move(base)), n_(std::min(n, base_->size())) {}
  int64_t size() const override { return n_; }
  tessera::data::Example get(int64_t index) const override { return base_->get(index); }

 private:
  std::shared_ptr<const tessera::data::Dataset> base_;
  int64_t n_;
};

// What `--logdir` adds besides the TensorBoard callback's curves and histograms: the
// first 16 test images as one 4x4 grid (at step 0), and each epoch a text table of their
// true and predicted classes.
class SampleLogger : public tessera::train::Callback {
 public:
  SampleLogger(std::shared_ptr<tessera::summary::SummaryWriter> writer,
               const tessera::data::Dataset& test)
      : writer_(std::move(writer)) {
    using namespace tessera;
    const int64_t n = std::min<int64_t>(16, test.size());
    std::vector<Tensor> xs;
    for (int64_t i = 0; i < n; ++i) {
      data::Example e = test.get(i);
      xs.push_back(e.input);
      labels_.push_back(e.target.item<int64_t>());
    }
    inputs_ = stack(xs, 0);  // [n, 1, 28, 28] in [0, 1]
  }
  void on_epoch_end(int64_t epoch, tessera::train::Logs&, tessera::train::TrainContext& ctx) override {
    using namespace tessera;
    const int64_t n = inputs_.size(0);
    if (!logged_grid_) {
      // Rows of 4 images side by side: [1, rows * 28, 4 * 28].
      const int64_t rows = (n + 3) / 4;
      Tensor grid = zeros({1, rows * 28, 4 * 28});
      for (int64_t i = 0; i < n; ++i)
        grid.narrow(1, (i / 4) * 28, 28).narrow(2, (i % 4) * 28, 28).copy_(inputs_.select(0, i));
      writer_->add_image("test_images", grid, epoch);
      logged_grid_ = true;
    }
    Tensor pred;
    {
      NoGradGuard no_grad;
      const bool was_training = ctx.model.is_training();
      ctx.model.train(false);
      constexpr double kFashionMean = 0.2860, kFashionStd = 0.3530;
      pred = argmax(ctx.model((inputs_ - kFashionMean) / kFashionStd), 1);
      ctx.model.train(was_training);
    }
    const std::vector<int64_t> p = pred.to_vector<int64_t>();
    const auto& names = data::FashionMNIST::class_names();
    std::string table = "| image | true | predicted |\n|---|---|---|\n";
    for (size_t i = 0; i < p.size(); ++i) {
      table += "| " + std::to_string(i) + " | " + names.at(static_cast<size_t>(labels_[i])) + " | " +
               names.at(static_cast<size_t>(p[i])) + (p[i] == labels_[i] ? "" : " (wrong)") + " |\n";
    }
    writer_->add_text("test_predictions", table, epoch);
  }

 private:
  std::shared_ptr<tessera::summary::SummaryWriter> writer_;
  tessera::Tensor inputs_;
  std::vector<int64_t> labels_;
  bool logged_grid_ = false;
};

// Says where a restored run continues, before its first epoch's line.
class ResumeNote : public tessera::train::Callback {
 public:
  explicit ResumeNote(std::shared_ptr<tessera::train::BackupAndRestore> b) : backup_(std::move(b)) {}
  void on_train_begin(tessera::train::TrainContext& ctx) override {
    if (backup_->restored_epoch() == 0) return;
    std::cout << "resumed from " << backup_->path() << ": " << backup_->restored_epoch()
              << " epoch" << (backup_->restored_epoch() == 1 ? "" : "s") << " done";
    for (size_t e = 0; e < backup_->restored_history().size(); ++e) {
      const auto& logs = backup_->restored_history().epochs[e];
      std::printf("\n  epoch %zu: loss %.4f", e + 1, logs.count("loss") ? logs.at("loss") : 0.0);
    }
    std::cout << std::endl;
  }

 private:
  std::shared_ptr<tessera::train::BackupAndRestore> backup_;
};

}  // namespace

CLI::App* add_train_command(CLI::App& app, TrainConfig& cfg) {
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Trains CNN28 on Fashion-MNIST with fit(), Adam and cross-entropy, saves a checkpoint\n"
      "and ends with the line `test_accuracy: 0.XXXX` (accuracy on the 10,000 test images).");
  cmd->add_option("--epochs", cfg.epochs, "epochs over the 60,000 training images")
      ->check(positive_int())->type_name("N")->capture_default_str();
  cmd->add_option("--batch-size", cfg.batch_size, "examples per step")
      ->check(positive_int())->type_name("N")->capture_default_str();
  cmd->add_option("--lr", cfg.lr, "Adam's learning rate")
      ->check(positive_number())->type_name("X")->capture_default_str();
  cmd->add_option("--seed", cfg.seed,
                  "seeds initialization, dropout and shuffling; the same seed and --threads\n"
                  "give the same per-epoch losses")
      ->check(unsigned_int())->type_name("N")->capture_default_str();
  cmd->add_option("--threads", cfg.threads,
                  "threads for the kernels (default: TESSERA_NUM_THREADS, else all cores)")
      ->check(positive_int())->type_name("N");
  cmd->add_option("--workers", cfg.workers,
                  "DataLoader worker threads building batches ahead (0: on the training\n"
                  "thread); the batches are the same for any N")
      ->check(non_negative_int())->type_name("N")->capture_default_str();
  cmd->add_option("--out", cfg.out,
                  "checkpoint (safetensors: model.* and optim.* tensors), written atomically;\n"
                  "its folder must exist and is checked before training (the default's build/\n"
                  "is created)")
      ->check(non_empty())->type_name("PATH")->capture_default_str()
      ->each([&cfg](const std::string&) { cfg.out_given = true; });
  cmd->add_option("--data", cfg.data,
                  "Fashion-MNIST's IDX files (default: /usr/share/datasets/fashion-mnist from\n"
                  "Debian's dataset-fashion-mnist)")
      ->type_name("DIR")->envname("TESSERA_FASHION_MNIST");
  cmd->add_flag_callback("--no-validate", [&cfg] { cfg.validate = false; },
                         "skip the per-epoch pass over the test set (val_loss, val_accuracy)");
  cmd->add_option("--logdir", cfg.logdir,
                  "write a TensorBoard event file into DIR (created): per-epoch loss, accuracy,\n"
                  "val_*, lr and samples_per_second, weight and gradient histograms, 16 test\n"
                  "images and their predictions, hyper-parameters, the model's graph (view with\n"
                  "`tensorboard --logdir DIR` or `tessera board --logdir DIR`)")
      ->check(non_empty())->type_name("DIR")->envname("TESSERA_LOGDIR");
  cmd->add_option("--limit", cfg.limit, "only the first N training and N test images (quick runs)")
      ->check(positive_int())->type_name("N");
  cmd->add_option("--backup", cfg.backup,
                  "where the run's state is saved at the start of every epoch and at the end\n"
                  "(model, Adam, epoch, data order, random state; atomic), for --resume\n"
                  "(default: <out>.backup)")
      ->check(non_empty())->type_name("PATH");
  cmd->add_flag("--resume", cfg.resume,
                "continue the run saved in the backup (killed, or finished with fewer\n"
                "--epochs): it ends as an uninterrupted run would, for the same --seed,\n"
                "--batch-size, --lr, --limit and --threads; without a backup, starts afresh");
  cmd->add_option("--nproc", cfg.nproc,
                  "data-parallel over N processes on this host: starts them through\n"
                  "`tessera launch` (with --distributed); give --threads per process")
      ->check(positive_int())->type_name("N");
  cmd->add_flag("--distributed", cfg.distributed,
                "run as one rank of a job `tessera launch` started: the model is wrapped in\n"
                "DistributedDataParallel, each rank trains on its shard and --batch-size /\n"
                "ranks of every global batch; rank 0 prints and writes the checkpoint\n"
                "(docs/distributed.md)");
  cmd->add_flag("--compile", cfg.compile,
                "run each training step compiled: forward, backward and Adam's update traced\n"
                "once into one graph (docs/graph.md); the same results as eager");
  cmd->add_option("--precision", cfg.precision,
                  "f32, or bf16: mixed precision (docs/autocast.md): convolutions and matrix\n"
                  "products in bfloat16, float32 weights, optimizer and losses; float32 where\n"
                  "the CPU has no bfloat16 instructions (said on stderr)")
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->type_name("P");
  cmd->footer("Errors end the run with the exit status of their kind (see `tessera --help`).");
  return cmd;
}

int run_train(const TrainConfig& cfg_in) {
  using namespace tessera;
  TrainConfig cfg = cfg_in;
  if (cfg.nproc > 0 && std::getenv("RANK") == nullptr) return relaunch(cfg);
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
  const std::string backup_path = cfg.backup.empty() ? cfg.out + ".backup" : cfg.backup;

  // Seed before building the model: its initialization and dropout draw from the default
  // generator; the loader's own seed fixes the shuffling.
  manual_seed(cfg.seed);
  auto model = models::cnn28();
  constexpr double kFashionMean = 0.2860, kFashionStd = 0.3530;  // train-set pixel statistics
  std::shared_ptr<const data::Dataset> train_set =
      std::make_shared<data::FashionMNIST>(cfg.data, /*train=*/true);
  std::shared_ptr<const data::Dataset> test_set =
      std::make_shared<data::FashionMNIST>(cfg.data, /*train=*/false);
  if (cfg.limit > 0) {
    train_set = std::make_shared<FirstN>(train_set, cfg.limit);
    test_set = std::make_shared<FirstN>(test_set, cfg.limit);
  }
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
  fo.compile = cfg.compile;
  fo.metrics = {std::make_shared<train::Accuracy>()};
  if (cfg.validate) fo.validation = &test_loader;
  if (!cfg.logdir.empty() && rank == 0) {
    // One writer for the callback's curves and histograms and the sample images and text.
    auto writer = std::make_shared<summary::SummaryWriter>(cfg.logdir);
    train::TensorBoardOptions tbo;
    tbo.hparams = {{"lr", cfg.lr},
                   {"batch_size", static_cast<double>(cfg.batch_size)},
                   {"epochs", static_cast<double>(cfg.epochs)},
                   {"seed", static_cast<double>(cfg.seed)},
                   {"model", std::string("cnn28")}};
    tbo.hparam_metrics = {"loss", "accuracy"};
    if (cfg.validate) tbo.hparam_metrics.insert(tbo.hparam_metrics.end(), {"val_loss", "val_accuracy"});
    tbo.graph_input = zeros({1, 1, 28, 28});  // one image: the graph's shapes
    fo.callbacks.push_back(std::make_shared<train::TensorBoard>(writer, tbo));
    fo.callbacks.push_back(std::make_shared<SampleLogger>(writer, *test_set));
    std::cout << "TensorBoard log: " << writer->path() << std::endl;
  }

  // Last among the callbacks: it saves the state the others leave. What must match for a
  // resume to reproduce the run is recorded and checked.
  char lr_text[32];
  std::snprintf(lr_text, sizeof lr_text, "%.17g", cfg.lr);
  auto backup = std::make_shared<train::BackupAndRestore>(
      backup_path, nullptr,
      Metadata{{"model", "cnn28"},
               {"seed", std::to_string(cfg.seed)},
               {"batch_size", std::to_string(cfg.batch_size)},
               {"lr", lr_text},
               {"limit", std::to_string(cfg.limit)}},
      cfg.resume);
  // Distributed: every rank restores the same backup, rank 0 writes it (BackupAndRestore).
  fo.callbacks.push_back(backup);
  if (rank == 0) fo.callbacks.push_back(std::make_shared<ResumeNote>(backup));
  if (cfg.resume && rank == 0 && !std::filesystem::exists(backup_path))
    std::cout << "no backup at " << backup_path << ": starting afresh" << std::endl;

  // Mixed precision: the guard covers this thread, where fit runs every step (and, below,
  // the test evaluation).
  std::optional<AutocastGuard> autocast;
  if (cfg.precision == "bf16") {
    if (bf16_supported())
      autocast.emplace(kBFloat16);
    else
      std::cerr << "tessera train: --precision bf16: this CPU has no bfloat16 instructions (AVX512-BF16 or "
                   "AMX); training in float32\n";
  }
  auto start = std::chrono::steady_clock::now();
  train::History history = train::fit(*trained, train_loader, fo);
  const int64_t epochs_done = backup->restored_epoch() + static_cast<int64_t>(history.size());
  double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  train::Logs test =
      train::evaluate(*trained, test_loader, loss, {std::make_shared<train::Accuracy>()});
  if (rank != 0) {
    distributed::destroy_process_group();
    return 0;
  }

  char acc_text[32];
  std::snprintf(acc_text, sizeof acc_text, "%.4f", test.at("accuracy"));
  save_checkpoint(cfg.out, model->state_dict(), opt.state_dict(),
                  {{"model", "cnn28"},
                   {"dataset", "fashion-mnist"},
                   {"epochs", std::to_string(epochs_done)},
                   {"seed", std::to_string(cfg.seed)},
                   {"test_accuracy", acc_text}});

  std::printf("train_time: %.1fs (%.1fs per epoch)\n", train_s,
              train_s / static_cast<double>(history.size() ? history.size() : 1));
  if (cfg.distributed && !cfg.compile) {
    // How much of the gradient communication the last step's backward hid (eager DDP's
    // hooks time it; a compiled step's collectives are graph nodes, not timed here).
    const auto stats = static_cast<distributed::DistributedDataParallel&>(*trained).last_sync_stats();
    std::printf("all_reduce (last step): %lld buckets, %lld started during backward (%.2f ms), %.2f ms waited after it\n",
                static_cast<long long>(stats.buckets), static_cast<long long>(stats.started_during_backward),
                stats.backward_ms, stats.wait_ms);
  }
  std::printf("checkpoint: %s\n", cfg.out.c_str());
  std::printf("test_loss: %.4f\n", test.at("loss"));
  std::printf("test_accuracy: %s\n", acc_text);
  std::fflush(stdout);
  distributed::destroy_process_group();
  return 0;
}

}  // namespace tessera_cli
