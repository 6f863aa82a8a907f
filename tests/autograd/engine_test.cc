// The autograd engine: leaves and non-leaves, accumulation, retain_graph, hooks,
// the functional grad(), higher-order gradients, in-place rules and version checks.
#include <gtest/gtest.h>

#include <iostream>

#include "ops/op.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {
Tensor leaf(std::vector<double> v, IntArrayRef shape = {}) {
  return tensor<double>(v, shape).requires_grad_();
}
std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST(Autograd, LeafBasics) {
  Tensor x = leaf({1, 2});
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(x.grad().defined());
  Tensor y = mul(x, x);
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn_name(), "mul_backward");
  EXPECT_FALSE(zeros({2}).requires_grad());
}

TEST(Autograd, OnlyFloatsRequireGrad) {
  EXPECT_ERROR_HAS(zeros({2}, kInt64).requires_grad_(), "only floating tensors");
}

TEST(Autograd, BackwardOfScalar) {
  Tensor x = leaf({1, 2, 3});
  sum(mul(x, x)).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2, 4, 6}));
}

TEST(Autograd, GradientsAccumulate) {
  Tensor x = leaf({1, 2});
  sum(mul(x, 3.0)).backward();
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{6, 6}));
  x.set_grad(Tensor());
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, NonScalarNeedsGradient) {
  Tensor x = leaf({1, 2});
  Tensor y = mul(x, 2.0);
  EXPECT_ERROR_HAS(y.backward(), "can be implied only for one-element outputs");
  y.backward(tensor<double>({1, 10}));
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2, 20}));
}

TEST(Autograd, BroadcastGradientsSumBack) {
  Tensor a = leaf({1, 2, 3}, {3, 1});
  Tensor b = leaf({10, 20}, {2});
  sum(add(a, b)).backward();
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{3, 3}));
}

TEST(Autograd, SharedGradientIsCopiedPerLeaf) {
  Tensor a = leaf({1});
  Tensor b = leaf({1});
  sum(add(a, b)).backward();
  a.grad().fill_(5);
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{1}));
}

// A leaf takes the incoming gradient as its .grad without a copy when nothing else holds
// it (PyTorch steals it the same way), and a copy whenever anything does: a hook that kept
// it, retain_grad on the tensor it came through, the caller's own gradient.
TEST(Autograd, LeafGradientIsTakenWithoutACopyOnlyWhenNothingElseHoldsIt) {
  const Tensor x = randn({8, 16}), g = randn({8, 4});
  Tensor w = randn({16, 4});
  w.requires_grad_(true);
  auto backward_allocations = [&](const Tensor& y) {
    const int64_t before = memory_stats().alloc_calls;
    y.backward(g);
    return memory_stats().alloc_calls - before;
  };
  EXPECT_EQ(backward_allocations(mm(x, w)), 1) << "the product alone: it becomes w.grad";
  const Tensor first = w.grad();
  EXPECT_LE(max_abs_diff(first, mm(x.t(), g)), 1e-5);

  w.set_grad(Tensor());
  Tensor kept;
  w.register_hook([&](const Tensor& t) {
    kept = t;
    return Tensor();
  });
  EXPECT_EQ(backward_allocations(mm(x, w)), 2) << "the product and w.grad's own copy";
  ASSERT_TRUE(kept.defined());
  EXPECT_NE(kept.data_ptr(), w.grad().data_ptr());

  Tensor a = randn({3});
  a.requires_grad_(true);
  const Tensor ga = randn({3});
  a.clone().backward(ga);  // clone's backward hands the caller's tensor on as it is
  EXPECT_NE(a.grad().data_ptr(), ga.data_ptr());
  a.set_grad(Tensor());
  Tensor h = a.clone();
  h.retain_grad();
  sum(mul(h, h)).backward();
  ASSERT_TRUE(h.grad().defined());
  EXPECT_NE(a.grad().data_ptr(), h.grad().data_ptr());
}

TEST(Autograd, DiamondGraph) {
  Tensor x = leaf({3});
  Tensor y = mul(x, x);
  Tensor z = add(y, mul(y, x));  // x^2 + x^3 -> 2x + 3x^2 = 6 + 27
  z.backward(ones({1}, kFloat64));
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{33}));
}

