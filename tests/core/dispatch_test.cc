// The one dispatch path: copies, fills, in-place ops and optimizer updates all go through
// the layer stack (what the tracer will hook), kernels never re-enter it, and every write
// bumps the storage version that autograd checks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ops/op.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {

// Stands in for the tracer: records the name of every op call that reaches its slot on
// this thread while recording is on, then lets the call through unchanged.
class RecordingLayer final : public ops::DispatchLayer {
 public:
  bool wants(const ops::OpCall&) const override { return recording; }
  std::vector<Tensor> handle(ops::OpCall& c, const Below& below) override {
    names.emplace_back(c.op.name);
    return below(c);
  }
  static thread_local bool recording;
  static thread_local std::vector<std::string> names;
};
thread_local bool RecordingLayer::recording = false;
thread_local std::vector<std::string> RecordingLayer::names;

// Installs the recording layer in the tracer's slot for the scope of one test.
class Recorded {
 public:
  Recorded() {
    static RecordingLayer layer;
    ops::install_layer(ops::LayerSlot::Tracer, &layer);
    RecordingLayer::names.clear();
    RecordingLayer::recording = true;
  }
  ~Recorded() {
    RecordingLayer::recording = false;
    ops::install_layer(ops::LayerSlot::Tracer, nullptr);
  }
  const std::vector<std::string>& names() const { return RecordingLayer::names; }
  // Stops recording and returns what was seen.
  std::vector<std::string> take() {
    RecordingLayer::recording = false;
    return RecordingLayer::names;
  }
};

bool contains(const std::vector<std::string>& v, const std::string& s) {
  for (const std::string& x : v)
    if (x == s) return true;
  return false;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

}  // namespace

TEST(Dispatch, CopyFromATensorRequiringGradKeepsItsGradient) {
  Tensor x = tensor<double>({1, 2, 3}).requires_grad_();
  Tensor y = zeros({2, 3}, kFloat64);
  y.copy_(mul(x, 2.0));  // broadcast [3] -> [2, 3]
  EXPECT_TRUE(y.requires_grad());
  sum(mul(y, y)).backward();
  // d/dx sum((2x)^2 over two rows) = 2 * 2 * 2x * 2 = 16x
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{16, 32, 48}));
}

TEST(Dispatch, CopyIntoATensorWithHistoryGivesTheOldValueAZeroGradient) {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor s = tensor<double>({5, 7}).requires_grad_();
  Tensor y = mul(x, 3.0);
  y.copy_(s);
  sum(y).backward();
  EXPECT_EQ(s.grad().to_vector<double>(), (std::vector<double>{1, 1}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0}));  // as PyTorch
}

TEST(Dispatch, CopyAndFillIntoALeafRequiringGradAreRefusedUnderGradMode) {
  Tensor w = zeros({3}).requires_grad_();
  EXPECT_ERROR_HAS(w.copy_(ones({3})), "leaf tensor that requires grad");
  EXPECT_ERROR_HAS(w.fill_(1.0), "leaf tensor that requires grad");
  NoGradGuard no_grad;  // as optimizers and load_state_dict do
  w.fill_(2.0);
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{2, 2, 2}));
}

TEST(Dispatch, EveryWriteBumpsTheVersion) {
  Tensor t = zeros({4});
  auto version = [&] { return t.storage()->version(); };
  uint64_t v = version();
  t.fill_(1.0);
  EXPECT_GT(version(), v);
  v = version();
  t.copy_(ones({4}));
  EXPECT_GT(version(), v);
  v = version();
  t.add_(1.0);
  EXPECT_GT(version(), v);
}

