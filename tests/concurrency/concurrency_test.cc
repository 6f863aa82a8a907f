// The threading contract of docs/threading.md, checked by running the same work on several
// std::threads and one after the other and demanding identical bits:
//   (a) threads sharing one CNN28 in eval mode under no-grad, eager and compiled (each
//       call of a compiled graph takes its own arena frame);
//   (b) threads each training their own CNN28, Transformer encoder layer and LSTM with
//       their own generators;
//   (c) random ops and generators used from several threads;
//   (d) DataLoader workers running ops (convolution, dropout, random ops) while the
//       iterating thread trains;
//   (e) the thread count, set on one thread, holding on every thread.
// Every test runs under a watchdog: a hang (issue 8 hung in oneDNN's convolution backward)
// prints which test hung and exits the process, so CI fails instead of stalling.
//
// The figures each test prints (threads, trials, steps, max abs diff, hangs) are its
// evidence; TESSERA_CONCURRENCY_TRIALS=N raises the trial counts of (b) for a soak run.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tessera/autograd.h"
#include "tessera/data.h"
#include "tessera/graph.h"
#include "tessera/models.h"
#include "tessera/nn.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/parallel.h"
#include "tessera/random.h"

using namespace tessera;
namespace F = tessera::nn::functional;

namespace {

// Sanitizer builds: GCC defines __SANITIZE_*__, clang answers __has_feature.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// ThreadSanitizer reports two accesses that lack ordering even when they happen not to
// collide, and AddressSanitizer a bad access the first time it happens; both run slower.
// So their builds run 2 trials of 10 steps; the release build runs many, because there a
// race shows only when it collides: a wrong bit, a hang.
int scaled(int release, int sanitized) { return kSanitized ? sanitized : release; }

// Trials of (b) per workload and thread count: 20 with 2 threads and 20 with 4, as issue
// 8's acceptance asks. On unfixed code every trial that overlapped two convolution
// backward passes diverged, so far fewer would catch a regression; 20 keeps the suite
// about a minute and a half on 2 cores.
int trials_for_training() {
  if (const char* env = std::getenv("TESSERA_CONCURRENCY_TRIALS"); env != nullptr && *env != '\0')
    return std::max(1, std::atoi(env));
  return scaled(20, 2);
}

// ---------------------------------------------------------------- watchdog

// Fails the run if the test it guards is not done by the deadline. A hung thread cannot
// be stopped, so the only way out is ending the process; _Exit skips the destructors
// that would wait for the hung threads.
class Watchdog {
 public:
  Watchdog(std::string what, std::chrono::seconds limit)
      : what_(std::move(what)), limit_(limit), thread_([this] { watch(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  void watch() {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, limit_, [this] { return done_; })) return;
    std::fprintf(stderr,
                 "\nWATCHDOG: %s did not finish within %lld s: a hang (deadlock or a thread "
                 "spinning forever). Failing the test run.\n",
                 what_.c_str(), static_cast<long long>(limit_.count()));
    std::fflush(stderr);
    std::_Exit(1);
  }

  std::string what_;
  std::chrono::seconds limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members it reads exist
};

std::string current_test_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(info->test_suite_name()) + "." + info->name();
}

// Every test of the suite: a watchdog with a deadline far above the test's normal time
// (the longest, CNN28 training, takes ~15-30 s in release on 2 busy cores), so only a hang
// trips it, and longer for the sanitizers.
class Concurrency : public ::testing::Test {
 protected:
  Watchdog watchdog_{current_test_name(), std::chrono::seconds(scaled(300, 1200))};
};

// Runs fn(i) on n threads at once and waits for all. The threads start together (a
// barrier), so their work overlaps rather than running one after the other.
void run_threads(int n, const std::function<void(int)>& fn) {
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      {
        std::unique_lock<std::mutex> lock(mu);
        if (++waiting == n) cv.notify_all();
        cv.wait(lock, [&] { return waiting == n; });
      }
      fn(i);
    });
  }
  for (std::thread& t : threads) t.join();
}

// ---------------------------------------------------------------- comparing results

