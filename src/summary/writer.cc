// SummaryWriter: builds Event protobufs, frames them as TFRecords and appends them to the
// event file under the flush policy of summary.h.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "core/files.h"
#include "summary/png.h"
#include "summary/proto/hparams.pb.h"
#include "summary/proto/tensorboard.pb.h"
#include "summary/record.h"
#include "tessera/autograd.h"
#include "tessera/summary.h"

namespace tessera::summary {

namespace {

double now_secs() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  // A slash in the name would make the file name a path.
  std::string h = buf;
  std::replace(h.begin(), h.end(), '/', '_');
  return h;
}

void check_tag(const char* who, const std::string& tag) {
  TESSERA_CHECK(!tag.empty(), who, ": the tag is empty");
  TESSERA_CHECK(tag.find('\0') == std::string::npos, who, ": the tag contains a NUL byte");
}

// The tensor's values as contiguous doubles, without recording anything for autograd.
std::vector<double> values_of(const Tensor& t) {
  NoGradGuard no_grad;
  return t.detach().to_vector<double>();
}

}  // namespace

// ---------------------------------------------------------------- histograms

Histogram make_histogram(const Tensor& values, int bins) {
  TESSERA_CHECK(values.defined(), "make_histogram: the tensor is undefined");
  TESSERA_CHECK(bins >= 1, "make_histogram: bins must be >= 1, got ", bins);
  TESSERA_CHECK(values.dtype() != kBool, "make_histogram: expected a numeric tensor, got ",
                values.describe());
  const std::vector<double> v = values_of(values);
  Histogram h;
  if (v.empty()) return h;  // TensorBoard shows an empty histogram
  const auto bad = std::count_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); });
  TESSERA_CHECK(bad == 0, "make_histogram: ", values.describe(), " has ", bad, " non-finite value",
                bad == 1 ? "" : "s", " (nan or inf) among ", v.size());
  h.min = *std::min_element(v.begin(), v.end());
  h.max = *std::max_element(v.begin(), v.end());
  h.num = static_cast<double>(v.size());
  for (double x : v) {
    h.sum += x;
    h.sum_squares += x * x;
  }
  if (h.min == h.max) {
    h.bucket_limits = {h.max};
    h.bucket_counts = {h.num};
    return h;
  }
  const double width = (h.max - h.min) / bins;
  h.bucket_limits.resize(static_cast<size_t>(bins));
  h.bucket_counts.assign(static_cast<size_t>(bins), 0.0);
  for (int i = 0; i < bins; ++i) h.bucket_limits[static_cast<size_t>(i)] = h.min + width * (i + 1);
  h.bucket_limits.back() = h.max;  // exact, whatever the rounding of min + width * bins
  for (double x : v) {
    // Buckets are right-closed: x on a limit counts in the bucket below it, min in the first.
    auto i = static_cast<int64_t>(std::ceil((x - h.min) / width)) - 1;
    i = std::clamp<int64_t>(i, 0, bins - 1);
    // Rounding in the division may put x one bucket off its limits; settle it by them.
    while (i > 0 && x <= h.bucket_limits[static_cast<size_t>(i - 1)]) --i;
    while (i < bins - 1 && x > h.bucket_limits[static_cast<size_t>(i)]) ++i;
    h.bucket_counts[static_cast<size_t>(i)] += 1;
  }
  return h;
}

// ---------------------------------------------------------------- the writer

struct SummaryWriter::Impl {
  std::string log_dir, path;
  SummaryWriterOptions opt;

  std::mutex mu;  // guards everything below
  std::condition_variable cv;
  std::string pending;  // framed records not yet written
  int pending_n = 0;
  int fd = -1;
  bool closed = false, stopping = false, hparams_written = false;
  std::exception_ptr background_error;  // a failed write of the flusher thread
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
  std::thread flusher;

