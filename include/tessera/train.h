#pragma once
// Keras-style training: fit / evaluate / predict, metrics, callbacks, a progress bar.
//
//   optim::Adam opt(model->parameters(), {.lr = 1e-3});
//   train::FitOptions o;
//   o.epochs = 5;
//   o.optimizer = &opt;
//   o.loss = [](const Tensor& out, const Tensor& y) { return nn::functional::cross_entropy(out, y); };
//   o.metrics = {std::make_shared<train::Accuracy>()};
//   o.validation = &test_loader;
//   o.callbacks = {std::make_shared<train::EarlyStopping>("val_loss", 2)};
//   train::History h = train::fit(*model, train_loader, o);
//
// Logs are name -> value maps: "loss", each metric's name, "val_" + those for the
// validation pass, and "lr" (the first param group's lr during the epoch).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tessera/data.h"
#include "tessera/nn/module.h"
#include "tessera/optim.h"
#include "tessera/serialize.h"
#include "tessera/summary.h"

namespace tessera::train {

using Logs = std::map<std::string, double>;
using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;

// ---------------------------------------------------------------- metrics
// A running metric over batches: update() with each batch's model output and target,
// result() for the value so far, reset() between epochs.
class TESSERA_API Metric {
 public:
  virtual ~Metric();
  virtual std::string name() const = 0;  // the key in the logs
  virtual void update(const Tensor& output, const Tensor& target) = 0;
  virtual double result() const = 0;
  virtual void reset() = 0;
  // For distributed training: the running state as numbers that add up across ranks
  // (sums and counts), and the way back. fit and evaluate under a process group of
  // several ranks sum every rank's state and load the total, so result() covers the
  // whole epoch's data. A metric that returns {} (the default) is averaged over ranks.
  virtual std::vector<double> state() const { return {}; }
  virtual void load_state(const std::vector<double>& state) {}
};

// Fraction of examples whose predicted class equals the target. output: scores [N, C]
// (the class is the argmax over the last dim); target: class indices [N] or one-hot /
// probabilities [N, C] (argmax taken). For one score per example ([N] or [N, 1]) the
// prediction is output > threshold (0: logits) against a 0/1 target.
class TESSERA_API Accuracy : public Metric {
 public:
  explicit Accuracy(double threshold = 0.0) : threshold_(threshold) {}
  std::string name() const override { return "accuracy"; }
  void update(const Tensor& output, const Tensor& target) override;
  double result() const override { return total_ ? static_cast<double>(correct_) / total_ : 0.0; }
  void reset() override { correct_ = total_ = 0; }
  std::vector<double> state() const override;
  void load_state(const std::vector<double>& state) override;

 private:
  double threshold_;
  int64_t correct_ = 0, total_ = 0;
};

// Fraction of examples whose target is among the k highest scores.
class TESSERA_API TopKAccuracy : public Metric {
 public:
  explicit TopKAccuracy(int64_t k = 5) : k_(k) {}
  std::string name() const override { return "top" + std::to_string(k_) + "_accuracy"; }
  void update(const Tensor& output, const Tensor& target) override;
  double result() const override { return total_ ? static_cast<double>(correct_) / total_ : 0.0; }
  void reset() override { correct_ = total_ = 0; }
  std::vector<double> state() const override;
  void load_state(const std::vector<double>& state) override;

 private:
  int64_t k_;
  int64_t correct_ = 0, total_ = 0;
};

// The example-weighted mean of a loss (e.g. a second loss to watch besides the trained one).
class TESSERA_API MeanLoss : public Metric {
 public:
  MeanLoss(LossFn loss, std::string name = "mean_loss")
      : loss_(std::move(loss)), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void update(const Tensor& output, const Tensor& target) override;
  double result() const override { return count_ ? sum_ / count_ : 0.0; }
  void reset() override { sum_ = 0, count_ = 0; }
  std::vector<double> state() const override;
  void load_state(const std::vector<double>& state) override;

