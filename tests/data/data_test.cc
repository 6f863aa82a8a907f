// Data: the DataLoader (batching, drop_last, seeded shuffling per epoch, determinism for
// any number of workers, errors from workers, early exit), transforms, the IDX reader (raw
// and gzip'd round trips, corrupt and hostile files with their error texts), Fashion-MNIST
// from Debian's package (skipped when it is not installed) and CSV.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tessera/data.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::data;

namespace {

std::string scratch_dir() {
  fs::path dir = fs::path(TESSERA_TEST_BINARY_DIR) / "data_test";
  fs::create_directories(dir);
  return dir.string();
}

// gzip's the bytes with zlib directly (independently of write_idx).
void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// An IDX file from a type code, dims and payload.
std::string idx_bytes(unsigned char code, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out = {0, 0, static_cast<char>(code), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((d >> s) & 0xff);
  return out + data;
}

// A dataset of n examples: input [2] f32 = {i, -i}, target i64 = i.
class RangeDataset : public Dataset {
 public:
  explicit RangeDataset(int64_t n, int64_t throw_at = -1) : n_(n), throw_at_(throw_at) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    TESSERA_CHECK(i != throw_at_, "RangeDataset: example ", i, " is unreadable");
    Tensor x = make_tensor({2}, kFloat32);
    x.data<float>()[0] = static_cast<float>(i);
    x.data<float>()[1] = -static_cast<float>(i);
    Tensor y = make_tensor({}, kInt64);
    *y.data<int64_t>() = i;
    return {x, y};
  }

 private:
  int64_t n_, throw_at_;
};

std::vector<int64_t> targets_of(DataLoader& loader) {
  std::vector<int64_t> out;
  for (const Batch& b : loader) {
    std::vector<int64_t> t = b.target.to_vector<int64_t>();
    out.insert(out.end(), t.begin(), t.end());
  }
  return out;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || !a.sizes().equals(b.sizes())) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

// Expects f() to throw a tessera::Error containing each needle; prints the message.
template <typename F>
void expect_error_text(F&& f, std::initializer_list<std::string> needles) {
  const std::string msg = error_of(f);
  for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message: " << msg;
  std::cout << "  [error text] " << msg << "\n";
}

}  // namespace

// ---------------------------------------------------------------- datasets and loader

TEST(TensorDataset, SlicesAlongDimZero) {
  Tensor x = arange(0, 12, 1).reshape({6, 2});
  Tensor y = arange(0, 6, 1);
  TensorDataset ds(x, y);
  EXPECT_EQ(ds.size(), 6);
  Example e = ds.get(4);
  EXPECT_EQ(e.input.to_vector<int64_t>(), (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(e.target.item<int64_t>(), 4);
  EXPECT_ERROR_HAS(ds.get(6), "index 6 is out of range for 6 examples");
  EXPECT_ERROR_HAS(TensorDataset(x, arange(0, 5, 1)), "example counts differ (6 vs 5)");
}

TEST(DataLoader, BatchesAndDropLast) {
  auto ds = std::make_shared<RangeDataset>(10);
  DataLoader loader(ds, {.batch_size = 3});
  EXPECT_EQ(loader.size(), 4);
  std::vector<int64_t> sizes;
  for (const Batch& b : loader) {
    sizes.push_back(b.size());
    EXPECT_EQ(b.input.dim(), 2);
    EXPECT_EQ(b.input.size(1), 2);
    EXPECT_EQ(b.target.dtype(), kInt64);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{3, 3, 3, 1}));
  EXPECT_EQ(targets_of(loader), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));

  DataLoader dropping(ds, {.batch_size = 3, .drop_last = true});
  EXPECT_EQ(dropping.size(), 3);
  EXPECT_EQ(targets_of(dropping).size(), 9u);

  // A concrete dataset may be passed by value.
  DataLoader by_value(TensorDataset(zeros({5, 2}), arange(0, 5, 1)), {.batch_size = 2});
  EXPECT_EQ(by_value.size(), 3);
  EXPECT_EQ(targets_of(by_value), (std::vector<int64_t>{0, 1, 2, 3, 4}));

  DataLoader empty(std::make_shared<RangeDataset>(0), {.batch_size = 4});
  EXPECT_EQ(empty.size(), 0);
  EXPECT_TRUE(targets_of(empty).empty());

  EXPECT_ERROR_HAS(DataLoader(ds, {.batch_size = 0}), "batch_size must be >= 1");
}