  // Normally close() has done all this; here for a constructor that failed half-way.
  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    cv.notify_all();
    if (flusher.joinable()) flusher.join();
    if (fd >= 0) ::close(fd);
  }

  // Appends `pending` to the file, whole, retrying short writes. Caller holds mu.
  void write_pending_locked() {
    size_t done = 0;
    while (done < pending.size()) {
      const ssize_t n = ::write(fd, pending.data() + done, pending.size() - done);
      if (n < 0 && errno == EINTR) continue;
      TESSERA_CHECK_IO(n > 0, "SummaryWriter: writing '", path, "': ",
                       ::tessera::detail::errno_text(n < 0 ? errno : ENOSPC));
      done += static_cast<size_t>(n);
    }
    pending.clear();
    pending_n = 0;
    last_write = std::chrono::steady_clock::now();
  }

  void rethrow_background_locked() {
    if (background_error) {
      std::exception_ptr e = background_error;
      background_error = nullptr;  // reported once
      std::rethrow_exception(e);
    }
  }

  void check_open_locked(const char* who) {
    rethrow_background_locked();
    TESSERA_CHECK(!closed, who, ": the writer of '", path, "' is closed");
  }

  void add(const char* who, tb::Event& event) {
    std::string bytes;
    TESSERA_INTERNAL_ASSERT(event.SerializeToString(&bytes), "serializing an Event failed");
    std::lock_guard<std::mutex> lock(mu);
    check_open_locked(who);
    detail::append_record(pending, bytes);
    if (++pending_n >= opt.max_queue) write_pending_locked();
  }

  void flusher_loop() {
    std::unique_lock<std::mutex> lock(mu);
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(opt.flush_secs));
    while (!stopping) {
      cv.wait_until(lock, last_write + period, [&] { return stopping; });
      if (stopping) break;
      if (pending_n > 0 && std::chrono::steady_clock::now() - last_write >= period &&
          !background_error) {
        try {
          write_pending_locked();
        } catch (...) {
          background_error = std::current_exception();
        }
      } else if (pending_n == 0) {
        last_write = std::chrono::steady_clock::now();  // nothing waits: sleep a period
      }
    }
  }
};

SummaryWriter::SummaryWriter(const std::string& log_dir, SummaryWriterOptions options)
    : impl_(std::make_unique<Impl>()) {
  TESSERA_CHECK(!log_dir.empty(), "SummaryWriter: log_dir is empty");
  TESSERA_CHECK(options.max_queue >= 1, "SummaryWriter: max_queue must be >= 1, got ",
                options.max_queue);
  TESSERA_CHECK(options.flush_secs > 0 && std::isfinite(options.flush_secs),
                "SummaryWriter: flush_secs must be > 0, got ", options.flush_secs);
  TESSERA_CHECK(options.filename_suffix.find('/') == std::string::npos,
                "SummaryWriter: filename_suffix must not contain '/', got '",
                options.filename_suffix, "'");
  Impl& m = *impl_;
  m.log_dir = log_dir;
  m.opt = std::move(options);
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  TESSERA_CHECK_IO(!ec && std::filesystem::is_directory(log_dir),
                   "SummaryWriter: cannot create the log folder '", log_dir, "': ",
                   ec ? ec.message() : std::string("it exists and is not a folder"));

  // events.out.tfevents.<seconds>.<host>[.<n>]<suffix>, created exclusively: two writers
  // started in the same second in the same folder get different files.
  const std::string base = log_dir + "/events.out.tfevents." +
                           std::to_string(static_cast<long long>(std::time(nullptr))) + "." +
                           host_name();
  for (int n = 1;; ++n) {
    // Built by appending: GCC 12's -Wrestrict misfires on chained string operator+ at -O3.
    m.path = base;
    if (n > 1) m.path.append(".").append(std::to_string(n));
    m.path.append(m.opt.filename_suffix);
    m.fd = ::open(m.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (m.fd >= 0 || errno != EEXIST || n >= 1000) break;
  }
  TESSERA_CHECK_IO(m.fd >= 0, "SummaryWriter: cannot create '", m.path, "': ",
                   ::tessera::detail::errno_text(errno));

  tb::Event first;
  first.set_wall_time(now_secs());
  first.set_file_version("brain.Event:2");
  m.add("SummaryWriter", first);
  {
    // The version record goes out at once: TensorBoard lists the run from then on.
    std::lock_guard<std::mutex> lock(m.mu);
    m.write_pending_locked();
  }
  m.flusher = std::thread([&m] { m.flusher_loop(); });
}

SummaryWriter::~SummaryWriter() {
  try {
    close();
  } catch (const std::exception& e) {
    std::cerr << "tessera: SummaryWriter: closing '" << impl_->path << "' failed: " << e.what()
              << "\n";
  }
}

const std::string& SummaryWriter::log_dir() const { return impl_->log_dir; }
const std::string& SummaryWriter::path() const { return impl_->path; }

namespace {

tb::Event event_at(int64_t step, double wall_time) {
  tb::Event e;
  e.set_wall_time(wall_time > 0 ? wall_time : now_secs());
  e.set_step(step);
  return e;
}

void set_plugin(tb::Summary::Value* v, const std::string& plugin, tb::DataClass data_class,
                const std::string& content = {}) {
  auto* md = v->mutable_metadata();
  md->mutable_plugin_data()->set_plugin_name(plugin);
  if (!content.empty()) md->mutable_plugin_data()->set_content(content);
  md->set_data_class(data_class);
}

}  // namespace

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step,
                               double wall_time) {
  check_tag("add_scalar", tag);
  tb::Event e = event_at(step, wall_time);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  impl_->add("add_scalar", e);
}