 private:
  LossFn loss_;
  std::string name_;
  double sum_ = 0;
  int64_t count_ = 0;
};

// Counts (target, predicted) pairs; result() is the overall accuracy (trace / total).
class TESSERA_API ConfusionMatrix : public Metric {
 public:
  explicit ConfusionMatrix(int64_t num_classes);
  std::string name() const override { return "confusion_accuracy"; }
  void update(const Tensor& output, const Tensor& target) override;
  double result() const override;
  void reset() override;
  std::vector<double> state() const override;
  void load_state(const std::vector<double>& state) override;
  // int64 [num_classes, num_classes]: row = true class, column = predicted class.
  Tensor matrix() const;
  int64_t count(int64_t truth, int64_t predicted) const;
  std::string to_string() const;

 private:
  int64_t n_;
  std::vector<int64_t> counts_;
};

// ---------------------------------------------------------------- history and context

// Per-epoch logs, in order.
struct TESSERA_API History {
  std::vector<Logs> epochs;
  // One key across epochs; an error naming the keys present when absent.
  std::vector<double> get(const std::string& key) const;
  size_t size() const { return epochs.size(); }
};

// What callbacks see and may change while fit() runs.
struct TrainContext {
  nn::Module& model;
  optim::Optimizer* optimizer;
  int64_t epochs;             // the number fit() was asked for
  int64_t steps_per_epoch;    // batches per epoch
  const History& history;
  bool stop_training = false;  // set by a callback: fit() stops after this batch / epoch
  int64_t epoch_samples = 0;   // examples trained on so far in the current epoch
  // The first epoch fit() runs (FitOptions.initial_epoch). A callback's on_train_begin may
  // change it (BackupAndRestore does, when it restores a run); fit reads it afterwards.
  int64_t initial_epoch = 0;
  data::DataLoader* train_data = nullptr;  // the loader fit() trains on
};

// ---------------------------------------------------------------- callbacks
// Subclass and override what you need. on_epoch_end's logs may be changed (added keys
// reach the History and the callbacks after this one).
class TESSERA_API Callback {
 public:
  virtual ~Callback();
  virtual void on_train_begin(TrainContext& ctx) {}
  virtual void on_train_end(TrainContext& ctx) {}
  virtual void on_epoch_begin(int64_t epoch, TrainContext& ctx) {}
  virtual void on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) {}
  // batch: index within the epoch; logs: running "loss" and metrics of the epoch so far.
  virtual void on_batch_end(int64_t batch, const Logs& logs, TrainContext& ctx) {}
};

// "auto": "max" when the monitored name contains "acc", else "min" (as Keras).
enum class Mode { Auto, Min, Max };

// Stops training when `monitor` has not improved by more than min_delta for `patience`
// epochs. With restore_best the model gets the best epoch's weights back at the end.
class TESSERA_API EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(std::string monitor = "val_loss", int64_t patience = 0,
                         double min_delta = 0.0, Mode mode = Mode::Auto,
                         bool restore_best = false);
  void on_train_begin(TrainContext& ctx) override;
  void on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) override;
  void on_train_end(TrainContext& ctx) override;
  int64_t stopped_epoch() const { return stopped_epoch_; }  // -1 when it never stopped
  int64_t best_epoch() const { return best_epoch_; }
  double best() const { return best_; }

 private:
  std::string monitor_;
  int64_t patience_;
  double min_delta_;
  bool maximize_;
  bool restore_best_;
  double best_ = 0;
  int64_t wait_ = 0, best_epoch_ = -1, stopped_epoch_ = -1;
  nn::StateDict best_weights_;  // clones
};

// Saves the model's state_dict as safetensors when `monitor` improves (save_best_only) or
// every epoch. "{epoch}" in the path is replaced by the (1-based) epoch number.
// The metadata records the epoch and the monitored value. Saves are atomic; the path
// (epoch 1's) is checked for writability when training begins, so a typo fails at once.
class TESSERA_API ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(std::string path, std::string monitor = "val_loss",
                           bool save_best_only = true, Mode mode = Mode::Auto);
  void on_train_begin(TrainContext& ctx) override;
  void on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) override;
  const std::vector<std::string>& saved() const { return saved_; }  // paths written

 private:
  std::string path_, monitor_;
  bool save_best_only_;
  bool maximize_;
  double best_ = 0;
  bool has_best_ = false;
  std::vector<std::string> saved_;
};

