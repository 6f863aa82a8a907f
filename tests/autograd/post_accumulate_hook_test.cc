// The hooks distributed data parallel builds on: a hook after a leaf's gradient is
// accumulated, and a callback run when the backward in progress finishes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "tessera/autograd.h"
#include "tessera/ops.h"

namespace tessera {
namespace {

TEST(AutogradHooks, PostAccumulateRunsOncePerBackwardWithTheSummedGradient) {
  Tensor w = ones({3}).requires_grad_();
  std::vector<std::vector<double>> seen;
  int64_t id = autograd::register_post_accumulate_grad_hook(
      w, [&](const Tensor& leaf) { seen.push_back(leaf.grad().to_vector<double>()); });
  // w is used twice: the hook sees the sum of both paths, once.
  add(mul(w, 2.0), mul(w, 3.0)).sum().backward();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], std::vector<double>(3, 5.0));
  // A second backward accumulates, and the hook sees the total.
  mul(w, 1.0).sum().backward();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], std::vector<double>(3, 6.0));
  // grad() does not touch .grad(), so no hook runs.
  autograd::grad({mul(w, 4.0).sum()}, {w});
  EXPECT_EQ(seen.size(), 2u);
  autograd::remove_post_accumulate_grad_hook(w, id);
  autograd::remove_post_accumulate_grad_hook(w, id);  // unknown ids are ignored
  mul(w, 1.0).sum().backward();
  EXPECT_EQ(seen.size(), 2u);
}

TEST(AutogradHooks, PostAccumulateNeedsALeafThatRequiresGrad) {
  Tensor plain = ones({2});
  EXPECT_ERROR_HAS(autograd::register_post_accumulate_grad_hook(plain, [](const Tensor&) {}),
                   "must be a leaf that requires grad");
  Tensor w = ones({2}).requires_grad_();
  Tensor y = mul(w, 2.0);
  EXPECT_ERROR_HAS(autograd::register_post_accumulate_grad_hook(y, [](const Tensor&) {}),
                   "must be a leaf that requires grad");
}

TEST(AutogradHooks, QueuedCallbackRunsAfterEveryNode) {
  Tensor a = ones({2}).requires_grad_();
  Tensor b = ones({2}).requires_grad_();
  std::vector<std::string> events;
  auto note = [&](const char* name) {
    return [&, name](const Tensor&) {
      events.push_back(name);
      if (events.size() == 1)
        autograd::queue_callback([&] {
          // By now both leaves have their gradients.
          events.push_back(a.grad().defined() && b.grad().defined() ? "done" : "early");
        });
    };
  };
  autograd::register_post_accumulate_grad_hook(a, note("a"));
  autograd::register_post_accumulate_grad_hook(b, note("b"));
  mul(add(a, 1.0), b).sum().backward();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2], "done");
  // Outside backward there is nothing to queue into.
  EXPECT_ERROR_HAS(autograd::queue_callback([] {}), "no backward is running");
}

TEST(AutogradHooks, CallbackErrorLeavesBackward) {
  Tensor a = ones({2}).requires_grad_();
  autograd::register_post_accumulate_grad_hook(a, [](const Tensor&) {
    autograd::queue_callback([] { TESSERA_CHECK(false, "from the callback"); });
  });
  EXPECT_ERROR_HAS(mul(a, 2.0).sum().backward(), "from the callback");
}

}  // namespace
}  // namespace tessera