TEST(DataLoader, ShuffleIsSeededAndChangesPerEpoch) {
  auto ds = std::make_shared<RangeDataset>(50);
  DataLoader a(ds, {.batch_size = 8, .shuffle = true, .seed = 7});
  DataLoader b(ds, {.batch_size = 8, .shuffle = true, .seed = 7});
  DataLoader c(ds, {.batch_size = 8, .shuffle = true, .seed = 8});
  const std::vector<int64_t> a0 = targets_of(a), a1 = targets_of(a);
  EXPECT_EQ(a.epoch(), 2);
  EXPECT_EQ(a0, targets_of(b)) << "same seed, same epoch: same order";
  EXPECT_NE(a0, a1) << "each epoch reshuffles";
  EXPECT_NE(a0, targets_of(c)) << "another seed, another order";
  std::vector<int64_t> sorted = a0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(50);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota) << "an epoch visits every example once";
  // Resuming: set_epoch replays an epoch exactly.
  a.set_epoch(1);
  EXPECT_EQ(targets_of(a), a1);
  EXPECT_EQ(a.order(0), a0);
}

TEST(DataLoader, WorkersGiveTheSameBatchesInTheSameOrder) {
  // Images with a random crop and flip, so the per-example generators matter too.
  Tensor images = rand({37, 1, 6, 6});
  Tensor labels = arange(0, 37, 1);
  auto ds = std::make_shared<TensorDataset>(images, labels);
  auto make = [&](int workers) {
    return DataLoader(ds, {.batch_size = 5, .shuffle = true, .seed = 3, .num_workers = workers,
                           .prefetch_batches = 1,
                           .transform = Compose({RandomCrop(6, 2), RandomHorizontalFlip(0.5)})});
  };
  for (int epoch = 0; epoch < 2; ++epoch) {
    DataLoader serial = make(0);
    serial.set_epoch(epoch);
    std::vector<Batch> expected;
    for (const Batch& b : serial) expected.push_back(b);
    ASSERT_EQ(expected.size(), 8u);
    for (int workers : {1, 2, 4}) {
      DataLoader parallel = make(workers);
      parallel.set_epoch(epoch);
      size_t i = 0;
      for (const Batch& b : parallel) {
        ASSERT_LT(i, expected.size());
        EXPECT_TRUE(same_bytes(b.input, expected[i].input)) << workers << " workers, batch " << i;
        EXPECT_TRUE(same_bytes(b.target, expected[i].target)) << workers << " workers, batch " << i;
        ++i;
      }
      EXPECT_EQ(i, expected.size());
    }
  }
}

TEST(DataLoader, WorkerErrorsNameTheBatchAndEarlyExitJoins) {
  auto ds = std::make_shared<RangeDataset>(20, /*throw_at=*/7);
  for (int workers : {0, 3}) {
    DataLoader loader(ds, {.batch_size = 4, .num_workers = workers});
    int seen = 0;
    expect_error_text(
        [&] {
          for (const Batch& b : loader) {
            (void)b;
            ++seen;
          }
        },
        {"batch 1", "example 7 is unreadable"});
    EXPECT_EQ(seen, 1) << "batch 0 arrives, batch 1 throws";
  }
  // Leaving the loop early stops the workers (the test would hang otherwise).
  DataLoader big(std::make_shared<RangeDataset>(10000), {.batch_size = 2, .num_workers = 3});
  for (const Batch& b : big) {
    EXPECT_EQ(b.size(), 2);
    break;
  }
}