void SummaryWriter::add_histogram(const std::string& tag, const Tensor& values, int64_t step,
                                  int bins, double wall_time) {
  check_tag("add_histogram", tag);
  Histogram h;
  try {
    h = make_histogram(values, bins);
  } catch (const Error& err) {
    throw_error(err.kind(), "add_histogram '" + tag + "': " + err.what());
  }
  add_histogram(tag, h, step, wall_time);
}

void SummaryWriter::add_histogram(const std::string& tag, const Histogram& h, int64_t step,
                                  double wall_time) {
  check_tag("add_histogram", tag);
  TESSERA_CHECK(h.bucket_limits.size() == h.bucket_counts.size(), "add_histogram '", tag,
                "': ", h.bucket_limits.size(), " bucket limits but ", h.bucket_counts.size(),
                " counts");
  TESSERA_CHECK(std::is_sorted(h.bucket_limits.begin(), h.bucket_limits.end()),
                "add_histogram '", tag, "': the bucket limits must be ascending");
  tb::Event e = event_at(step, wall_time);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* p = v->mutable_histo();
  p->set_min(h.min);
  p->set_max(h.max);
  p->set_num(h.num);
  p->set_sum(h.sum);
  p->set_sum_squares(h.sum_squares);
  for (double l : h.bucket_limits) p->add_bucket_limit(l);
  for (double c : h.bucket_counts) p->add_bucket(c);
  impl_->add("add_histogram", e);
}