TEST(Autograd, SecondBackwardNeedsRetainGraph) {
  Tensor x = leaf({2});
  Tensor y = sum(mul(x, x));
  y.backward({}, true);
  y.backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{8}));
  EXPECT_ERROR_HAS(y.backward(), "second time");
}

TEST(Autograd, NoGradGuardStopsRecording) {
  Tensor x = leaf({2});
  Tensor y;
  {
    NoGradGuard guard;
    y = mul(x, x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(mul(x, x).requires_grad());
}

TEST(Autograd, DetachCutsHistory) {
  Tensor x = leaf({2});
  Tensor d = mul(x, x).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
}

TEST(Autograd, FunctionalGradDoesNotTouchDotGrad) {
  Tensor x = leaf({1, 2});
  std::vector<Tensor> g = autograd::grad({sum(mul(x, x))}, {x});
  EXPECT_EQ(vals(g[0]), (std::vector<double>{2, 4}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, FunctionalGradOfNonLeaf) {
  Tensor x = leaf({1, 2});
  Tensor y = mul(x, 3.0);
  std::vector<Tensor> g = autograd::grad({sum(mul(y, y))}, {y});
  EXPECT_EQ(vals(g[0]), (std::vector<double>{6, 12}));
}

TEST(Autograd, UnusedInput) {
  Tensor x = leaf({1});
  Tensor w = leaf({1});
  EXPECT_ERROR_HAS(autograd::grad({sum(mul(x, x))}, {w}), "was not used");
  std::vector<Tensor> g = autograd::grad({sum(mul(x, x))}, {w}, {}, false, false, true);
  EXPECT_FALSE(g[0].defined());
}

TEST(Autograd, SecondDerivative) {
  Tensor x = leaf({2});
  Tensor y = sum(mul(mul(x, x), x));  // x^3
  std::vector<Tensor> g = autograd::grad({y}, {x}, {}, false, true);
  EXPECT_EQ(vals(g[0]), (std::vector<double>{12}));
  std::vector<Tensor> gg = autograd::grad({sum(g[0])}, {x});
  EXPECT_EQ(vals(gg[0]), (std::vector<double>{12}));  // 6x
}

TEST(Autograd, HooksOnLeafAndNonLeaf) {
  Tensor x = leaf({1, 2});
  Tensor y = mul(x, 2.0);
  y.register_hook([](const Tensor& g) { return mul(g, 10.0); });
  std::vector<double> seen;
  x.register_hook([&](const Tensor& g) {
    seen = g.to_vector<double>();
    return Tensor();
  });
  sum(y).backward();
  EXPECT_EQ(seen, (std::vector<double>{20, 20}));
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{20, 20}));
}

TEST(Autograd, RetainGrad) {
  Tensor x = leaf({1, 2});
  Tensor y = mul(x, 2.0);
  y.retain_grad();
  sum(mul(y, y)).backward();
  EXPECT_EQ(vals(y.grad()), (std::vector<double>{4, 8}));
}

TEST(Autograd, InplaceOnLeafRejected) {
  Tensor x = leaf({1});
  EXPECT_ERROR_HAS(x.add_(1.0), "leaf tensor that requires grad");
  NoGradGuard guard;
  x.add_(1.0);  // allowed without recording, as optimizers do
  EXPECT_EQ(vals(x), (std::vector<double>{2}));
}

TEST(Autograd, InplaceOnNonLeafRecords) {
  Tensor x = leaf({1, 2});
  Tensor y = mul(x, 3.0);
  y.add_(1.0);  // add's backward does not need y's old value
  y.mul_(2.0);
  sum(y).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{6, 6}));
}

TEST(Autograd, ModifiedSavedValueIsDetected) {
  Tensor x = leaf({1, 2});
  Tensor y = mul(x, 1.0);
  Tensor z = mul(y, y);  // saves y
  y.add_(1.0);
  EXPECT_ERROR_HAS(sum(z).backward(), "modified by an in-place operation");
}

TEST(Autograd, ViewsCarryGradients) {
  Tensor x = leaf({1, 2, 3, 4}, {2, 2});
  Tensor y = mul(x, x);
  EXPECT_EQ(y.t().grad_fn_name(), "permute_backward");
}