TEST(DataLoader, CustomCollateAndTransform) {
  auto ds = std::make_shared<RangeDataset>(6);
  DataLoaderOptions opts;
  opts.batch_size = 4;
  opts.transform = [](const Tensor& x, Generator&) { return x * 2; };
  opts.collate = [](std::vector<Example>& ex) {
    Batch b = collate_stack(ex);
    b.target = b.target + 100;
    return b;
  };
  DataLoader loader(ds, opts);
  std::vector<float> inputs;
  for (const Batch& b : loader) {
    std::vector<float> v = b.input.to_vector<float>();
    inputs.insert(inputs.end(), v.begin(), v.end());
  }
  EXPECT_EQ(inputs[2], 2.0f);   // example 1: {1, -1} doubled
  EXPECT_EQ(inputs[11], -10.0f);  // example 5
  EXPECT_EQ(targets_of(loader), (std::vector<int64_t>{100, 101, 102, 103, 104, 105}));

  std::vector<Example> mixed = {ds->get(0), {make_tensor({3}, kFloat32), ds->get(1).target}};
  EXPECT_ERROR_HAS(collate_stack(mixed), "example 1's input is [3] f32 but example 0's is [2] f32");
}

// A worker's transforms run serially (SerialGuard): the training step's thread team owns
// the cores; the iterating thread keeps the process's count.
TEST(DataLoader, WorkersRunTheirOpsSerially) {
  const int saved = get_num_threads();
  set_num_threads(2);
  auto ds = std::make_shared<RangeDataset>(8);
  DataLoaderOptions opts;
  opts.batch_size = 2;
  opts.num_workers = 2;
  std::atomic<int> most{0};
  opts.transform = [&](const Tensor& x, Generator&) {
    int seen = most.load();
    while (get_num_threads() > seen && !most.compare_exchange_weak(seen, get_num_threads())) {
    }
    return x;
  };
  DataLoader loader(ds, opts);
  int batches = 0;
  for (const Batch& b : loader) batches += b.input.size(0) > 0;
  EXPECT_EQ(batches, 4);
  EXPECT_EQ(most.load(), 1);
  EXPECT_EQ(get_num_threads(), 2);
  set_num_threads(saved);
}

// ---------------------------------------------------------------- transforms

TEST(Transforms, Normalize) {
  Tensor x = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 1, 3});
  Generator gen(1);
  Tensor y = Normalize({1.0, 2.0}, {2.0, 0.5})(x, gen);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 0.5f, 1, 4, 6, 8}));
  Tensor z = Normalize({0.5}, {0.25})(x, gen);  // one value for every channel
  EXPECT_EQ(z.to_vector<float>()[5], 22.0f);
  EXPECT_ERROR_HAS(Normalize({0.1, 0.2, 0.3}, {1, 1, 1})(x, gen), "2 channels but 3 mean/std");
  EXPECT_ERROR_HAS(Normalize({0.1}, {0.0}), "nonzero");
}

TEST(Transforms, RandomCropIsAWindowOfThePaddedImage) {
  Tensor x = arange(1, 17, 1).to(kFloat32).reshape({1, 4, 4});  // values 1..16
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Generator gen(seed);
    Tensor y = RandomCrop(4, 2)(x, gen);
    ASSERT_EQ(shape_str(y.sizes()), "[1, 4, 4]");
    // Find the offset: every value is either 0 (padding) or the matching source pixel.
    std::vector<float> v = y.to_vector<float>();
    bool found = false;
    for (int top = 0; top <= 4 && !found; ++top)
      for (int left = 0; left <= 4 && !found; ++left) {
        bool ok = true;
        for (int r = 0; r < 4; ++r)
          for (int c = 0; c < 4; ++c) {
            const int sr = top + r - 2, sc = left + c - 2;
            const float want = (sr >= 0 && sr < 4 && sc >= 0 && sc < 4) ? static_cast<float>(sr * 4 + sc + 1) : 0.0f;
            ok = ok && v[static_cast<size_t>(r * 4 + c)] == want;
          }
        found = ok;
      }
    EXPECT_TRUE(found) << "seed " << seed << ": " << y;
  }
  // Reproducible from the generator's seed; any dtype.
  Tensor u8 = arange(0, 25, 1).to(kUInt8).reshape({5, 5});
  Generator g1(5), g2(5);
  EXPECT_TRUE(same_bytes(RandomCrop(3, 1, 9.0)(u8, g1), RandomCrop(3, 1, 9.0)(u8, g2)));
  Generator gen(0);
  EXPECT_ERROR_HAS(RandomCrop(9)(x, gen), "does not fit");
}

