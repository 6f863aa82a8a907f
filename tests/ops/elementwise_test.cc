// Elementwise ops: known values, broadcasting, promotion, layouts, errors, in-place forms.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "tessera/ops.h"
#include "test_util.h"

namespace {

using namespace tessera;  // NOLINT

constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr float kInff = std::numeric_limits<float>::infinity();

Tensor F(std::vector<float> v, IntArrayRef shape = {}) { return tensor<float>(v, shape); }
Tensor D(std::vector<double> v, IntArrayRef shape = {}) { return tensor<double>(v, shape); }
Tensor I(std::vector<int64_t> v, IntArrayRef shape = {}) { return tensor<int64_t>(v, shape); }
Tensor B(std::vector<bool> v, IntArrayRef shape = {}) { return tensor<bool>(v, shape); }

std::vector<int64_t> shape_of(const Tensor& t) { return t.sizes().vec(); }

void expect_floats(const Tensor& t, const std::vector<double>& want, double rtol = 1e-6) {
  const std::vector<double> got = t.to_vector<double>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "i=" << i << " got " << got[i];
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << "i=" << i;
    } else {
      EXPECT_NEAR(got[i], want[i], rtol * std::fabs(want[i]) + 1e-12) << "i=" << i;
    }
  }
}

// ============================== binary arithmetic ==============================

