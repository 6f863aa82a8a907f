#pragma once
// Data: datasets, the DataLoader, transforms, and readers for standard data files.
//
//   auto train = std::make_shared<data::FashionMNIST>("", /*train=*/true);
//   data::DataLoader loader(train, {.batch_size = 64, .shuffle = true, .seed = 1,
//                                   .num_workers = 2,
//                                   .transform = data::RandomHorizontalFlip(0.5)});
//   for (int epoch = 0; epoch < 5; ++epoch)
//     for (const data::Batch& b : loader) { ... b.input [64,1,28,28], b.target [64] ... }
//
// Reproducibility: an epoch's order and every random transform are pure functions of
// (seed, epoch, example index). The batches are the same for any num_workers, and a run
// resumed with set_epoch(e) sees exactly the batches the original run saw in epoch e.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "tessera/export.h"
#include "tessera/random.h"
#include "tessera/tensor.h"

namespace tessera::data {

// One example (input, target) and a batch of them (the same fields, a leading batch dim).
struct Example {
  Tensor input;
  Tensor target;
};
struct Batch {
  Tensor input;
  Tensor target;
  int64_t size() const { return input.defined() && input.dim() > 0 ? input.size(0) : 0; }
};

// A map-style dataset. get() may be called from several loader threads at once, so it
// must not mutate shared state (read-only access to members is fine).
class TESSERA_API Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Example get(int64_t index) const = 0;
};

// Rows of two tensors: example i is (inputs[i], targets[i]) (views, no copy).
class TESSERA_API TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor inputs, Tensor targets);
  int64_t size() const override { return inputs_.size(0); }
  Example get(int64_t index) const override;
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor inputs_, targets_;
};

// ---------------------------------------------------------------- transforms
// A transform maps one example's input to a new tensor. Random transforms draw only from
// the generator they are given; the DataLoader passes one seeded from (seed, epoch, index).
using Transform = std::function<Tensor(const Tensor&, Generator&)>;

// (x - mean[c]) / std[c] for channel c = dim 0; one value applies to every channel.
// Floating inputs only; the dtype is kept.
class TESSERA_API Normalize {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor operator()(const Tensor& x, Generator& gen) const;

 private:
  std::vector<double> mean_, std_;
};

// Pads the last two dims (H, W) by `padding` on every side with `fill`, then crops a
// random height x width window. Any dtype.
class TESSERA_API RandomCrop {
 public:
  RandomCrop(int64_t size, int64_t padding = 0, double fill = 0.0)
      : RandomCrop(size, size, padding, fill) {}
  RandomCrop(int64_t height, int64_t width, int64_t padding, double fill = 0.0);
  Tensor operator()(const Tensor& x, Generator& gen) const;

 private:
  int64_t height_, width_, padding_;
  double fill_;
};

// Mirrors the last dim (W) with probability p. Any dtype.
class TESSERA_API RandomHorizontalFlip {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor operator()(const Tensor& x, Generator& gen) const;

 private:
  double p_;
};

// torchvision's ToTensor for images stored as arrays: [H, W] becomes [1, H, W] and
// [H, W, C] (channels last, as image files and NumPy hold them) becomes [C, H, W]; u8
// pixels become f32 in [0, 1] (divided by 255), other dtypes keep their values and dtype.
class TESSERA_API ToTensor {
 public:
  Tensor operator()(const Tensor& x, Generator& gen) const;
};

// Applies transforms in order, all drawing from the same generator.
class TESSERA_API Compose {
 public:
  explicit Compose(std::vector<Transform> transforms) : transforms_(std::move(transforms)) {}
  Tensor operator()(const Tensor& x, Generator& gen) const;

 private:
  std::vector<Transform> transforms_;
};

// ---------------------------------------------------------------- loader
// Turns a list of examples into a batch.
using Collate = std::function<Batch(std::vector<Example>&)>;
// The default: stacks inputs (and targets) along a new dim 0; they must agree in shape
// and dtype, or the error names the first example that differs.
TESSERA_API Batch collate_stack(std::vector<Example>& examples);

// The dataset indices one epoch visits, in order, given the dataset's size and the epoch
// (distributed::distributed_sampler() makes one per rank). It must be a pure function of
// its arguments, so an epoch can be replayed; every index must be in [0, dataset_size).
using Sampler = std::function<std::vector<int64_t>(int64_t dataset_size, int64_t epoch)>;

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  uint64_t seed = 0;          // shuffling and random transforms
  bool drop_last = false;     // drop a last batch smaller than batch_size
  int num_workers = 0;        // 0: batches are built on the iterating thread
  int prefetch_batches = 2;   // per worker: how far ahead workers may run (bounded queue)
  Transform transform = {};   // applied to each example's input (optional)
  Collate collate = {};       // default: collate_stack
  Sampler sampler = {};       // set: the epoch's order comes from it (shuffle must be off)
};

namespace detail {
class EpochRun;  // one pass over the data: order, workers, queue
}