// Steps an LRScheduler after every epoch (or every batch, for OneCycleLR), or a
// ReduceLROnPlateau with the monitored value after every epoch.
class TESSERA_API LRSchedulerCallback : public Callback {
 public:
  explicit LRSchedulerCallback(std::shared_ptr<optim::LRScheduler> scheduler,
                               bool per_batch = false);
  LRSchedulerCallback(std::shared_ptr<optim::ReduceLROnPlateau> plateau,
                      std::string monitor = "val_loss");
  void on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) override;
  void on_batch_end(int64_t batch, const Logs& logs, TrainContext& ctx) override;

 private:
  std::shared_ptr<optim::LRScheduler> scheduler_;
  std::shared_ptr<optim::ReduceLROnPlateau> plateau_;
  bool per_batch_ = false;
  std::string monitor_;
};

// Writes one CSV row per epoch: "epoch" (0-based, as Keras) then the log keys, sorted.
// The header is written with the first row. After every row the whole file is replaced
// atomically (as every Tessera writer, see serialize.h), so a killed run leaves a complete
// log of the epochs it finished, never a half-written row; follow it with `tail -F`, not
// `tail -f`. The path is checked (and the file created) when training begins, so an
// unwritable path fails before the first epoch, not after it.
class TESSERA_API CSVLogger : public Callback {
 public:
  explicit CSVLogger(std::string path, char separator = ',', bool append = false);
  void on_train_begin(TrainContext& ctx) override;
  void on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) override;
  void on_train_end(TrainContext& ctx) override;

 private:
  std::string path_;
  char sep_;
  bool append_;
  std::string text_;  // the whole file: rewritten atomically after every row
  std::vector<std::string> keys_;
};

struct TensorBoardOptions {
  // Weight histograms ("weights/<parameter>") and gradient histograms ("gradients/<...>",
  // the gradients of the epoch's last batch) every histogram_freq epochs; 0: none.
  int64_t histogram_freq = 1;
  bool gradients = true;
  // Also "batch/loss" and "batch/<metric>" (the epoch's running values) every update_freq
  // batches, at step epoch * steps_per_epoch + batch; 0: per epoch only.
  int64_t update_freq = 0;
  // Written when training begins, for TensorBoard's HPARAMS dashboard, with these tags
  // as its metrics (e.g. "val_accuracy"). Empty: none.
  summary::HParams hparams = {};
  std::vector<std::string> hparam_metrics = {};
  // When defined: the model's graph (module_graph with this example input) is written
  // when training begins, for TensorBoard's GRAPHS tab.
  Tensor graph_input = {};
  summary::SummaryWriterOptions writer = {};
};

// The model as a graph of its leaf modules (those without children), found by running it
// once on `example_input` (eval mode, no gradients; the mode is restored) with forward
// hooks: one node per leaf-module call, named by its path in the model
// ("Sequential/features/0"), its op the module's type_name(), with attributes for its
// input and output shapes. An edge joins two calls when one's output tensor is the
// other's input tensor, so a chain of modules is drawn exactly; a value computed between
// modules by plain ops (a residual sum) shows as a missing edge, not a wrong one. Plus an
// "input" node and an "output" node.
TESSERA_API std::vector<summary::GraphNode> module_graph(nn::Module& model, const Tensor& example_input);

// Logs training to a TensorBoard event file (summary.h), at step = epoch (0-based, as the
// History and the CSV log count): every key of the epoch's logs as a scalar of that name
// (loss, the metrics, val_*, lr), "samples_per_second" (training examples over the time
// from the epoch's start to its last batch), and the histograms of TensorBoardOptions.
// The file is flushed after every epoch, so TensorBoard or `tessera board` shows each
// epoch as soon as it ends.
class TESSERA_API TensorBoard : public Callback {
 public:
  // Opens a SummaryWriter on log_dir when training begins (an unusable folder fails then,
  // not after the first epoch) and closes it when training ends.
  explicit TensorBoard(std::string log_dir, TensorBoardOptions options = {});
  // Logs to a writer the caller holds (and may add images or text to); left open.
  explicit TensorBoard(std::shared_ptr<summary::SummaryWriter> writer,
                       TensorBoardOptions options = {});
  void on_train_begin(TrainContext& ctx) override;
  void on_epoch_begin(int64_t epoch, TrainContext& ctx) override;
  void on_batch_end(int64_t batch, const Logs& logs, TrainContext& ctx) override;
  void on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) override;
  void on_train_end(TrainContext& ctx) override;
  // The writer in use (null before training begins when constructed from a log_dir).
  std::shared_ptr<summary::SummaryWriter> writer() const { return writer_; }

 private:
  std::string log_dir_;
  TensorBoardOptions options_;
  std::shared_ptr<summary::SummaryWriter> writer_;
  bool owned_ = false;
  int64_t epoch_ = 0;
  std::chrono::steady_clock::time_point epoch_start_, last_batch_;
};