void SummaryWriter::add_image(const std::string& tag, const Tensor& image, int64_t step,
                              ImageLayout layout, double wall_time) {
  check_tag("add_image", tag);
  TESSERA_CHECK(image.defined(), "add_image '", tag, "': the tensor is undefined");
  const bool chw = layout == ImageLayout::CHW;
  TESSERA_CHECK(image.dim() == 2 || image.dim() == 3, "add_image '", tag,
                "': expected [H, W] or ", chw ? "[C, H, W]" : "[H, W, C]", ", got ",
                image.describe());
  TESSERA_CHECK(image.dtype() != kBool, "add_image '", tag,
                "': expected uint8 or floating-point values, got ", image.describe());
  Tensor hwc = image.dim() == 2 ? image.unsqueeze(2) : chw ? image.permute({1, 2, 0}) : image;
  const int64_t h = hwc.size(0), w = hwc.size(1), c = hwc.size(2);
  TESSERA_CHECK(c >= 1 && c <= 4, "add_image '", tag, "': expected 1 to 4 channels (", 
                chw ? "dim 0" : "dim 2", "), got ", image.describe());
  TESSERA_CHECK(h > 0 && w > 0 && h <= (1 << 16) && w <= (1 << 16), "add_image '", tag,
                "': height and width must be in 1..65536, got ", image.describe());
  const bool bytes = image.dtype() == kUInt8;
  TESSERA_CHECK(bytes || image.dtype() == kFloat32 || image.dtype() == kFloat64 ||
                    image.dtype() == kFloat16 || image.dtype() == kBFloat16,
                "add_image '", tag, "': expected uint8 (0..255) or floating-point (0..1) values, got ",
                image.describe());
  const std::vector<double> v = values_of(hwc);
  std::vector<uint8_t> px(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    double x = bytes ? v[i] : std::clamp(std::isnan(v[i]) ? 0.0 : v[i], 0.0, 1.0) * 255.0;
    px[i] = static_cast<uint8_t>(std::lround(x));
  }
  tb::Event e = event_at(step, wall_time);
  auto* val = e.mutable_summary()->add_value();
  val->set_tag(tag);
  auto* img = val->mutable_image();
  img->set_height(static_cast<int32_t>(h));
  img->set_width(static_cast<int32_t>(w));
  img->set_colorspace(static_cast<int32_t>(c));
  img->set_encoded_image_string(
      detail::encode_png(px.data(), static_cast<int>(w), static_cast<int>(h), static_cast<int>(c)));
  impl_->add("add_image", e);
}

void SummaryWriter::add_text(const std::string& tag, const std::string& text, int64_t step,
                             double wall_time) {
  check_tag("add_text", tag);
  tb::Event e = event_at(step, wall_time);
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  set_plugin(v, "text", tb::DATA_CLASS_TENSOR);
  auto* t = v->mutable_tensor();
  t->set_dtype(tb::DT_STRING);
  t->mutable_tensor_shape()->add_dim()->set_size(1);
  t->add_string_val(text);
  impl_->add("add_text", e);
}

namespace {

// The hparams plugin's records carry their payload in the metadata and an empty float
// tensor as the value (what TensorBoard itself substitutes when there is none).
void add_hparams_value(tb::Event& e, const std::string& tag, const tb::HParamsPluginData& data) {
  auto* v = e.mutable_summary()->add_value();
  v->set_tag(tag);
  std::string content;
  TESSERA_INTERNAL_ASSERT(data.SerializeToString(&content), "serializing hparams failed");
  set_plugin(v, "hparams", tb::DATA_CLASS_TENSOR, content);
  auto* t = v->mutable_tensor();
  t->set_dtype(tb::DT_FLOAT);
  t->mutable_tensor_shape()->add_dim()->set_size(0);
}

}  // namespace

void SummaryWriter::add_hparams(const HParams& hparams, const std::vector<std::string>& metric_tags) {
  TESSERA_CHECK(!hparams.empty(), "add_hparams: no hyper-parameters given");
  for (const auto& [name, value] : hparams) check_tag("add_hparams (a name)", name);
  for (const auto& tag : metric_tags) check_tag("add_hparams (a metric tag)", tag);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->check_open_locked("add_hparams");
    TESSERA_CHECK(!impl_->hparams_written, "add_hparams: '", impl_->path,
                  "' has its hyper-parameters already (once per writer: one run, one set)");
    impl_->hparams_written = true;
  }
  const double now = now_secs();
  tb::HParamsPluginData experiment;
  auto* ex = experiment.mutable_experiment();
  ex->set_time_created_secs(now);
  tb::HParamsPluginData start;
  auto* si = start.mutable_session_start_info();
  si->set_start_time_secs(now);
  for (const auto& [name, value] : hparams) {
    auto* info = ex->add_hparam_infos();
    info->set_name(name);
    tb::HValue hv;
    if (const double* d = std::get_if<double>(&value)) {
      info->set_type(tb::DATA_TYPE_FLOAT64);
      hv.set_number_value(*d);
    } else if (const std::string* s = std::get_if<std::string>(&value)) {
      info->set_type(tb::DATA_TYPE_STRING);
      hv.set_string_value(*s);
    } else {
      info->set_type(tb::DATA_TYPE_BOOL);
      hv.set_bool_value(std::get<bool>(value));
    }
    (*si->mutable_hparams())[name] = hv;
  }
  for (const auto& tag : metric_tags) ex->add_metric_infos()->mutable_name()->set_tag(tag);

  tb::Event e = event_at(0, now);
  add_hparams_value(e, "_hparams_/experiment", experiment);
  impl_->add("add_hparams", e);
  tb::Event s = event_at(0, now);
  add_hparams_value(s, "_hparams_/session_start_info", start);
  impl_->add("add_hparams", s);
}