// docs/architecture.md promises this: a graph kept with retain_graph refuses to
// backpropagate through parameters an optimizer step has since changed.
TEST(Dispatch, BackwardAfterAnOptimizerStepRaisesTheModifiedInPlaceError) {
  manual_seed(0);
  // Two layers: the gradient for the first layer's output reads the second's weight.
  nn::Linear first(3, 4), second(4, 2);
  Tensor loss = sum(second(first(randn({5, 3}))));
  loss.backward(Tensor(), /*retain_graph=*/true);
  for (const char* which : {"sgd", "adam"}) {
    SCOPED_TRACE(which);
    const std::string err = error_of([&] {
      if (std::string(which) == "sgd") {
        optim::SGD opt(second.parameters(), {.lr = 0.1, .momentum = 0.9});
        opt.step();
      } else {
        optim::Adam opt(second.parameters(), {.lr = 0.1});
        opt.step();
      }
      loss.backward(Tensor(), /*retain_graph=*/true);
    });
    EXPECT_NE(err.find("modified by an in-place operation"), std::string::npos) << err;
  }
}

TEST(Dispatch, CopyFillInPlaceOpsAndOptimizerUpdatesReachTheTracerSlot) {
  manual_seed(0);
  nn::Linear lin(3, 2);
  optim::Adam adam(lin.parameters(), {.lr = 0.1});
  optim::SGD sgd(lin.parameters(), {.lr = 0.1, .momentum = 0.9});
  optim::RMSprop rms(lin.parameters(), {.lr = 0.01, .momentum = 0.5, .centered = true});
  optim::Adagrad adagrad(lin.parameters(), {.lr = 0.1});
  optim::Adadelta adadelta(lin.parameters(), {.lr = 0.1});
  sum(lin(randn({4, 3}))).backward();
  Tensor t = zeros({2, 3});
  Recorded rec;
  t.copy_(ones({3}));
  t.fill_(2.0);
  t.add_(1.0);
  t.zero_();
  adam.step();
  sgd.step();
  rms.step();
  adagrad.step();
  adadelta.step();
  const std::vector<std::string> names = rec.take();
  for (const char* op : {"copy_", "fill_", "add", "adam_update_", "sgd_update_", "rmsprop_update_",
                         "adagrad_update_", "adadelta_update_"})
    EXPECT_TRUE(contains(names, op)) << op << " missing from: " << joined(names);
}

// Kernels that used to call .contiguous() / .to() (conv, pools, where, cumsum, multinomial,
// addmm, view_scatter) now use the helpers below dispatch: the tracer sees the op alone.
TEST(Dispatch, KernelsNeverReEnterDispatch) {
  manual_seed(0);
  const Tensor x = randn({2, 3, 8, 8}).transpose(2, 3);  // not contiguous
  const Tensor w = randn({4, 3, 3, 3}).transpose(2, 3);
  const Tensor b = randn({4});
  struct Case {
    const char* op;
    std::function<void()> run;
  };
  const std::vector<Case> cases = {
      {"conv2d", [&] { nn::functional::conv2d(x, w, b); }},
      {"max_pool2d", [&] { nn::functional::max_pool2d(x, {2, 2}); }},
      {"avg_pool2d", [&] { nn::functional::avg_pool2d(x, {2, 2}); }},
      {"where", [&] { where(gt(x, 0.0), x, randn({8}, kFloat64)); }},
      {"cumsum", [&] { cumsum(x, 1); }},
      {"addmm", [&] { addmm(randn({3}), randn({2, 4}), randn({4, 3}).t().t()); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    Recorded rec;
    c.run();
    const std::vector<std::string> names = rec.take();
    EXPECT_TRUE(contains(names, c.op)) << joined(names);
    EXPECT_FALSE(contains(names, "clone")) << "a kernel re-entered dispatch: " << joined(names);
    EXPECT_FALSE(contains(names, "cast")) << "a kernel re-entered dispatch: " << joined(names);
  }
}

TEST(Dispatch, InPlaceOpsWithHistoryStillDifferentiate) {
  Tensor x = tensor<double>({1, 2, 3}).requires_grad_();
  Tensor y = mul(x, 1.0);
  y.mul_(tensor<double>({2, 2, 2}));
  y.add_(1.0);
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2, 2}));
}