TEST(Transforms, RandomHorizontalFlip) {
  Tensor x = tensor<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  Generator gen(0);
  EXPECT_EQ(RandomHorizontalFlip(1.0)(x, gen).to_vector<int64_t>(),
            (std::vector<int64_t>{3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(RandomHorizontalFlip(0.0)(x, gen).to_vector<int64_t>(), x.to_vector<int64_t>());
  int flips = 0;
  for (int i = 0; i < 1000; ++i) flips += RandomHorizontalFlip(0.5)(x, gen).to_vector<int64_t>()[0] == 3;
  EXPECT_GT(flips, 430);
  EXPECT_LT(flips, 570);
}

// ---------------------------------------------------------------- IDX

TEST(Idx, RoundTripRawAndGzip) {
  const std::string dir = scratch_dir();
  std::vector<Tensor> tensors = {arange(0, 24, 1).to(kUInt8).reshape({2, 3, 4}),
                                 arange(-5, 5, 1).to(kInt8),
                                 arange(-100000, 100000, 40000).to(kInt32).reshape({1, 5}),
                                 rand({3, 2}), rand({4}, kFloat64)};
  for (size_t i = 0; i < tensors.size(); ++i)
    for (const char* ext : {".idx", ".idx.gz"}) {
      const std::string path = dir + "/rt" + std::to_string(i) + ext;
      write_idx(path, tensors[i]);
      const std::string bytes = read_bytes(path);
      EXPECT_EQ(bytes[0] == '\x1f' && bytes[1] == '\x8b', std::string(ext) == ".idx.gz");
      Tensor back = read_idx(path);
      EXPECT_TRUE(same_bytes(back, tensors[i])) << path << ": " << back;
    }
}

TEST(Idx, ReadsHandWrittenFilesIncludingInt16) {
  const std::string dir = scratch_dir();
  // i16 big-endian: 1, -2, 300 -> widened to i32.
  const std::string i16 = idx_bytes(0x0B, {3}, std::string("\x00\x01\xff\xfe\x01\x2c", 6));
  write_bytes(dir + "/i16.idx", i16);
  write_gz(dir + "/i16.idx.gz", i16);
  for (const char* name : {"/i16.idx", "/i16.idx.gz"}) {
    Tensor t = read_idx(dir + name);
    EXPECT_EQ(t.dtype(), kInt32);
    EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 300}));
  }
  // f32 big-endian 1.0 = 3f 80 00 00.
  write_gz(dir + "/f32.gz", idx_bytes(0x0D, {1, 1}, std::string("\x3f\x80\x00\x00", 4)));
  EXPECT_EQ(read_idx(dir + "/f32.gz").item<float>(), 1.0f);
}

