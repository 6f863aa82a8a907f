// The float32 loop tables of every ISA this CPU runs, against double-precision references,
// measured in ulps over the whole float range (edge values included).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "backends/cpu/vec/float_loops.h"
#include "tessera/dtype.h"

namespace {

using tessera::cpu::vec::Binary;
using tessera::cpu::vec::FloatLoops;
using tessera::cpu::vec::Unary;
using tessera::cpu::vec::UnaryParams;

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint32_t to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Inputs: bit patterns spread over every exponent (both signs), a dense sweep of
// [-20, 20], and the edge values.
std::vector<float> sample_inputs() {
  std::vector<float> v;
  for (uint64_t u = 0; u < 0x7f800000u; u += 40009) {
    v.push_back(from_bits(static_cast<uint32_t>(u)));
    v.push_back(-from_bits(static_cast<uint32_t>(u)));
  }
  for (int i = -20000; i <= 20000; ++i) v.push_back(static_cast<float>(i) * 1e-3f);
  const float inf = std::numeric_limits<float>::infinity();
  for (float e : {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
                  std::numeric_limits<float>::min(), std::numeric_limits<float>::denorm_min(),
                  -std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::lowest(), 1e-30f, -1e-30f, 1e30f, -1e30f, 0.5f,
                  -0.5f, 1.5f, 2.5f, -2.5f, 88.72f, 88.73f, -87.3f, -103.9f, -104.5f, 1e-7f,
                  8388607.5f, -8388607.5f, 0.625f, 0.99999f, 1.00001f})
    v.push_back(e);
  return v;
}

// Distance from the exact value in units of the float ulp at the exact value.
double ulp_error(float got, double exact) {
  const float ef = static_cast<float>(exact);
  if (std::isnan(exact)) return std::isnan(got) ? 0.0 : 1e30;
  if (std::isinf(ef)) {
    if (got == ef) return 0.0;
    // Exact value just past FLT_MAX: finite max is within an ulp.
    if (std::fabs(exact) < 3.4028236e38 * (1 + 1e-7) && std::fabs(got) == std::numeric_limits<float>::max()) return 1.0;
    return 1e30;
  }
  if (std::isnan(got) || std::isinf(got)) return 1e30;
  const float a = std::fabs(ef);
  const double ulp = a < std::numeric_limits<float>::min()
                         ? static_cast<double>(std::numeric_limits<float>::denorm_min())
                         : static_cast<double>(std::nextafter(a, std::numeric_limits<float>::infinity()) - a);
  return std::fabs(static_cast<double>(got) - exact) / ulp;
}

struct UnaryCase {
  const char* name;
  Unary op;
  std::function<double(double)> ref;
  double max_ulp;
  UnaryParams params{};
  // Composites that multiply by a subnormal intermediate (silu(-100) = -100 * 4e-44) keep
  // an absolute, not a relative, accuracy for subnormal results; those are skipped.
  bool skip_subnormal_results = false;
  double min_x = -std::numeric_limits<double>::infinity();  // inputs below are not measured
};
// gtest (and so ctest's test list) prints a parameter with this: the name, not its bytes.
void PrintTo(const UnaryCase& c, std::ostream* os) { *os << c.name; }

double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", Unary::Neg, [](double x) { return -x; }, 0},
      {"abs", Unary::Abs, [](double x) { return std::fabs(x); }, 0},
      {"sign", Unary::Sign, [](double x) { return std::isnan(x) ? 0.0 : (x > 0) - (x < 0); }, 0},
      {"exp", Unary::Exp, [](double x) { return std::exp(x); }, 2},
      {"expm1", Unary::Expm1, [](double x) { return std::expm1(x); }, 3},
      {"log", Unary::Log, [](double x) { return std::log(x); }, 2},
      {"log1p", Unary::Log1p, [](double x) { return std::log1p(x); }, 3},
      {"log2", Unary::Log2, [](double x) { return std::log2(x); }, 3},
      {"sqrt", Unary::Sqrt, [](double x) { return std::sqrt(x); }, 0.5},
      {"rsqrt", Unary::Rsqrt, [](double x) { return 1.0 / std::sqrt(x); }, 1.5},
      {"sin", Unary::Sin, [](double x) { return std::sin(static_cast<float>(x)); }, 1},
      {"cos", Unary::Cos, [](double x) { return std::cos(static_cast<float>(x)); }, 1},
      {"tanh", Unary::Tanh, [](double x) { return std::tanh(x); }, 3},
      {"sigmoid", Unary::Sigmoid, sigmoid_ref, 3},
      {"erf", Unary::Erf, [](double x) { return std::erf(x); }, 3},
      {"relu", Unary::Relu, [](double x) { return x < 0 ? 0.0 : x; }, 0},
      // erfc(x / sqrt2) inherits the rounding of x / sqrt2 (about 10 ulp, 1.2e-6 relative).
      {"gelu", Unary::GeluErf, [](double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); },
       12, {}, true},
      {"gelu_tanh", Unary::GeluTanh,
       [](double x) {
         // 0.5 x (1 + tanh y) written without the cancellation of 1 + tanh.
         const double y = std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
         return x / (1.0 + std::exp(-2.0 * y));
       },
       // The result is e^(2y) for very negative x, with 2y ~ 0.07 x^3 rounded in float: the
       // error grows with |x|^3 (as in any float evaluation of this formula). Measured
       // where |2y| < 6; the op-level tests check the tail to 1e-5 relative at moderate x.
       10, {}, true, -2.5},
      // Subnormal results included: x e^x is formed from e^x scaled by 2^24 (and is -0
      // below -110, not |x| times a clamped e^x).
      {"silu", Unary::Silu, [](double x) { return x * sigmoid_ref(x); }, 4},
      {"softplus", Unary::Softplus,
       [](double x) { return x > 20 ? x : std::log1p(std::exp(x)); }, 4, {1.0f, 20.0f}},
      {"softplus_beta2", Unary::Softplus,
       [](double x) { return 2 * x > 5 ? x : std::log1p(std::exp(2 * x)) / 2; }, 4, {2.0f, 5.0f}},
      {"square", Unary::Square, [](double x) { return x * x; }, 0.5},
      {"reciprocal", Unary::Reciprocal, [](double x) { return 1.0 / x; }, 0.5},
      {"floor", Unary::Floor, [](double x) { return std::floor(x); }, 0},
      {"ceil", Unary::Ceil, [](double x) { return std::ceil(x); }, 0},
      {"round", Unary::Round, [](double x) { return std::nearbyint(x); }, 0},
      {"leaky_relu", Unary::LeakyRelu, [](double x) { return x > 0 ? x : x * double(0.1f); }, 0.5, {0.1f, 0.0f}},
      {"clamp", Unary::Clamp, [](double x) { return std::isnan(x) ? x : std::min(std::max(x, -1.5), 2.0); }, 0,
       {-1.5f, 2.0f}},
  };
}

