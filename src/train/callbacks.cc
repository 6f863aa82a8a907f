// The built-in callbacks: early stopping, checkpoints, lr scheduling, CSV and TensorBoard
// logging.
#include <algorithm>
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
      for (const auto& [k, t] : ctx.model.state_dict()) best_weights_.insert(k, t.clone());
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

// ---------------------------------------------------------------- TensorBoard

namespace {
void check_tensorboard_options(const TensorBoardOptions& o) {
  TESSERA_CHECK(o.histogram_freq >= 0, "TensorBoard: histogram_freq must be >= 0, got ",
                o.histogram_freq);
  TESSERA_CHECK(o.update_freq >= 0, "TensorBoard: update_freq must be >= 0, got ", o.update_freq);
}
}  // namespace

TensorBoard::TensorBoard(std::string log_dir, TensorBoardOptions options)
    : log_dir_(std::move(log_dir)), options_(std::move(options)), owned_(true) {
  TESSERA_CHECK(!log_dir_.empty(), "TensorBoard: log_dir is empty");
  check_tensorboard_options(options_);
}

TensorBoard::TensorBoard(std::shared_ptr<summary::SummaryWriter> writer, TensorBoardOptions options)
    : options_(std::move(options)), writer_(std::move(writer)) {
  TESSERA_CHECK(writer_ != nullptr, "TensorBoard: the writer is null");
  check_tensorboard_options(options_);
}

void TensorBoard::on_train_begin(TrainContext& ctx) {
  if (owned_) writer_ = std::make_shared<summary::SummaryWriter>(log_dir_, options_.writer);
  if (!options_.hparams.empty()) writer_->add_hparams(options_.hparams, options_.hparam_metrics);
  if (options_.graph_input.defined()) writer_->add_graph(module_graph(ctx.model, options_.graph_input));
}

// ---------------------------------------------------------------- module_graph

std::vector<summary::GraphNode> module_graph(nn::Module& model, const Tensor& example_input) {
  TESSERA_CHECK(example_input.defined(), "module_graph: the example input is undefined");
  struct Call {
    std::string name, op;
    std::vector<Tensor> inputs, outputs;  // held, so their identities stay unique
  };
  std::vector<Call> calls;
  // Hooks on every leaf module, removed again however the run ends.
  struct Hooks {
    std::vector<std::pair<nn::ModulePtr, int64_t>> ids;
    ~Hooks() {
      for (auto& [m, id] : ids) m->remove_forward_hook(id);
    }
  } hooks;
  const std::string root = model.type_name();
  for (auto& [path, m] : model.named_modules()) {
    if (!m->children().empty()) continue;
    std::string name = root;
    if (!path.empty()) {
      std::string scoped = path;
      std::replace(scoped.begin(), scoped.end(), '.', '/');
      name += "/" + scoped;
    }
    const int64_t id = m->register_forward_hook(nn::Module::MultiForwardHook(
        [&calls, name](nn::Module& mod, const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
          calls.push_back({name, mod.type_name(), in, out});
        }));
    hooks.ids.emplace_back(m, id);
  }
  std::vector<Tensor> outputs;
  {
    NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.train(false);
    try {
      outputs = model(std::vector<Tensor>{example_input});
    } catch (const Error& e) {
      model.train(was_training);
      throw_error(e.kind(), std::string("module_graph: running the model on ") +
                                example_input.describe() + " failed: " + e.what());
    }
    model.train(was_training);
  }

  auto shapes = [](const std::vector<Tensor>& ts) {
    std::string s;
    for (const Tensor& t : ts) s += (s.empty() ? "" : ", ") + (t.defined() ? t.describe() : std::string("none"));
    return s;
  };
  std::vector<summary::GraphNode> nodes;
  std::map<const TensorImpl*, std::string> producer;  // a tensor -> the node that made it
  std::map<std::string, int> uses;                    // a module called twice: "<name>_2"
  nodes.push_back({"input", "Input", {}, {{"shape", example_input.describe()}}});
  producer[example_input.impl()] = "input";
  for (const Call& c : calls) {
    const int n = ++uses[c.name];
    summary::GraphNode node{n == 1 ? c.name : c.name + "_" + std::to_string(n), c.op, {},
                            {{"input_shapes", shapes(c.inputs)}, {"output_shapes", shapes(c.outputs)}}};
    for (const Tensor& t : c.inputs) {
      if (!t.defined()) continue;
      auto it = producer.find(t.impl());
      if (it != producer.end() &&
          std::find(node.inputs.begin(), node.inputs.end(), it->second) == node.inputs.end())
        node.inputs.push_back(it->second);
    }
    for (const Tensor& t : c.outputs)
      if (t.defined()) producer[t.impl()] = node.name;
    nodes.push_back(std::move(node));
  }
  summary::GraphNode out{"output", "Output", {}, {{"shape", shapes(outputs)}}};
  for (const Tensor& t : outputs) {
    auto it = t.defined() ? producer.find(t.impl()) : producer.end();
    if (it != producer.end()) out.inputs.push_back(it->second);
  }
  nodes.push_back(std::move(out));
  return nodes;
}