TEST(Idx, CorruptFilesGiveErrorsNamingTheFile) {
  const std::string dir = scratch_dir();
  const std::string u8x6 = idx_bytes(0x08, {2, 3}, "abcdef");
  // Incompressible bytes, so the gzip file is big enough that a 2 MB claim passes the
  // 1032:1 ratio check: memory must then follow the data that arrives, not the claim.
  std::string noise(3000, '\0');
  uint32_t lcg = 12345;
  for (char& c : noise) c = static_cast<char>((lcg = lcg * 1664525u + 1013904223u) >> 24);
  struct Case {
    const char* name;
    std::string bytes;
    bool gz;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"empty", "", false, {"too short for the 4-byte IDX magic"}},
      {"bad_magic", "PK\x03\x04zip", false, {"bad magic"}},
      {"bad_type", idx_bytes(0x07, {1}, "x"), false, {"unknown element type code 0x07"}},
      {"zero_rank", idx_bytes(0x08, {}, ""), false, {"0 dimensions"}},
      {"short_header", u8x6.substr(0, 9), false, {"truncated in the header"}},
      {"short_data", u8x6.substr(0, u8x6.size() - 1), false, {"truncated", "needs 6 data bytes"}},
      {"trailing", u8x6 + "zz", false, {"2 unexpected bytes after the data"}},
      {"dim_too_big", idx_bytes(0x08, {0x80000000u}, ""), false, {"beyond IDX's signed 32-bit"}},
      {"overflow", idx_bytes(0x0E, {0x7fffffff, 0x7fffffff, 0x7fffffff}, ""), false, {"overflow"}},
      {"gz_short_data", u8x6.substr(0, u8x6.size() - 2), true, {"only 4 present"}},
      {"gz_trailing", u8x6 + "z", true, {"unexpected bytes after the data"}},
      {"gz_plausible_claim", idx_bytes(0x08, {4000, 500}, noise), true,
       {"needs 2000000 data bytes, only 3000 present"}},
      {"gz_huge_claim", idx_bytes(0x08, {60000, 28, 28000}, "tiny"), true,
       {"more than a gzip file of"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir + "/bad_" + c.name + (c.gz ? ".gz" : "");
    if (c.gz) write_gz(path, c.bytes);
    else write_bytes(path, c.bytes);
    std::vector<std::string> needles = c.needles;
    needles.push_back(path);
    const std::string msg = error_of([&] { read_idx(path); });
    for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message: " << msg;
    std::cout << "  [error text] " << msg << "\n";
  }
  expect_error_text([&] { read_idx(dir + "/does_not_exist.gz"); }, {"cannot open"});
}

TEST(Idx, DamagedGzipStreamsAreErrors) {
  const std::string dir = scratch_dir();
  Tensor t = arange(0, 300, 1).to(kInt32).reshape({30, 10});
  const std::string good = dir + "/damage_src.idx.gz";
  write_idx(good, t);
  const std::string bytes = read_bytes(good);
  // Every truncation (the gzip trailer's CRC and length included).
  int truncations = 0;
  for (size_t len = 0; len < bytes.size(); ++len) {
    const std::string path = dir + "/truncated_" + std::to_string(len) + ".idx.gz";
    write_bytes(path, bytes.substr(0, len));
    RemoveOnExit cleanup{path};
    const std::string msg = error_of([&] { read_idx(path); });
    EXPECT_NE(msg.find(path), std::string::npos) << len << ": " << msg;
    if (len == bytes.size() - 3 || len == bytes.size() / 2) std::cout << "  [error text] " << msg << "\n";
    ++truncations;
  }
  EXPECT_GT(truncations, 10);
  const std::string path = dir + "/damaged.idx.gz";
  // A flipped CRC byte.
  std::string crc = bytes;
  crc[crc.size() - 6] = static_cast<char>(crc[crc.size() - 6] ^ 0x5a);
  write_bytes(path, crc);
  expect_error_text([&] { read_idx(path); }, {path});
  // Flipped bytes anywhere: loads (when the flip lands in a harmless place) or errors.
  for (size_t pos = 10; pos < bytes.size(); ++pos) {
    std::string m = bytes;
    m[pos] = static_cast<char>(m[pos] ^ 0xff);
    const std::string flipped = dir + "/flipped_" + std::to_string(pos) + ".idx.gz";
    write_bytes(flipped, m);
    RemoveOnExit cleanup{flipped};
    try {
      read_idx(flipped);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(flipped), std::string::npos) << e.what();
    }
  }
}

// ---------------------------------------------------------------- Fashion-MNIST

