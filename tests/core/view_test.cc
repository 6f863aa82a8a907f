// Views share storage with their base and never copy; reshape copies only when it must.
#include <gtest/gtest.h>

#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;

namespace {

Tensor iota(IntArrayRef shape) {
  return arange(0, numel_of(shape), 1, kFloat32).view(shape);
}

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

}  // namespace

TEST(View, SharesStorage) {
  Tensor a = iota({2, 6});
  Tensor v = a.view({3, 4});
  EXPECT_TRUE(v.shares_storage(a));
  v.fill_(1);
  EXPECT_EQ(values(a)[11], 1.0f);
}

TEST(View, InferMinusOne) {
  EXPECT_TRUE(iota({2, 6}).view({-1, 3}).sizes().equals({4, 3}));
}

TEST(View, MinusOneWithZeroElementsIsAnError) {
  EXPECT_THROW(iota({0, 6}).view({-1, 0}), Error);
}

TEST(View, TwoMinusOnesRejected) {
  EXPECT_NE(error_of([] { iota({6}).view({-1, -1}); }).find("only one dimension"), std::string::npos);
}

TEST(View, WrongElementCount) {
  std::string e = error_of([] { iota({2, 3}).view({4}); });
  EXPECT_NE(e.find("view"), std::string::npos);
  EXPECT_NE(e.find("invalid for 6 elements"), std::string::npos);
  EXPECT_NE(e.find("[2, 3] f32"), std::string::npos) << e;
}

