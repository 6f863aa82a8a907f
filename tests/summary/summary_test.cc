// SummaryWriter and the event-file reader: TFRecord framing and CRC32C, every kind of
// summary read back, the flush policy, several writing threads, corrupt and truncated
// files, and the TensorBoard callback under fit.
#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "summary/record.h"
#include "tessera/data.h"
#include "tessera/nn.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/summary.h"
#include "tessera/train.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::summary;
using Kind = SummaryRecord::Kind;
namespace rec = tessera::summary::detail;  // the framing (src/summary/record.h)

namespace {

// A fresh folder per test, removed afterwards.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string& name) {
    path = (fs::temp_directory_path() /
            ("tessera_summary_" + std::to_string(::getpid()) + "_" + name))
               .string();
    fs::remove_all(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<SummaryRecord> with_tag(const std::vector<SummaryRecord>& rs, const std::string& tag) {
  std::vector<SummaryRecord> out;
  for (const auto& r : rs)
    if (r.tag == tag) out.push_back(r);
  return out;
}

// Decodes a PNG with libpng into 8-bit samples of its own format.
std::vector<uint8_t> decode_png(const std::string& bytes, int& w, int& h, int& channels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
      << image.message;
  w = static_cast<int>(image.width);
  h = static_cast<int>(image.height);
  channels = static_cast<int>(PNG_IMAGE_SAMPLE_CHANNELS(image.format));
  std::vector<uint8_t> px(PNG_IMAGE_SIZE(image));
  EXPECT_TRUE(png_image_finish_read(&image, nullptr, px.data(), 0, nullptr)) << image.message;
  return px;
}

}  // namespace

TEST(Summary, Crc32cKnownValues) {
  // The CRC-32C check value (RFC 3720's polynomial) and the empty string.
  EXPECT_EQ(rec::crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(rec::crc32c("", 0), 0u);
  // 32 zero bytes: RFC 3720 B.4's first example.
  const std::string zeros(32, '\0');
  EXPECT_EQ(rec::crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  // The mask is a rotation plus a constant, so masking changes every value and unmasking
  // (subtract, rotate back) recovers it.
  const uint32_t c = 0x12345678u;
  const uint32_t m = rec::mask_crc(c) - 0xa282ead8u;
  EXPECT_EQ((m << 15) | (m >> 17), c);
}

TEST(Summary, RecordFraming) {
  std::string buf;
  rec::append_record(buf, "hello");
  ASSERT_EQ(buf.size(), rec::kRecordOverhead + 5);
  EXPECT_EQ(static_cast<uint8_t>(buf[0]), 5);  // little-endian length
  const rec::Frame f = rec::read_frame(buf, 0);
  ASSERT_EQ(f.status, rec::FrameStatus::Ok);
  EXPECT_EQ(f.data, "hello");
  EXPECT_EQ(f.next, buf.size());
  EXPECT_EQ(rec::read_frame(buf.substr(0, buf.size() - 1), 0).status,
            rec::FrameStatus::Incomplete);
}

TEST(Summary, WritesEveryKindAndReadsItBack) {
  ScratchDir dir("kinds");
  std::string path;
  {
    SummaryWriter w(dir.path + "/run1");
    path = w.path();
    const std::string name = fs::path(path).filename().string();
    EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
    w.add_scalar("loss", 0.5, 0, 1000.0);
    w.add_scalar("loss", 0.25, 1, 1001.0);
    w.add_histogram("w", tensor<float>({1, 2, 2, 3, 4}), 1, 3);
    // A 2x3 RGB image, channels first, floats in [0, 1] (one clamped from above).
    Tensor img = tensor<float>({0, 1, 0.5, 0, 0, 2,  //
                                0, 0, 0, 1, 1, 1,    //
                                1, 0, 0, 0, 0, 0},
                               {3, 2, 3});
    w.add_image("img", img, 2);
    w.add_text("note", "**bold** text", 3);
    w.close();
    w.close();  // idempotent
    EXPECT_ERROR_HAS(w.add_scalar("loss", 1, 2), "closed");
  }
  const auto rs = read_event_file(path);
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(rs[0].kind, Kind::Scalar);
  EXPECT_EQ(rs[0].tag, "loss");
  EXPECT_EQ(rs[0].step, 0);
  EXPECT_DOUBLE_EQ(rs[0].wall_time, 1000.0);
  EXPECT_FLOAT_EQ(static_cast<float>(rs[1].scalar), 0.25f);

  EXPECT_EQ(rs[2].kind, Kind::Histogram);
  const Histogram& h = rs[2].histogram;
  EXPECT_DOUBLE_EQ(h.min, 1);
  EXPECT_DOUBLE_EQ(h.max, 4);
  EXPECT_DOUBLE_EQ(h.num, 5);
  EXPECT_DOUBLE_EQ(h.sum, 12);
  EXPECT_DOUBLE_EQ(h.sum_squares, 34);
  // Buckets (1, 2], (2, 3], (3, 4], with the minimum in the first.
  EXPECT_EQ(h.bucket_limits, (std::vector<double>{2, 3, 4}));
  EXPECT_EQ(h.bucket_counts, (std::vector<double>{3, 1, 1}));

  EXPECT_EQ(rs[3].kind, Kind::Image);
  EXPECT_EQ(rs[3].image_width, 3);
  EXPECT_EQ(rs[3].image_height, 2);
  EXPECT_EQ(rs[3].image_channels, 3);
  int w = 0, hh = 0, c = 0;
  const std::vector<uint8_t> px = decode_png(rs[3].image_png, w, hh, c);
  ASSERT_EQ(w, 3);
  ASSERT_EQ(hh, 2);
  ASSERT_EQ(c, 3);
  // Pixel (row 0, col 1): R 1 -> 255, G 0, B 0; pixel (0, 2): R 0.5 -> 128, G 0, B 0;
  // pixel (1, 2): R 2 clamped -> 255, G 1 -> 255, B 0.
  EXPECT_EQ((std::vector<int>{px[3], px[4], px[5]}), (std::vector<int>{255, 0, 0}));
  EXPECT_EQ((std::vector<int>{px[6], px[7], px[8]}), (std::vector<int>{128, 0, 0}));
  EXPECT_EQ((std::vector<int>{px[15], px[16], px[17]}), (std::vector<int>{255, 255, 0}));

  EXPECT_EQ(rs[4].kind, Kind::Text);
  EXPECT_EQ(rs[4].plugin, "text");
  EXPECT_EQ(rs[4].text, "**bold** text");

  EventFileReader r(path);
  r.read_new();
  EXPECT_EQ(r.file_version(), "brain.Event:2");
  EXPECT_EQ(r.truncated_tail(), 0u);
  EXPECT_EQ(list_event_files(dir.path + "/run1"), std::vector<std::string>{path});
}

TEST(Summary, ImagesGreyAndChannelsLast) {
  ScratchDir dir("images");
  SummaryWriter w(dir.path);
  Tensor grey = tensor<uint8_t>({0, 10, 200, 255}, {2, 2});
  w.add_image("grey", grey, 0);
  Tensor rgba = tensor<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 4});  // [H, W, C]
  w.add_image("rgba", rgba, 0, ImageLayout::HWC);
  w.close();
  const auto rs = read_event_file(w.path());
  ASSERT_EQ(rs.size(), 2u);
  int width = 0, height = 0, c = 0;
  EXPECT_EQ(decode_png(rs[0].image_png, width, height, c), (std::vector<uint8_t>{0, 10, 200, 255}));
  EXPECT_EQ(c, 1);
  EXPECT_EQ(decode_png(rs[1].image_png, width, height, c),
            (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(c, 4);
}

TEST(Summary, BadValuesGiveClearErrors) {
  ScratchDir dir("errors");
  SummaryWriter w(dir.path);
  EXPECT_ERROR_HAS(w.add_scalar("", 1, 0), "add_scalar: the tag is empty");
  EXPECT_ERROR_HAS(w.add_histogram("h", tensor<float>({1, NAN, INFINITY}), 0),
                   "2 non-finite values (nan or inf) among 3");
  EXPECT_ERROR_HAS(w.add_histogram("h", tensor<float>({1, 2}), 0, 0), "bins must be >= 1, got 0");
  EXPECT_ERROR_HAS(w.add_image("i", zeros({5, 2, 2}), 0), "expected 1 to 4 channels (dim 0), got [5, 2, 2] f32");
  EXPECT_ERROR_HAS(w.add_image("i", zeros({2}), 0), "expected [H, W] or [C, H, W], got [2] f32");
  EXPECT_ERROR_HAS(w.add_image("i", zeros({2, 2}, kInt64), 0), "expected uint8 (0..255) or floating-point");
  EXPECT_ERROR_HAS(w.add_hparams({}), "no hyper-parameters given");
  w.add_hparams({{"lr", 0.1}});
  EXPECT_ERROR_HAS(w.add_hparams({{"lr", 0.2}}), "already");

  EXPECT_ERROR_HAS(SummaryWriter(dir.path, {.max_queue = 0}), "max_queue must be >= 1, got 0");
  EXPECT_ERROR_HAS(SummaryWriter(dir.path, {.flush_secs = -1}), "flush_secs must be > 0");
  // A log_dir that is a file: an I/O error naming it.
  const std::string file = dir.path + "/a_file";
  write_bytes(file, "x");
  try {
    SummaryWriter bad(file + "/run");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::IO);
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
  }
}

TEST(Summary, HParamsRecords) {
  ScratchDir dir("hparams");
  std::string path;
  {
    SummaryWriter w(dir.path);
    path = w.path();
    w.add_hparams({{"lr", 1e-3}, {"optimizer", std::string("adam")}, {"augment", true}},
                  {"val_accuracy"});
  }  // the destructor closes: the session-end record
  const auto rs = read_event_file(path);
  std::vector<std::string> tags;
  for (const auto& r : rs) {
    EXPECT_EQ(r.plugin, "hparams");
    tags.push_back(r.tag);
  }
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[1].kind, Kind::HParams);
  EXPECT_EQ(rs[1].hparams, (HParams{{"lr", 1e-3}, {"optimizer", std::string("adam")}, {"augment", true}}));
  EXPECT_EQ(tags, (std::vector<std::string>{"_hparams_/experiment", "_hparams_/session_start_info",
                                            "_hparams_/session_end_info"}));
}

TEST(Summary, FlushPolicyQueueAndTimer) {
  ScratchDir dir("flush");
  {
    // Held until max_queue events wait, then written together.
    SummaryWriter w(dir.path + "/queue", {.max_queue = 3, .flush_secs = 3600});
    EventFileReader r(w.path());
    w.add_scalar("a", 1, 0);
    w.add_scalar("a", 2, 1);
    EXPECT_EQ(r.read_new().size(), 0u);
    w.add_scalar("a", 3, 2);
    EXPECT_EQ(r.read_new().size(), 3u);
    w.add_scalar("a", 4, 3);
    EXPECT_EQ(r.read_new().size(), 0u);
    w.flush();
    EXPECT_EQ(r.read_new().size(), 1u);
  }
  {
    // A quiet writer: the background thread writes the event within flush_secs.
    SummaryWriter w(dir.path + "/timer", {.max_queue = 1000, .flush_secs = 0.05});
    EventFileReader r(w.path());
    const auto t0 = std::chrono::steady_clock::now();
    w.add_scalar("a", 1, 0);
    size_t seen = 0;
    while (seen == 0 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      seen = r.read_new().size();
    }
    EXPECT_EQ(seen, 1u);
  }
}

TEST(Summary, SeveralThreadsWriteWholeRecords) {
  ScratchDir dir("threads");
  constexpr int kThreads = 4, kEach = 250;
  std::string path;
  {
    SummaryWriter w(dir.path, {.max_queue = 7});
    path = w.path();
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t) {
      ts.emplace_back([&w, t] {
        for (int i = 0; i < kEach; ++i) {
          w.add_scalar("thread" + std::to_string(t), i, i);
          if (i % 50 == 0) w.flush();
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  const auto rs = read_event_file(path);
  ASSERT_EQ(rs.size(), static_cast<size_t>(kThreads * kEach));
  // Each thread's events arrive whole and in its own order.
  for (int t = 0; t < kThreads; ++t) {
    const auto mine = with_tag(rs, "thread" + std::to_string(t));
    ASSERT_EQ(mine.size(), static_cast<size_t>(kEach));
    for (int i = 0; i < kEach; ++i) {
      EXPECT_EQ(mine[static_cast<size_t>(i)].step, i);
      EXPECT_EQ(mine[static_cast<size_t>(i)].scalar, i);
    }
  }
}

TEST(Summary, CorruptAndTruncatedFilesGiveClearErrors) {
  ScratchDir dir("corrupt");
  std::string path;
  {
    SummaryWriter w(dir.path);
    path = w.path();
    for (int i = 0; i < 5; ++i) w.add_scalar("loss", 1.0 / (i + 1), i);
    w.add_histogram("h", arange(100).to(kFloat32), 0);
  }
  const std::string good = read_bytes(path);
  ASSERT_EQ(read_event_file(path).size(), 6u);

  // Cut at every length: never a crash, always "truncated" unless the cut falls between
  // records (then the records before it read back, and nothing else).
  int truncated = 0, clean = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    const std::string p = dir.path + "/cut" + std::to_string(n);
    RemoveOnExit rm{p};
    write_bytes(p, good.substr(0, n));
    const std::string msg = error_of([&] { read_event_file(p); });
    if (msg == "<no error>") {
      ++clean;
    } else if (n == 0) {
      EXPECT_NE(msg.find("is empty"), std::string::npos) << msg;
    } else {
      EXPECT_NE(msg.find("is truncated"), std::string::npos) << msg;
      ++truncated;
    }
  }
  EXPECT_EQ(clean, 6);  // after the version record and after each of the first 5 values
  EXPECT_GT(truncated, 100);

  // Flip each bit of the file once: the checksums catch every flip, naming the record.
  int caught = 0;
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      const std::string p = dir.path + "/flip";
      RemoveOnExit rm{p};
      write_bytes(p, bad);
      const std::string msg = error_of([&] { read_event_file(p); });
      const bool clear = msg.find("checksum does not match") != std::string::npos &&
                         msg.find("at byte") != std::string::npos;
      EXPECT_TRUE(clear) << "byte " << byte << " bit " << bit << ": " << msg;
      caught += clear;
      if (!clear) return;  // one report is enough
    }
  }
  std::printf("[ corrupt ] %d single-bit flips of a %zu-byte file, all caught\n", caught, good.size());
}

TEST(Summary, ReaderFollowsAGrowingFile) {
  ScratchDir dir("follow");
  std::string path;
  {
    SummaryWriter w(dir.path);
    path = w.path();
    w.add_scalar("a", 1, 0);
    w.add_scalar("a", 2, 1);
  }
  const std::string all = read_bytes(path);
  // The file as a reader may find it mid-write: the second value cut short.
  const std::string p = dir.path + "/growing.tfevents";
  write_bytes(p, all.substr(0, all.size() - 7));
  EventFileReader r(p);
  EXPECT_EQ(r.read_new().size(), 1u);
  EXPECT_GT(r.truncated_tail(), 0u);
  write_bytes(p, all);
  const auto rest = r.read_new();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].scalar, 2);
  EXPECT_EQ(r.truncated_tail(), 0u);
  EXPECT_EQ(r.offset(), all.size());
}