std::vector<std::string> available_isas() {
  std::vector<std::string> out;
  for (const char* isa : {"avx512", "avx2", "baseline"})
    if (tessera::cpu::vec::float_loops_for(isa) != nullptr) out.push_back(isa);
  return out;
}

class VecUnaryTest : public ::testing::TestWithParam<std::tuple<std::string, UnaryCase>> {};

TEST_P(VecUnaryTest, MatchesDoubleReferenceInUlps) {
  const auto& [isa, c] = GetParam();
  const FloatLoops* t = tessera::cpu::vec::float_loops_for(isa);
  ASSERT_NE(t, nullptr);
  std::vector<float> x = sample_inputs();
  std::vector<float> y(x.size());
  t->unary[static_cast<int>(c.op)](x.data(), y.data(), static_cast<int64_t>(x.size()), c.params);
  double worst = 0;
  float worst_x = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (static_cast<double>(x[i]) < c.min_x) continue;
    const double exact = c.ref(static_cast<double>(x[i]));
    if (c.skip_subnormal_results && std::fabs(exact) < std::numeric_limits<float>::min()) continue;
    const double e = ulp_error(y[i], exact);
    if (e > worst) {
      worst = e;
      worst_x = x[i];
    }
  }
  EXPECT_LE(worst, c.max_ulp) << c.name << " on " << isa << ": worst at x = " << worst_x;
}