TEST(FashionMNIST, LoadsDebiansPackage) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const auto t0 = std::chrono::steady_clock::now();
  FashionMNIST train("", true);
  const auto t1 = std::chrono::steady_clock::now();
  FashionMNIST test("", false);
  const auto t2 = std::chrono::steady_clock::now();
  std::cout << "  Fashion-MNIST load: train "
            << std::chrono::duration<double, std::milli>(t1 - t0).count() << " ms, test "
            << std::chrono::duration<double, std::milli>(t2 - t1).count() << " ms\n";
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(shape_str(train.images().sizes()), "[60000, 28, 28]");
  Example e = train.get(0);
  EXPECT_EQ(shape_str(e.input.sizes()), "[1, 28, 28]");
  EXPECT_EQ(e.input.dtype(), kFloat32);
  EXPECT_EQ(e.target.dtype(), kInt64);
  EXPECT_EQ(e.target.dim(), 0);
  EXPECT_EQ(e.target.item<int64_t>(), 9);  // the first training image is an ankle boot
  EXPECT_GE(min(e.input).item<float>(), 0.0f);
  EXPECT_LE(max(e.input).item<float>(), 1.0f);
  EXPECT_GT(max(e.input).item<float>(), 0.5f);
  // Balanced classes: 6000 per class in training.
  std::vector<int64_t> counts(10, 0);
  for (int64_t y : train.labels().to_vector<int64_t>()) ++counts[static_cast<size_t>(y)];
  for (int64_t c : counts) EXPECT_EQ(c, 6000);

  DataLoader loader(std::make_shared<FashionMNIST>(std::move(test)),
                    {.batch_size = 64, .num_workers = 2});
  EXPECT_EQ(loader.size(), 157);
  int64_t seen = 0;
  const auto t3 = std::chrono::steady_clock::now();
  for (const Batch& b : loader) seen += b.size();
  const auto t4 = std::chrono::steady_clock::now();
  EXPECT_EQ(seen, 10000);
  std::cout << "  one pass over the test split (batch 64, 2 workers): "
            << std::chrono::duration<double, std::milli>(t4 - t3).count() << " ms\n";
}

TEST(FashionMNIST, MissingFilesNameThePathsAndThePackage) {
  const std::string root = scratch_dir() + "/no_fashion_here";
  expect_error_text([&] { FashionMNIST(root, true); },
                    {root + "/train-images-idx3-ubyte.gz", root + "/train-images-idx3-ubyte",
                     "apt-get install dataset-fashion-mnist"});
}

TEST(FashionMNIST, ValidatesTheFiles) {
  const std::string root = scratch_dir() + "/fake_fashion";
  fs::create_directories(root);
  write_idx(root + "/t10k-images-idx3-ubyte.gz", zeros({2, 28, 28}, kUInt8));
  write_idx(root + "/t10k-labels-idx1-ubyte", tensor<uint8_t>({3, 12}));
  expect_error_text([&] { FashionMNIST(root, false); }, {"label 1 is 12"});
  write_idx(root + "/t10k-labels-idx1-ubyte", tensor<uint8_t>({3, 1, 4}));
  expect_error_text([&] { FashionMNIST(root, false); }, {"has 2 images but", "has 3 labels"});
}

// ---------------------------------------------------------------- MNIST (torchvision's)