TEST(ElementwiseBinary, AddKnownValues) {
  Tensor r = add(F({1, 2, 3}), F({10, 20, 30}));
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{11, 22, 33}));
}
TEST(ElementwiseBinary, AddBroadcastRow) {
  Tensor r = add(F({1, 2, 3, 4, 5, 6}, {2, 3}), F({10, 20, 30}));
  EXPECT_EQ(shape_of(r), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{11, 22, 33, 14, 25, 36}));
}
TEST(ElementwiseBinary, AddBroadcastBothSides) {
  Tensor r = add(F({1, 2}, {2, 1}), F({10, 20, 30}, {1, 3}));
  EXPECT_EQ(shape_of(r), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{11, 21, 31, 12, 22, 32}));
}
TEST(ElementwiseBinary, AddOperators) {
  Tensor a = F({1, 2});
  EXPECT_EQ((a + a).to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ((a + 1).to_vector<float>(), (std::vector<float>{2, 3}));
  EXPECT_EQ((1 + a).to_vector<float>(), (std::vector<float>{2, 3}));
  EXPECT_EQ((5 - a).to_vector<float>(), (std::vector<float>{4, 3}));
  EXPECT_EQ((a * 3).to_vector<float>(), (std::vector<float>{3, 6}));
  EXPECT_EQ((a / 2).to_vector<float>(), (std::vector<float>{0.5, 1}));
}
TEST(ElementwiseBinary, SubMulInt64) {
  EXPECT_EQ(sub(I({5, 7}), I({2, 10})).to_vector<int64_t>(), (std::vector<int64_t>{3, -3}));
  EXPECT_EQ(mul(I({5, -7}), I({2, 10})).to_vector<int64_t>(), (std::vector<int64_t>{10, -70}));
}
TEST(ElementwiseBinary, Int32OverflowWraps) {
  Tensor a = tensor<int32_t>({std::numeric_limits<int32_t>::max()});
  EXPECT_EQ(add(a, tensor<int32_t>({1})).item<int32_t>(), std::numeric_limits<int32_t>::min());
}
TEST(ElementwiseBinary, MulF64) {
  Tensor r = mul(D({1.5, -2}), D({2, 0.25}));
  EXPECT_EQ(r.dtype(), kFloat64);
  EXPECT_EQ(r.to_vector<double>(), (std::vector<double>{3, -0.5}));
}
TEST(ElementwiseBinary, DivIntIntIsTrueDivisionInF32) {
  Tensor r = div(I({1, 2, 3, -7}), I({2, 2, 2, 2}));
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{0.5f, 1, 1.5f, -3.5f}));
}
TEST(ElementwiseBinary, DivByZeroFloat) {
  expect_floats(div(F({1, -1, 0}), F({0, 0, 0})), {INFINITY, -INFINITY, NAN});
}
TEST(ElementwiseBinary, FloorDivideInt) {
  EXPECT_EQ(floor_divide(I({7, -7, 7, -7}), I({2, 2, -2, -2})).to_vector<int64_t>(),
            (std::vector<int64_t>{3, -4, -4, 3}));
}
TEST(ElementwiseBinary, FloorDivideIntMinByMinusOne) {
  Tensor r = floor_divide(I({std::numeric_limits<int64_t>::min()}), I({-1}));
  EXPECT_EQ(r.item<int64_t>(), std::numeric_limits<int64_t>::min());  // wraps, no trap
}
TEST(ElementwiseBinary, FloorDivideFloat) {
  expect_floats(floor_divide(F({7.5f, -7.5f, 1}), 2), {3, -4, 0});
  expect_floats(floor_divide(D({7.5, -7.5}), D({-2, -2})), {-4, 3});
}
TEST(ElementwiseBinary, FloorDivideIntByZeroThrows) {
  EXPECT_THROW(floor_divide(I({1, 2}), I({1, 0})), Error);
  EXPECT_ERROR_HAS(floor_divide(I({1, 2}), I({1, 0})), "floor_divide");
  EXPECT_ERROR_HAS(floor_divide(I({1, 2}), I({1, 0})), "division by zero");
}
TEST(ElementwiseBinary, RemainderIntHasSignOfDivisor) {
  EXPECT_EQ(remainder(I({7, -7, 7, -7}), I({3, 3, -3, -3})).to_vector<int64_t>(),
            (std::vector<int64_t>{1, 2, -2, -1}));
}
TEST(ElementwiseBinary, RemainderFloatHasSignOfDivisor) {
  expect_floats(remainder(F({5.5f, -5.5f}), 2), {1.5, 0.5});
  expect_floats(remainder(F({5.5f, -5.5f}), -2), {-0.5, -1.5});
  expect_floats(remainder(D({5.5, 1}), D({0, 1})), {NAN, 0});
}
TEST(ElementwiseBinary, RemainderIntByZeroThrows) {
  EXPECT_ERROR_HAS(remainder(I({3}), 0), "division by zero");
}
TEST(ElementwiseBinary, PowTensorTensor) {
  expect_floats(pow(F({2, 4, 9}), F({3, 0.5f, -1})), {8, 2, 1.0 / 9});
}
TEST(ElementwiseBinary, PowIntIntStaysInt) {
  Tensor r = pow(I({2, 3, -2, 5}), I({3, 2, 3, 0}));
  EXPECT_EQ(r.dtype(), kInt64);
  EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{8, 9, -8, 1}));
}
TEST(ElementwiseBinary, PowScalarExponentFastPaths) {
  Tensor x = F({0.25f, 1, 4, 9});
  for (double e : {2.0, 0.5, -1.0, -0.5, 3.0, 1.0, 0.0}) {
    std::vector<double> want;
    for (double v : {0.25, 1.0, 4.0, 9.0}) want.push_back(std::pow(v, e));
    expect_floats(pow(x, e), want);
  }
}
TEST(ElementwiseBinary, PowIntTensorFloatScalarIsFloat) {
  Tensor r = pow(I({4, 9}), 0.5);
  EXPECT_EQ(r.dtype(), kFloat32);
  expect_floats(r, {2, 3});
}
TEST(ElementwiseBinary, PowScalarBase) {
  Tensor r = pow(2, I({1, 2, 3}));
  EXPECT_EQ(r.dtype(), kInt64);
  EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{2, 4, 8}));
  Tensor rf = pow(2.0, I({1, 2, 3}));
  EXPECT_EQ(rf.dtype(), kFloat32);
  expect_floats(rf, {2, 4, 8});
}
TEST(ElementwiseBinary, PowIntNegativeScalarThrows) {
  EXPECT_ERROR_HAS(pow(I({2}), -1), "negative integer powers");
}
TEST(ElementwiseBinary, MinimumMaximumPropagateNaN) {
  Tensor a = F({1, kNaNf, 3, -1}), b = F({2, 0, kNaNf, -2});
  expect_floats(minimum(a, b), {1, NAN, NAN, -2});
  expect_floats(maximum(a, b), {2, NAN, NAN, -1});
}
TEST(ElementwiseBinary, MinimumMaximumIntBroadcast) {
  EXPECT_EQ(minimum(I({1, 5, 3}), I({2})).to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(maximum(I({1, 5, 3}), I({2})).to_vector<int64_t>(), (std::vector<int64_t>{2, 5, 3}));
}
TEST(ElementwiseBinary, MinimumF64NaN) {
  expect_floats(minimum(D({NAN, 1}), D({1, 0})), {NAN, 0});
}
TEST(ElementwiseBinary, Atan2) {
  expect_floats(atan2(F({1, 1, -1, 0}), F({1, -1, -1, 1})),
                {M_PI / 4, 3 * M_PI / 4, -3 * M_PI / 4, 0});
  EXPECT_EQ(atan2(I({1}), I({1})).dtype(), kFloat32);
}

// ============================== type promotion ==============================

TEST(ElementwisePromotion, IntTensorPlusFloatTensor) {
  Tensor r = add(I({1, 2}), F({0.5f, 0.25f}));
  EXPECT_EQ(r.dtype(), kFloat32);
  expect_floats(r, {1.5, 2.25});
}
TEST(ElementwisePromotion, IntTensorPlusFloatScalarIsF32) {
  Tensor r = add(I({1, 2}), 0.5);
  EXPECT_EQ(r.dtype(), kFloat32);
  expect_floats(r, {1.5, 2.5});
}
TEST(ElementwisePromotion, Int32TensorPlusIntScalarStaysInt32) {
  Tensor r = add(tensor<int32_t>({1, 2}), 5);
  EXPECT_EQ(r.dtype(), kInt32);
  EXPECT_EQ(r.to_vector<int32_t>(), (std::vector<int32_t>{6, 7}));
}
TEST(ElementwisePromotion, F32TensorPlusDoubleScalarStaysF32) {
  EXPECT_EQ(add(F({1}), 0.1).dtype(), kFloat32);
}
TEST(ElementwisePromotion, ZeroDimF64PlusF32IsF32) {
  Tensor zero_dim = D({2.0}).reshape({});
  ASSERT_EQ(zero_dim.dim(), 0);
  Tensor r = add(zero_dim, F({1, 2}));
  EXPECT_EQ(r.dtype(), kFloat32);
  expect_floats(r, {3, 4});
}
TEST(ElementwisePromotion, ZeroDimFloatPlusIntTensorIsFloat) {
  Tensor r = mul(I({2, 3}), D({0.5}).reshape({}));
  EXPECT_EQ(r.dtype(), kFloat64);
  expect_floats(r, {1, 1.5});
}
TEST(ElementwisePromotion, BoolPlusBoolIsLogicalOr) {
  Tensor r = add(B({true, false, false}), B({true, true, false}));
  EXPECT_EQ(r.dtype(), kBool);
  EXPECT_EQ(r.to_vector<bool>(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(mul(B({true, false}), B({true, true})).to_vector<bool>(), (std::vector<bool>{true, false}));
}
TEST(ElementwisePromotion, BoolPlusIntIsInt) {
  Tensor r = add(B({true, false}), I({3, 3}));
  EXPECT_EQ(r.dtype(), kInt64);
  EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{4, 3}));
}
TEST(ElementwisePromotion, BoolMinusBoolThrows) {
  EXPECT_ERROR_HAS(sub(B({true}), B({false})), "logical_xor");
  EXPECT_ERROR_HAS(sub(B({true}), B({false})), "sub:");
}
TEST(ElementwisePromotion, Float16RunsAndKeepsDtype) {
  Tensor h = F({1.5f, -2}).to(kFloat16);
  Tensor r = add(h, h);
  EXPECT_EQ(r.dtype(), kFloat16);
  expect_floats(r, {3, -4});
  EXPECT_EQ(exp(h).dtype(), kFloat16);
}

// ============================== layouts ==============================

TEST(ElementwiseLayout, TransposedOperand) {
  Tensor a = F({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor c = F({10, 20, 30, 40, 50, 60}, {3, 2});  // c.t() = [[10,30,50],[20,40,60]]
  EXPECT_EQ(add(a, c.t()).to_vector<float>(), (std::vector<float>{11, 32, 53, 24, 45, 66}));
  EXPECT_EQ(add(a.to(kFloat64), c.t().to(kFloat64)).to_vector<double>(),
            (std::vector<double>{11, 32, 53, 24, 45, 66}));
}
TEST(ElementwiseLayout, BothOperandsStrided) {
  Tensor a = arange(12).to(kFloat32).reshape({3, 4}).t();  // [4, 3]
  Tensor b = arange(24).to(kFloat32).slice(0, 0, 24, 2).reshape({4, 3});
  Tensor r = mul(a, b.t().t());
  std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  std::vector<float> rv = r.to_vector<float>();
  for (size_t i = 0; i < rv.size(); ++i) EXPECT_EQ(rv[i], av[i] * bv[i]);
}
TEST(ElementwiseLayout, SlicedWithStepUnary) {
  Tensor x = arange(10).to(kFloat32).slice(0, 1, 10, 3);  // 1, 4, 7
  ASSERT_FALSE(x.is_contiguous());
  expect_floats(exp(x), {std::exp(1.0), std::exp(4.0), std::exp(7.0)}, 3e-7);
  expect_floats(sqrt(x.to(kFloat64)), {1, 2, std::sqrt(7.0)});
}
TEST(ElementwiseLayout, StridedF32MatchesContiguousBitwise) {
  Tensor base = rand({64, 33});
  Tensor strided = base.t();
  Tensor dense = strided.contiguous();
  for (auto fn : {+[](const Tensor& t) { return tanh(t); }, +[](const Tensor& t) { return erf(t); },
                  +[](const Tensor& t) { return add(t, t); }}) {
    EXPECT_TRUE(equal(fn(strided), fn(dense)));
  }
}
TEST(ElementwiseLayout, ExpandedInput) {
  Tensor x = F({1, 2}).reshape({2, 1}).expand({2, 3});
  EXPECT_EQ(neg(x).to_vector<float>(), (std::vector<float>{-1, -1, -1, -2, -2, -2}));
}
TEST(ElementwiseLayout, ScalarBroadcastBothOrders) {
  Tensor x = F({1, 2, 4});
  EXPECT_EQ(div(x, F({2})).to_vector<float>(), (std::vector<float>{0.5f, 1, 2}));
  EXPECT_EQ(div(F({4}), x).to_vector<float>(), (std::vector<float>{4, 2, 1}));
  EXPECT_EQ(sub(F({1}), x).to_vector<float>(), (std::vector<float>{0, -1, -3}));
}
TEST(ElementwiseLayout, LargeParallelMatchesSerial) {
  const int64_t n = 1 << 20;
  Tensor x = rand({n});
  Tensor y = add(mul(x, 2), 1);
  std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
  for (int64_t i = 0; i < n; i += 4099) ASSERT_EQ(yv[i], xv[i] * 2 + 1);
  Tensor s = sigmoid(x);
  Tensor s_small = sigmoid(x.slice(0, n - 10, n));
  EXPECT_TRUE(equal(s.slice(0, n - 10, n), s_small));
}

// ============================== zero-size and errors ==============================

TEST(ElementwiseEmpty, BinaryZeroSize) {
  Tensor r = add(zeros({0, 3}), F({1, 2, 3}));
  EXPECT_EQ(shape_of(r), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(r.numel(), 0);
}
TEST(ElementwiseEmpty, UnaryZeroSize) {
  EXPECT_EQ(exp(zeros({2, 0})).numel(), 0);
  EXPECT_EQ(shape_of(isnan(zeros({0}))), (std::vector<int64_t>{0}));
}
TEST(ElementwiseErrors, NotBroadcastable) {
  Tensor a = zeros({2, 3}), b = zeros({4});
  EXPECT_THROW(add(a, b), Error);
  EXPECT_ERROR_HAS(add(a, b), "add: ");
  EXPECT_ERROR_HAS(add(a, b), "[2, 3]");
  EXPECT_ERROR_HAS(add(a, b), "not broadcastable");
}
TEST(ElementwiseErrors, UndefinedInput) {
  EXPECT_THROW(exp(Tensor()), Error);
}
TEST(ElementwiseErrors, IntOnlyKernelRejectsBool) {
  EXPECT_ERROR_HAS(relu(B({true})), "relu");
}

// ============================== unary: known values vs double references ==============================

struct UnaryRef {
  const char* name;
  std::function<Tensor(const Tensor&)> fn;
  std::function<double(double)> ref;
  std::vector<double> inputs;
  double rtol;
};
// gtest (and so ctest's test list) prints a parameter with this: the name, not its bytes.
void PrintTo(const UnaryRef& c, std::ostream* os) { *os << c.name; }

double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }
const std::vector<double> kGeneral{-5, -2.5, -1, -0.5, -0.1, 0, 0.1, 0.5, 1, 2.5, 5};
const std::vector<double> kPositive{1e-6, 0.1, 0.5, 1, 2, 10, 1000};

std::vector<UnaryRef> unary_refs() {
  return {
      {"exp", [](const Tensor& t) { return exp(t); }, [](double x) { return std::exp(x); }, kGeneral, 1e-6},
      {"expm1", [](const Tensor& t) { return expm1(t); }, [](double x) { return std::expm1(x); }, kGeneral, 1e-6},
      {"log", [](const Tensor& t) { return log(t); }, [](double x) { return std::log(x); }, kPositive, 1e-6},
      {"log1p", [](const Tensor& t) { return log1p(t); }, [](double x) { return std::log1p(x); }, kPositive, 1e-6},
      {"log2", [](const Tensor& t) { return log2(t); }, [](double x) { return std::log2(x); }, kPositive, 1e-6},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }, [](double x) { return std::sqrt(x); }, kPositive, 1e-7},
      {"rsqrt", [](const Tensor& t) { return rsqrt(t); }, [](double x) { return 1 / std::sqrt(x); }, kPositive, 1e-7},
      {"sin", [](const Tensor& t) { return sin(t); }, [](double x) { return std::sin(x); }, kGeneral, 1e-6},
      {"cos", [](const Tensor& t) { return cos(t); }, [](double x) { return std::cos(x); }, kGeneral, 1e-6},
      {"tan", [](const Tensor& t) { return tan(t); }, [](double x) { return std::tan(x); }, kGeneral, 1e-6},
      {"tanh", [](const Tensor& t) { return tanh(t); }, [](double x) { return std::tanh(x); }, kGeneral, 1e-6},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, sigmoid_ref, kGeneral, 1e-6},
      {"erf", [](const Tensor& t) { return erf(t); }, [](double x) { return std::erf(x); }, kGeneral, 1e-6},
      {"relu", [](const Tensor& t) { return relu(t); }, [](double x) { return x > 0 ? x : 0; }, kGeneral, 0},
      {"gelu", [](const Tensor& t) { return gelu(t); },
       [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, kGeneral, 1e-6},
      {"gelu_tanh", [](const Tensor& t) { return gelu(t, "tanh"); },
       [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); },
       kGeneral, 1e-6},
      {"silu", [](const Tensor& t) { return silu(t); }, [](double x) { return x * sigmoid_ref(x); }, kGeneral, 1e-6},
      {"softplus", [](const Tensor& t) { return softplus(t); },
       [](double x) { return std::log1p(std::exp(x)); }, kGeneral, 1e-6},
      {"square", [](const Tensor& t) { return square(t); }, [](double x) { return x * x; }, kGeneral, 1e-7},
      {"reciprocal", [](const Tensor& t) { return reciprocal(t); }, [](double x) { return 1 / x; }, kPositive, 1e-7},
      {"floor", [](const Tensor& t) { return floor(t); }, [](double x) { return std::floor(x); }, kGeneral, 0},
      {"ceil", [](const Tensor& t) { return ceil(t); }, [](double x) { return std::ceil(x); }, kGeneral, 0},
      {"round", [](const Tensor& t) { return round(t); }, [](double x) { return std::nearbyint(x); }, kGeneral, 0},
      {"abs", [](const Tensor& t) { return abs(t); }, [](double x) { return std::fabs(x); }, kGeneral, 0},
      {"neg", [](const Tensor& t) { return neg(t); }, [](double x) { return -x; }, kGeneral, 0},
      {"sign", [](const Tensor& t) { return sign(t); }, [](double x) { return (x > 0) - (x < 0); }, kGeneral, 0},
  };
}