std::vector<std::tuple<std::string, UnaryCase>> all_unary() {
  std::vector<std::tuple<std::string, UnaryCase>> out;
  for (const std::string& isa : available_isas())
    for (const UnaryCase& c : unary_cases()) out.emplace_back(isa, c);
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllIsas, VecUnaryTest, ::testing::ValuesIn(all_unary()),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param).name;
                         });

// In-place use (y == x) gives the same values as out-of-place.
TEST(VecLoops, InPlaceMatchesOutOfPlace) {
  const FloatLoops& t = tessera::cpu::vec::float_loops();
  std::vector<float> x = sample_inputs();
  std::vector<float> y(x.size());
  t.unary[static_cast<int>(Unary::Tanh)](x.data(), y.data(), static_cast<int64_t>(x.size()), {});
  t.unary[static_cast<int>(Unary::Tanh)](x.data(), x.data(), static_cast<int64_t>(x.size()), {});
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_TRUE(std::memcmp(&x[i], &y[i], 4) == 0) << i;
}

// Every length from 0 to 70 (vector bodies and scalar tails) computes each element.
TEST(VecLoops, AllLengthsAndTails) {
  for (const std::string& isa : available_isas()) {
    const FloatLoops* t = tessera::cpu::vec::float_loops_for(isa);
    for (int64_t n = 0; n <= 70; ++n) {
      std::vector<float> x(static_cast<size_t>(n) + 1), y(static_cast<size_t>(n) + 1, -7.0f);
      for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i) * 0.25f;
      t->unary[static_cast<int>(Unary::Sqrt)](x.data(), y.data(), n, {});
      for (int64_t i = 0; i < n; ++i)
        ASSERT_FLOAT_EQ(y[static_cast<size_t>(i)], std::sqrt(x[static_cast<size_t>(i)])) << isa << " n=" << n;
      EXPECT_EQ(y[static_cast<size_t>(n)], -7.0f) << "wrote past the end, " << isa << " n=" << n;
    }
  }
}

TEST(VecLoops, BinaryVariantsAgree) {
  for (const std::string& isa : available_isas()) {
    const FloatLoops* t = tessera::cpu::vec::float_loops_for(isa);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> a{1, -2, 3.5f, nan, 0, -0.0f, 7, 1e30f, -1, 4, 5, 6, 7, 8, 9, 10, 11};
    std::vector<float> b(a.size(), 2.0f);
    b[4] = nan;
    for (int k = 0; k < tessera::cpu::vec::kNumBinary; ++k) {
      std::vector<float> vv(a.size()), vs(a.size()), sv(a.size()), sv_ref(a.size());
      std::vector<float> twos(a.size(), 2.0f);
      t->binary[k](a.data(), twos.data(), vv.data(), static_cast<int64_t>(a.size()));
      t->binary_vs[k](a.data(), 2.0f, vs.data(), static_cast<int64_t>(a.size()));
      t->binary_sv[k](2.0f, a.data(), sv.data(), static_cast<int64_t>(a.size()));
      t->binary[k](twos.data(), a.data(), sv_ref.data(), static_cast<int64_t>(a.size()));
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_TRUE(std::memcmp(&vv[i], &vs[i], 4) == 0) << isa << " op " << k << " i " << i;
        EXPECT_TRUE(std::memcmp(&sv[i], &sv_ref[i], 4) == 0) << isa << " op " << k << " i " << i;
      }
    }
  }
}

TEST(VecLoops, MinimumMaximumPropagateNaN) {
  const FloatLoops& t = tessera::cpu::vec::float_loops();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> a{nan, 1.0f, 3.0f, -1.0f}, b{1.0f, nan, 2.0f, -5.0f}, y(4);
  t.binary[static_cast<int>(Binary::Minimum)](a.data(), b.data(), y.data(), 4);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_TRUE(std::isnan(y[1]));
  EXPECT_EQ(y[2], 2.0f);
  EXPECT_EQ(y[3], -5.0f);
  t.binary[static_cast<int>(Binary::Maximum)](a.data(), b.data(), y.data(), 4);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_TRUE(std::isnan(y[1]));
  EXPECT_EQ(y[2], 3.0f);
  EXPECT_EQ(y[3], -1.0f);
}

