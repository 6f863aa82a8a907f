// Tensor printing. Expected strings are PyTorch 1.13's repr of the same tensors, with
// Tessera's spelling of dtypes (f64, not torch.float64) and sizes ([0, 3], not (0, 3)).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "tessera/tessera.h"

using namespace tessera;

namespace {

Tensor f32(std::vector<float> v, IntArrayRef shape = {}) { return tensor<float>(v, shape); }

// arange written here so the printer tests depend on nothing but tensor().
template <typename T>
Tensor iota(int64_t n, IntArrayRef shape = {}) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<T>(i);
  return tensor<T>(v, shape);
}

}  // namespace

TEST(Print, FloatVectorFourDecimalsAligned) {
  EXPECT_EQ(f32({1.5f, -2.25f, 3.0f}).to_string(), "tensor([ 1.5000, -2.2500,  3.0000])");
}

TEST(Print, IntegralFloatsUseIntegerMode) {
  EXPECT_EQ(f32({1, 2, 3}).to_string(), "tensor([1., 2., 3.])");
  EXPECT_EQ(f32({0, 100, -5}).to_string(), "tensor([  0., 100.,  -5.])");
}

TEST(Print, AllZeros) { EXPECT_EQ(f32({0, 0}).to_string(), "tensor([0., 0.])"); }

TEST(Print, Matrix) {
  EXPECT_EQ(f32({1.5f, 2.0f, -3.25f, 4.125f}, {2, 2}).to_string(),
            "tensor([[ 1.5000,  2.0000],\n"
            "        [-3.2500,  4.1250]])");
}

TEST(Print, ScientificForLargeValues) {
  EXPECT_EQ(f32({1e10f, 1.0f}).to_string(), "tensor([1.0000e+10, 1.0000e+00])");
}

TEST(Print, ScientificForSmallValues) {
  EXPECT_EQ(f32({1e-5f, 0.5f}).to_string(), "tensor([1.0000e-05, 5.0000e-01])");
}

TEST(Print, ScientificForWideIntegralRange) {
  EXPECT_EQ(f32({1.0f, 100000.0f}).to_string(), "tensor([1.0000e+00, 1.0000e+05])");
}

TEST(Print, Float64Suffix) {
  EXPECT_EQ(tensor<double>({0.1, 0.2}).to_string(), "tensor([0.1000, 0.2000], dtype=f64)");
}

TEST(Print, ZeroDimFloat) { EXPECT_EQ(scalar_tensor(3.5).to_string(), "tensor(3.5000)"); }

TEST(Print, ZeroDimNegative) { EXPECT_EQ(scalar_tensor(-0.5).to_string(), "tensor(-0.5000)"); }

TEST(Print, ZeroDimInt) { EXPECT_EQ(scalar_tensor(7, kInt64).to_string(), "tensor(7)"); }

TEST(Print, Bool) {
  EXPECT_EQ(tensor<bool>({true, false, true}).to_string(), "tensor([ True, False,  True])");
}

TEST(Print, Int64HasNoSuffix) {
  EXPECT_EQ(tensor<int64_t>({1, -20, 300}).to_string(), "tensor([  1, -20, 300])");
}

TEST(Print, LargeInt64IsExact) {
  EXPECT_EQ(tensor<int64_t>({(int64_t{1} << 62) + 1}).to_string(), "tensor([4611686018427387905])");
}

TEST(Print, OtherIntSuffixes) {
  EXPECT_EQ(tensor<int32_t>({1, 2}).to_string(), "tensor([1, 2], dtype=i32)");
  EXPECT_EQ(tensor<uint8_t>({0, 255}).to_string(), "tensor([  0, 255], dtype=u8)");
  EXPECT_EQ(tensor<int8_t>({-128, 5}).to_string(), "tensor([-128,    5], dtype=i8)");
}

TEST(Print, Empty1d) { EXPECT_EQ(f32({}).to_string(), "tensor([])"); }

TEST(Print, Empty2dShowsSize) {
  EXPECT_EQ(zeros({0, 3}).to_string(), "tensor([], size=[0, 3])");
}

TEST(Print, EmptyShowsNonFloatDtype) {
  EXPECT_EQ(zeros({0}, kInt64).to_string(), "tensor([], dtype=i64)");
  EXPECT_EQ(zeros({2, 0}, kFloat64).to_string(), "tensor([], size=[2, 0], dtype=f64)");
}

TEST(Print, NanAndInf) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f32({std::nanf(""), inf, -inf, 1.5f}).to_string(),
            "tensor([   nan,    inf,   -inf, 1.5000])");
  EXPECT_EQ(f32({std::nanf(""), 2.0f}).to_string(), "tensor([nan, 2.])");
}

TEST(Print, NegativeNanPrintsPlainNan) {
  EXPECT_EQ(f32({-std::nanf(""), 0.5f}).to_string(), "tensor([   nan, 0.5000])");
}

TEST(Print, ThreeDims) {
  EXPECT_EQ(iota<float>(8, {2, 2, 2}).to_string(),
            "tensor([[[0., 1.],\n"
            "         [2., 3.]],\n"
            "\n"
            "        [[4., 5.],\n"
            "         [6., 7.]]])");
}

TEST(Print, ThreeDimsInt) {
  EXPECT_EQ(iota<int64_t>(12, {2, 3, 2}).to_string(),
            "tensor([[[ 0,  1],\n"
            "         [ 2,  3],\n"
            "         [ 4,  5]],\n"
            "\n"
            "        [[ 6,  7],\n"
            "         [ 8,  9],\n"
            "         [10, 11]]])");
}