void TensorBoard::on_epoch_begin(int64_t epoch, TrainContext&) {
  epoch_ = epoch;
  epoch_start_ = last_batch_ = std::chrono::steady_clock::now();
}

void TensorBoard::on_batch_end(int64_t batch, const Logs& logs, TrainContext& ctx) {
  last_batch_ = std::chrono::steady_clock::now();
  if (options_.update_freq == 0 || (batch + 1) % options_.update_freq != 0) return;
  const int64_t step = epoch_ * ctx.steps_per_epoch + batch;
  for (const auto& [k, v] : logs) writer_->add_scalar("batch/" + k, v, step);
}

void TensorBoard::on_epoch_end(int64_t epoch, Logs& logs, TrainContext& ctx) {
  for (const auto& [k, v] : logs) writer_->add_scalar(k, v, epoch);
  // Training time only: the validation pass after the last batch is not counted.
  const double secs = std::chrono::duration<double>(last_batch_ - epoch_start_).count();
  if (secs > 0 && ctx.epoch_samples > 0)
    writer_->add_scalar("samples_per_second", static_cast<double>(ctx.epoch_samples) / secs, epoch);
  if (options_.histogram_freq > 0 && (epoch + 1) % options_.histogram_freq == 0) {
    for (const auto& [name, p] : ctx.model.named_parameters()) {
      writer_->add_histogram("weights/" + name, p, epoch);
      if (options_.gradients && p.grad().defined())
        writer_->add_histogram("gradients/" + name, p.grad(), epoch);
    }
  }
  writer_->flush();
}

void TensorBoard::on_train_end(TrainContext&) {
  if (!writer_) return;
  if (owned_) {
    writer_->close();
    writer_.reset();
  } else {
    writer_->flush();
  }
}

}  // namespace tessera::train

// ---------------------------------------------------------------- BackupAndRestore

namespace tessera::train {

namespace {

constexpr const char* kBackupMarker = "tessera.backup";

// Per-epoch logs as metadata text: one line per epoch, "key=value" pairs separated by
// tabs, values written so they read back exactly.
std::string history_text(const History& h) {
  std::string out;
  for (const Logs& logs : h.epochs) {
    std::string line;
    for (const auto& [k, v] : logs) line += (line.empty() ? "" : "\t") + k + "=" + num(v);
    out += line + "\n";
  }
  return out;
}

History parse_history(const std::string& who, const std::string& text) {
  History h;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    Logs logs;
    std::istringstream fields(line);
    std::string f;
    while (std::getline(fields, f, '\t')) {
      const size_t eq = f.rfind('=');
      TESSERA_CHECK(eq != std::string::npos && eq > 0, who, ": the saved history has a malformed field '",
                    f, "'");
      char* end = nullptr;
      const std::string v = f.substr(eq + 1);
      const double d = std::strtod(v.c_str(), &end);
      TESSERA_CHECK(end != v.c_str() && *end == '\0', who, ": the saved history has a malformed value '",
                    f, "'");
      logs[f.substr(0, eq)] = d;
    }
    h.epochs.push_back(std::move(logs));
  }
  return h;
}

uint64_t metadata_uint(const std::string& who, const Metadata& md, const std::string& key) {
  auto it = md.find(key);
  TESSERA_CHECK(it != md.end(), who, ": the backup lacks '", key, "'");
  const std::string& s = it->second;
  uint64_t v = 0;
  char* end = nullptr;
  errno = 0;
  v = std::strtoull(s.c_str(), &end, 10);
  TESSERA_CHECK(!s.empty() && s[0] != '-' && end != s.c_str() && *end == '\0' && errno == 0, who,
                ": the backup's '", key, "' is not an unsigned integer: '", s, "'");
  return v;
}

// Distributed training (a default group of several ranks): every rank takes part in
// backups, rank 0 alone writes them.
bool several_ranks() { return distributed::is_initialized() && distributed::get_world_size() > 1; }

// Every rank's (seed, offset) of its current generator, in rank order (dropout draws per
// rank). A uint64 travels as two 32-bit halves, each exact in a float64.
std::vector<std::pair<uint64_t, uint64_t>> gather_generators() {
  const Generator& gen = current_generator();
  const uint64_t mine[2] = {gen.seed(), gen.offset()};
  std::vector<double> halves;
  for (uint64_t v : mine) {
    halves.push_back(static_cast<double>(v >> 32));
    halves.push_back(static_cast<double>(v & 0xffffffffu));
  }
  if (!several_ranks()) return {{mine[0], mine[1]}};
  const std::vector<double> all = distributed::default_group()->all_gather(tensor<double>(halves)).to_vector<double>();
  std::vector<std::pair<uint64_t, uint64_t>> out;
  auto u64 = [&](size_t i) { return (static_cast<uint64_t>(all[i]) << 32) | static_cast<uint64_t>(all[i + 1]); };
  for (size_t r = 0; r + 3 < all.size(); r += 4) out.emplace_back(u64(r), u64(r + 2));
  return out;
}

}  // namespace

