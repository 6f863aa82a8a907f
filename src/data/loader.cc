// DataLoader: an epoch is an EpochRun. With workers, each worker claims the next unbuilt
// batch index, builds it, and files it under that index; the iterating thread takes batch
// 0, 1, 2, ... in order, so the order never depends on which worker finished first.
// Claims stop num_workers * prefetch_batches ahead of the consumer, which bounds memory.
#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "tessera/data.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"

namespace tessera::data {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
// An order-sensitive hash of two values: the seeds of epochs and examples.
uint64_t mix(uint64_t a, uint64_t b) { return splitmix64(a ^ splitmix64(b + 0x632be59bd9b4e019ull)); }

constexpr uint64_t kShuffleStream = 1;
constexpr uint64_t kTransformStream = 2;

}  // namespace

namespace detail {

class EpochRun {
 public:
  EpochRun(std::shared_ptr<const Dataset> dataset, const DataLoaderOptions& options,
           std::vector<int64_t> order, int64_t epoch, int64_t num_batches)
      : dataset_(std::move(dataset)), options_(options), order_(std::move(order)),
        epoch_(epoch), num_batches_(num_batches) {
    const int64_t workers = std::min<int64_t>(options_.num_workers, num_batches_);
    capacity_ = static_cast<int64_t>(options_.num_workers) * options_.prefetch_batches;
    // A worker's ops (transforms, collation) run serially on it: the training step's
    // thread team owns the cores.
    for (int64_t i = 0; i < workers; ++i)
      threads_.emplace_back([this] {
        const SerialGuard serial;
        work();
      });
  }
  // Fetches the first batch. Kept out of the constructor: if it throws, the owning
  // shared_ptr's destructor still stops and joins the workers.
  void start() {
    if (num_batches_ > 0) fetch(0);
  }
  ~EpochRun() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    space_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  EpochRun(const EpochRun&) = delete;
  EpochRun& operator=(const EpochRun&) = delete;

  bool done() const { return current_index_ >= num_batches_; }
  int64_t index() const { return current_index_; }
  const Batch& current() const {
    TESSERA_CHECK(!done(), "DataLoader: dereferenced an iterator past the last batch");
    return current_;
  }
  void advance() {
    TESSERA_CHECK(!done(), "DataLoader: advanced an iterator past the last batch");
    ++current_index_;
    current_ = Batch();  // release the previous batch before building the next
    if (!done()) fetch(current_index_);
  }

 private:
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };

  // Builds batch b; runs on the iterating thread or a worker.
  Batch build(int64_t b) const {
    const int64_t n = static_cast<int64_t>(order_.size());
    const int64_t begin = b * options_.batch_size;
    const int64_t end = std::min(n, begin + options_.batch_size);
    try {
      std::vector<Example> examples;
      examples.reserve(static_cast<size_t>(end - begin));
      const uint64_t epoch_seed = mix(mix(options_.seed, kTransformStream), static_cast<uint64_t>(epoch_));
      for (int64_t i = begin; i < end; ++i) {
        const int64_t index = order_[static_cast<size_t>(i)];
        Example ex = dataset_->get(index);
        if (options_.transform) {
          Generator gen(mix(epoch_seed, static_cast<uint64_t>(index)));
          // Also the thread's current generator, so random ops a transform calls without
          // naming one depend only on (seed, epoch, index), not on which worker runs it.
          GeneratorGuard guard(gen);
          ex.input = options_.transform(ex.input, gen);
        }
        examples.push_back(std::move(ex));
      }
      return options_.collate ? options_.collate(examples) : collate_stack(examples);
    } catch (const Error& e) {
      // Name the batch: an error raised on a worker otherwise loses where it came from. The
      // kind stays: a missing file is still an I/O error after the loader names the batch.
      throw_error(e.kind(), ::tessera::detail::concat("DataLoader: epoch ", epoch_, ", batch ", b,
                                                      " (examples ", begin, " to ", end - 1,
                                                      " of the epoch's order): ", e.what()));
    }
  }

