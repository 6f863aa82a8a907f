#pragma once
// TensorBoard event files: write scalars, histograms, images, text and hyper-parameters
// that TensorBoard (or `tessera board`) draws as curves, and read such files back.
//
//   summary::SummaryWriter w("runs/adam-1e-3");
//   for (int64_t step = 0; step < 100; ++step) w.add_scalar("loss", loss_at(step), step);
//   w.add_histogram("weights/fc.weight", model->fc->weight, step);
//   w.add_image("samples/first", images.select(0, 0), step);  // [C, H, W], float in [0, 1]
//   w.add_hparams({{"lr", 1e-3}, {"optimizer", "adam"}}, {"loss", "val_accuracy"});
//
// The file: `<log_dir>/events.out.tfevents.<unix seconds>.<host name>`, a sequence of
// TFRecords (a little-endian uint64 length, its masked CRC32C, the bytes of one Event
// protobuf, their masked CRC32C). The first event names the format ("brain.Event:2").
// Each writer has a file of its own; give each run its own log_dir (runs/<name>), and
// TensorBoard overlays the runs found under the folder it is pointed at.
//
// Flush policy: events are kept in memory and appended to the file, whole records in one
// write, when max_queue of them are waiting, when flush_secs have passed since the last
// write (a background thread sees to it, so a run that logs once an hour still shows up),
// on flush(), and on close(). A reader never sees a half-written record unless the
// process dies mid-write; the reader below leaves such a tail for the next read.
//
// Threads: every method may be called from several threads at once (a lock orders the
// events; the file holds each one whole). A write failure on the background thread is
// reported by the next call on the writer.
//
// Errors: an unusable log_dir throws IOError naming it and the reason; bad values (an
// empty tag, a histogram of NaNs, an image of the wrong shape or dtype) InvalidArgumentError.
// The protobuf records are private to the library: nothing of protobuf appears here or
// is exported from libtessera.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tessera/export.h"
#include "tessera/tensor.h"

namespace tessera::summary {

struct SummaryWriterOptions {
  int max_queue = 10;       // events waiting in memory before they are written (>= 1)
  double flush_secs = 10;   // the longest an event waits in memory (> 0)
  std::string filename_suffix = {};  // appended to the file name (e.g. ".eval")
};

// A histogram as TensorBoard stores it: bucket i counts the values in
// (bucket_limits[i-1], bucket_limits[i]], the first bucket starting at min.
struct Histogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limits;
  std::vector<double> bucket_counts;
};

// `bins` equal-width buckets over [min, max] of the values (any dtype, any shape);
// one bucket when they are all equal. Non-finite values are an error (naming how many).
TESSERA_API Histogram make_histogram(const Tensor& values, int bins = 30);

// A hyper-parameter's value: a number, a string or a flag.
using HParamValue = std::variant<double, std::string, bool>;
using HParams = std::map<std::string, HParamValue>;

// A node of a model graph, as TensorBoard's GRAPHS tab draws it (train::module_graph
// builds them from a module).
struct GraphNode {
  std::string name;                 // unique; "/" separates scopes ("Sequential/0")
  std::string op;                   // what it is: "Conv2d", "Linear", "Input", ...
  std::vector<std::string> inputs;  // the names of the nodes feeding it
  std::map<std::string, std::string> attrs = {};  // shown in the node's info card
};

// How add_image reads a 3-dim tensor: channels first or last.
enum class ImageLayout { CHW, HWC };

class TESSERA_API SummaryWriter {
 public:
  // Creates log_dir (and its parents) and the event file, writes the file-version record.
  explicit SummaryWriter(const std::string& log_dir, SummaryWriterOptions options = {});
  // Closes; an error then is printed to stderr (a destructor must not throw): call
  // close() first to have it thrown.
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  const std::string& log_dir() const;
  const std::string& path() const;  // the event file

  // wall_time: seconds since the Unix epoch; <= 0 (the default) means now.
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time = 0);
  // The histogram of the tensor's values (make_histogram), or one made beforehand.
  void add_histogram(const std::string& tag, const Tensor& values, int64_t step, int bins = 30,
                     double wall_time = 0);
  void add_histogram(const std::string& tag, const Histogram& histogram, int64_t step,
                     double wall_time = 0);
  // An image, stored as PNG: [H, W] (grey), or [C, H, W] / [H, W, C] (per `layout`) with
  // C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). uint8 values are used as they are;
  // floating-point ones are taken in [0, 1] (clamped) and scaled to 0..255.
  void add_image(const std::string& tag, const Tensor& image, int64_t step,
                 ImageLayout layout = ImageLayout::CHW, double wall_time = 0);
  // Text (TensorBoard renders it as Markdown).
  void add_text(const std::string& tag, const std::string& text, int64_t step,
                double wall_time = 0);
  // The run's hyper-parameters for TensorBoard's HPARAMS dashboard, with the scalar tags
  // it should show beside them (e.g. "val_accuracy"). Once per writer; close() marks the
  // session finished.
  void add_hparams(const HParams& hparams, const std::vector<std::string>& metric_tags = {});
  // A model graph. Names must be unique and inputs must name nodes of the graph.
  void add_graph(const std::vector<GraphNode>& nodes);

  // Appends the waiting events to the file now.
  void flush();
  // flush(), then fsync and close the file; later adds throw. Idempotent.
  void close();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------- reading event files

// One value of one event, as read back.
struct SummaryRecord {
  enum class Kind { Scalar, Histogram, Image, Text, HParams, Other };
  double wall_time = 0;
  int64_t step = 0;
  std::string tag;
  Kind kind = Kind::Other;
  std::string plugin;        // the metadata's plugin name ("text", "hparams", ...) if any
  double scalar = 0;         // Scalar
  Histogram histogram;       // Histogram
  std::string image_png;     // Image: the encoded bytes
  int image_width = 0, image_height = 0, image_channels = 0;
  std::string text;          // Text
  HParams hparams;           // HParams: a run's hyper-parameters (its session-start record)
};

// Reads an event file incrementally, as a dashboard follows a run that is still writing.
// Every record's length and data checksums are verified: a corrupt record throws
// InvalidArgumentError naming the file, the record's byte offset and what was wrong. A
// record cut short at the end of the file is left for the next call (the writer may be
// in the middle of it); see truncated_tail().
class TESSERA_API EventFileReader {
 public:
  explicit EventFileReader(std::string path);
  // The records appended since the last call (all of them the first time).
  std::vector<SummaryRecord> read_new();
  const std::string& path() const { return path_; }
  const std::string& file_version() const { return file_version_; }  // "brain.Event:2"
  uint64_t offset() const { return offset_; }  // bytes consumed so far
  // Bytes at the end that do not form a whole record yet (0 after a clean read).
  uint64_t truncated_tail() const { return tail_; }

 private:
  std::string path_;
  std::string file_version_;
  uint64_t offset_ = 0, tail_ = 0;
  int64_t records_ = 0;
};

// The whole file; unlike read_new(), a record cut short at the end is an error.
TESSERA_API std::vector<SummaryRecord> read_event_file(const std::string& path);

// The event files in a folder (names containing "tfevents"), sorted by name.
TESSERA_API std::vector<std::string> list_event_files(const std::string& dir);

}  // namespace tessera::summary