BackupAndRestore::BackupAndRestore(std::string path, std::shared_ptr<optim::LRScheduler> scheduler,
                                   Metadata config, bool restore)
    : path_(std::move(path)), scheduler_(std::move(scheduler)), config_(std::move(config)),
      restore_(restore) {
  TESSERA_CHECK(!path_.empty(), "BackupAndRestore: the path is empty");
}

void BackupAndRestore::on_train_begin(TrainContext& ctx) {
  restored_epoch_ = 0;
  restored_history_ = History{};
  history_ = History{};
  const std::string who = "BackupAndRestore: '" + path_ + "'";
  const int rank = distributed::get_rank(), world = distributed::get_world_size();
  std::error_code ec;
  bool found = restore_ && std::filesystem::exists(path_, ec);
  if (several_ranks()) {
    // Every rank must restore the same backup or none: a rank starting afresh beside
    // restored ones would train other weights on other batches.
    Tensor seen = distributed::default_group()->all_gather(tensor<double>({found ? 1.0 : 0.0}));
    const std::vector<double> v = seen.to_vector<double>();
    for (size_t r = 0; r < v.size(); ++r)
      TESSERA_CHECK(v[r] == v[0], who, ": rank ", r, (v[r] != 0 ? " sees" : " does not see"), " the backup, rank 0 ",
                    (v[0] != 0 ? "does" : "does not"),
                    "; under distributed training every rank reads the same file (a shared file system)");
  }
  if (!found) {
    // Probed now: an unwritable path fails before the first epoch, not after it.
    if (rank == 0) files::check_writable_path("BackupAndRestore", path_);
    first_epoch_ = ctx.initial_epoch;
    return;
  }
  // The one checkpoint layout (serialize.h): model.*, optim.*, sched.* and metadata.
  // Backups written before it carried the checkpoint marker read the same way.
  SafetensorsContents file = load_safetensors(path_);
  TESSERA_CHECK(file.metadata.count(kBackupMarker) && file.metadata.at(kBackupMarker) == "1", who,
                " is not a Tessera training backup (no '", kBackupMarker, "': \"1\" in its metadata)");
  const Checkpoint c = split_checkpoint(std::move(file), path_);
  const Metadata& md = c.metadata;
  for (const auto& [k, v] : config_) {
    auto it = md.find("config." + k);
    const std::string saved = it == md.end() ? "(unset)" : it->second;
    TESSERA_CHECK(saved == v, who, " was made with ", k, "=", saved, ", this run has ", k, "=", v,
                  "; resume with the same settings, or remove the backup to start over");
  }
  const StateDict& model = c.model;
  const StateDict& optim = c.optimizer;
  const StateDict& sched = c.scheduler;
  TESSERA_CHECK(sched.empty() == (scheduler_ == nullptr), who,
                sched.empty() ? " has no scheduler state, but this run has a scheduler"
                              : " has a scheduler's state, but this run has no scheduler");
  const auto epochs_done = static_cast<int64_t>(metadata_uint(who, md, "epochs_done"));
  const auto loader_epoch = static_cast<int64_t>(metadata_uint(who, md, "loader_epoch"));
  // The ranks' data shards (and so every step) depend on their number.
  const uint64_t saved_world = md.count("world_size") ? metadata_uint(who, md, "world_size") : 1;
  TESSERA_CHECK(saved_world == static_cast<uint64_t>(world), who, " was made by a run of ", saved_world,
                " process(es), this run has ", world, "; resume with the same number of processes");
  uint64_t gen_seed = metadata_uint(who, md, "generator_seed");
  uint64_t gen_offset = metadata_uint(who, md, "generator_offset");
  if (rank > 0) {  // rank 0's are the plain keys
    gen_seed = metadata_uint(who, md, detail::concat("generator_seed.rank", rank));
    gen_offset = metadata_uint(who, md, detail::concat("generator_offset.rank", rank));
  }
  History past = parse_history(who, md.count("history") ? md.at("history") : "");
  TESSERA_CHECK(static_cast<int64_t>(past.size()) == epochs_done, who, ": records ", epochs_done,
                " epochs done but the logs of ", past.size());

  // Every load validates before it changes anything, so a mismatched backup leaves the
  // model and optimizer as they were.
  try {
    ctx.model.load_state_dict(model, /*strict=*/true);
    if (ctx.optimizer != nullptr) ctx.optimizer->load_state_dict(optim);
    if (scheduler_) scheduler_->load_state_dict(sched);
  } catch (const Error& e) {
    throw_error(e.kind(), who + ": does not fit this run: " + e.what());
  }
  Generator& gen = current_generator();
  gen.manual_seed(gen_seed);
  gen.set_offset(gen_offset);
  // Continues after the last epoch done: a killed run where it stopped, a finished one only
  // when this run asks for more epochs than it had.
  ctx.initial_epoch = std::min(epochs_done, ctx.epochs);
  if (ctx.train_data != nullptr) ctx.train_data->set_epoch(loader_epoch);
  restored_epoch_ = epochs_done;
  restored_history_ = past;
  history_ = std::move(past);
  first_epoch_ = ctx.initial_epoch;
}