// Makes a run resumable: saves everything that decides the rest of the run into one
// safetensors file, atomically (killed mid-save, the previous backup survives), at the
// start of every epoch after the first of this run and when training ends:
//   model.*   the module's state_dict           optim.*  the optimizer's state_dict
//   sched.*   the scheduler's state_dict (if given)
//   metadata  the epochs done, the training loader's epoch (its shuffle order and random
//             transforms follow from it), the current generator's seed and offset (dropout),
//             the per-epoch logs so far, and `config` (see below).
// When training begins and the file exists (and `restore`), all of it is loaded back and
// fit continues after the last epoch done (a finished run continues only when asked for
// more epochs than it had), so a run killed at any point and started again with
// the same code and arguments ends with the very same weights and per-epoch logs as one
// that was never interrupted (for the same thread count: kernels' sums depend on it).
//
// `config`: what must not change between the two runs (seed, batch size, ...); a backup
// made with other values is refused, naming them. Place it last among the callbacks, so
// the ones before it (a scheduler's step, say) have run when it saves.
// Callbacks' own state (EarlyStopping's patience count, ...) is not saved.
//
// Under distributed training (a default process group of several ranks) every rank runs
// the callback: rank 0 writes the backup, with every rank's generator state (its dropout
// draws) and the number of ranks; on restore every rank reads the same file (a shared file
// system), takes its own generator state, and refuses a backup made by another number of
// ranks or one that only some ranks see.
class TESSERA_API BackupAndRestore : public Callback {
 public:
  explicit BackupAndRestore(std::string path, std::shared_ptr<optim::LRScheduler> scheduler = nullptr,
                            Metadata config = {}, bool restore = true);
  void on_train_begin(TrainContext& ctx) override;
  void on_epoch_begin(int64_t epoch, TrainContext& ctx) override;
  void on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) override;
  void on_train_end(TrainContext& ctx) override;
  // The epoch training resumed at (0: nothing was restored).
  int64_t restored_epoch() const { return restored_epoch_; }
  // The per-epoch logs of the epochs done before the restore (empty when none).
  const History& restored_history() const { return restored_history_; }
  const std::string& path() const { return path_; }

 private:
  void save(int64_t epochs_done, bool finished, TrainContext& ctx);

  std::string path_;
  std::shared_ptr<optim::LRScheduler> scheduler_;
  Metadata config_;
  bool restore_;
  int64_t restored_epoch_ = 0;
  int64_t first_epoch_ = 0;
  History restored_history_;
  History history_;  // restored + this run's epochs: what the next backup records
};

// ---------------------------------------------------------------- progress bar
// One epoch's progress. In a terminal it redraws one line with '\r':
//   Epoch 1/5  312/938 [=========>...................]  ETA 0:12  5123.4 samples/s  loss: 0.5123  accuracy: 0.8211
// Elsewhere (a log file, a pipe) it prints one plain line when the epoch ends:
//   Epoch 1/5  938/938  19.2s  3122.7 samples/s  loss: 0.4321  accuracy: 0.8456  val_loss: ...
class TESSERA_API ProgressBar {
 public:
  ProgressBar(std::ostream& out, bool tty, int64_t epoch, int64_t epochs, int64_t total_steps);
  // Called after each batch; redraws at most every 100 ms in a terminal.
  void update(int64_t steps_done, int64_t samples_done, const Logs& running);
  // Prints the epoch's final line (with validation logs), then a newline.
  void finish(int64_t steps_done, int64_t samples_done, const Logs& logs);

  // The line itself, for a given elapsed time (tests format it without a clock).
  static std::string format_line(int64_t epoch, int64_t epochs, int64_t steps_done,
                                 int64_t total_steps, double elapsed_s, int64_t samples_done,
                                 const Logs& logs, bool tty, bool final);