TEST(Transforms, ToTensorMovesChannelsFirstAndScalesBytes) {
  Generator gen(0);
  // [H, W] u8 -> [1, H, W] f32 / 255.
  Tensor y = ToTensor()(tensor<uint8_t>({0, 51, 255, 128, 1, 2}, {2, 3}), gen);
  EXPECT_EQ(shape_str(y.sizes()), "[1, 2, 3]");
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0.0f, 51 / 255.0f, 1.0f, 128 / 255.0f,
                                                      1 / 255.0f, 2 / 255.0f}));
  // [H, W, C] -> [C, H, W]: pixel (h, w) channel c lands at [c, h, w].
  Tensor rgb = tensor<uint8_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 2, 3});
  Tensor chw = ToTensor()(rgb, gen);
  EXPECT_EQ(shape_str(chw.sizes()), "[3, 2, 2]");
  EXPECT_EQ(chw.to_vector<float>()[1], 4 / 255.0f);   // [0, 0, 1] <- (0, 1) channel 0
  EXPECT_EQ(chw.to_vector<float>()[4], 2 / 255.0f);   // [1, 0, 0] <- (0, 0) channel 1
  // Other dtypes keep values and dtype; a strided input is read through its strides.
  Tensor f = ToTensor()(tensor<double>({1, 2, 3, 4, 5, 6}, {3, 2}).t(), gen);
  EXPECT_EQ(f.dtype(), kFloat64);
  EXPECT_EQ(f.to_vector<double>(), (std::vector<double>{1, 3, 5, 2, 4, 6}));
  expect_error_text([&] { ToTensor()(zeros({1, 2, 3, 4}, kUInt8), gen); },
                    {"ToTensor: input [1, 2, 3, 4] u8: expected an image [H, W] or [H, W, C]"});
}

TEST(MNIST, RawImagesThroughTheGivenTransforms) {
  const std::string root = scratch_dir() + "/fake_mnist";
  fs::create_directories(root + "/MNIST/raw");  // torchvision's layout under the root
  Tensor images = zeros({3, 28, 28}, kUInt8);
  images.data<uint8_t>()[28 * 28 + 5] = 255;  // image 1, pixel (0, 5)
  write_idx(root + "/MNIST/raw/train-images-idx3-ubyte", images);
  write_idx(root + "/MNIST/raw/train-labels-idx1-ubyte.gz", tensor<uint8_t>({7, 0, 3}));
  MNIST raw(root, true);
  EXPECT_EQ(raw.size(), 3);
  Example e = raw.get(1);
  EXPECT_EQ(shape_str(e.input.sizes()), "[28, 28]");
  EXPECT_EQ(e.input.dtype(), kUInt8);
  EXPECT_EQ(e.input.data<uint8_t>()[5], 255);
  EXPECT_EQ(e.target.item<int64_t>(), 0);
  EXPECT_EQ(raw.class_names()[7], "7 - seven");
  // ToTensor then Normalize, as torchvision's Compose; the target through its own transform.
  MNIST t(root, true, Compose({ToTensor(), Normalize({0.5}, {0.25})}),
          [](const Tensor& y, Generator&) {
            Tensor out = y.clone();
            *out.data<int64_t>() += 10;
            return out;
          });
  Example f = t.get(1);
  EXPECT_EQ(shape_str(f.input.sizes()), "[1, 28, 28]");
  EXPECT_EQ(f.input.to_vector<float>()[5], (1.0f - 0.5f) / 0.25f);
  EXPECT_EQ(f.input.to_vector<float>()[0], (0.0f - 0.5f) / 0.25f);
  EXPECT_EQ(f.target.item<int64_t>(), 10);
  expect_error_text([&] { t.get(3); }, {"MNIST: index 3 is out of range for 3 examples"});
  // No test split there; nothing downloads, the error says where it looked and what to do.
  expect_error_text([&] { MNIST(root, false); },
                    {root + "/MNIST/raw/t10k-images-idx3-ubyte.gz", "Tessera never downloads"});
}

TEST(MNIST, FashionKindReadsDebiansPackage) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  MNIST raw("", false, {}, {}, MNIST::Kind::FashionMNIST);
  FashionMNIST floats("", false);
  ASSERT_EQ(raw.size(), 10000);
  EXPECT_EQ(raw.class_names()[9], "Ankle boot");
  // ToTensor of the raw image is exactly the float dataset's image.
  Generator gen(0);
  for (int64_t i : {0, 4321, 9999}) {
    Example a = raw.get(i), b = floats.get(i);
    EXPECT_TRUE(equal(ToTensor()(a.input, gen), b.input)) << i;
    EXPECT_EQ(a.target.item<int64_t>(), b.target.item<int64_t>());
  }
}

// ---------------------------------------------------------------- CSV