class ElementwiseUnaryRef : public ::testing::TestWithParam<std::tuple<UnaryRef, DType>> {};

TEST_P(ElementwiseUnaryRef, MatchesReference) {
  const auto& [c, dt] = GetParam();
  std::vector<double> want;
  for (double x : c.inputs) {
    // The reference sees the value the tensor actually holds.
    const double held = dt == kFloat32 ? static_cast<double>(static_cast<float>(x)) : x;
    want.push_back(c.ref(held));
  }
  Tensor out = c.fn(D(c.inputs).to(dt));
  EXPECT_EQ(out.dtype(), dt);
  expect_floats(out, want, std::max(c.rtol, dt == kFloat32 ? 2e-7 : 1e-14));
}

INSTANTIATE_TEST_SUITE_P(Ops, ElementwiseUnaryRef,
                         ::testing::Combine(::testing::ValuesIn(unary_refs()),
                                            ::testing::Values(kFloat32, kFloat64)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_" +
                                  dtype_name(std::get<1>(info.param));
                         });

TEST(ElementwiseUnary, IntInputPromotesToF32) {
  for (auto fn : {+[](const Tensor& t) { return exp(t); }, +[](const Tensor& t) { return sqrt(t); },
                  +[](const Tensor& t) { return sigmoid(t); }, +[](const Tensor& t) { return reciprocal(t); }}) {
    EXPECT_EQ(fn(I({1, 4})).dtype(), kFloat32);
  }
  expect_floats(sqrt(I({4, 9})), {2, 3});
  expect_floats(exp(B({true, false})), {std::exp(1.0), 1}, 2e-7);
}
TEST(ElementwiseUnary, AbsNegSignKeepInt) {
  EXPECT_EQ(abs(I({-3, 4})).to_vector<int64_t>(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(neg(I({-3, 4})).to_vector<int64_t>(), (std::vector<int64_t>{3, -4}));
  EXPECT_EQ(sign(I({-3, 0, 4})).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 1}));
  EXPECT_EQ(abs(tensor<int8_t>({-5})).dtype(), kInt8);
}
TEST(ElementwiseUnary, NegBoolThrows) { EXPECT_ERROR_HAS(neg(B({true})), "logical_not"); }
TEST(ElementwiseUnary, SignOfNaNAndZero) { expect_floats(sign(F({kNaNf, -0.0f})), {0, 0}); }
TEST(ElementwiseUnary, RoundHalfToEven) {
  expect_floats(round(F({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f})), {0, 2, 2, 0, -2, -2});
  expect_floats(round(D({0.5, 1.5, 2.5, -2.5})), {0, 2, 2, -2});
}
TEST(ElementwiseUnary, FloorCeilRoundOnIntAreIdentity) {
  for (auto fn : {+[](const Tensor& t) { return floor(t); }, +[](const Tensor& t) { return ceil(t); },
                  +[](const Tensor& t) { return round(t); }}) {
    Tensor r = fn(I({-3, 7}));
    EXPECT_EQ(r.dtype(), kInt64);
    EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{-3, 7}));
  }
}
TEST(ElementwiseUnary, ReluSquareKeepInt) {
  EXPECT_EQ(relu(I({-3, 4})).to_vector<int64_t>(), (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(square(I({-3, 4})).to_vector<int64_t>(), (std::vector<int64_t>{9, 16}));
  EXPECT_EQ(square(B({true})).dtype(), kInt64);
}
TEST(ElementwiseUnary, ReluPropagatesNaN) { expect_floats(relu(F({kNaNf, -1})), {NAN, 0}); }
TEST(ElementwiseUnary, GeluUnknownApproximationThrows) {
  EXPECT_ERROR_HAS(gelu(F({1}), "fast"), "approximate must be \"none\" or \"tanh\", got \"fast\"");
  EXPECT_ERROR_HAS(gelu(F({1}), "fast"), "gelu:");
}
TEST(ElementwiseUnary, GeluNegativeTailIsAccurate) {
  // 0.5 x (1 + erf(x / sqrt2)) loses everything here in float; the result must not.
  const double x = -6.0;
  const double want = 0.5 * x * std::erfc(-x / std::sqrt(2.0));
  EXPECT_NEAR(gelu(F({-6})).item<float>(), want, 1e-5 * std::fabs(want));
}
TEST(ElementwiseUnary, SoftplusBetaAndThreshold) {
  // beta x above threshold returns x itself.
  expect_floats(softplus(F({1, 100}), 2.0, 1.0), {1, 100});
  expect_floats(softplus(D({0.25}), 2.0, 1.0), {std::log1p(std::exp(0.5)) / 2});
  expect_floats(softplus(F({-100})), {std::exp(-100.0)}, 1e-5);
}
TEST(ElementwiseUnary, SpecialValues) {
  expect_floats(exp(F({-kInff, kInff, kNaNf, 100})), {0, INFINITY, NAN, INFINITY});
  expect_floats(log(F({0, -1, kInff, kNaNf})), {-INFINITY, NAN, INFINITY, NAN});
  expect_floats(tanh(F({-kInff, kInff, kNaNf})), {-1, 1, NAN});
  expect_floats(sigmoid(F({-kInff, kInff, kNaNf})), {0, 1, NAN});
  expect_floats(sqrt(F({-1, kInff})), {NAN, INFINITY});
}

// ============================== clamp ==============================

TEST(ElementwiseClamp, BothBounds) { expect_floats(clamp(F({-5, 0.5f, 5}), -1, 1), {-1, 0.5, 1}); }
TEST(ElementwiseClamp, OnlyMin) { expect_floats(clamp(F({-5, 5}), 0, std::nullopt), {0, 5}); }
TEST(ElementwiseClamp, OnlyMax) { expect_floats(clamp(D({-5, 5}), std::nullopt, 0), {-5, 0}); }
TEST(ElementwiseClamp, NoBoundThrows) {
  EXPECT_ERROR_HAS(clamp(F({1}), std::nullopt, std::nullopt), "at least one of min and max");
}
TEST(ElementwiseClamp, IntStaysIntWithIntBounds) {
  Tensor r = clamp(I({-5, 3, 50}), 0, 10);
  EXPECT_EQ(r.dtype(), kInt64);
  EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{0, 3, 10}));
}
TEST(ElementwiseClamp, IntWithFloatBoundIsFloat) {
  Tensor r = clamp(I({-5, 3}), 0.5, std::nullopt);
  EXPECT_EQ(r.dtype(), kFloat32);
  expect_floats(r, {0.5, 3});
}
TEST(ElementwiseClamp, NaNPropagatesAndMinAboveMaxGivesMax) {
  expect_floats(clamp(F({kNaNf, 0}), -1, 1), {NAN, 0});
  expect_floats(clamp(F({-3, 0, 3}), 2, 1), {1, 1, 1});
}
TEST(ElementwiseClamp, TensorBoundsBroadcast) {
  Tensor r = clamp(F({-5, 0, 5, 10}, {2, 2}), F({-1, 1}), F({4}));
  EXPECT_EQ(shape_of(r), (std::vector<int64_t>{2, 2}));
  expect_floats(r, {-1, 1, 4, 4});
}

