// The built-in callbacks: early stopping, checkpoints, lr scheduling, CSV logging.
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <limits>
#include <sstream>

#include "core/files.h"
#include "tessera/autograd.h"
#include "tessera/distributed.h"
#include "tessera/train.h"

namespace tessera::train {

namespace files = ::tessera::detail;  // core/files.h

namespace {

bool maximize_for(Mode mode, const std::string& monitor) {
  if (mode == Mode::Auto) return monitor.find("acc") != std::string::npos;
  return mode == Mode::Max;
}

double monitored(const char* who, const std::string& monitor, const Logs& logs) {
  auto it = logs.find(monitor);
  if (it != logs.end()) return it->second;
  std::string keys;
  for (const auto& [k, v] : logs) keys += (keys.empty() ? "" : ", ") + k;
  TESSERA_CHECK(false, who, ": monitored value '", monitor, "' is not in the logs (they have: ",
                keys, ")", monitor.rfind("val_", 0) == 0 ? "; did you pass validation data?" : "");
  return 0;
}

// A number for files and logs: shortest form that reads back exactly.
std::string num(double v) {
  std::ostringstream os;
  os << std::setprecision(std::numeric_limits<double>::max_digits10) << v;
  return os.str();
}

}  // namespace

Callback::~Callback() = default;

// ---------------------------------------------------------------- EarlyStopping

EarlyStopping::EarlyStopping(std::string monitor, int64_t patience, double min_delta, Mode mode,
                             bool restore_best)
    : monitor_(std::move(monitor)),
      patience_(patience),
      min_delta_(std::abs(min_delta)),
      maximize_(maximize_for(mode, monitor_)),
      restore_best_(restore_best) {
  TESSERA_CHECK(patience >= 0, "EarlyStopping: patience must be >= 0, got ", patience);
}

void EarlyStopping::on_train_begin(TrainContext&) {
  best_ = maximize_ ? -INFINITY : INFINITY;
  wait_ = 0;
  best_epoch_ = stopped_epoch_ = -1;
  best_weights_.clear();
}

void EarlyStopping::on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) {
  const double v = monitored("EarlyStopping", monitor_, logs);
  const bool improved = maximize_ ? v > best_ + min_delta_ : v < best_ - min_delta_;
  if (improved) {
    best_ = v;
    best_epoch_ = epoch;
    wait_ = 0;
    if (restore_best_) {
      best_weights_.clear();
      for (const auto& [k, t] : ctx.model.state_dict()) best_weights_.emplace_back(k, t.clone());
    }
    return;
  }
  // Stops after `patience` epochs in a row without improvement (Keras's rule; patience 0
  // and 1 both stop at the first one).
  ++wait_;
  if (wait_ >= patience_) {
    stopped_epoch_ = epoch;
    ctx.stop_training = true;
  }
}

void EarlyStopping::on_train_end(TrainContext& ctx) {
  if (restore_best_ && !best_weights_.empty()) ctx.model.load_state_dict(best_weights_);
}

// ---------------------------------------------------------------- ModelCheckpoint

ModelCheckpoint::ModelCheckpoint(std::string path, std::string monitor, bool save_best_only,
                                 Mode mode)
    : path_(std::move(path)),
      monitor_(std::move(monitor)),
      save_best_only_(save_best_only),
      maximize_(maximize_for(mode, monitor_)) {
  TESSERA_CHECK(!path_.empty(), "ModelCheckpoint: the path is empty");
}

namespace {
std::string with_epoch(std::string path, int64_t epoch) {
  const std::string tag = "{epoch}";
  for (size_t at = path.find(tag); at != std::string::npos; at = path.find(tag))
    path.replace(at, tag.size(), std::to_string(epoch + 1));
  return path;
}
}  // namespace

void ModelCheckpoint::on_train_begin(TrainContext&) {
  has_best_ = false;
  // Distributed: every rank holds the same weights, rank 0 alone writes them.
  if (distributed::get_rank() != 0) return;
  // An unwritable folder would otherwise surface only after the first epoch's work.
  files::check_writable_path("ModelCheckpoint", with_epoch(path_, 0));
}