// How two lists of float tensors differ: tensors whose bits differ, and the largest
// absolute difference.
struct Diff {
  int mismatched = 0;
  double max_abs = 0;
  void add(const Diff& o) {
    mismatched += o.mismatched;
    max_abs = std::max(max_abs, o.max_abs);
  }
};

Diff compare(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  Diff d;
  if (got.size() != want.size()) {
    d.mismatched = static_cast<int>(std::max(got.size(), want.size()));
    return d;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const Tensor a = got[i].contiguous(), b = want[i].contiguous();
    if (a.sizes().vec() != b.sizes().vec() || a.dtype() != b.dtype()) {
      ++d.mismatched;
      continue;
    }
    if (std::memcmp(a.data_ptr(), b.data_ptr(), static_cast<size_t>(a.nbytes())) != 0) ++d.mismatched;
    if (is_floating(a.dtype()) && a.numel() > 0)
      d.max_abs = std::max(d.max_abs, max(abs(a.to(kFloat64) - b.to(kFloat64))).item<double>());
  }
  return d;
}

std::vector<Tensor> snapshot(const nn::Module& m) {
  std::vector<Tensor> out;
  for (const Tensor& p : m.parameters()) out.push_back(p.detach().clone());
  return out;
}

// ---------------------------------------------------------------- (a) shared inference

