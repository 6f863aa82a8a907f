// The fused float32 kernel of scaled_dot_product_attention (backends/cpu/nn.cc) against its
// decomposition in float64: strided heads (views of one QKV projection), L != S, masks of
// every kind and broadcast, causal rows, rows that are fully masked, row blocks that do
// not divide L, 1 and 2 threads; and the calls it hands to the decomposition.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tessera/nn/functional.h"
#include "tessera/ops.h"
#include "tessera/parallel.h"
#include "test_util.h"

namespace F = tessera::nn::functional;
using namespace tessera;

namespace {

Tensor f64(const Tensor& t) { return t.defined() ? t.to(kFloat64) : t; }

// NaNs must sit at the same places; elsewhere the error relative to the largest |ref|.
double rel_error_nan_aware(const Tensor& got, const Tensor& ref) {
  EXPECT_TRUE(got.sizes().equals(ref.sizes())) << got.describe() << " vs " << ref.describe();
  const std::vector<double> x = got.to_vector<double>(), y = ref.to_vector<double>();
  double worst = 0, scale = 0;
  for (double v : y)
    if (!std::isnan(v)) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(std::isnan(x[i]), std::isnan(y[i])) << "element " << i << ": " << x[i] << " vs " << y[i];
    if (!std::isnan(y[i])) worst = std::max(worst, std::abs(x[i] - y[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

struct Case {
  std::string name;
  Tensor q, k, v, mask;
  bool causal = false;
};

std::vector<Case> cases() {
  manual_seed(7);
  std::vector<Case> c;
  // The encoder's layout: heads as strided views of one [N, L, 3E] projection.
  {
    const int64_t N = 2, L = 37, H = 4, hd = 16;
    const Tensor qkv = randn({N, L, 3 * H * hd});
    auto head = [&](int64_t i) {
      return qkv.slice(2, i * H * hd, (i + 1) * H * hd).reshape({N, L, H, hd}).transpose(1, 2);
    };
    c.push_back({"strided_heads", head(0), head(1), head(2), Tensor()});
    c.push_back({"strided_heads_causal", head(0), head(1), head(2), Tensor(), true});
    // A key padding mask [N, 1, 1, S] (broadcast over heads and rows), the second item's
    // last 5 keys masked.
    Tensor keep = ones({N, 1, 1, L}, kBool);
    keep.select(0, 1).slice(2, L - 5, L).fill_(Scalar(false));
    c.push_back({"key_padding_bool", head(0), head(1), head(2), keep});
  }
  c.push_back({"l_ne_s_ev_ne_e", randn({3, 5, 8}), randn({3, 11, 8}), randn({3, 11, 3}), Tensor()});
  c.push_back({"causal_l_gt_s", randn({2, 9, 4}), randn({2, 6, 4}), randn({2, 6, 5}), Tensor(), true});
  c.push_back({"float_mask_2d", randn({2, 6, 4}), randn({2, 7, 4}), randn({2, 7, 3}), randn({6, 7})});
  c.push_back({"float_mask_full", randn({2, 3, 6, 4}), randn({2, 3, 7, 4}), randn({2, 3, 7, 3}), randn({2, 3, 6, 7})});
  {
    // Row 2 masked out entirely: NaN, as the decomposition's softmax of -inf gives.
    Tensor keep = ones({4, 5}, kBool);
    keep.select(0, 2).fill_(Scalar(false));
    keep.select(0, 0).slice(0, 1, 3).fill_(Scalar(false));
    c.push_back({"bool_mask_dead_row", randn({4, 3}), randn({5, 3}), randn({5, 2}), keep});
  }
  // Long keys: blocks of 16384 / 5000 = 3 query rows, the last block short.
  c.push_back({"long_keys", randn({1, 8, 16}), randn({1, 5000, 16}), randn({1, 5000, 4}), Tensor()});
  // A NaN in one query row: that row is NaN, the others are not.
  {
    Tensor q = randn({3, 4});
    q.select(0, 1).select(0, 2).fill_(Scalar(std::nan("")));
    c.push_back({"nan_query", q, randn({6, 4}), randn({6, 2}), Tensor()});
  }
  return c;
}

Tensor run(const Case& c, bool as_f64) {
  auto cv = [&](const Tensor& t) { return as_f64 && t.defined() && t.is_floating_point() ? f64(t) : t; };
  return F::scaled_dot_product_attention(cv(c.q), cv(c.k), cv(c.v), cv(c.mask), 0.0, c.causal);
}

}  // namespace

TEST(AttentionKernel, MatchesFloat64DecompositionAtOneAndTwoThreads) {
  const int before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& c : cases()) {
      SCOPED_TRACE(c.name + ", " + std::to_string(threads) + " threads");
      const Tensor got = run(c, false);
      ASSERT_EQ(got.dtype(), kFloat32);
      const double err = rel_error_nan_aware(got, run(c, true));
      EXPECT_LT(err, 2e-6) << c.name;
    }
  }
  set_num_threads(before);
}

// Results do not depend on the thread count: each task is one batch item's block of rows,
// whichever thread runs it.
TEST(AttentionKernel, ThreadCountInvariant) {
  const int before = get_num_threads();
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    set_num_threads(1);
    const Tensor one = run(c, false);
    set_num_threads(2);
    const Tensor two = run(c, false);
    EXPECT_EQ(max_abs_diff(one, two), 0.0);
  }
  set_num_threads(before);
}

// Batch dims that broadcast between q and k/v, and float64, run the decomposition.
TEST(AttentionKernel, BroadcastBatchTakesTheDecomposition) {
  manual_seed(3);
  const Tensor q = randn({2, 3, 5, 4}), k = randn({1, 3, 6, 4}), v = randn({1, 3, 6, 2});
  const Tensor got = F::scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(shape_str(got.sizes()), "[2, 3, 5, 2]");
  EXPECT_LT(rel_error_nan_aware(got, F::scaled_dot_product_attention(f64(q), f64(k), f64(v))), 2e-6);
}
