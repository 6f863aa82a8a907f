// The soak workload: training and inference loops for --minutes N, sampling the process's
// resident memory and the caching allocator's bytes as it goes, so a leak (a tensor kept
// alive by a cache, a growing autograd graph, a primitive cache without bound) shows up
// as a slope after warm-up instead of as an out-of-memory kill weeks into a deployment.
//
// Each round: CNN28 training steps (Adam, dropout on, a fresh random batch each step),
// MLP training steps (SGD momentum), CNN28 and encoder-layer inference at batch 1 under
// no-grad, and, once a minute, a checkpoint saved and loaded back. The batch shapes vary
// between two sizes so the allocator's bins and the oneDNN primitive cache see more than
// one geometry, as a real loader's last batch makes them.
//
// Output: a JSON line per sample (metric rss_mb / alloc_current_mb / alloc_cached_mb,
// stat "t=<seconds>") and a summary per metric: the value at the end of warm-up (the
// first fifth of the run), the maximum after it and the growth from warm-up to the end.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench.h"
#include "tessera/allocator.h"
#include "tessera/models.h"
#include "tessera/nn.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/serialize.h"

namespace tessera::bench {
namespace {

constexpr const char* kSystem = "tessera-eager";
namespace F = nn::functional;

double rss_mb() {
  // /proc/self/statm: size resident shared ... in pages.
  std::ifstream statm("/proc/self/statm");
  long long size = 0, resident = 0;
  statm >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

struct Sample {
  double t_s;
  double rss_mb, alloc_current_mb, alloc_cached_mb;
  int64_t rounds;
};

void summarize(const std::vector<Sample>& samples, const char* metric, double Sample::*field,
               const BenchContext& ctx) {
  // Warm-up: the first fifth of the samples (at least one): caches fill, primitives get
  // built, the allocator's bins reach their working set.
  const size_t warm = std::max<size_t>(1, samples.size() / 5);
  const double at_warm = samples[warm - 1].*field;
  double max_after = at_warm;
  for (size_t i = warm; i < samples.size(); ++i) max_after = std::max(max_after, samples[i].*field);
  const double end = samples.back().*field;
  const auto n = static_cast<int64_t>(samples.size());
  emit("soak", kSystem, metric, "after_warmup", at_warm, "MB", ctx.threads, n);
  emit("soak", kSystem, metric, "max_after_warmup", max_after, "MB", ctx.threads, n);
  emit("soak", kSystem, metric, "growth_after_warmup", end - at_warm, "MB", ctx.threads, n);
  std::fprintf(stderr, "# soak %-16s after warm-up %8.1f MB, max after %8.1f MB, end %8.1f MB (%+.1f MB)\n",
               metric, at_warm, max_after, end, end - at_warm);
}

}  // namespace

void run_soak(const BenchContext& ctx) {
  const double minutes = ctx.minutes > 0 ? ctx.minutes : 1.0;
  const double duration_s = minutes * 60.0;
  // About 40 samples whatever the length, but never more often than every 2 s.
  const double every_s = std::max(2.0, duration_s / 40.0);

  manual_seed(0);
  auto cnn = models::cnn28();
  auto mlp = models::mlp();
  auto enc = models::encoder();
  optim::Adam cnn_opt(cnn->parameters(), {.lr = 1e-3});
  optim::SGD mlp_opt(mlp->parameters(), {.lr = 0.01, .momentum = 0.9});
  enc->eval();

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tessera-soak-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string ckpt = (dir / "soak.safetensors").string();

  std::vector<Sample> samples;
  const double t0 = now_s();
  double next_sample = t0, next_checkpoint = t0 + 60.0;
  int64_t rounds = 0;
  double last_loss = 0;
  while (true) {
    const double now = now_s();
    if (now >= next_sample) {
      const MemoryStats m = memory_stats();
      samples.push_back({now - t0, rss_mb(), static_cast<double>(m.current_bytes) / (1 << 20),
                         static_cast<double>(m.cached_bytes) / (1 << 20), rounds});
      const Sample& s = samples.back();
      emit("soak", kSystem, "rss_mb", "t=" + std::to_string(static_cast<int>(s.t_s)), s.rss_mb, "MB",
           ctx.threads, rounds);
      emit("soak", kSystem, "alloc_current_mb", "t=" + std::to_string(static_cast<int>(s.t_s)),
           s.alloc_current_mb, "MB", ctx.threads, rounds);
      emit("soak", kSystem, "alloc_cached_mb", "t=" + std::to_string(static_cast<int>(s.t_s)),
           s.alloc_cached_mb, "MB", ctx.threads, rounds);
      std::fprintf(stderr, "# soak t=%6.0fs rounds %6lld rss %7.1f MB alloc %7.1f MB cached %7.1f MB loss %.4f\n",
                   s.t_s, static_cast<long long>(rounds), s.rss_mb, s.alloc_current_mb,
                   s.alloc_cached_mb, last_loss);
      while (next_sample <= now) next_sample += every_s;  // a slow round skips samples, never bunches them
      if (now - t0 >= duration_s) break;
    }

    // Two batch sizes in turn: a loader's short last batch gives a second geometry.
    const int64_t batch = rounds % 2 == 0 ? 64 : 40;
    cnn->train();
    for (int k = 0; k < 4; ++k) {
      const Tensor x = randn({batch, 1, 28, 28});
      const Tensor y = randint(0, 10, {batch});
      cnn_opt.zero_grad(true);
      Tensor loss = F::cross_entropy((*cnn)(x), y);
      loss.backward();
      cnn_opt.step();
      last_loss = loss.item<double>();
    }
    mlp->train();
    for (int k = 0; k < 4; ++k) {
      mlp_opt.zero_grad(true);
      Tensor loss = F::cross_entropy((*mlp)(randn({batch * 2, 784})), randint(0, 10, {batch * 2}));
      loss.backward();
      mlp_opt.step();
    }
    {
      NoGradGuard no_grad;
      cnn->eval();
      for (int k = 0; k < 8; ++k) (*cnn)(randn({1, 1, 28, 28}));
      (*enc)(randn({1, 128, 256}));
    }
    if (now_s() >= next_checkpoint) {
      const NamedTensors state = cnn->state_dict();
      save_safetensors(ckpt, state);
      const SafetensorsContents back = load_safetensors(ckpt);
      if (back.tensors.size() != state.size())
        throw std::runtime_error("soak: checkpoint round trip lost tensors");
      next_checkpoint += 60.0;
    }
    ++rounds;
  }
  std::filesystem::remove_all(dir);

  std::fprintf(stderr, "# soak: %.1f min, %lld rounds, %zu samples every %.0f s\n", minutes,
               static_cast<long long>(rounds), samples.size(), every_s);
  summarize(samples, "rss_mb", &Sample::rss_mb, ctx);
  summarize(samples, "alloc_current_mb", &Sample::alloc_current_mb, ctx);
  summarize(samples, "alloc_cached_mb", &Sample::alloc_cached_mb, ctx);
}

}  // namespace tessera::bench
