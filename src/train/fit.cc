// fit / evaluate / predict and the per-epoch progress bar.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "tessera/autograd.h"
#include "tessera/distributed.h"
#include "tessera/ops.h"
#include "tessera/graph.h"
#include "tessera/train.h"

namespace tessera::train {

// ---------------------------------------------------------------- History

std::vector<double> History::get(const std::string& key) const {
  std::vector<double> out;
  for (const auto& logs : epochs) {
    auto it = logs.find(key);
    if (it == logs.end()) {
      std::string keys;
      for (const auto& [k, v] : logs) keys += (keys.empty() ? "" : ", ") + k;
      TESSERA_CHECK(false, "History::get: no '", key, "' in the logs (they have: ", keys, ")");
    }
    out.push_back(it->second);
  }
  return out;
}

// ---------------------------------------------------------------- progress bar

bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) == 1; }

namespace {

std::string clock_str(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// "loss" first, then the other keys in the map's (sorted) order, "lr" left out (it has
// its own column in the CSV log and is noise on the bar).
void append_logs(std::string& line, const Logs& logs) {
  auto put = [&](const std::string& k, double v) { line += "  " + k + ": " + fixed(v, 4); };
  if (auto it = logs.find("loss"); it != logs.end()) put("loss", it->second);
  for (const auto& [k, v] : logs) {
    if (k != "loss" && k != "lr") put(k, v);
  }
}

}  // namespace

ProgressBar::ProgressBar(std::ostream& out, bool tty, int64_t epoch, int64_t epochs,
                         int64_t total_steps)
    : out_(out), tty_(tty), epoch_(epoch), epochs_(epochs), total_(total_steps) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

std::string ProgressBar::format_line(int64_t epoch, int64_t epochs, int64_t steps_done,
                                     int64_t total_steps, double elapsed_s,
                                     int64_t samples_done, const Logs& logs, bool tty,
                                     bool final) {
  std::string line = "Epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs) + "  " +
                     std::to_string(steps_done) + "/" + std::to_string(total_steps);
  if (tty) {
    constexpr int kWidth = 30;
    const double frac = total_steps > 0 ? static_cast<double>(steps_done) / total_steps : 1.0;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(kWidth, '.');
    for (int i = 0; i < filled && i < kWidth; ++i) bar[i] = '=';
    if (filled < kWidth) bar[filled] = '>';
    line += " [" + bar + "]";
  }
  if (final) {
    line += "  " + fixed(elapsed_s, 1) + "s";
  } else {
    const double per_step = steps_done > 0 ? elapsed_s / steps_done : 0.0;
    line += "  ETA " + clock_str(per_step * static_cast<double>(total_steps - steps_done));
  }
  const double rate = elapsed_s > 0 ? static_cast<double>(samples_done) / elapsed_s : 0.0;
  line += "  " + fixed(rate, 1) + " samples/s";
  append_logs(line, logs);
  return line;
}

void ProgressBar::update(int64_t steps_done, int64_t samples_done, const Logs& running) {
  if (!tty_) return;  // a log file gets only the epoch's final line
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && steps_done < total_) return;
  last_draw_ = now;
  drawn_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  // "\033[K" clears what a longer previous line left to the right.
  out_ << "\r" << format_line(epoch_, epochs_, steps_done, total_, elapsed, samples_done, running,
                              true, false)
       << "\033[K" << std::flush;
}

void ProgressBar::finish(int64_t steps_done, int64_t samples_done, const Logs& logs) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line =
      format_line(epoch_, epochs_, steps_done, total_, elapsed, samples_done, logs, tty_, true);
  if (tty_) out_ << "\r" << line << "\033[K\n" << std::flush;
  else out_ << line << "\n" << std::flush;
}

// ---------------------------------------------------------------- fit