TEST(Print, ElidesLongVector) {
  EXPECT_EQ(iota<int64_t>(2000).to_string(), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
}

TEST(Print, NoElisionAtThreshold) {
  const std::string s = iota<int64_t>(1000).to_string();
  EXPECT_EQ(s.find("..."), std::string::npos);
  EXPECT_NE(s.find(" 999])"), std::string::npos);
}

TEST(Print, ElidesMatrixRowsAndColumns) {
  EXPECT_EQ(iota<float>(2000, {40, 50}).to_string(),
            "tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 4.7000e+01, 4.8000e+01,\n"
            "         4.9000e+01],\n"
            "        [5.0000e+01, 5.1000e+01, 5.2000e+01,  ..., 9.7000e+01, 9.8000e+01,\n"
            "         9.9000e+01],\n"
            "        [1.0000e+02, 1.0100e+02, 1.0200e+02,  ..., 1.4700e+02, 1.4800e+02,\n"
            "         1.4900e+02],\n"
            "        ...,\n"
            "        [1.8500e+03, 1.8510e+03, 1.8520e+03,  ..., 1.8970e+03, 1.8980e+03,\n"
            "         1.8990e+03],\n"
            "        [1.9000e+03, 1.9010e+03, 1.9020e+03,  ..., 1.9470e+03, 1.9480e+03,\n"
            "         1.9490e+03],\n"
            "        [1.9500e+03, 1.9510e+03, 1.9520e+03,  ..., 1.9970e+03, 1.9980e+03,\n"
            "         1.9990e+03]])");
}

TEST(Print, Elides3dWithBlankLines) {
  const std::string s = iota<int64_t>(1200, {12, 10, 10}).to_string();
  EXPECT_EQ(s.substr(0, 63), "tensor([[[   0,    1,    2,  ...,    7,    8,    9],\n         [");
  EXPECT_NE(s.find("         ...,\n"), std::string::npos);
  EXPECT_NE(s.find("]],\n\n        ...,\n\n        [[ 900,  901,  902,  ...,  907,  908,  909],"),
            std::string::npos)
      << s;
  const std::string tail = "         [1190, 1191, 1192,  ..., 1197, 1198, 1199]]])";
  EXPECT_EQ(s.substr(s.size() - tail.size()), tail);
}

TEST(Print, WrapsLongFloatRows) {
  std::vector<float> v;
  for (int i = 0; i < 30; ++i) v.push_back(1.5f * static_cast<float>(i));
  EXPECT_EQ(f32(v).to_string(),
            "tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n"
            "        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,\n"
            "        24.0000, 25.5000, 27.0000, 28.5000, 30.0000, 31.5000, 33.0000, 34.5000,\n"
            "        36.0000, 37.5000, 39.0000, 40.5000, 42.0000, 43.5000])");
}

TEST(Print, WrapsLongIntRows) {
  EXPECT_EQ(iota<int64_t>(40).to_string(),
            "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
            "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,\n"
            "        36, 37, 38, 39])");
}

TEST(Print, SuffixMovesToNextLineWhenTooLong) {
  std::vector<int32_t> v;
  for (int i = 0; i < 20; ++i) v.push_back(i * 1000);
  EXPECT_EQ(tensor<int32_t>(v, {2, 10}).to_string(),
            "tensor([[    0,  1000,  2000,  3000,  4000,  5000,  6000,  7000,  8000,  9000],\n"
            "        [10000, 11000, 12000, 13000, 14000, 15000, 16000, 17000, 18000, 19000]],\n"
            "       dtype=i32)");
}

TEST(Print, Half) {
  EXPECT_EQ(tensor<Half>({Half(0.1f), Half(1.5f)}).to_string(),
            "tensor([0.1000, 1.5000], dtype=f16)");
}

TEST(Print, BFloat16) {
  EXPECT_EQ(tensor<BFloat16>({BFloat16(0.1f), BFloat16(1.5f)}).to_string(),
            "tensor([0.1001, 1.5000], dtype=bf16)");
}

TEST(Print, NonContiguousTranspose) {
  EXPECT_EQ(iota<float>(6, {2, 3}).t().to_string(),
            "tensor([[0., 3.],\n"
            "        [1., 4.],\n"
            "        [2., 5.]])");
}

TEST(Print, SlicedViewWithOffset) {
  EXPECT_EQ(iota<int64_t>(10).slice(0, 3, 10, 3).to_string(), "tensor([3, 6, 9])");
}

TEST(Print, BroadcastViewWithZeroStride) {
  EXPECT_EQ(tensor<int64_t>({1, 2}).expand({2, 2}).to_string(),
            "tensor([[1, 2],\n"
            "        [1, 2]])");
}

TEST(Print, ElisionReadsOnlyShownElementsOfLargeView) {
  // 4M elements through a transposed view: the output is still the short summary.
  Tensor big = iota<float>(4 << 20, {2048, 2048}).t();
  const std::string s = big.to_string();
  EXPECT_LT(s.size(), 1000u);
  EXPECT_EQ(s.substr(0, 27), "tensor([[0.0000e+00, 2.0480");
}

TEST(Print, StreamOperatorMatchesToString) {
  Tensor t = f32({1.25f});
  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), t.to_string());
  EXPECT_EQ(os.str(), "tensor([1.2500])");
}

TEST(Print, UndefinedTensorDoesNotThrow) {
  EXPECT_EQ(Tensor().to_string(), "tensor(undefined)");
}