void SummaryWriter::add_graph(const std::vector<GraphNode>& nodes) {
  TESSERA_CHECK(!nodes.empty(), "add_graph: the graph has no nodes");
  std::set<std::string> names;
  for (const GraphNode& n : nodes) {
    check_tag("add_graph (a node name)", n.name);
    TESSERA_CHECK(names.insert(n.name).second, "add_graph: two nodes are named '", n.name, "'");
  }
  tb::GraphDef graph;
  for (const GraphNode& n : nodes) {
    auto* node = graph.add_node();
    node->set_name(n.name);
    node->set_op(n.op);
    for (const std::string& in : n.inputs) {
      TESSERA_CHECK(names.count(in), "add_graph: node '", n.name, "' has input '", in,
                    "', which is not a node of the graph");
      node->add_input(in);
    }
    for (const auto& [k, v] : n.attrs) (*node->mutable_attr())[k].set_s(v);
  }
  tb::Event e = event_at(0, 0);
  std::string bytes;
  TESSERA_INTERNAL_ASSERT(graph.SerializeToString(&bytes), "serializing a GraphDef failed");
  e.set_graph_def(bytes);
  impl_->add("add_graph", e);
}

void SummaryWriter::flush() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->check_open_locked("SummaryWriter::flush");
  impl_->write_pending_locked();
}

void SummaryWriter::close() {
  Impl& m = *impl_;
  bool end_session = false;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.closed) return;
    end_session = m.hparams_written && !m.background_error;
  }
  if (end_session) {
    tb::HParamsPluginData end;
    end.mutable_session_end_info()->set_status(tb::STATUS_SUCCESS);
    end.mutable_session_end_info()->set_end_time_secs(now_secs());
    tb::Event e = event_at(0, 0);
    add_hparams_value(e, "_hparams_/session_end_info", end);
    m.add("SummaryWriter::close", e);
  }
  {
    std::lock_guard<std::mutex> lock(m.mu);
    m.stopping = true;
  }
  m.cv.notify_all();
  if (m.flusher.joinable()) m.flusher.join();
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.closed) return;
  m.closed = true;
  // The file is closed whatever happens below; the first failure is reported.
  std::exception_ptr failure = m.background_error;
  m.background_error = nullptr;
  if (!failure) {
    try {
      m.write_pending_locked();
      TESSERA_CHECK_IO(::fsync(m.fd) == 0 || errno == EINVAL, "SummaryWriter: fsync of '", m.path,
                       "': ", ::tessera::detail::errno_text(errno));
    } catch (...) {
      failure = std::current_exception();
    }
  }
  const int rc = ::close(m.fd);
  const int close_errno = errno;
  m.fd = -1;
  if (failure) std::rethrow_exception(failure);
  TESSERA_CHECK_IO(rc == 0, "SummaryWriter: closing '", m.path, "': ",
                   ::tessera::detail::errno_text(close_errno));
}

}  // namespace tessera::summary