void BackupAndRestore::on_epoch_begin(int64_t epoch, TrainContext& ctx) {
  // At the first epoch of this run the state is what a restart would rebuild anyway.
  if (epoch > first_epoch_) save(epoch, false, ctx);
}

void BackupAndRestore::on_epoch_end(int64_t, Logs& logs, TrainContext&) { history_.epochs.push_back(logs); }

void BackupAndRestore::on_train_end(TrainContext& ctx) {
  save(static_cast<int64_t>(history_.size()), true, ctx);
}

void BackupAndRestore::save(int64_t epochs_done, bool finished, TrainContext& ctx) {
  // Collective (every rank calls save at the same points), then rank 0 writes.
  const std::vector<std::pair<uint64_t, uint64_t>> generators = gather_generators();
  if (distributed::get_rank() != 0) return;
  Checkpoint c;
  c.model = ctx.model.state_dict();
  if (ctx.optimizer != nullptr) c.optimizer = ctx.optimizer->state_dict();
  if (scheduler_) c.scheduler = scheduler_->state_dict();
  Metadata& md = c.metadata;
  md[kBackupMarker] = "1";
  for (const auto& [k, v] : config_) md["config." + k] = v;
  md["epochs_done"] = std::to_string(epochs_done);
  // The loader's next epoch: fit has advanced it past every epoch it ran.
  md["loader_epoch"] = std::to_string(ctx.train_data ? ctx.train_data->epoch() : epochs_done);
  md["world_size"] = std::to_string(generators.size());
  md["generator_seed"] = std::to_string(generators[0].first);
  md["generator_offset"] = std::to_string(generators[0].second);
  for (size_t r = 1; r < generators.size(); ++r) {
    md[detail::concat("generator_seed.rank", r)] = std::to_string(generators[r].first);
    md[detail::concat("generator_offset.rank", r)] = std::to_string(generators[r].second);
  }
  md["finished"] = finished ? "1" : "0";
  md["history"] = history_text(history_);
  save_checkpoint(path_, c);  // atomic (serialize.h)
}

}  // namespace tessera::train