TEST(Csv, ReadsNumbersWithHeaderQuotesAndCrlf) {
  const std::string path = scratch_dir() + "/ok.csv";
  write_bytes(path, "a, b ,\"c\"\r\n1, 2.5 ,\"-3\"\r\n\r\n4e2,+5,-0.125\r\n");
  std::vector<std::string> names;
  Tensor t = read_csv(path, true, ',', &names);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(shape_str(t.sizes()), "[2, 3]");
  EXPECT_EQ(t.dtype(), kFloat32);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2.5f, -3, 400, 5, -0.125f}));

  const std::string tsv = scratch_dir() + "/ok.tsv";
  write_bytes(tsv, "1\t2\n3\t4");  // no final newline
  EXPECT_EQ(read_csv(tsv, false, '\t').to_vector<float>(), (std::vector<float>{1, 2, 3, 4}));
}

TEST(Csv, ErrorsNameLineAndColumn) {
  const std::string dir = scratch_dir();
  write_bytes(dir + "/ragged.csv", "1,2,3\n4,5\n");
  expect_error_text([&] { read_csv(dir + "/ragged.csv"); },
                    {dir + "/ragged.csv", "line 2 has 2 fields, expected 3"});
  write_bytes(dir + "/word.csv", "x,y\n1,2\n3,abc\n");
  expect_error_text([&] { read_csv(dir + "/word.csv", true); },
                    {"line 3, column 2: 'abc' is not a number"});
  write_bytes(dir + "/hole.csv", "1,,3\n");
  expect_error_text([&] { read_csv(dir + "/hole.csv"); }, {"line 1, column 2: empty field"});
  write_bytes(dir + "/huge.csv", "1e999\n");
  expect_error_text([&] { read_csv(dir + "/huge.csv"); }, {"out of float32's range"});
  expect_error_text([&] { read_csv(dir + "/missing.csv"); }, {"cannot open"});
}

// Truncations and random mutations of a small CSV (quotes, delimiters, signs, exponents,
// line ends, NUL and high bytes): each either loads, self-consistently, or is an Error
// naming the file; never another exception, a crash or (in the sanitizer build) a bad
// access.
TEST(Csv, FuzzTruncationsAndMutations) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/fuzz_case.csv";
  const std::string valid = "x,\"y\", z\r\n1,2.5,-3\n\"4\",+5e-1, 6 \n\n7,8,9\n";
  int loaded = 0, rejected = 0;
  auto try_load = [&](const std::string& bytes, bool header, const std::string& what) {
    write_bytes(path, bytes);
    try {
      std::vector<std::string> names;
      Tensor t = read_csv(path, header, ',', &names);
      ++loaded;
      ASSERT_EQ(t.dim(), 2) << what;
      if (header && t.size(0) > 0) {
        EXPECT_EQ(static_cast<int64_t>(names.size()), t.size(1)) << what;
      }
      EXPECT_LE(t.numel(), static_cast<int64_t>(bytes.size())) << what;  // a number takes a byte at least
    } catch (const Error& e) {
      ++rejected;
      EXPECT_NE(e.kind(), ErrorKind::Internal) << what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << what << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": threw a non-tessera exception: " << e.what();
    }
  };
  for (size_t n = 0; n <= valid.size(); ++n) try_load(valid.substr(0, n), true, "truncated at " + std::to_string(n));
  std::mt19937 rng(20261204);
  const char interesting[] = "0123456789,\"\r\n .-+eEinfa\x00\xff";
  for (int m = 0; m < 600; ++m) {
    std::string bytes = valid;
    for (int f = 1 + static_cast<int>(rng() % 4); f > 0; --f) {
      const size_t pos = rng() % bytes.size();
      const char c = (rng() % 2) ? static_cast<char>(rng() & 0xff) : interesting[rng() % (sizeof(interesting) - 1)];
      if (rng() % 4 == 0) {
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(pos), c);
      } else {
        bytes[pos] = c;
      }
    }
    try_load(bytes, m % 2 == 0, "mutation " + std::to_string(m));
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(loaded, 0);
}