TEST_F(Concurrency, SharedCnn28InferenceMatchesSerial) {
  const int threads = 4, forwards = scaled(200, 50), inputs = 8;
  Generator gen(1);
  GeneratorGuard guard(gen);
  auto model = models::cnn28();
  model->eval();
  std::vector<Tensor> xs, want;
  {
    NoGradGuard no_grad;
    for (int k = 0; k < inputs; ++k) {
      xs.push_back(randn({4, 1, 28, 28}));
      want.push_back((*model)(xs.back()));
    }
  }
  const std::vector<Tensor> params_before = snapshot(*model);

  std::vector<Diff> diffs(threads);
  run_threads(threads, [&](int t) {
    NoGradGuard no_grad;  // grad mode is per thread: each thread sets its own
    for (int j = 0; j < forwards; ++j) {
      const int k = (t + j) % inputs;
      diffs[static_cast<size_t>(t)].add(compare({(*model)(xs[static_cast<size_t>(k)])},
                                                {want[static_cast<size_t>(k)]}));
    }
  });
  Diff total;
  for (const Diff& d : diffs) total.add(d);
  std::printf("[concurrency] shared CNN28 inference: %d threads x %d forwards (batch 4), "
              "mismatched outputs %d, max abs diff %g, hangs 0\n",
              threads, forwards, total.mismatched, total.max_abs);
  EXPECT_EQ(total.mismatched, 0);
  EXPECT_EQ(compare(snapshot(*model), params_before).mismatched, 0) << "inference changed the model";
  for (const Tensor& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST_F(Concurrency, SharedCompiledCnn28MatchesSerial) {
  const int threads = 4, calls = scaled(200, 20), inputs = 8;
  Generator gen(1);
  GeneratorGuard guard(gen);
  auto model = models::cnn28();
  model->eval();
  CompileOptions options;
  options.freeze = true;
  CompiledFunction fast = compile(*model, options);
  std::vector<Tensor> xs, want;
  for (int k = 0; k < inputs; ++k) xs.push_back(randn({4, 1, 28, 28}));
  fast(xs[0]);  // traces (eager results); every later call runs the graph
  for (const Tensor& x : xs) want.push_back(fast(x));
  std::vector<Diff> diffs(threads);
  run_threads(threads, [&](int t) {
    for (int j = 0; j < calls; ++j) {
      const int k = (t + j) % inputs;
      diffs[static_cast<size_t>(t)].add(compare({fast(xs[static_cast<size_t>(k)])}, {want[static_cast<size_t>(k)]}));
    }
  });
  Diff total;
  for (const Diff& d : diffs) total.add(d);
  std::printf("[concurrency] shared compiled CNN28: %d threads x %d calls (batch 4), mismatched outputs %d, "
              "max abs diff %g, hangs 0\n", threads, calls, total.mismatched, total.max_abs);
  EXPECT_EQ(total.mismatched, 0);
}

TEST_F(Concurrency, GradModeIsPerThread) {
  NoGradGuard no_grad;  // on this thread only
  bool worker_enabled = false, worker_records = false;
  std::thread([&] {
    worker_enabled = autograd::is_grad_enabled();
    Tensor w = ones({2}).requires_grad_();
    worker_records = (w * 2).requires_grad();
  }).join();
  EXPECT_TRUE(worker_enabled);
  EXPECT_TRUE(worker_records);
  EXPECT_FALSE(autograd::is_grad_enabled());
}

// ---------------------------------------------------------------- (b) training

// A model, its data and its optimizer: one training run of (b).
struct Workload {
  std::string name;
  std::function<nn::ModulePtr()> make;
  // A batch drawn from `gen`: (input, target).
  std::function<std::pair<Tensor, Tensor>(Generator&)> batch;
  std::function<Tensor(const Tensor&, const Tensor&)> loss;
  std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)> optimizer;
};

std::vector<Workload> workloads() {
  std::vector<Workload> w;
  // Batches are small: the suite trains 64 models per workload, on 2-core CI machines.
  // CNN28 of WORKLOADS.md, dropout on, batch 4, Adam.
  w.push_back({"CNN28", [] { return nn::ModulePtr(models::cnn28()); },
               [](Generator& g) {
                 return std::pair{randn({4, 1, 28, 28}, kFloat32, &g), randint(0, 10, {4}, kInt64, &g)};
               },
               [](const Tensor& out, const Tensor& y) { return F::cross_entropy(out, y); },
               [](std::vector<Tensor> p) {
                 return std::unique_ptr<optim::Optimizer>(new optim::Adam(std::move(p), {.lr = 1e-3}));
               }});
  // ENCODER of WORKLOADS.md (d_model 256, 4 heads, feed-forward 1024, post-norm,
  // batch_first) with dropout 0.1 on, batch 2 x sequence 16, AdamW.
  w.push_back({"TransformerEncoderLayer",
               [] {
                 nn::TransformerEncoderLayerOptions o;
                 o.dim_feedforward = 1024;
                 o.dropout = 0.1;
                 o.batch_first = true;
                 return nn::ModulePtr(std::make_shared<nn::TransformerEncoderLayer>(256, 4, o));
               },
               [](Generator& g) {
                 return std::pair{randn({2, 16, 256}, kFloat32, &g), randn({2, 16, 256}, kFloat32, &g)};
               },
               [](const Tensor& out, const Tensor& y) { return F::mse_loss(out, y); },
               [](std::vector<Tensor> p) {
                 return std::unique_ptr<optim::Optimizer>(new optim::AdamW(std::move(p)));
               }});
  // A 2-layer LSTM (dropout 0.2 between the layers), batch 8 x 12 steps, SGD + momentum.
  w.push_back({"LSTM",
               [] {
                 nn::RNNOptions o;
                 o.num_layers = 2;
                 o.dropout = 0.2;
                 o.batch_first = true;
                 return nn::ModulePtr(std::make_shared<nn::LSTM>(16, 32, o));
               },
               [](Generator& g) {
                 return std::pair{randn({8, 12, 16}, kFloat32, &g), randn({8, 12, 32}, kFloat32, &g)};
               },
               [](const Tensor& out, const Tensor& y) { return F::mse_loss(out, y); },
               [](std::vector<Tensor> p) {
                 return std::unique_ptr<optim::Optimizer>(
                     new optim::SGD(std::move(p), {.lr = 0.05, .momentum = 0.9}));
               }});
  return w;
}

// Builds a model from `seed` and trains it: everything random (initialization, dropout,
// data) comes from generators of this call, so the result depends on the seed alone.
std::vector<Tensor> train(const Workload& w, uint64_t seed, int steps) {
  Generator gen(seed);
  GeneratorGuard guard(gen);  // initialization and dropout
  Generator data(seed + 0x9e3779b97f4a7c15ull);
  nn::ModulePtr model = w.make();
  model->train();
  std::unique_ptr<optim::Optimizer> opt = w.optimizer(model->parameters());
  for (int s = 0; s < steps; ++s) {
    auto [x, y] = w.batch(data);
    Tensor loss = w.loss((*model)(x), y);
    opt->zero_grad();
    loss.backward();
    opt->step();
  }
  return snapshot(*model);
}

// Trains `w` on 2 and then 4 threads at once, each thread its own model with its own
// seed, `trials` times, and compares every parameter with the serial run's.
void check_training(const Workload& w) {
  const int steps = scaled(50, 10), trials = trials_for_training(), max_threads = 4;
  const auto t0 = std::chrono::steady_clock::now();
  // The serial run: thread i's training alone, seed 1000 + i.
  std::vector<std::vector<Tensor>> want;
  for (int i = 0; i < max_threads; ++i) want.push_back(train(w, 1000 + static_cast<uint64_t>(i), steps));
  // Different seeds must give different weights, or matching them would prove nothing.
  ASSERT_GT(compare(want[0], want[1]).mismatched, 0) << w.name;

  for (int threads : {2, 4}) {
    Diff total;
    int failed_trials = 0;
    for (int trial = 0; trial < trials; ++trial) {
      std::vector<std::vector<Tensor>> got(static_cast<size_t>(threads));
      run_threads(threads, [&](int i) {
        got[static_cast<size_t>(i)] = train(w, 1000 + static_cast<uint64_t>(i), steps);
      });
      Diff trial_diff;
      for (int i = 0; i < threads; ++i)
        trial_diff.add(compare(got[static_cast<size_t>(i)], want[static_cast<size_t>(i)]));
      if (trial_diff.mismatched > 0) ++failed_trials;
      total.add(trial_diff);
    }
    std::printf("[concurrency] train %s: %d threads x %d trials x %d steps, trials differing "
                "from serial %d, mismatched parameters %d, max abs diff %g, hangs 0\n",
                w.name.c_str(), threads, trials, steps, failed_trials, total.mismatched,
                total.max_abs);
    std::fflush(stdout);
    EXPECT_EQ(total.mismatched, 0) << w.name << " with " << threads << " threads";
  }
  std::printf("[concurrency] train %s: %.1f s\n", w.name.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

TEST_F(Concurrency, TrainingOwnCnn28MatchesSerial) { check_training(workloads()[0]); }
TEST_F(Concurrency, TrainingOwnEncoderMatchesSerial) { check_training(workloads()[1]); }
TEST_F(Concurrency, TrainingOwnLstmMatchesSerial) { check_training(workloads()[2]); }

// ---------------------------------------------------------------- (c) random ops

// Every random entry point that draws from the current generator.
std::vector<Tensor> random_draws() {
  std::vector<Tensor> out;
  out.push_back(rand({257}));
  out.push_back(randn({3, 65}));
  out.push_back(randint(-5, 5, {100}));
  out.push_back(bernoulli({77}, 0.3));
  out.push_back(randperm(50));
  out.push_back(normal(1.0, 2.0, {33}));
  Tensor u = empty({40});
  out.push_back(uniform_(u, -1, 1).clone());
  out.push_back(F::dropout(ones({64}), 0.5, true));
  out.push_back(nn::init::kaiming_uniform_(empty({8, 4})));
  out.push_back(nn::init::xavier_normal_(empty({6, 5})));
  return out;
}

TEST_F(Concurrency, RandomOpsWithOwnGeneratorsMatchSerial) {
  const int threads = 4, rounds = scaled(50, 10);
  std::vector<std::vector<Tensor>> want;
  for (int t = 0; t < threads; ++t) {
    Generator g(77 + static_cast<uint64_t>(t));
    GeneratorGuard guard(g);
    std::vector<Tensor> all;
    for (int r = 0; r < rounds; ++r)
      for (Tensor& x : random_draws()) all.push_back(x);
    want.push_back(all);
  }
  const uint64_t default_before = default_generator().offset();
  std::vector<std::vector<Tensor>> got(threads);
  run_threads(threads, [&](int t) {
    Generator g(77 + static_cast<uint64_t>(t));
    GeneratorGuard guard(g);
    for (int r = 0; r < rounds; ++r)
      for (Tensor& x : random_draws()) got[static_cast<size_t>(t)].push_back(x);
  });
  Diff total;
  for (int t = 0; t < threads; ++t) total.add(compare(got[static_cast<size_t>(t)], want[static_cast<size_t>(t)]));
  std::printf("[concurrency] random ops, own generators: %d threads x %d rounds x %zu draws, "
              "mismatched %d, max abs diff %g\n",
              threads, rounds, want[0].size() / static_cast<size_t>(rounds), total.mismatched,
              total.max_abs);
  EXPECT_EQ(total.mismatched, 0);
  EXPECT_EQ(default_generator().offset(), default_before) << "a guarded thread drew from the default";
}

TEST_F(Concurrency, GeneratorGuardIsPerThreadAndNests) {
  Generator a(1), b(2);
  GeneratorGuard ga(a);
  EXPECT_EQ(&current_generator(), &a);
  {
    GeneratorGuard gb(b);
    EXPECT_EQ(&current_generator(), &b);
    Generator* seen = nullptr;
    std::thread([&] { seen = &current_generator(); }).join();
    EXPECT_EQ(seen, &default_generator()) << "a guard must not leak into other threads";
  }
  EXPECT_EQ(&current_generator(), &a);
}

// Threads sharing one generator: the draws interleave in any order, but every draw must
// get counters of its own, so together they are exactly the serial draws, permuted.
TEST_F(Concurrency, SharedGeneratorGivesDisjointDraws) {
  const int threads = 4, per_thread = scaled(200, 20);
  Generator shared(5);
  std::vector<std::vector<std::vector<float>>> got(threads);
  run_threads(threads, [&](int t) {
    for (int i = 0; i < per_thread; ++i)
      got[static_cast<size_t>(t)].push_back(randn({16}, kFloat32, &shared).to_vector<float>());
  });
  std::vector<std::vector<float>> parallel, serial;
  for (auto& g : got) parallel.insert(parallel.end(), g.begin(), g.end());
  Generator fresh(5);
  for (int i = 0; i < threads * per_thread; ++i) serial.push_back(randn({16}, kFloat32, &fresh).to_vector<float>());
  std::sort(parallel.begin(), parallel.end());
  std::sort(serial.begin(), serial.end());
  EXPECT_EQ(shared.offset(), fresh.offset());
  EXPECT_TRUE(parallel == serial) << "concurrent draws overlapped or skipped counters";

  // reserve() itself, hammered: no counter handed out twice, none lost.
  const int reserves = scaled(1000000, 20000);  // enough for the threads to overlap on 2 cores
  Generator g(9);
  std::vector<std::vector<uint64_t>> firsts(threads);
  run_threads(threads, [&](int t) {
    for (int i = 0; i < reserves; ++i) firsts[static_cast<size_t>(t)].push_back(g.reserve(1));
  });
  std::vector<uint64_t> all;
  for (auto& f : firsts) all.insert(all.end(), f.begin(), f.end());
  std::sort(all.begin(), all.end());
  const size_t distinct = static_cast<size_t>(std::unique(all.begin(), all.end()) - all.begin());
  std::printf("[concurrency] shared generator: %d threads x %d draws, %d threads x %d reserves, "
              "distinct counters %zu of %d\n",
              threads, per_thread, threads, reserves, distinct, threads * reserves);
  EXPECT_EQ(distinct, static_cast<size_t>(threads * reserves));
  EXPECT_EQ(g.offset(), static_cast<uint64_t>(threads * reserves));
}

// ---------------------------------------------------------------- (d) DataLoader workers

// Examples whose transform runs ops on the worker: a convolution (oneDNN, one cached
// primitive for every worker), dropout and randn without a generator (the loader makes
// the example's generator current), and a random crop with the generator it is given.
data::DataLoaderOptions loader_options(int workers) {
  data::DataLoaderOptions o;
  o.batch_size = 8;
  o.shuffle = true;
  o.seed = 11;
  o.num_workers = workers;
  Generator wg(3);
  const Tensor kernel = randn({4, 1, 3, 3}, kFloat32, &wg);
  o.transform = [kernel](const Tensor& x, Generator& gen) {
    Tensor y = F::conv2d(x.unsqueeze(0), kernel, {}, {1, 1}, {1, 1}).squeeze(0);  // [4, 28, 28]
    y = F::dropout(y, 0.2, true) + randn(y.sizes()) * 0.01;
    return data::RandomCrop(24, 2)(y, gen);
  };
  return o;
}

TEST_F(Concurrency, DataLoaderWorkersRunningOpsMatchSerial) {
  Generator dg(21);
  auto dataset = std::make_shared<data::TensorDataset>(randn({64, 1, 28, 28}, kFloat32, &dg),
                                                       randint(0, 10, {64}, kInt64, &dg));
  const int epochs = scaled(3, 1);
  auto collect = [&](int workers, bool train_meanwhile) {
    data::DataLoader loader(dataset, loader_options(workers));
    Generator mg(4);
    GeneratorGuard guard(mg);
    auto model = std::make_shared<nn::Sequential>(
        std::make_shared<nn::Conv2d>(4, 8, 3), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(8 * 22 * 22, 10));
    optim::SGD opt(model->parameters(), {.lr = 0.01});
    std::vector<Tensor> batches;
    for (int e = 0; e < epochs; ++e) {
      for (const data::Batch& b : loader) {
        batches.push_back(b.input);
        batches.push_back(b.target);
        if (!train_meanwhile) continue;
        // The iterating thread trains on the batch while the workers build the next ones.
        Tensor loss = F::cross_entropy((*model)(b.input), b.target);
        opt.zero_grad();
        loss.backward();
        opt.step();
      }
    }
    return batches;
  };
  const std::vector<Tensor> want = collect(0, false);
  Diff total;
  int runs = 0;
  for (int workers : {2, 4}) {
    for (int r = 0; r < scaled(3, 1); ++r, ++runs) total.add(compare(collect(workers, true), want));
  }
  std::printf("[concurrency] DataLoader: 2 and 4 workers, %d runs x %d epochs x %zu batches, "
              "mismatched %d, max abs diff %g, hangs 0\n",
              runs, epochs, want.size() / 2 / static_cast<size_t>(epochs), total.mismatched,
              total.max_abs);
  EXPECT_EQ(total.mismatched, 0);
}

// ---------------------------------------------------------------- (e) thread count

// The thread count is process-wide: OpenMP keeps its own count per thread, and oneDNN
// splits (and so sums) by it, so a thread that never called set_num_threads must still
// compute what the thread that did computes. A [1, 1M] x [1M, 1] product is one that
// oneDNN's sgemm splits along k by thread count (it differed before the fix: the new
// thread ran with OpenMP's default, the cores); the training covers everything else.
TEST_F(Concurrency, ThreadCountHoldsOnEveryThread) {
  const int saved = get_num_threads();
  const int steps = scaled(10, 5);
  const Workload cnn = workloads()[0];
  Generator g(8);
  const Tensor a = randn({1, 1 << 20}, kFloat32, &g), b = randn({1 << 20, 1}, kFloat32, &g);
  Diff total;
  for (int n : {1, 3}) {
    set_num_threads(n);
    const std::vector<Tensor> want = train(cnn, 5, steps);
    const Tensor want_dot = matmul(a, b);
    std::vector<Tensor> got;
    Tensor got_dot;
    std::thread([&] {
      got = train(cnn, 5, steps);
      got_dot = matmul(a, b);
    }).join();
    total.add(compare(got, want));
    total.add(compare({got_dot}, {want_dot}));
  }
  set_num_threads(saved);
  std::printf("[concurrency] thread count 1 and 3 set on the main thread; a long dot product "
              "and CNN28 %d steps on another: mismatched %d, max abs diff %g\n",
              steps, total.mismatched, total.max_abs);
  EXPECT_EQ(total.mismatched, 0);
}

}  // namespace