namespace {

// Restores a module's train/eval mode when the scope ends (also on errors).
class ModeGuard {
 public:
  ModeGuard(nn::Module& m, bool training) : m_(m), was_(m.is_training()) { m.train(training); }
  ~ModeGuard() { m_.train(was_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  nn::Module& m_;
  bool was_;
};

int64_t batch_size_of(const data::Batch& b) { return b.input.dim() > 0 ? b.input.size(0) : 1; }

bool distributed_run() { return distributed::is_initialized() && distributed::get_world_size() > 1; }

// Under distributed training: the loss (as a sum and a count) and every metric over all
// ranks. Metrics with an additive state are summed and reloaded; others are averaged.
// Every rank gets the same numbers, so callbacks decide alike everywhere.
void reduce_over_ranks(double& loss_sum, int64_t& seen,
                       const std::vector<std::shared_ptr<Metric>>& metrics, Logs& averaged) {
  if (!distributed_run()) return;
  std::vector<double> flat{loss_sum, static_cast<double>(seen)};
  std::vector<size_t> sizes;
  for (const auto& m : metrics) {
    std::vector<double> s = m->state();
    if (s.empty()) s = {m->result()};  // averaged below
    sizes.push_back(s.size());
    flat.insert(flat.end(), s.begin(), s.end());
  }
  Tensor t = tensor<double>(flat);
  distributed::default_group()->all_reduce(t);
  flat = t.to_vector<double>();
  loss_sum = flat[0];
  seen = static_cast<int64_t>(flat[1]);
  size_t at = 2;
  for (size_t i = 0; i < metrics.size(); ++i) {
    std::vector<double> s(flat.begin() + static_cast<std::ptrdiff_t>(at),
                          flat.begin() + static_cast<std::ptrdiff_t>(at + sizes[i]));
    if (metrics[i]->state().empty()) averaged[metrics[i]->name()] = s[0] / distributed::get_world_size();
    else metrics[i]->load_state(s);
    at += sizes[i];
  }
}

}  // namespace

StepOutput train_step(nn::Module& model, optim::Optimizer& optimizer, const LossFn& loss_fn,
                      const data::Batch& batch, double clip_grad_norm) {
  Tensor output = model(batch.input);
  Tensor loss = loss_fn(output, batch.target);
  TESSERA_CHECK(loss.numel() == 1, "train_step: the loss function must return one value, got ",
                loss.describe());
  optimizer.zero_grad();
  loss.backward();
  if (clip_grad_norm > 0) {
    std::vector<Tensor> params;
    for (const auto& g : optimizer.param_groups()) params.insert(params.end(), g.params.begin(), g.params.end());
    optim::clip_grad_norm_(params, clip_grad_norm);
  }
  optimizer.step();
  return {loss.detach(), output.detach()};
}

TrainStepFn compiled_train_step(nn::Module& model, optim::Optimizer& optimizer, const LossFn& loss,
                                double clip_grad_norm) {
  nn::Module* m = &model;
  optim::Optimizer* opt = &optimizer;
  CompiledFunction step = compile([m, opt, loss, clip_grad_norm](const std::vector<Tensor>& in) {
    const StepOutput out = train_step(*m, *opt, loss, {in[0], in[1]}, clip_grad_norm);
    return std::vector<Tensor>{out.loss, out.output};
  });
  return [step](const data::Batch& b) mutable {
    const std::vector<Tensor> out = step({b.input, b.target});
    return StepOutput{out[0], out[1]};
  };
}

History fit(nn::Module& model, data::DataLoader& train_data, const FitOptions& o) {
  TESSERA_CHECK(o.optimizer != nullptr, "fit: FitOptions.optimizer is not set");
  TESSERA_CHECK(static_cast<bool>(o.loss), "fit: FitOptions.loss is not set");
  TESSERA_CHECK(o.epochs >= 0, "fit: epochs must be >= 0, got ", o.epochs);
  TESSERA_CHECK(o.verbose >= 0 && o.verbose <= 2, "fit: verbose must be 0, 1 or 2, got ",
                o.verbose);
  std::ostream& out = o.out != nullptr ? *o.out : std::cout;
  const bool tty = o.tty >= 0 ? o.tty == 1 : (&out == &std::cout && stdout_is_tty());
  // Distributed: one progress bar, rank 0's.
  const int verbose = distributed::get_rank() == 0 ? o.verbose : 0;

  History history;
  const int64_t steps = train_data.size();
  // One compiled step for the whole run, so its graphs are traced once, not per epoch.
  const TrainStepFn compiled =
      o.compile && !o.step ? compiled_train_step(model, *o.optimizer, o.loss, o.clip_grad_norm) : TrainStepFn();
  TESSERA_CHECK(o.initial_epoch >= 0 && o.initial_epoch <= o.epochs,
                "fit: initial_epoch must be in 0..epochs (", o.epochs, "), got ", o.initial_epoch);
  TrainContext ctx{model, o.optimizer, o.epochs, steps, history};
  ctx.initial_epoch = o.initial_epoch;
  ctx.train_data = &train_data;
  // A run started later sees the batches of its epochs, not of the loader's first ones (a
  // callback restoring a run sets the loader's epoch itself).
  if (o.initial_epoch > 0) train_data.set_epoch(o.initial_epoch);
  for (auto& cb : o.callbacks) cb->on_train_begin(ctx);
  TESSERA_CHECK(ctx.initial_epoch >= 0 && ctx.initial_epoch <= o.epochs,
                "fit: a callback set initial_epoch to ", ctx.initial_epoch, ", outside 0..epochs (",
                o.epochs, ")");

  for (int64_t epoch = ctx.initial_epoch; epoch < o.epochs && !ctx.stop_training; ++epoch) {
    ctx.epoch_samples = 0;
    for (auto& cb : o.callbacks) cb->on_epoch_begin(epoch, ctx);
    const double lr = o.optimizer->param_groups().empty() ? 0.0 : o.optimizer->param_groups()[0].lr();
    for (auto& m : o.metrics) m->reset();
    ProgressBar bar(out, verbose == 1 && tty, epoch, o.epochs, steps);
    double loss_sum = 0;
    int64_t seen = 0, step = 0;
    Logs running;
    {
      ModeGuard mode(model, true);
      const TrainStepFn step_fn =
          o.step      ? o.step
          : o.compile ? compiled
                      : TrainStepFn([&](const data::Batch& b) {
                          return train_step(model, *o.optimizer, o.loss, b, o.clip_grad_norm);
                        });
      for (const data::Batch& b : train_data) {
        const StepOutput out = step_fn(b);
        TESSERA_CHECK(out.loss.defined() && out.loss.numel() == 1,
                      "fit: the training step must return one loss value, got ",
                      out.loss.defined() ? out.loss.describe() : std::string("an undefined tensor"));
        const Tensor& output = out.output;

        const int64_t n = batch_size_of(b);
        const double l = out.loss.item<double>();
        TESSERA_CHECK(std::isfinite(l), "fit: the loss became ", l, " at epoch ", epoch + 1,
                      ", batch ", step + 1, " (lr ", lr, "); try a smaller lr or clip_grad_norm");
        loss_sum += l * static_cast<double>(n);
        seen += n;
        ctx.epoch_samples = seen;
        ++step;
        for (auto& m : o.metrics) m->update(output, b.target);
        running["loss"] = loss_sum / static_cast<double>(seen);
        for (auto& m : o.metrics) running[m->name()] = m->result();
        for (auto& cb : o.callbacks) cb->on_batch_end(step - 1, running, ctx);
        if (verbose == 1) bar.update(step, seen, running);
        if (ctx.stop_training) break;
      }
    }
    Logs logs = running;
    if (distributed_run()) {
      Logs averaged;
      reduce_over_ranks(loss_sum, seen, o.metrics, averaged);
      logs["loss"] = seen ? loss_sum / static_cast<double>(seen) : 0.0;
      for (auto& m : o.metrics) logs[m->name()] = averaged.count(m->name()) ? averaged[m->name()] : m->result();
    }
    logs["lr"] = lr;
    if (o.validation != nullptr) {
      const Logs val = evaluate(model, *o.validation, o.loss, o.metrics);
      for (const auto& [k, v] : val) logs["val_" + k] = v;
    }
    if (verbose > 0) bar.finish(step, seen, logs);
    for (auto& cb : o.callbacks) cb->on_epoch_end(epoch, logs, ctx);
    history.epochs.push_back(logs);
  }
  for (auto& cb : o.callbacks) cb->on_train_end(ctx);
  return history;
}

// ---------------------------------------------------------------- evaluate / predict

Logs evaluate(nn::Module& model, data::DataLoader& data, const LossFn& loss,
              const std::vector<std::shared_ptr<Metric>>& metrics) {
  NoGradGuard no_grad;
  ModeGuard mode(model, false);
  for (auto& m : metrics) m->reset();
  double loss_sum = 0;
  int64_t seen = 0;
  for (const data::Batch& b : data) {
    Tensor output = model(b.input);
    const int64_t n = batch_size_of(b);
    if (loss) loss_sum += loss(output, b.target).item<double>() * static_cast<double>(n);
    seen += n;
    for (auto& m : metrics) m->update(output, b.target);
  }
  Logs averaged;
  reduce_over_ranks(loss_sum, seen, metrics, averaged);
  Logs logs;
  if (loss) logs["loss"] = seen ? loss_sum / static_cast<double>(seen) : 0.0;
  for (auto& m : metrics) logs[m->name()] = averaged.count(m->name()) ? averaged[m->name()] : m->result();
  return logs;
}

Tensor predict(nn::Module& model, data::DataLoader& data) {
  NoGradGuard no_grad;
  ModeGuard mode(model, false);
  std::vector<Tensor> outs;
  for (const data::Batch& b : data) outs.push_back(model(b.input));
  TESSERA_CHECK(!outs.empty(), "predict: the data loader yielded no batches");
  return cat(outs, 0);
}

Tensor predict(nn::Module& model, const Tensor& inputs, int64_t batch_size) {
  TESSERA_CHECK(batch_size > 0, "predict: batch_size must be > 0, got ", batch_size);
  TESSERA_CHECK(inputs.dim() >= 1 && inputs.size(0) > 0,
                "predict: expected inputs with a batch dim, got ", inputs.describe());
  NoGradGuard no_grad;
  ModeGuard mode(model, false);
  std::vector<Tensor> outs;
  for (int64_t i = 0; i < inputs.size(0); i += batch_size) {
    outs.push_back(model(inputs.narrow(0, i, std::min(batch_size, inputs.size(0) - i))));
  }
  return cat(outs, 0);
}

}  // namespace tessera::train