  void work() {
    for (;;) {
      int64_t b;
      {
        std::unique_lock<std::mutex> lock(mu_);
        space_.wait(lock, [&] {
          return stop_ || next_claim_ >= num_batches_ || next_claim_ < consumed_ + capacity_;
        });
        if (stop_ || next_claim_ >= num_batches_) return;
        b = next_claim_++;
      }
      Result r;
      try {
        r.batch = build(b);
      } catch (...) {
        r.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ready_.emplace(b, std::move(r));
      }
      ready_cv_.notify_all();
    }
  }

  void fetch(int64_t b) {
    if (threads_.empty()) {
      current_ = build(b);
      return;
    }
    Result r;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ready_cv_.wait(lock, [&] { return ready_.count(b) != 0; });
      auto it = ready_.find(b);
      r = std::move(it->second);
      ready_.erase(it);
      consumed_ = b + 1;
    }
    space_.notify_all();
    if (r.error) std::rethrow_exception(r.error);
    current_ = std::move(r.batch);
  }

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  std::vector<int64_t> order_;
  int64_t epoch_;
  int64_t num_batches_;
  int64_t current_index_ = 0;
  Batch current_;

  std::mutex mu_;
  std::condition_variable space_, ready_cv_;
  std::map<int64_t, Result> ready_;
  int64_t next_claim_ = 0;
  int64_t consumed_ = 0;
  int64_t capacity_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace detail

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  TESSERA_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
  TESSERA_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be >= 1, got ",
                options_.batch_size);
  TESSERA_CHECK(options_.num_workers >= 0, "DataLoader: num_workers must be >= 0, got ",
                options_.num_workers);
  TESSERA_CHECK(!(options_.sampler && options_.shuffle), "DataLoader: shuffle and sampler "
                "are exclusive (the sampler decides the order; a distributed sampler shuffles "
                "itself)");
  TESSERA_CHECK(options_.prefetch_batches >= 1, "DataLoader: prefetch_batches must be >= 1, got ",
                options_.prefetch_batches);
}

int64_t DataLoader::size() const {
  const int64_t n = options_.sampler ? static_cast<int64_t>(order(epoch_).size()) : dataset_->size();
  const int64_t bs = options_.batch_size;
  return options_.drop_last ? n / bs : (n + bs - 1) / bs;
}

std::vector<int64_t> DataLoader::order(int64_t epoch) const {
  const int64_t n = dataset_->size();
  TESSERA_CHECK(n >= 0, "DataLoader: the dataset reports a negative size (", n, ")");
  if (options_.sampler) {
    std::vector<int64_t> indices = options_.sampler(n, epoch);
    for (size_t i = 0; i < indices.size(); ++i)
      TESSERA_CHECK(indices[i] >= 0 && indices[i] < n, "DataLoader: the sampler gave index ",
                    indices[i], " at position ", i, " of epoch ", epoch,
                    ", outside the dataset's [0, ", n, ")");
    return indices;
  }
  if (!options_.shuffle) {
    std::vector<int64_t> identity(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) identity[static_cast<size_t>(i)] = i;
    return identity;
  }
  Generator gen(mix(mix(options_.seed, kShuffleStream), static_cast<uint64_t>(epoch)));
  return randperm(n, kInt64, &gen).to_vector<int64_t>();
}

DataLoader::Iterator DataLoader::begin() {
  const int64_t epoch = epoch_++;
  std::vector<int64_t> indices = order(epoch);
  const int64_t n = static_cast<int64_t>(indices.size());
  const int64_t bs = options_.batch_size;
  const int64_t batches = options_.drop_last ? n / bs : (n + bs - 1) / bs;
  auto run = std::make_shared<detail::EpochRun>(dataset_, options_, std::move(indices), epoch, batches);
  run->start();
  return Iterator(std::move(run));
}

DataLoader::Iterator::Iterator(std::shared_ptr<detail::EpochRun> run) : run_(std::move(run)) {}

const Batch& DataLoader::Iterator::operator*() const {
  TESSERA_CHECK(run_ != nullptr, "DataLoader: dereferenced an empty iterator");
  return run_->current();
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  TESSERA_CHECK(run_ != nullptr, "DataLoader: advanced an empty iterator");
  run_->advance();
  return *this;
}

bool DataLoader::Iterator::operator==(const Sentinel&) const { return run_ == nullptr || run_->done(); }

int64_t DataLoader::Iterator::index() const { return run_ == nullptr ? 0 : run_->index(); }

}  // namespace tessera::data