class TESSERA_API DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  // Takes a concrete dataset by value: DataLoader(TensorDataset(x, y), {...}).
  template <typename D, typename = std::enable_if_t<std::is_base_of_v<Dataset, std::decay_t<D>>>>
  DataLoader(D&& dataset, DataLoaderOptions options = {})
      : DataLoader(std::make_shared<const std::decay_t<D>>(std::forward<D>(dataset)),
                   std::move(options)) {}

  // Number of batches per epoch.
  int64_t size() const;
  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }
  // The epoch the next begin() runs. Each begin() runs one epoch and advances it, so a
  // range-for per epoch reshuffles; set_epoch() replays or resumes a given epoch.
  int64_t epoch() const { return epoch_; }
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  // The dataset indices of an epoch, in the order the batches visit them.
  std::vector<int64_t> order(int64_t epoch) const;

  struct Sentinel {};
  class TESSERA_API Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    explicit Iterator(std::shared_ptr<detail::EpochRun> run);
    const Batch& operator*() const;
    const Batch* operator->() const { return &**this; }
    Iterator& operator++();
    bool operator==(const Sentinel&) const;
    // The batch's index in the epoch.
    int64_t index() const;

   private:
    std::shared_ptr<detail::EpochRun> run_;
  };
  // Starts an epoch (workers begin prefetching here). Leaving the loop early is fine: the
  // workers stop when the iterator is destroyed. A worker's error is thrown from the
  // iteration that would have returned its batch.
  Iterator begin();
  Sentinel end() const { return {}; }

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  int64_t epoch_ = 0;
};

// ---------------------------------------------------------------- readers
// An IDX file (the MNIST family's format), raw or gzip'd (detected by the gzip magic).
// Returns the stored type: u8 -> UInt8, i8 -> Int8, i16 and i32 -> Int32, f32 -> Float32,
// f64 -> Float64, with the file's shape. A corrupt, truncated or hostile file throws
// tessera::Error naming the file and the problem; a gzip'd file's claimed size is checked
// against what its compressed size can possibly hold before anything is allocated.
TESSERA_API Tensor read_idx(const std::string& path);
// Writes a UInt8, Int8, Int32, Float32 or Float64 tensor as IDX; gzip'd when `path` ends in
// ".gz". Not atomic (datasets are written once).
TESSERA_API void write_idx(const std::string& path, const Tensor& t);

// Fashion-MNIST: images float32 [1, 28, 28] in [0, 1], labels int64 (0-d) in [0, 10).
// `root` empty: $TESSERA_FASHION_MNIST if set, then Debian's dataset-fashion-mnist
// (/usr/share/datasets/fashion-mnist). Files may be gzip'd or not.
class TESSERA_API FashionMNIST : public Dataset {
 public:
  explicit FashionMNIST(const std::string& root = "", bool train = true);
  int64_t size() const override { return labels_.size(0); }
  Example get(int64_t index) const override;
  // The whole split: images UInt8 [N, 28, 28], labels Int64 [N].
  const Tensor& images() const { return images_; }
  const Tensor& labels() const { return labels_; }
  // "T-shirt/top", "Trouser", ... indexed by label.
  static const std::vector<std::string>& class_names();

 private:
  Tensor images_, labels_;
};

// torchvision's MNIST and FashionMNIST datasets: example i is (image, label) with the image
// as stored, u8 [28, 28] (the pixels of torchvision's PIL image), through `transform` when
// one is given (ToTensor() makes it f32 [1, 28, 28] in [0, 1]), and the label an int64 0-d
// tensor, through `target_transform` when given. The transforms draw from the default
// generator, as torchvision's draw from torch's; per-epoch reproducible random
// augmentation belongs in DataLoaderOptions::transform. Nothing is ever downloaded.
// Files (gzip'd or not) are looked for in `root`, then in root/<Name>/raw (torchvision's
// download layout); with `root` empty in $TESSERA_MNIST (MNIST) or $TESSERA_FASHION_MNIST
// then /usr/share/datasets/fashion-mnist (FashionMNIST, Debian's dataset-fashion-mnist).
class TESSERA_API MNIST : public Dataset {
 public:
  enum class Kind { MNIST, FashionMNIST };
  explicit MNIST(const std::string& root = "", bool train = true, Transform transform = {},
                 Transform target_transform = {}, Kind kind = Kind::MNIST);
  int64_t size() const override { return labels_.size(0); }
  Example get(int64_t index) const override;
  // The whole split: images UInt8 [N, 28, 28], labels Int64 [N].
  const Tensor& images() const { return images_; }
  const Tensor& labels() const { return labels_; }
  Kind kind() const { return kind_; }
  // The digits "0 - zero", ... or FashionMNIST::class_names(), indexed by label.
  const std::vector<std::string>& class_names() const;

 private:
  Tensor images_, labels_;
  Transform transform_, target_transform_;
  Kind kind_;
};

// A numeric CSV file as a float32 [rows, columns] tensor. `header`: the first line holds
// column names (returned in *column_names when given). Fields may be surrounded by spaces
// or double quotes; blank lines are skipped. Errors name the file, line and column.
TESSERA_API Tensor read_csv(const std::string& path, bool header = false, char delimiter = ',',
                            std::vector<std::string>* column_names = nullptr);

}  // namespace tessera::data