TEST(Autograd, CastOfIntInputNeedsNoGrad) {
  Tensor x = leaf({1, 2});
  Tensor i = tensor<int64_t>({3, 4});
  sum(mul(x, i)).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{3, 4}));
}

TEST(Autograd, Float32GradOfMixedDtypes) {
  Tensor a = tensor<float>({1, 2}).requires_grad_();
  Tensor b = tensor<double>({3, 4}).requires_grad_();
  sum(mul(a, b)).backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{3, 4}));
}

TEST(Gradcheck, PassesForMul) {
  Tensor a = randn({3, 4}, kFloat64).requires_grad_();
  Tensor b = randn({4}, kFloat64).requires_grad_();
  auto r = autograd::gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, b});
  EXPECT_TRUE(r.ok) << r.message;
  auto rr = autograd::gradgradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, b});
  EXPECT_TRUE(rr.ok) << rr.message;
}

TEST(Gradcheck, CatchesAWrongGradient) {
  Tensor a = randn({3}, kFloat64).requires_grad_();
  // The hook doubles the gradient, so the analytic one is wrong by design.
  auto r = autograd::gradcheck(
      [](const std::vector<Tensor>& in) {
        Tensor y = mul(in[0], in[0]);
        if (y.requires_grad()) y.register_hook([](const Tensor& g) { return mul(g, 2.0); });
        return y;
      },
      {a});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("analytic"), std::string::npos);
}

TEST(Gradcheck, NeedsFloat64) {
  Tensor a = randn({3}).requires_grad_();
  EXPECT_ERROR_HAS(autograd::gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {a}),
                   "float64");
}

TEST(Autograd, SliceAndSelectGradients) {
  Tensor x = leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  sum(mul(x.slice(1, 1, 3), 2.0)).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{0, 2, 2, 0, 2, 2}));
  x.set_grad(Tensor());
  sum(x.select(0, 1)).backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{0, 0, 0, 1, 1, 1}));
}

TEST(Autograd, ViewGradchecks) {
  Tensor x = randn({3, 4}, kFloat64).requires_grad_();
  using Fn = autograd::TensorFn;
  const std::vector<Fn> fns = {
      [](const std::vector<Tensor>& in) { return in[0].t(); },
      [](const std::vector<Tensor>& in) { return in[0].view({2, 6}); },
      [](const std::vector<Tensor>& in) { return in[0].slice(1, 0, 4, 2); },
      [](const std::vector<Tensor>& in) { return in[0].select(0, -1); },
      [](const std::vector<Tensor>& in) { return in[0].unsqueeze(1).expand({3, 2, 4}); },
      [](const std::vector<Tensor>& in) { return in[0].diagonal(1); },
      [](const std::vector<Tensor>& in) { return in[0].unsqueeze(0).squeeze(0); },
      [](const std::vector<Tensor>& in) { return in[0].narrow(0, 1, 2).flatten(); },
  };
  for (size_t i = 0; i < fns.size(); ++i) {
    auto r = autograd::gradcheck(fns[i], {x});
    EXPECT_TRUE(r.ok) << i << ": " << r.message;
    auto rr = autograd::gradgradcheck([&](const std::vector<Tensor>& in) { return mul(fns[i](in), in[0].sum()); }, {x});
    EXPECT_TRUE(rr.ok) << i << ": " << rr.message;
  }
}

// Every op the table calls differentiable has a backward rule (a missing one would only
// surface as an error in the middle of someone's backward pass).
TEST(Autograd, EveryDifferentiableOpHasABackwardRule) {
  int differentiable = 0;
  std::string missing;
  for (const ops::OpDef* op : ops::all_ops()) {
    if (!(op->flags & ops::kDifferentiable)) continue;
    ++differentiable;
    if (op->backward == nullptr) missing += std::string(" ") + op->name;
  }
  std::cout << "[autograd] " << differentiable << " differentiable ops, all with backward rules\n";
  EXPECT_TRUE(missing.empty()) << "no backward rule:" << missing;
  EXPECT_GT(differentiable, 80);
}