TEST(VecLoops, RoundIsHalfToEvenAndKeepsSign) {
  const FloatLoops& t = tessera::cpu::vec::float_loops();
  std::vector<float> x{0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, -0.3f, 8388609.0f, 1e20f};
  std::vector<float> y(x.size());
  t.unary[static_cast<int>(Unary::Round)](x.data(), y.data(), static_cast<int64_t>(x.size()), {});
  std::vector<float> want{0, 2, 2, -0.0f, -2, -2, -0.0f, 8388609.0f, 1e20f};
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(y[i], want[i]) << x[i];
    EXPECT_EQ(std::signbit(y[i]), std::signbit(want[i])) << x[i];
  }
}

// Every ISA's rounding gives BFloat16(float)'s bits: ties to even, infinities kept, NaN
// (either sign, any payload) to 0x7fc0, and the lengths that leave a vector tail.
TEST(VecLoops, ToBf16RoundsAsTheScalarTypeOnEveryIsa) {
  std::vector<float> x = sample_inputs();
  for (uint32_t u : {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0xff800001u, 0x7fffffffu, 0x00008000u})
    x.push_back(from_bits(u));
  for (const std::string& isa : available_isas()) {
    const FloatLoops* t = tessera::cpu::vec::float_loops_for(isa);
    for (size_t n : {x.size(), size_t{1}, size_t{17}, size_t{31}}) {
      std::vector<uint16_t> y(n + 1, 0xabcd);
      t->to_bf16(x.data() + x.size() - n, y.data(), static_cast<int64_t>(n));
      for (size_t i = 0; i < n; ++i) {
        const float v = x[x.size() - n + i];
        ASSERT_EQ(y[i], tessera::BFloat16(v).bits) << isa << " x=" << v << " bits " << std::hex << to_bits(v);
      }
      EXPECT_EQ(y[n], 0xabcd) << "wrote past the end, " << isa << " n=" << n;
    }
  }
}

TEST(VecLoops, ClampLowAboveHighGivesHigh) {
  const FloatLoops& t = tessera::cpu::vec::float_loops();
  std::vector<float> x{-10, 0, 10}, y(3);
  t.unary[static_cast<int>(Unary::Clamp)](x.data(), y.data(), 3, {5.0f, 1.0f});
  for (float v : y) EXPECT_EQ(v, 1.0f);
}

TEST(VecIsa, NameIsKnownAndTablesAreComplete) {
  const std::string name = tessera::cpu::vec::cpu_isa_name();
  EXPECT_TRUE(name == "avx512" || name == "avx2" || name == "baseline") << name;
  EXPECT_EQ(name, tessera::cpu::vec::float_loops().isa);
  EXPECT_NE(tessera::cpu::vec::float_loops_for("baseline"), nullptr);
  EXPECT_EQ(tessera::cpu::vec::float_loops_for("sse9"), nullptr);
  for (const std::string& isa : available_isas()) {
    const FloatLoops* t = tessera::cpu::vec::float_loops_for(isa);
    EXPECT_EQ(std::string(t->isa), isa);
    for (int i = 0; i < tessera::cpu::vec::kNumUnary; ++i) EXPECT_NE(t->unary[i], nullptr) << isa << i;
    for (int i = 0; i < tessera::cpu::vec::kNumBinary; ++i) {
      EXPECT_NE(t->binary[i], nullptr);
      EXPECT_NE(t->binary_vs[i], nullptr);
      EXPECT_NE(t->binary_sv[i], nullptr);
    }
    EXPECT_NE(t->to_bf16, nullptr) << isa;
  }
}

TEST(VecIsa, BestIsaIsChosenWhenNotForced) {
  if (std::getenv("TESSERA_ISA") != nullptr) GTEST_SKIP() << "TESSERA_ISA is set";
  const std::string name = tessera::cpu::vec::cpu_isa_name();
  if (tessera::cpu::vec::float_loops_for("avx512")) EXPECT_EQ(name, "avx512");
  else if (tessera::cpu::vec::float_loops_for("avx2")) EXPECT_EQ(name, "avx2");
  else EXPECT_EQ(name, "baseline");
}

}  // namespace