 private:
  std::ostream& out_;
  bool tty_;
  int64_t epoch_, epochs_, total_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

// Whether stdout is a terminal (isatty).
TESSERA_API bool stdout_is_tty();

// ---------------------------------------------------------------- fit / evaluate / predict

// ---------------------------------------------------------------- one step

// What a training step hands back to fit: the loss (one value) and the model's output for
// the batch (for the metrics), both detached.
struct StepOutput {
  Tensor loss;
  Tensor output;
};
using TrainStepFn = std::function<StepOutput(const data::Batch& batch)>;

// One training step, as fit runs it by default: forward in the model's current mode, the
// loss, zero_grad, backward, clipping of the gradients' joint 2-norm when
// clip_grad_norm > 0, and the optimizer's step.
TESSERA_API StepOutput train_step(nn::Module& model, optim::Optimizer& optimizer, const LossFn& loss,
                                  const data::Batch& batch, double clip_grad_norm = 0);

// train_step compiled (include/tessera/graph.h): the first batch of a shape traces forward,
// backward and the optimizer's update into one graph, later batches run it. The same
// parameters as train_step (tests/graph/compile_test.cc). A new lr (a scheduler) or batch
// shape traces a new graph.
TESSERA_API TrainStepFn compiled_train_step(nn::Module& model, optim::Optimizer& optimizer,
                                            const LossFn& loss, double clip_grad_norm = 0);

struct FitOptions {
  int64_t epochs = 1;
  optim::Optimizer* optimizer = nullptr;  // required
  LossFn loss = {};                       // required
  std::vector<std::shared_ptr<Metric>> metrics = {};
  data::DataLoader* validation = nullptr;  // evaluated after every epoch when set
  std::vector<std::shared_ptr<Callback>> callbacks = {};
  int verbose = 1;           // 0: silent; 1: progress bar; 2: one line per epoch
  std::ostream* out = nullptr;  // default std::cout
  int tty = -1;              // -1: detect (stdout_is_tty when out is std::cout); 0 / 1: force
  double clip_grad_norm = 0;  // > 0: clip the gradients' joint 2-norm before each step
  // Replaces the default step (train_step with the options above), e.g. with a compiled
  // one. fit still sets the model to train mode and reads the returned loss and output.
  TrainStepFn step = {};
  // Runs the step compiled (compiled_train_step) when `step` is not set.
  bool compile = false;
  // The epoch to start at (0-based), as Keras: epochs initial_epoch .. epochs-1 run, and the
  // training loader is set to epoch initial_epoch first (its shuffle order). A
  // BackupAndRestore callback that restores a run sets it instead.
  int64_t initial_epoch = 0;
};

// Trains `model` on `train_data` for options.epochs epochs; returns the per-epoch logs.
// Under distributed training (a default process group of several ranks, `model` a
// DistributedDataParallel, `train_data` over a distributed sampler) it runs unchanged on
// every rank: the epoch's loss and metrics are reduced over the ranks (so the logs, and
// the callbacks' decisions, are the same everywhere), only rank 0 prints, and
// ModelCheckpoint and CSVLogger write from rank 0 only. A callback that stops training
// must decide from the (reduced) epoch logs, or the ranks part ways.
TESSERA_API History fit(nn::Module& model, data::DataLoader& train_data, const FitOptions& options);

// Mean loss (when `loss` is set) and metrics over `data`, in eval mode without recording;
// the model's train/eval mode is restored afterwards. Keys: "loss" and the metric names.
// Under distributed training they cover every rank's part of the data.
TESSERA_API Logs evaluate(nn::Module& model, data::DataLoader& data, const LossFn& loss = {},
                          const std::vector<std::shared_ptr<Metric>>& metrics = {});

// The model's outputs over `data` (inputs only; targets ignored), concatenated along dim 0.
TESSERA_API Tensor predict(nn::Module& model, data::DataLoader& data);
// The same over the rows of one tensor, `batch_size` rows at a time.
TESSERA_API Tensor predict(nn::Module& model, const Tensor& inputs, int64_t batch_size = 256);

}  // namespace tessera::train