void ModelCheckpoint::on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) {
  double v = 0;
  if (save_best_only_) {
    v = monitored("ModelCheckpoint", monitor_, logs);
    const bool improved = !has_best_ || (maximize_ ? v > best_ : v < best_);
    if (!improved) return;
    best_ = v;
    has_best_ = true;
  } else if (logs.count(monitor_) != 0) {
    v = logs.at(monitor_);
  }
  if (distributed::get_rank() != 0) return;
  const std::string path = with_epoch(path_, epoch);
  Metadata meta{{"epoch", std::to_string(epoch + 1)}};
  if (logs.count(monitor_) != 0) meta[monitor_] = num(v);
  save_safetensors(path, ctx.model.state_dict(), meta);
  saved_.push_back(path);
}

// ---------------------------------------------------------------- LRSchedulerCallback

LRSchedulerCallback::LRSchedulerCallback(std::shared_ptr<optim::LRScheduler> scheduler,
                                         bool per_batch)
    : scheduler_(std::move(scheduler)), per_batch_(per_batch) {
  TESSERA_CHECK(scheduler_ != nullptr, "LRSchedulerCallback: the scheduler is null");
}

LRSchedulerCallback::LRSchedulerCallback(std::shared_ptr<optim::ReduceLROnPlateau> plateau,
                                         std::string monitor)
    : plateau_(std::move(plateau)), monitor_(std::move(monitor)) {
  TESSERA_CHECK(plateau_ != nullptr, "LRSchedulerCallback: the scheduler is null");
}

void LRSchedulerCallback::on_epoch_end(int64_t, Logs& logs, TrainContext&) {
  if (plateau_) plateau_->step(monitored("LRSchedulerCallback", monitor_, logs));
  else if (!per_batch_) scheduler_->step();
}

void LRSchedulerCallback::on_batch_end(int64_t, const Logs&, TrainContext&) {
  if (scheduler_ && per_batch_) scheduler_->step();
}

// ---------------------------------------------------------------- CSVLogger

CSVLogger::CSVLogger(std::string path, char separator, bool append)
    : path_(std::move(path)), sep_(separator), append_(append) {}

void CSVLogger::on_train_begin(TrainContext&) {
  // Appending to an existing file keeps its header (a resumed run adds rows).
  text_.clear();
  if (distributed::get_rank() != 0) return;  // distributed: rank 0 writes the log
  std::error_code ec;
  if (append_ && std::filesystem::exists(path_, ec)) {
    // An existing log that cannot be read must not be replaced by an empty one.
    files::check_readable_file("CSVLogger", path_);
    std::ifstream in(path_, std::ios::binary);
    TESSERA_CHECK_IO(in.is_open(), "CSVLogger: '", path_, "': cannot open the file to append: ",
                     files::errno_text(errno));
    text_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    TESSERA_CHECK_IO(!in.bad(), "CSVLogger: '", path_, "': read error");
    if (!text_.empty() && text_.back() != '\n') text_ += '\n';
  }
  keys_.clear();
  if (!text_.empty()) keys_.push_back("");  // header already there: write rows only
  // Written now (empty, or as it was): an unwritable path fails before the first epoch.
  files::write_file_atomically("CSVLogger", path_, text_);
}

void CSVLogger::on_epoch_end(int64_t epoch, Logs& logs, TrainContext&) {
  if (distributed::get_rank() != 0) return;
  std::ostringstream out;
  if (keys_.empty() || (keys_.size() == 1 && keys_[0].empty())) {
    const bool write_header = keys_.empty();
    keys_.clear();
    for (const auto& [k, v] : logs) keys_.push_back(k);  // std::map: sorted
    if (write_header) {
      out << "epoch";
      for (const auto& k : keys_) out << sep_ << k;
      out << "\n";
    }
  }
  out << epoch;
  for (const auto& k : keys_) {
    out << sep_;
    auto it = logs.find(k);
    if (it != logs.end()) out << num(it->second);  // a key missing this epoch: empty field
  }
  out << "\n";
  // The whole file each time (a few hundred bytes per epoch): a crash mid-write leaves
  // the previous complete file instead of a torn last row.
  text_ += out.str();
  files::write_file_atomically("CSVLogger", path_, text_);
}

void CSVLogger::on_train_end(TrainContext&) {}

}  // namespace tessera::train
