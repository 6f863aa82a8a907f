// StateDict, the one state-dict type: order, key lookups, scalars, sections, copies, and
// the errors for bad keys.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tessera/ops.h"
#include "tessera/state_dict.h"
#include "test_util.h"

using namespace tessera;

TEST(StateDict, KeepsInsertionOrderAndLooksUpByKey) {
  StateDict sd;
  sd.insert("z.weight", ones({2, 3}));
  sd.insert("a.bias", zeros({3}));
  sd.emplace_back("m.running_mean", full({3}, 2.0));
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"z.weight", "a.bias", "m.running_mean"}));
  EXPECT_EQ(sd.size(), 3u);
  EXPECT_TRUE(sd.contains("a.bias"));
  EXPECT_FALSE(sd.contains("a"));
  EXPECT_EQ(sd.position("m.running_mean"), 2);
  EXPECT_EQ(sd.position("nope"), -1);
  EXPECT_EQ(sd.find("nope"), nullptr);
  EXPECT_EQ(shape_str(sd.at("z.weight").sizes()), "[2, 3]");
  EXPECT_EQ(sd[1].first, "a.bias");
  // set() replaces in place, keeping the position; a new key goes last.
  sd.set("z.weight", zeros({1}));
  sd.set("new", ones({1}));
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"z.weight", "a.bias", "m.running_mean", "new"}));
  EXPECT_EQ(sd.at("z.weight").numel(), 1);
  // Iteration may replace values, never keys.
  for (auto& [k, t] : sd) t = t.to(kFloat64);
  EXPECT_EQ(sd.at("a.bias").dtype(), kFloat64);
}

TEST(StateDict, ScalarsAreZeroDimFloat64) {
  StateDict sd;
  sd.set_scalar("step", 41);
  sd.set_scalar("step", 42);  // replaced, not duplicated
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd.at("step").dim(), 0);
  EXPECT_EQ(sd.at("step").dtype(), kFloat64);
  EXPECT_EQ(sd.scalar("step"), 42.0);
  sd.insert("one_int", full({1}, 7.0, kInt64));
  EXPECT_EQ(sd.scalar("one_int"), 7.0);  // any one-value tensor reads as a scalar
}

TEST(StateDict, BadKeysGiveErrorsNamingThem) {
  StateDict sd{{"fc.weight", ones({2, 2})}, {"fc.bias", ones({2})}};
  EXPECT_ERROR_HAS(sd.insert("fc.bias", ones({2})), "StateDict: duplicate key 'fc.bias'");
  EXPECT_ERROR_HAS((StateDict{{"a", ones({1})}, {"a", ones({1})}}), "duplicate key 'a'");
  EXPECT_ERROR_HAS(sd.insert("", ones({1})), "StateDict: empty key");
  EXPECT_ERROR_HAS(sd.at("fc.weights"), "StateDict: no key 'fc.weights' (has: fc.weight, fc.bias)");
  EXPECT_ERROR_HAS(sd.scalar("fc.bias"), "StateDict: 'fc.bias' should hold one value, got [2] f32");
  EXPECT_ERROR_HAS(sd.scalar("step"), "no key 'step'");
  // A long key list is cut short in the message.
  StateDict many;
  for (int i = 0; i < 20; ++i) {
    std::string key(1, 'k');  // not "k" + ...: GCC 12's -Wrestrict false positive (bug 105329)
    key += std::to_string(i);
    many.insert(key, ones({1}));
  }
  EXPECT_ERROR_HAS(many.at("x"), "k7, ... (20 in all)");
}

TEST(StateDict, SectionsAndPrefixes) {
  StateDict model{{"w", ones({2})}, {"b", zeros({2})}};
  StateDict optim;
  optim.set_scalar("state.0.step", 3);
  StateDict all = model.with_prefix("model.");
  all.update(optim.with_prefix("optim."));
  EXPECT_EQ(all.keys(), (std::vector<std::string>{"model.w", "model.b", "optim.state.0.step"}));
  EXPECT_EQ(all.section("model.").keys(), (std::vector<std::string>{"w", "b"}));
  EXPECT_EQ(all.section("optim.").scalar("state.0.step"), 3.0);
  EXPECT_TRUE(all.section("sched.").empty());
  EXPECT_ERROR_HAS(all.update(model.with_prefix("model.")), "duplicate key 'model.w'");
}

TEST(StateDict, CopiesAndEquality) {
  StateDict a{{"x", full({2}, 1.5)}, {"n", full({}, 3.0, kInt64)}};
  StateDict b = a;  // shares the tensors, like copying a std::map of tensors
  EXPECT_TRUE(b.equal(a));
  EXPECT_TRUE(b.at("x").shares_storage(a.at("x")));
  StateDict c;
  c = a;  // copy assignment (the keys are const inside)
  EXPECT_TRUE(c.equal(a));
  c.set("x", full({2}, 1.5000001));
  EXPECT_FALSE(c.equal(a));  // bytes differ
  c.set("x", full({2}, 1.5, kFloat64));
  EXPECT_FALSE(c.equal(a));  // same values, other dtype
  StateDict reordered{{"n", a.at("n")}, {"x", a.at("x")}};
  EXPECT_FALSE(reordered.equal(a));  // order is part of a state dict
  StateDict from_range(a.begin(), a.end());
  EXPECT_TRUE(from_range.equal(a));
  StateDict moved = std::move(from_range);
  EXPECT_TRUE(moved.equal(a));
  EXPECT_EQ(moved.position("x"), 0);
}