// ============================== comparisons and logic ==============================

TEST(ElementwiseCompare, TensorTensor) {
  Tensor a = F({1, 2, 3}), b = F({2, 2, 2});
  EXPECT_EQ(eq(a, b).to_vector<bool>(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(ne(a, b).to_vector<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(lt(a, b).to_vector<bool>(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(le(a, b).to_vector<bool>(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(gt(a, b).to_vector<bool>(), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(ge(a, b).to_vector<bool>(), (std::vector<bool>{false, true, true}));
  EXPECT_EQ(eq(a, b).dtype(), kBool);
}
TEST(ElementwiseCompare, IntTensorFloatScalarComparesInFloat) {
  EXPECT_EQ(gt(I({2, 3}), 2.5).to_vector<bool>(), (std::vector<bool>{false, true}));
  EXPECT_EQ(eq(I({2, 3}), 2).to_vector<bool>(), (std::vector<bool>{true, false}));
}
TEST(ElementwiseCompare, Broadcast) {
  Tensor r = lt(F({1, 2}, {2, 1}), F({0, 1.5f, 3}));
  EXPECT_EQ(shape_of(r), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.to_vector<bool>(), (std::vector<bool>{false, true, true, false, false, true}));
}
TEST(ElementwiseCompare, NaNIsUnequal) {
  EXPECT_EQ(eq(F({kNaNf}), F({kNaNf})).item<bool>(), false);
  EXPECT_EQ(ne(F({kNaNf}), F({kNaNf})).item<bool>(), true);
  EXPECT_EQ(lt(F({kNaNf}), 0).item<bool>(), false);
}
TEST(ElementwiseLogic, AndOrXorNot) {
  Tensor a = F({0, 0, 2, -1}), b = I({0, 5, 0, 1});
  EXPECT_EQ(logical_and(a, b).to_vector<bool>(), (std::vector<bool>{false, false, false, true}));
  EXPECT_EQ(logical_or(a, b).to_vector<bool>(), (std::vector<bool>{false, true, true, true}));
  EXPECT_EQ(logical_xor(a, b).to_vector<bool>(), (std::vector<bool>{false, true, true, false}));
  EXPECT_EQ(logical_not(a).to_vector<bool>(), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(logical_not(B({true})).item<bool>(), false);
}
TEST(ElementwiseLogic, NaNIsTruthy) { EXPECT_EQ(logical_not(F({kNaNf})).item<bool>(), false); }

// ============================== where ==============================

TEST(ElementwiseWhere, Basic) {
  Tensor r = where(B({true, false, true}), F({1, 2, 3}), F({10, 20, 30}));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{1, 20, 3}));
}
TEST(ElementwiseWhere, BroadcastAllThree) {
  Tensor r = where(B({true, false}, {2, 1}), F({1, 2, 3}), F({0}));
  EXPECT_EQ(shape_of(r), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{1, 2, 3, 0, 0, 0}));
}
TEST(ElementwiseWhere, ScalarOtherAndPromotion) {
  Tensor r = where(B({true, false}), I({1, 2}), 0.5);
  EXPECT_EQ(r.dtype(), kFloat32);
  expect_floats(r, {1, 0.5});
  EXPECT_EQ(where(B({false}), I({1}), I({7})).dtype(), kInt64);
}
TEST(ElementwiseWhere, Float16Values) {
  Tensor r = where(B({true, false}), F({1, 2}).to(kFloat16), F({3, 4}).to(kFloat16));
  EXPECT_EQ(r.dtype(), kFloat16);
  expect_floats(r, {1, 4});
}
TEST(ElementwiseWhere, NonBoolConditionThrows) {
  EXPECT_ERROR_HAS(where(F({1}), F({1}), F({2})), "condition must be a bool tensor, got f32");
}

// ============================== isnan / nan_to_num / allclose / equal ==============================

TEST(ElementwiseTests, IsNanIsInfIsFinite) {
  Tensor x = F({1, kNaNf, kInff, -kInff});
  EXPECT_EQ(isnan(x).to_vector<bool>(), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(isinf(x).to_vector<bool>(), (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(isfinite(x).to_vector<bool>(), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(isfinite(I({1})).item<bool>(), true);
  EXPECT_EQ(isnan(I({1})).item<bool>(), false);
}
TEST(ElementwiseTests, NanToNumDefaults) {
  Tensor r = nan_to_num(F({kNaNf, kInff, -kInff, 2}));
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{0, std::numeric_limits<float>::max(),
                                                       std::numeric_limits<float>::lowest(), 2}));
  Tensor d = nan_to_num(D({INFINITY}));
  EXPECT_EQ(d.item<double>(), std::numeric_limits<double>::max());
}
TEST(ElementwiseTests, NanToNumCustomAndHalf) {
  expect_floats(nan_to_num(F({kNaNf, kInff, -kInff}), 1, 2, -3), {1, 2, -3});
  expect_floats(nan_to_num(F({kInff}).to(kFloat16)), {65504});
  EXPECT_EQ(nan_to_num(I({3})).to_vector<int64_t>(), (std::vector<int64_t>{3}));
}
TEST(ElementwiseTests, Allclose) {
  EXPECT_TRUE(allclose(F({1, 2}), F({1, 2.000001f})));
  EXPECT_FALSE(allclose(F({1, 2}), F({1, 2.1f})));
  EXPECT_TRUE(allclose(F({1, 2}), F({1, 2.1f}), 0.1));
  EXPECT_FALSE(allclose(F({kNaNf}), F({kNaNf})));
  EXPECT_TRUE(allclose(F({kNaNf}), F({kNaNf}), 1e-5, 1e-8, true));
  EXPECT_TRUE(allclose(F({kInff}), F({kInff})));
  EXPECT_TRUE(allclose(F({1, 1}, {2, 1}), F({1, 1, 1})));  // broadcasts
  EXPECT_TRUE(allclose(I({1, 2}), D({1, 2})));
}
TEST(ElementwiseTests, AllcloseErrors) {
  EXPECT_THROW(allclose(F({1, 2}), F({1, 2, 3})), Error);
  EXPECT_ERROR_HAS(allclose(F({1}), F({1}), -1.0), "non-negative");
}
TEST(ElementwiseTests, Equal) {
  EXPECT_TRUE(equal(F({1, 2}), F({1, 2})));
  EXPECT_FALSE(equal(F({1, 2}), F({1, 3})));
  EXPECT_FALSE(equal(F({1, 2}), F({1, 2}, {1, 2})));  // shape differs
  EXPECT_FALSE(equal(F({kNaNf}), F({kNaNf})));
  EXPECT_TRUE(equal(zeros({0}), zeros({0})));
}

// ============================== masked_fill ==============================

TEST(ElementwiseMaskedFill, Basic) {
  Tensor r = masked_fill(F({1, 2, 3}), B({true, false, true}), -1);
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{-1, 2, -1}));
}
TEST(ElementwiseMaskedFill, BroadcastMaskAndIntTensor) {
  Tensor r = masked_fill(I({1, 2, 3, 4}, {2, 2}), B({false, true}), 9);
  EXPECT_EQ(r.to_vector<int64_t>(), (std::vector<int64_t>{1, 9, 3, 9}));
}
TEST(ElementwiseMaskedFill, NonBoolMaskThrows) {
  EXPECT_ERROR_HAS(masked_fill(F({1}), I({1}), 0), "mask must be a bool tensor");
}
TEST(ElementwiseMaskedFill, MaskLargerThanInputThrows) {
  EXPECT_ERROR_HAS(masked_fill(F({1, 2}), B({true, false, true, false}, {2, 2}), 0),
                   "does not broadcast to the input's shape [2]");
}
TEST(ElementwiseMaskedFill, InPlace) {
  Tensor x = F({1, 2, 3});
  const uint64_t v0 = x.storage()->version();
  masked_fill_(x, B({false, true, false}), 7);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 7, 3}));
  EXPECT_GT(x.storage()->version(), v0);
}

// ============================== in-place forms ==============================

TEST(ElementwiseInPlace, AddWritesIntoSameStorage) {
  Tensor a = F({1, 2, 3});
  void* p = a.data_ptr();
  const uint64_t v0 = a.storage()->version();
  Tensor& r = add_(a, F({10, 20, 30}));
  EXPECT_EQ(&r, &a);
  EXPECT_EQ(a.data_ptr(), p);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{11, 22, 33}));
  EXPECT_GT(a.storage()->version(), v0);
}
TEST(ElementwiseInPlace, BroadcastRhs) {
  Tensor a = F({1, 2, 3, 4}, {2, 2});
  mul_(a, F({10, 100}));
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{10, 200, 30, 400}));
}
TEST(ElementwiseInPlace, ResultShapeMismatchThrows) {
  Tensor a = F({1, 2});
  EXPECT_ERROR_HAS(add_(a, F({1, 2, 3, 4}, {2, 2})), "shape");
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 2}));
}
TEST(ElementwiseInPlace, FloatIntoIntThrows) {
  Tensor a = I({1, 2});
  EXPECT_ERROR_HAS(add_(a, F({0.5f, 0.5f})), "can't be cast");
  EXPECT_ERROR_HAS(div_(a, I({2, 2})), "can't be cast");
  EXPECT_THROW(exp_(a), Error);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
}
TEST(ElementwiseInPlace, IntRhsIntoFloatIsFine) {
  Tensor a = F({1, 2});
  sub_(a, I({1, 1}));
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{0, 1}));
}
TEST(ElementwiseInPlace, NonContiguousTarget) {
  Tensor base = F({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor t = base.t();
  mul_(t, F({1, 10}));  // t is [3, 2]: column j of t scaled by {1, 10}[j]
  EXPECT_EQ(base.to_vector<float>(), (std::vector<float>{1, 2, 3, 40, 50, 60}));
}
TEST(ElementwiseInPlace, OverlappingOperandReadsOriginalValues) {
  Tensor base = F({1, 2, 3, 4});
  Tensor a = base.slice(0, 1, 4), b = base.slice(0, 0, 3);
  add_(a, b);  // a[i] += old base[i]
  EXPECT_EQ(base.to_vector<float>(), (std::vector<float>{1, 3, 5, 7}));
}
TEST(ElementwiseInPlace, SelfOperand) {
  Tensor a = I({3, -4});
  mul_(a, a);
  EXPECT_EQ(a.to_vector<int64_t>(), (std::vector<int64_t>{9, 16}));
}
TEST(ElementwiseInPlace, UnaryForms) {
  Tensor x = F({0.25f, 4});
  void* p = x.data_ptr();
  sqrt_(x);
  expect_floats(x, {0.5, 2});
  log_(x);
  expect_floats(x, {std::log(0.5), std::log(2.0)});
  exp_(x);
  expect_floats(x, {0.5, 2});
  neg_(x);
  expect_floats(x, {-0.5, -2});
  abs_(x);
  expect_floats(x, {0.5, 2});
  tanh_(x);
  expect_floats(x, {std::tanh(0.5), std::tanh(2.0)});
  EXPECT_EQ(x.data_ptr(), p);
}
TEST(ElementwiseInPlace, ReluSigmoidClampPow) {
  Tensor x = F({-1, 0.5f, 2});
  relu_(x);
  expect_floats(x, {0, 0.5, 2});
  sigmoid_(x);
  expect_floats(x, {0.5, sigmoid_ref(0.5), sigmoid_ref(2)});
  Tensor y = D({-3, 1, 3});
  clamp_(y, -1, 2);
  expect_floats(y, {-1, 1, 2});
  pow_(y, 2);
  expect_floats(y, {1, 1, 4});
  Tensor z = I({2, 3});
  pow_(z, 3);
  EXPECT_EQ(z.to_vector<int64_t>(), (std::vector<int64_t>{8, 27}));
  EXPECT_THROW(pow_(z, 0.5), Error);
}
TEST(ElementwiseInPlace, VersionBumpedByEachForm) {
  Tensor x = F({1, 2});
  uint64_t v = x.storage()->version();
  auto bumped = [&] {
    const uint64_t now = x.storage()->version();
    const bool b = now > v;
    v = now;
    return b;
  };
  add_(x, F({1, 1}));
  EXPECT_TRUE(bumped());
  relu_(x);
  EXPECT_TRUE(bumped());
  x.mul_(2);
  EXPECT_TRUE(bumped());
  clamp_(x, 0, 100);
  EXPECT_TRUE(bumped());
  x.add_(x.to(kFloat64));  // through the copy path
  EXPECT_TRUE(bumped());
}
TEST(ElementwiseInPlace, Float16Target) {
  Tensor h = F({1, 2}).to(kFloat16);
  add_(h, F({0.5f, 0.5f}));
  EXPECT_EQ(h.dtype(), kFloat16);
  expect_floats(h, {1.5, 2.5});
}

// ============================== Tensor methods ==============================

TEST(ElementwiseMethods, UnaryMethods) {
  Tensor x = F({-4, 1});
  EXPECT_EQ((-x).to_vector<float>(), (std::vector<float>{4, -1}));
  EXPECT_EQ(x.abs().to_vector<float>(), (std::vector<float>{4, 1}));
  EXPECT_EQ(x.relu().to_vector<float>(), (std::vector<float>{0, 1}));
  expect_floats(x.exp(), {std::exp(-4.0), std::exp(1.0)}, 3e-7);
  expect_floats(x.abs().sqrt(), {2, 1});
  expect_floats(x.abs().log(), {std::log(4.0), 0});
}
TEST(ElementwiseMethods, InPlaceScalarMethods) {
  Tensor x = F({1, 2});
  x.add_(1).mul_(3).sub_(0.5).div_(2);
  expect_floats(x, {2.75, 4.25});
}
TEST(ElementwiseMethods, InPlaceTensorMethods) {
  Tensor x = I({4, 6});
  x.add_(I({1, 1})).sub_(I({2, 2})).mul_(I({2, 3}));
  EXPECT_EQ(x.to_vector<int64_t>(), (std::vector<int64_t>{6, 15}));
  Tensor f = F({3, 6});
  f.div_(F({2, 4}));
  expect_floats(f, {1.5, 1.5});
}
TEST(ElementwiseMethods, IntDivScalarInPlaceThrows) {
  Tensor x = I({4});
  EXPECT_ERROR_HAS(x.div_(2), "can't be cast");
  EXPECT_ERROR_HAS(x.add_(0.5), "can't be cast");
}

}  // namespace

// ---- special values (issue 8): the cases the PyTorch sweep found, pinned here too so they
// are checked where python3-torch is missing (tests/reference/special_values_test.cc). ----

bool is_neg_zero(double v) { return v == 0 && std::signbit(v); }
bool is_pos_zero(double v) { return v == 0 && !std::signbit(v); }

TEST(ElementwiseSpecialValues, NegOfZeroIsSignedInEveryDtype) {
  // float64 used to compute 0 - x, which gives +0 for +0.
  for (DType dt : {kFloat32, kFloat64}) {
    const std::vector<double> r = neg(D({0.0, -0.0}).to(dt)).to_vector<double>();
    EXPECT_TRUE(is_neg_zero(r[0])) << dtype_name(dt);
    EXPECT_TRUE(is_pos_zero(r[1])) << dtype_name(dt);
  }
}

TEST(ElementwiseSpecialValues, TanhKeepsNegativeZero) {
  for (DType dt : {kFloat32, kFloat64})
    EXPECT_TRUE(is_neg_zero(tanh(D({-0.0}).to(dt)).to_vector<double>()[0])) << dtype_name(dt);
}

TEST(ElementwiseSpecialValues, PowScalarExponentIsSqrtLikePyTorch) {
  // x ** 0.5 is sqrt(x) (sign of -0 kept, sqrt(-inf) NaN); x ** tensor(0.5) is pow's
  // (+0 and +inf), in both float dtypes.
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x = D({-0.0, -kInff}).to(dt);
    const std::vector<double> s = pow(x, 0.5).to_vector<double>();
    EXPECT_TRUE(is_neg_zero(s[0])) << dtype_name(dt);
    EXPECT_TRUE(std::isnan(s[1])) << dtype_name(dt);
    const std::vector<double> r = pow(x, -0.5).to_vector<double>();
    EXPECT_EQ(r[0], -kInff) << dtype_name(dt);
    const std::vector<double> t = pow(x, D({0.5}).to(dt)).to_vector<double>();
    EXPECT_TRUE(is_pos_zero(t[0])) << dtype_name(dt);
    EXPECT_EQ(t[1], kInff) << dtype_name(dt);
  }
}