// linear, layer_norm, batch_norm, cross_entropy, nll_loss and attention are ops of their
// own (one unit for the tracer, fusion and export) that run as their decomposition.
TEST(Dispatch, CompositesAreOneCallThatRunsItsDecomposition) {
  manual_seed(0);
  namespace F = nn::functional;
  const Tensor x = randn({4, 3}), w = randn({5, 3}), b = randn({5});
  const Tensor q = randn({2, 4, 8}), k = randn({2, 6, 8}), v = randn({2, 6, 3});
  const Tensor qd = q.to(kFloat64), kd = k.to(kFloat64), vd = v.to(kFloat64);
  struct Case {
    const char* op;
    const char* primitive;  // one op its decomposition calls
    std::function<void()> run;
  };
  const std::vector<Case> cases = {
      {"linear", "addmm", [&] { F::linear(x, w, b); }},

      {"batch_norm", "rsqrt", [&] { F::batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true); }},
      {"cross_entropy", "log_softmax", [&] { F::cross_entropy(x, tensor<int64_t>({0, 1, 2, 1})); }},
      {"nll_loss", "gather", [&] { F::nll_loss(x, tensor<int64_t>({0, 1, 2, 1})); }},
      // float32 attention has a fused kernel (below); float64 takes the decomposition.
      {"scaled_dot_product_attention", "softmax",
       [&] { F::scaled_dot_product_attention(qd, kd, vd); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    Recorded rec;
    c.run();
    const std::vector<std::string> names = rec.take();
    ASSERT_FALSE(names.empty());
    EXPECT_EQ(names[0], c.op) << joined(names);
    EXPECT_TRUE(contains(names, c.primitive)) << joined(names);
  }
  // A composite with a fused kernel (layer_norm) is that one call without gradients, and
  // its decomposition when they are needed (autograd runs it: the kernel has no rule).
  {
    Recorded rec;
    F::layer_norm(x, {3});
    EXPECT_EQ(joined(rec.take()), "layer_norm");
  }
  {
    const Tensor xg = randn({4, 3}).requires_grad_();
    Recorded rec;
    const Tensor y = F::layer_norm(xg, {3});
    const std::vector<std::string> names = rec.take();
    EXPECT_TRUE(contains(names, "rsqrt")) << joined(names);
    EXPECT_FALSE(contains(names, "layer_norm")) << joined(names);
    EXPECT_TRUE(y.requires_grad());
    EXPECT_TRUE(allclose(y.detach(), F::layer_norm(xg.detach(), {3}), 1e-5, 1e-6));  // fused kernel = decomposition
  }
  // Attention likewise (float32), and its decomposition when a gradient is needed.
  {
    Tensor y;
    {
      Recorded rec;
      y = F::scaled_dot_product_attention(q, k, v);
      EXPECT_EQ(joined(rec.take()), "scaled_dot_product_attention");
    }
    const Tensor qg = q.detach().requires_grad_();
    Recorded rec;
    const Tensor yg = F::scaled_dot_product_attention(qg, k, v);
    const std::vector<std::string> names = rec.take();
    EXPECT_TRUE(contains(names, "softmax")) << joined(names);
    EXPECT_FALSE(contains(names, "scaled_dot_product_attention")) << joined(names);
    EXPECT_TRUE(allclose(y, yg.detach(), 1e-5, 1e-6));  // fused kernel = decomposition
  }
  // The decomposition's result is the formula's, and its gradient flows without a rule.
  Tensor xd = randn({4, 3}, kFloat64).requires_grad_();
  const Tensor wd = randn({5, 3}, kFloat64), bd = randn({5}, kFloat64);
  const Tensor y = F::linear(xd, wd, bd);
  EXPECT_TRUE(allclose(y, add(matmul(xd, wd.t()), bd)));
  sum(y).backward();
  EXPECT_TRUE(allclose(xd.grad(), sum(wd, {0}, true).expand({4, 3})));
  // Every argument check lives in the shape rule, which names the composite.
  EXPECT_ERROR_HAS(F::layer_norm(x, {4}), "layer_norm: ");
  EXPECT_ERROR_HAS(F::layer_norm(x, {4}), "must end in the normalized shape [4]");
  EXPECT_ERROR_HAS(F::scaled_dot_product_attention(randn({2, 4, 8}), randn({2, 6, 7}), randn({2, 6, 3})),
                   "scaled_dot_product_attention: ");
}