TEST(Summary, MissingFileIsAnIOError) {
  try {
    read_event_file("/nonexistent/events.out.tfevents.1.x");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::IO);
  }
}

// ---------------------------------------------------------------- the fit callback

namespace {

// Four Gaussian blobs in 2-D, one per class; fast to fit.
data::TensorDataset blobs(int64_t n, uint64_t seed) {
  Generator gen(seed);
  Tensor y = randint(0, 4, {n}, kInt64, &gen);
  const std::vector<int64_t> ys = y.to_vector<int64_t>();
  std::vector<float> centers;
  for (int64_t c : ys) {
    centers.push_back(c % 2 == 0 ? -2.f : 2.f);
    centers.push_back(c / 2 == 0 ? -2.f : 2.f);
  }
  Tensor x = tensor<float>(centers, {n, 2}) + randn({n, 2}, kFloat32, &gen) * 0.5;
  return data::TensorDataset(x, y);
}

}  // namespace

TEST(Summary, TensorBoardCallbackLogsEveryEpoch) {
  ScratchDir dir("callback");
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Linear>(2, 8));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::Linear>(8, 4));
  data::DataLoader train(std::make_shared<data::TensorDataset>(blobs(256, 1)),
                         {.batch_size = 32, .shuffle = true, .seed = 1});
  data::DataLoader val(std::make_shared<data::TensorDataset>(blobs(64, 2)), {.batch_size = 64});
  optim::Adam opt(model->parameters(), {.lr = 0.05});
  train::FitOptions o;
  o.epochs = 3;
  o.optimizer = &opt;
  o.loss = [](const Tensor& out, const Tensor& y) { return nn::functional::cross_entropy(out, y); };
  o.metrics = {std::make_shared<train::Accuracy>()};
  o.validation = &val;
  o.verbose = 0;
  auto tb = std::make_shared<train::TensorBoard>(
      dir.path, train::TensorBoardOptions{.update_freq = 4, .hparams = {{"lr", 0.05}},
                                          .hparam_metrics = {"val_accuracy"}});
  o.callbacks = {tb};
  const train::History h = train::fit(*model, train, o);
  EXPECT_EQ(tb->writer(), nullptr);  // closed when training ended

  const auto files = list_event_files(dir.path);
  ASSERT_EQ(files.size(), 1u);
  const auto rs = read_event_file(files[0]);
  // One value per epoch for every key of the logs, equal to the History's.
  for (const std::string key : {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}) {
    const auto vs = with_tag(rs, key);
    ASSERT_EQ(vs.size(), 3u) << key;
    for (int e = 0; e < 3; ++e) {
      EXPECT_EQ(vs[static_cast<size_t>(e)].step, e);
      EXPECT_FLOAT_EQ(static_cast<float>(vs[static_cast<size_t>(e)].scalar),
                      static_cast<float>(h.get(key)[static_cast<size_t>(e)]))
          << key;
    }
  }
  EXPECT_EQ(with_tag(rs, "samples_per_second").size(), 3u);
  EXPECT_GT(with_tag(rs, "samples_per_second")[0].scalar, 0);
  // Histograms of every parameter and its gradient, per epoch.
  for (const auto& [name, p] : model->named_parameters()) {
    EXPECT_EQ(with_tag(rs, "weights/" + name).size(), 3u) << name;
    const auto g = with_tag(rs, "gradients/" + name);
    ASSERT_EQ(g.size(), 3u) << name;
    EXPECT_EQ(g[0].kind, Kind::Histogram);
    EXPECT_DOUBLE_EQ(g[0].histogram.num, static_cast<double>(p.numel()));
  }
  // 8 batches per epoch, logged every 4th: steps 3, 7, 11, ...
  const auto b = with_tag(rs, "batch/loss");
  ASSERT_EQ(b.size(), 6u);
  EXPECT_EQ(b[0].step, 3);
  EXPECT_EQ(b[5].step, 23);
  EXPECT_EQ(with_tag(rs, "_hparams_/session_end_info").size(), 1u);
  std::printf("[ callback ] %zu values logged over 3 epochs; final val_accuracy %.3f\n", rs.size(),
              h.get("val_accuracy").back());
}