TEST(ElementwiseSpecialValues, ClampWithNaNBound) {
  // Both bounds given: a NaN bound makes the result NaN (PyTorch 1.13's clamp(min, max)); a
  // single NaN bound is ignored (its clamp_min / clamp_max).
  for (DType dt : {kFloat32, kFloat64}) {
    const Tensor x = D({-2.0, 0.5, 3.0}).to(dt);
    expect_floats(clamp(x, kNaNf, 1.0), {kNaNf, kNaNf, kNaNf});
    expect_floats(clamp(x, -1.0, kNaNf), {kNaNf, kNaNf, kNaNf});
    expect_floats(clamp(x, kNaNf, std::nullopt), {-2.0, 0.5, 3.0});
    expect_floats(clamp(x, std::nullopt, kNaNf), {-2.0, 0.5, 3.0});
    expect_floats(clamp(D({kNaNf}).to(dt), -1.0, 1.0), {kNaNf});
    expect_floats(clamp(x, 2.0, -1.0), {-1.0, -1.0, -1.0});  // min > max: max
  }
}

TEST(ElementwiseSpecialValues, SiluAndGeluTails) {
  // float32 silu of a huge negative x is -0 (it was |x| times a clamped e^x: -6.8e-16 for
  // -1e30); float64 silu and gelu keep their tiny tails.
  const std::vector<double> s = silu(F({-1e30f, -3.4e38f, -120.0f})).to_vector<double>();
  for (double v : s) EXPECT_TRUE(is_neg_zero(v)) << v;
  // -745 e^-745 = -2.1047e-321: 426 denormal steps, within one.
  EXPECT_NEAR(silu(D({-745.0})).item<double>() / std::numeric_limits<double>::denorm_min(),
              -426.0, 1.0);
  EXPECT_NEAR(gelu(D({-30.0})).item<double>() / -1.4720141781444561e-196, 1.0, 1e-14);  // mpmath
}
