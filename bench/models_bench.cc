// The model workloads of WORKLOADS.md: training steps, inference latency/throughput and
// the Fashion-MNIST epoch, each on the models of tessera/models.h, run the way the peer
// (../shared/peers/torch_bench.py) runs them, so the two print comparable lines.
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench.h"
#include "tessera/data.h"
#include "tessera/graph.h"
#include "tessera/models.h"
#include "tessera/nn.h"
#include "tessera/onnx.h"
#include "tessera/ops.h"
#include "tessera/optim.h"

namespace tessera::bench {
namespace {

namespace F = nn::functional;


void report(const std::string& wl, const char* metric, const std::vector<double>& ts,
            const BenchContext& ctx) {
  const auto n = static_cast<int64_t>(ts.size());
  emit(wl, system_of(ctx), metric, "median", quantile(ts, 0.5) * 1e3, "ms", ctx.threads, n);
  emit(wl, system_of(ctx), metric, "p90", quantile(ts, 0.9) * 1e3, "ms", ctx.threads, n);
}

// The model's forward for inference: eager, compiled with its weights frozen, or (--mode
// onnx) the ONNX file of the same model (named by the workload's first word: cnn28_infer_b1
// runs cnn28.onnx) imported and compiled the same way.
std::function<Tensor(const Tensor&)> inference_fn(const std::string& wl, const std::shared_ptr<nn::Module>& model,
                                                  const BenchContext& ctx) {
  if (!ctx.onnx_dir.empty()) {
    const std::string path = ctx.onnx_dir + "/" + wl.substr(0, wl.find('_')) + ".onnx";
    CompileOptions o;
    o.freeze = true;
    auto compiled = std::make_shared<CompiledFunction>(onnx::import_model(path).compile(o));
    return [compiled](const Tensor& x) { return (*compiled)(std::vector<Tensor>{x}).at(0); };
  }
  if (!ctx.graph) return [model](const Tensor& x) { return (*model)(x); };
  CompileOptions o;
  o.freeze = true;
  auto compiled = std::make_shared<CompiledFunction>(compile(*model, o));
  return [compiled](const Tensor& x) { return (*compiled)(x); };
}

// One training step (as the peer's train_step_fn), timed as a whole, with the time of
// its three phases kept aside so stderr can say where a step goes without a profiler.
void train_workload(const std::string& wl, const std::shared_ptr<nn::Module>& model,
                    optim::Optimizer& opt, const Tensor& x, const Tensor& y, int default_iters,
                    const BenchContext& ctx) {
  model->train();
  if (ctx.graph) {
    // The whole step as one graph: forward, backward and the optimizer's update.
    CompiledFunction compiled = compile([&](const std::vector<Tensor>& in) {
      opt.zero_grad(true);
      Tensor loss = F::cross_entropy((*model)(in[0]), in[1]);
      loss.backward();
      opt.step();
      return std::vector<Tensor>{loss};
    });
    const std::vector<double> ts = time_calls([&] { compiled({x, y}); }, ctx.iters_or(default_iters), 15.0, 20);
    report(wl, "step_ms", ts, ctx);
    return;
  }
  std::vector<double> fwd, bwd, upd;
  auto step = [&] {
    const double t0 = now_s();
    opt.zero_grad(true);
    Tensor loss = F::cross_entropy((*model)(x), y);
    const double t1 = now_s();
    loss.backward();
    const double t2 = now_s();
    opt.step();
    const double t3 = now_s();
    fwd.push_back(t1 - t0);
    bwd.push_back(t2 - t1);
    upd.push_back(t3 - t2);
  };
  const std::vector<double> ts = time_calls(step, ctx.iters_or(default_iters), 15.0, 20);
  report(wl, "step_ms", ts, ctx);
  std::fprintf(stderr, "# %s median ms: forward+loss %.2f, backward %.2f, optimizer %.2f\n",
               wl.c_str(), quantile(fwd, 0.5) * 1e3, quantile(bwd, 0.5) * 1e3,
               quantile(upd, 0.5) * 1e3);
}

void infer_latency(const std::string& wl, const std::shared_ptr<nn::Module>& model,
                   const Tensor& x, int default_iters, const BenchContext& ctx) {
  model->eval();
  NoGradGuard no_grad;
  const auto fn = inference_fn(wl, model, ctx);
  const std::vector<double> ts = time_calls([&] { fn(x); }, ctx.iters_or(default_iters), 10.0, 20);
  report(wl, "latency_ms", ts, ctx);
}

// Forward time per layer of a Sequential, on stderr: where inference time goes.
void layer_breakdown(const std::string& wl, nn::Sequential& seq, const Tensor& x) {
  NoGradGuard no_grad;
  std::vector<std::vector<double>> per(seq.size());
  auto pass = [&] {
    Tensor y = x;
    for (size_t i = 0; i < seq.size(); ++i) {
      const double t0 = now_s();
      y = (*seq[i])(y);
      per[i].push_back(now_s() - t0);
    }
  };
  for (int k = 0; k < 50; ++k) pass();
  std::fprintf(stderr, "# %s forward per layer (median us):", wl.c_str());
  for (size_t i = 0; i < seq.size(); ++i)
    std::fprintf(stderr, " %zu:%s %.1f", i, seq[i]->type_name().c_str(), quantile(per[i], 0.5) * 1e6);
  std::fprintf(stderr, "\n");
}

}  // namespace

void run_mlp_train_b128(const BenchContext& ctx) {
  manual_seed(0);
  auto m = models::mlp();
  optim::SGD opt(m->parameters(), {.lr = 0.01, .momentum = 0.9});
  train_workload("mlp_train_b128", m, opt, randn({128, 784}), randint(0, 10, {128}), 200, ctx);
}

void run_cnn28_train_b64(const BenchContext& ctx) {
  manual_seed(0);
  auto m = models::cnn28();
  optim::Adam opt(m->parameters(), {.lr = 1e-3});
  const Tensor x = randn({64, 1, 28, 28});
  train_workload("cnn28_train_b64", m, opt, x, randint(0, 10, {64}), 100, ctx);
  m->train();
  if (!ctx.graph) layer_breakdown("cnn28_train_b64", *m, x);
}

void run_cnn64_train_b32(const BenchContext& ctx) {
  manual_seed(0);
  auto m = models::cnn64();
  optim::SGD opt(m->parameters(), {.lr = 0.01, .momentum = 0.9});
  train_workload("cnn64_train_b32", m, opt, randn({32, 3, 64, 64}), randint(0, 8, {32}), 100, ctx);
}

void run_cnn28_infer_b1(const BenchContext& ctx) {
  manual_seed(0);
  auto m = models::cnn28();
  const Tensor x = randn({1, 1, 28, 28});
  infer_latency("cnn28_infer_b1", m, x, 300, ctx);
  if (!ctx.graph && ctx.onnx_dir.empty()) layer_breakdown("cnn28_infer_b1", *m, x);
}

void run_cnn28_infer_b256(const BenchContext& ctx) {
  manual_seed(0);
  auto m = models::cnn28();
  m->eval();
  NoGradGuard no_grad;
  const Tensor x = randn({256, 1, 28, 28});
  const auto fn = inference_fn("cnn28_infer_b256", m, ctx);
  const std::vector<double> ts = time_calls([&] { fn(x); }, ctx.iters_or(30), 10.0, 20);
  emit("cnn28_infer_b256", system_of(ctx), "images_per_s", "median", 256.0 / quantile(ts, 0.5),
       "img/s", ctx.threads, static_cast<int64_t>(ts.size()));
  // The slow tail as a throughput (the 90th-percentile time), as the peers print it.
  emit("cnn28_infer_b256", system_of(ctx), "images_per_s", "p90", 256.0 / quantile(ts, 0.9),
       "img/s", ctx.threads, static_cast<int64_t>(ts.size()));
}

void run_cnn64_infer_b1(const BenchContext& ctx) {
  manual_seed(0);
  infer_latency("cnn64_infer_b1", models::cnn64(), randn({1, 3, 64, 64}), 300, ctx);
}

void run_encoder_infer_b1(const BenchContext& ctx) {
  manual_seed(0);
  infer_latency("encoder_infer_b1", models::encoder(), randn({1, 128, 256}), 300, ctx);
}

void run_resnet18_infer_b1(const BenchContext& ctx) {
  manual_seed(0);
  infer_latency("resnet18_infer_b1", models::resnet18(), randn({1, 3, 224, 224}), 100, ctx);
}

// One epoch of CNN28 on the real Fashion-MNIST (normalized as the peer does), then the
// test accuracy. The peer indexes an in-memory tensor; the DataLoader here runs on the
// iterating thread (num_workers 0) so the thread count means the same on both sides.
void run_cnn28_fmnist_epoch(const BenchContext& ctx) {
  manual_seed(0);
  const data::Normalize norm({0.2860}, {0.3530});  // Fashion-MNIST train statistics
  auto train = std::make_shared<data::FashionMNIST>("", true);
  auto test = std::make_shared<data::FashionMNIST>("", false);
  data::DataLoader train_loader(train, {.batch_size = 64, .shuffle = true, .seed = 0,
                                        .transform = norm});
  data::DataLoader test_loader(test, {.batch_size = 1000, .transform = norm});
  auto m = models::cnn28();
  optim::Adam opt(m->parameters(), {.lr = 1e-3});
  m->train();
  // One step, returning the loss: eager, or (--mode graph) the whole step compiled, as the
  // training-step workloads run it (the last, smaller batch traces a second graph).
  auto eager_step = [&](const std::vector<Tensor>& in) {
    opt.zero_grad(true);
    Tensor loss = F::cross_entropy((*m)(in[0]), in[1]);
    loss.backward();
    opt.step();
    return std::vector<Tensor>{loss};
  };
  std::optional<CompiledFunction> compiled;
  if (ctx.graph) compiled.emplace(compile(eager_step));
  const double t0 = now_s();
  int64_t batches = 0;
  double last_loss = 0;
  for (const data::Batch& b : train_loader) {
    const std::vector<Tensor> in{b.input, b.target};
    const Tensor loss = compiled ? (*compiled)(in).at(0) : eager_step(in).at(0);
    ++batches;
    if (batches == train_loader.size()) last_loss = loss.item<double>();
  }
  const double epoch_s = now_s() - t0;
  m->eval();
  NoGradGuard no_grad;
  // --mode graph evaluates compiled too. Traced at a batch of 8 and re-derived for the
  // batches of 1000 (dynamic_batch): tracing at 1000 would run that batch eagerly, and eager
  // at 1000 holds each convolution's input, blocked copy, blocked and plain outputs at once
  // (the process went from 282 MB after training to 839 MB).
  std::optional<CompiledFunction> evaluate;
  if (ctx.graph) evaluate.emplace(compile(*m, CompileOptions{.freeze = true, .dynamic_batch = true}));
  int64_t correct = 0;
  for (const data::Batch& b : test_loader) {
    if (evaluate && evaluate->stats().traces == 0) (void)(*evaluate)(b.input.slice(0, 0, 8).contiguous());
    const Tensor logits = evaluate ? (*evaluate)(b.input) : (*m)(b.input);
    correct += sum(eq(argmax(logits, 1), b.target)).item<int64_t>();
  }
  const double acc = static_cast<double>(correct) / static_cast<double>(test->size());
  std::fprintf(stderr, "# cnn28_fmnist_epoch: %lld batches, epoch %.2f s, last loss %.4f, acc %.4f\n",
               static_cast<long long>(batches), epoch_s, last_loss, acc);
  emit("cnn28_fmnist_epoch", system_of(ctx), "epoch_s", "median", epoch_s, "s", ctx.threads, 1);
  emit("cnn28_fmnist_epoch", system_of(ctx), "test_acc", "median", acc, "fraction", ctx.threads, 1);
}

}  // namespace tessera::bench