TEST(Summary, ModuleGraphFollowsTheCalls) {
  auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, 8),
                                                std::make_shared<nn::ReLU>(),
                                                std::make_shared<nn::Linear>(8, 4));
  model->train(true);
  const auto g = train::module_graph(*model, zeros({3, 2}));
  std::vector<std::string> got;
  for (const auto& n : g) {
    std::string ins;
    for (const auto& i : n.inputs) ins += (ins.empty() ? "" : ",") + i;
    got.push_back(n.name + ":" + n.op + "<-" + ins);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"input:Input<-", "Sequential/0:Linear<-input",
                                           "Sequential/1:ReLU<-Sequential/0",
                                           "Sequential/2:Linear<-Sequential/1",
                                           "output:Output<-Sequential/2"}));
  EXPECT_EQ(g[1].attrs.at("output_shapes"), "[3, 8] f32");
  EXPECT_TRUE(model->is_training());  // the mode is restored
  // The hooks are gone: a second call sees the same graph, not doubled calls.
  EXPECT_EQ(train::module_graph(*model, zeros({1, 2})).size(), 5u);
  EXPECT_ERROR_HAS(train::module_graph(*model, zeros({3, 5})), "module_graph: running the model on [3, 5] f32 failed");
  EXPECT_EQ(train::module_graph(*model, zeros({1, 2})).size(), 5u);  // hooks removed on errors too

  ScratchDir dir("graph");
  SummaryWriter w(dir.path);
  EXPECT_ERROR_HAS(w.add_graph({}), "no nodes");
  EXPECT_ERROR_HAS(w.add_graph({{"a", "X", {}}, {"a", "Y", {}}}), "two nodes are named 'a'");
  EXPECT_ERROR_HAS(w.add_graph({{"a", "X", {"b"}}}), "node 'a' has input 'b', which is not a node");
  w.add_graph(g);
}

TEST(Summary, TensorBoardCallbackErrors) {
  EXPECT_ERROR_HAS(train::TensorBoard(""), "log_dir is empty");
  EXPECT_ERROR_HAS(train::TensorBoard("x", {.histogram_freq = -1}), "histogram_freq must be >= 0");
  EXPECT_ERROR_HAS(train::TensorBoard(std::shared_ptr<SummaryWriter>()), "the writer is null");
}