TEST(View, IncompatibleStridesNeedReshape) {
  Tensor t = iota({2, 3}).t();
  EXPECT_NE(error_of([&] { t.view({6}); }).find("use reshape"), std::string::npos);
  Tensor r = t.reshape({6});
  EXPECT_FALSE(r.shares_storage(t));
  EXPECT_EQ(values(r), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(View, ViewOfNonContiguousWhereCompatible) {
  Tensor t = iota({4, 6}).slice(1, 0, 6, 2);  // [4, 3] with strides [6, 2]
  Tensor v = t.view({2, 2, 3});
  EXPECT_TRUE(v.shares_storage(t));
  EXPECT_TRUE(v.strides().equals({12, 6, 2}));
  EXPECT_EQ(values(v), values(t));
}

TEST(View, ReshapeIsViewWhenPossible) {
  Tensor a = iota({2, 3, 4});
  Tensor r = a.reshape({6, 4});
  EXPECT_TRUE(r.shares_storage(a));
}

TEST(View, Permute) {
  Tensor a = iota({2, 3, 4});
  Tensor p = a.permute({2, 0, 1});
  EXPECT_TRUE(p.sizes().equals({4, 2, 3}));
  EXPECT_TRUE(p.strides().equals({1, 12, 4}));
  EXPECT_EQ(p[1][1][2].item<float>(), a[1][2][1].item<float>());
  EXPECT_NE(error_of([&] { a.permute({0, 0, 1}); }).find("repeats"), std::string::npos);
  EXPECT_NE(error_of([&] { a.permute({0, 1}); }).find("expected 3 dims"), std::string::npos);
}

TEST(View, TransposeAndT) {
  Tensor a = iota({2, 3});
  EXPECT_TRUE(a.t().sizes().equals({3, 2}));
  EXPECT_EQ(a.transpose(0, 1)[2][1].item<float>(), 5.0f);
  EXPECT_EQ(a.transpose(-1, -2)[0][1].item<float>(), 3.0f);
  Tensor v = iota({3});
  EXPECT_TRUE(v.t().is_same(v));
  EXPECT_THROW(iota({2, 2, 2}).t(), Error);
}

TEST(View, SliceWithStep) {
  Tensor a = iota({10});
  EXPECT_EQ(values(a.slice(0, 1, 8, 3)), (std::vector<float>{1, 4, 7}));
  EXPECT_EQ(values(a.slice(0, -3, 10)), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(a.slice(0, 5, 2).numel(), 0);
  EXPECT_EQ(values(a.slice(0, 8, 100)), (std::vector<float>{8, 9}));
  EXPECT_NE(error_of([&] { a.slice(0, 0, 5, 0); }).find("step must be positive"), std::string::npos);
}

TEST(View, SliceInnerDim) {
  Tensor a = iota({3, 4});
  Tensor s = a.slice(1, 1, 3);
  EXPECT_TRUE(s.sizes().equals({3, 2}));
  EXPECT_EQ(values(s), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  EXPECT_FALSE(s.is_contiguous());
}

TEST(View, Narrow) {
  Tensor a = iota({3, 4});
  EXPECT_EQ(values(a.narrow(0, 1, 2)), (std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_THROW(a.narrow(1, 2, 3), Error);
}

TEST(View, Select) {
  Tensor a = iota({3, 4});
  EXPECT_EQ(values(a.select(1, 2)), (std::vector<float>{2, 6, 10}));
  EXPECT_EQ(values(a.select(0, -1)), (std::vector<float>{8, 9, 10, 11}));
  EXPECT_NE(error_of([&] { a.select(0, 3); }).find("out of range"), std::string::npos);
  EXPECT_EQ(a[2][3].dim(), 0);
}

TEST(View, Expand) {
  Tensor a = iota({3, 1});
  Tensor e = a.expand({2, 3, 4});
  EXPECT_TRUE(e.sizes().equals({2, 3, 4}));
  EXPECT_TRUE(e.strides().equals({0, 1, 0}));
  EXPECT_EQ(values(e.contiguous())[5], 1.0f);
  EXPECT_TRUE(a.expand({-1, 5}).sizes().equals({3, 5}));
  EXPECT_NE(error_of([&] { a.expand({4, 4}); }).find("cannot expand"), std::string::npos);
  EXPECT_THROW(a.expand({3}), Error);
}

TEST(View, ExpandAs) {
  Tensor a = iota({1, 2});
  EXPECT_TRUE(a.expand_as(zeros({3, 2})).sizes().equals({3, 2}));
}

TEST(View, SqueezeUnsqueeze) {
  Tensor a = iota({1, 3, 1, 2});
  EXPECT_TRUE(a.squeeze().sizes().equals({3, 2}));
  EXPECT_TRUE(a.squeeze(2).sizes().equals({1, 3, 2}));
  EXPECT_TRUE(a.squeeze(1).sizes().equals({1, 3, 1, 2}));  // not size 1: no-op
  EXPECT_TRUE(a.unsqueeze(0).sizes().equals({1, 1, 3, 1, 2}));
  EXPECT_TRUE(a.unsqueeze(-1).sizes().equals({1, 3, 1, 2, 1}));
  EXPECT_THROW(a.unsqueeze(6), Error);
  Tensor s = scalar_tensor(2.0);
  EXPECT_TRUE(s.unsqueeze(0).sizes().equals({1}));
  EXPECT_EQ(s.squeeze().dim(), 0);
}

TEST(View, Flatten) {
  Tensor a = iota({2, 3, 4});
  EXPECT_TRUE(a.flatten().sizes().equals({24}));
  EXPECT_TRUE(a.flatten(1).sizes().equals({2, 12}));
  EXPECT_TRUE(a.flatten(0, 1).sizes().equals({6, 4}));
  EXPECT_TRUE(scalar_tensor(1.0).flatten().sizes().equals({1}));
  EXPECT_THROW(a.flatten(2, 1), Error);
  Tensor t = a.transpose(0, 2).flatten();  // must copy
  EXPECT_EQ(values(t)[1], 12.0f);
}

TEST(View, Unflatten) {
  Tensor a = iota({2, 12});
  EXPECT_TRUE(a.unflatten(1, {3, -1}).sizes().equals({2, 3, 4}));
  EXPECT_THROW(a.unflatten(1, {5, -1}), Error);
}

TEST(View, Diagonal) {
  Tensor a = iota({3, 4});
  EXPECT_EQ(values(a.diagonal()), (std::vector<float>{0, 5, 10}));
  EXPECT_EQ(values(a.diagonal(1)), (std::vector<float>{1, 6, 11}));
  EXPECT_EQ(values(a.diagonal(-1)), (std::vector<float>{4, 9}));
  EXPECT_EQ(a.diagonal(5).numel(), 0);
  Tensor b = iota({2, 2, 2});
  EXPECT_TRUE(b.diagonal(0, 1, 2).sizes().equals({2, 2}));
  EXPECT_THROW(a.diagonal(0, 1, 1), Error);
  EXPECT_THROW(iota({3}).diagonal(), Error);
}

TEST(View, DiagonalIsWritable) {
  Tensor a = zeros({3, 3});
  a.diagonal().fill_(1);
  EXPECT_EQ(values(a), values(eye(3)));
}

TEST(View, AsStrided) {
  Tensor a = iota({6});
  Tensor w = a.as_strided({4, 3}, {1, 1});  // sliding windows
  EXPECT_EQ(values(w[3]), (std::vector<float>{3, 4, 5}));
  EXPECT_NE(error_of([&] { a.as_strided({4, 3}, {2, 1}); }).find("storage holds 6"),
            std::string::npos);
  EXPECT_THROW(a.as_strided({2}, {1, 1}), Error);
}

TEST(View, ChainedViewsKeepOffsets) {
  Tensor a = iota({4, 5});
  Tensor v = a.slice(0, 1, 4).slice(1, 2, 5).t()[1];
  EXPECT_EQ(values(v), (std::vector<float>{8, 13, 18}));
}

TEST(View, ZeroSizeViews) {
  Tensor a = zeros({0, 4});
  EXPECT_TRUE(a.view({4, 0}).sizes().equals({4, 0}));
  EXPECT_TRUE(a.t().sizes().equals({4, 0}));
  EXPECT_TRUE(a.reshape({0}).sizes().equals({0}));
}
