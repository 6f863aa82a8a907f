// Autocast (tessera/autocast.h; issue 9's mixed precision): under AutocastGuard(kBFloat16)
// the convolutions and the matrix products read their operands rounded to bfloat16 and
// accumulate in float32. Each
// check compares against float32 on operands rounded by hand (x.to(kBFloat16).to(kFloat32)),
// which must agree to float32 rounding, and against plain float32, which must differ by
// bfloat16's rounding: a run that ignored autocast fails the first kind of check.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "tessera/autocast.h"
#include "tessera/autograd.h"
#include "tessera/graph.h"
#include "tessera/models.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "ops/conv.h"
#include "ops/linalg.h"
#include "ops/op.h"

namespace {

using namespace tessera;
namespace F = nn::functional;

double rel_l2(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

Tensor rounded(const Tensor& t) { return t.to(kBFloat16).to(kFloat32); }

#define SKIP_WITHOUT_BF16() \
  if (!bf16_supported()) GTEST_SKIP() << "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)"

TEST(Autocast, GuardNestsAndRefusesFloat16) {
  EXPECT_FALSE(is_autocast_enabled());
  {
    AutocastGuard on;
    EXPECT_TRUE(is_autocast_enabled());
    EXPECT_EQ(autocast_bf16_active(), bf16_supported());
    {
      AutocastGuard off(kBFloat16, false);
      EXPECT_FALSE(is_autocast_enabled());
      EXPECT_FALSE(autocast_bf16_active());
    }
    EXPECT_TRUE(is_autocast_enabled());
  }
  EXPECT_FALSE(is_autocast_enabled());
  try {
    AutocastGuard half(kFloat16);
    FAIL() << "float16 autocast should be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("f16"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(is_autocast_enabled());
}

TEST(Autocast, Conv2dForwardAndGradientsMultiplyInBf16) {
  SKIP_WITHOUT_BF16();
  manual_seed(1);
  const Tensor x0 = randn({4, 8, 12, 12}), w0 = randn({16, 8, 3, 3}), b = randn({16}), gy = randn({4, 16, 12, 12});
  Tensor x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true);
  Tensor y;
  {
    AutocastGuard autocast;
    y = F::conv2d(x, w, b, {1}, {1});
  }
  EXPECT_EQ(y.dtype(), kFloat32);  // outputs stay float32
  // The gradients run after the scope has closed, and still in bf16 (the op recorded it).
  sum(mul(y, gy)).backward();

  const Tensor y_ref = F::conv2d(rounded(x0), rounded(w0), b, {1}, {1});
  const Tensor y_f32 = F::conv2d(x0, w0, b, {1}, {1});
  EXPECT_LT(rel_l2(y, y_ref), 1e-5);
  EXPECT_GT(rel_l2(y, y_f32), 1e-4);
  EXPECT_LT(rel_l2(y, y_f32), 1e-2);

  // gx reads (gy, w), gw reads (x, gy): both rounded.
  Tensor xr = rounded(x0).requires_grad_(true), wr = rounded(w0).requires_grad_(true);
  sum(mul(F::conv2d(xr, wr, b, {1}, {1}), rounded(gy))).backward();
  Tensor xf = x0.clone().requires_grad_(true), wf = w0.clone().requires_grad_(true);
  sum(mul(F::conv2d(xf, wf, b, {1}, {1}), gy)).backward();
  const double ex = rel_l2(x.grad(), xr.grad()), ew = rel_l2(w.grad(), wr.grad());
  std::printf("bf16 conv2d: output %.1e, input gradient %.1e, weight gradient %.1e from float32 on rounded "
              "operands; %.1e, %.1e, %.1e from float32\n",
              rel_l2(y, y_ref), ex, ew, rel_l2(y, y_f32), rel_l2(x.grad(), xf.grad()), rel_l2(w.grad(), wf.grad()));
  EXPECT_LT(ex, 1e-5);
  EXPECT_LT(ew, 1e-5);
  EXPECT_GT(rel_l2(x.grad(), xf.grad()), 1e-4);
  EXPECT_LT(rel_l2(w.grad(), wf.grad()), 1e-2);
}

// A convolution whose outputs each sum fewer than 16 products (one input channel, 3 x 3)
// stays float32 under autocast, bit for bit with and without it; three input channels
// (27 products) multiply in bf16.
TEST(Autocast, ShortReductionConvolutionStaysFloat32) {
  SKIP_WITHOUT_BF16();
  manual_seed(2);
  for (const int64_t c : {int64_t{1}, int64_t{3}}) {
    const Tensor x = randn({8, c, 28, 28}), w = randn({32, c, 3, 3}), b = randn({32});
    Tensor y;
    {
      AutocastGuard autocast;
      y = F::conv2d(x, w, b);
    }
    const Tensor y_f32 = F::conv2d(x, w, b);
    if (c == 1)
      EXPECT_EQ(rel_l2(y, y_f32), 0.0) << "channels " << c;
    else
      EXPECT_GT(rel_l2(y, y_f32), 1e-4) << "channels " << c;
  }
}

// A compiled training step's convolution rounds its blocked input to bfloat16 once: the
// weight gradient finds the copy the forward pass (conv2d_blocked) made, until a write
// makes it stale.
TEST(Autocast, BlockedWeightGradientReusesTheForwardPassesRoundedInput) {
  SKIP_WITHOUT_BF16();
  manual_seed(6);
  auto call = [](const char* op, const std::vector<Tensor>& in, const ops::Attrs& attrs) {
    return ops::call1(*ops::find_op(op), in, attrs);
  };
  const ops::Attrs block{{"block", int64_t{16}}};
  Tensor x = call("to_blocked", {randn({4, 32, 10, 10})}, block);
  const Tensor w = randn({16, 32, 3, 3}), b = randn({16});
  const Tensor gy = call("to_blocked", {randn({4, 16, 8, 8})}, block);
  const std::string bf16("bf16");
  const ops::Attrs fwd{{"stride", std::vector<int64_t>{1, 1}}, {"padding", std::vector<int64_t>{0, 0, 0, 0}},
                       {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}},
                       {"in_channels", int64_t{32}}, {"out_channels", int64_t{16}},
                       {"activation", std::string("none")}, {"precision", bf16}};
  const ops::Attrs bwd{{"stride", std::vector<int64_t>{1, 1}}, {"padding", std::vector<int64_t>{0, 0, 0, 0}},
                       {"dilation", std::vector<int64_t>{1, 1}}, {"groups", int64_t{1}},
                       {"weight_size", std::vector<int64_t>{16, 32, 3, 3}}, {"precision", bf16}};
  (void)call("conv2d_blocked", {x, w, b}, fwd);
  const int64_t before = cpu::conv_reorders_reused();
  const Tensor gw = call("conv2d_backward_weight_blocked", {x, gy}, bwd);
  EXPECT_GE(cpu::conv_reorders_reused() - before, 1);
  EXPECT_TRUE(equal(gw, call("conv2d_backward_weight_blocked", {x.clone(), gy}, bwd)));
  // A write between the passes: the gradient is the new values', bit for bit.
  (void)call("conv2d_blocked", {x, w, b}, fwd);
  x.mul_(2.0);
  EXPECT_TRUE(equal(call("conv2d_backward_weight_blocked", {x, gy}, bwd),
                    call("conv2d_backward_weight_blocked", {x.clone(), gy}, bwd)));
}

// One matrix product checked like the convolution above: `fn` computes it from its operands
// (the ones listed in `rounded_too` are multiplied, so autocast rounds them; the rest, a
// bias or addmm's input, are added in float32 and stay exact). The forward runs under the
// guard, the backward after it has closed.
void expect_bf16_product(const char* name, const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                         const std::vector<Tensor>& operands, const std::vector<bool>& multiplied) {
  SCOPED_TRACE(name);
  Tensor gy;
  std::vector<Tensor> in;
  for (const Tensor& t : operands) in.push_back(t.clone().requires_grad_(true));
  Tensor y;
  {
    AutocastGuard autocast;
    y = fn(in);
  }
  EXPECT_EQ(y.dtype(), kFloat32);
  gy = randn(y.sizes());
  sum(mul(y, gy)).backward();

  // float32 on the operands rounded by hand (and the output gradient: it is an operand of
  // the gradient products), and plain float32.
  std::vector<Tensor> in_r, in_f;
  for (size_t i = 0; i < operands.size(); ++i) {
    in_r.push_back((multiplied[i] ? rounded(operands[i]) : operands[i].clone()).requires_grad_(true));
    in_f.push_back(operands[i].clone().requires_grad_(true));
  }
  const Tensor y_r = fn(in_r), y_f = fn(in_f);
  sum(mul(y_r, rounded(gy))).backward();
  sum(mul(y_f, gy)).backward();
  std::printf("bf16 %s: output %.1e from float32 on rounded operands, %.1e from float32", name, rel_l2(y, y_r),
              rel_l2(y, y_f));
  EXPECT_LT(rel_l2(y, y_r), 1e-5);
  EXPECT_GT(rel_l2(y, y_f), 1e-4);
  EXPECT_LT(rel_l2(y, y_f), 1e-2);
  for (size_t i = 0; i < in.size(); ++i) {
    if (!multiplied[i]) continue;  // the gradient of an added term is the output gradient (summed)
    std::printf("; gradient %zu %.1e, %.1e", i, rel_l2(in[i].grad(), in_r[i].grad()), rel_l2(in[i].grad(), in_f[i].grad()));
    EXPECT_LT(rel_l2(in[i].grad(), in_r[i].grad()), 1e-5) << "gradient " << i;
    EXPECT_GT(rel_l2(in[i].grad(), in_f[i].grad()), 1e-4) << "gradient " << i;
    EXPECT_LT(rel_l2(in[i].grad(), in_f[i].grad()), 1e-2) << "gradient " << i;
  }
  std::printf("\n");
}

TEST(Autocast, MatrixProductsAndGradientsMultiplyInBf16) {
  SKIP_WITHOUT_BF16();
  manual_seed(4);
  // linear on a batch of rows (addmm), and on [B, T, E] (matmul by the transposed weight,
  // broadcast over the batch, then the bias).
  expect_bf16_product("linear 2-D", [](const std::vector<Tensor>& t) { return F::linear(t[0], t[1], t[2]); },
                      {randn({16, 96}), randn({40, 96}), randn({40})}, {true, true, false});
  expect_bf16_product("linear 3-D", [](const std::vector<Tensor>& t) { return F::linear(t[0], t[1], t[2]); },
                      {randn({3, 10, 64}), randn({48, 64}), randn({48})}, {true, true, false});
  expect_bf16_product("matmul broadcast", [](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); },
                      {randn({2, 1, 12, 70}), randn({3, 70, 20})}, {true, true});
  expect_bf16_product("matmul vector", [](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); },
                      {randn({5, 24, 80}), randn({80})}, {true, true});
  // Strided views: a sliced, transposed left operand.
  expect_bf16_product("mm of views",
                      [](const std::vector<Tensor>& t) { return mm(t[0].slice(1, 1, 33).t(), t[1].slice(0, 0, 40)); },
                      {randn({40, 40}), randn({48, 24})}, {true, true});
  expect_bf16_product("bmm", [](const std::vector<Tensor>& t) { return bmm(t[0], t[1].transpose(1, 2)); },
                      {randn({4, 16, 72}), randn({4, 24, 72})}, {true, true});
  // beta and alpha other than 1: oneDNN's output scale and sum post-op.
  expect_bf16_product("addmm", [](const std::vector<Tensor>& t) { return addmm(t[0], t[1], t[2], 0.5, 2.0); },
                      {randn({20, 30}), randn({20, 64}), randn({64, 30})}, {false, true, true});
}

// The attribute: what autocast records, what is refused.
TEST(Autocast, MatrixProductsRecordTheirPrecision) {
  manual_seed(5);
  const Tensor a = randn({4, 8}), b = randn({8, 3});
  try {
    (void)ops::call1(ops::kMm, {a, b}, {{"precision", std::string("fp8")}});
    FAIL() << "precision fp8 should be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("\"fp8\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
  }
  // An explicit precision runs as asked, with or without a guard: float32 is sgemm's result.
  const Tensor plain = mm(a, b);
  {
    AutocastGuard autocast;
    EXPECT_TRUE(equal(ops::call1(ops::kMm, {a, b}, {{"precision", std::string("float32")}}), plain));
  }
  if (!bf16_supported()) return;
  const Tensor bf = ops::call1(ops::kMm, {a, b}, {{"precision", std::string("bf16")}});
  EXPECT_LT(rel_l2(bf, mm(rounded(a), rounded(b))), 1e-6);
  // An empty sum (k = 0) leaves beta * input, as in float32 (oneDNN takes no zero dims).
  const Tensor input = randn({4, 3});
  const Tensor empty_k = ops::call1(ops::kAddmm, {input, zeros({4, 0}), zeros({0, 3})},
                                    {{"beta", Scalar(2.0)}, {"alpha", Scalar(1.0)}, {"precision", std::string("bf16")}});
  EXPECT_TRUE(equal(empty_k, mul(input, 2.0)));
  // Gradients of a float32 product computed inside a guard stay float32 (the op's record
  // decides, not the guard at backward time).
  Tensor x = a.clone().requires_grad_(true);
  Tensor y = mm(x, b);
  {
    AutocastGuard autocast;
    sum(y).backward();
  }
  EXPECT_TRUE(equal(x.grad(), mm(ones({4, 3}), b.t())));
}

TEST(Autocast, Float64AndUnsupportedCpusAreLeftAlone) {
  manual_seed(2);
  const Tensor x = randn({2, 3, 8, 8}), w = randn({4, 3, 3, 3});
  const Tensor plain = F::conv2d(x, w);
  {
    detail::set_bf16_disabled_for_testing(true);
    AutocastGuard autocast;
    EXPECT_FALSE(autocast_bf16_active());
    const Tensor y = F::conv2d(x, w);
    detail::set_bf16_disabled_for_testing(false);
    EXPECT_TRUE(equal(y, plain)) << "without bf16 instructions autocast must change nothing";
  }
  const Tensor a = randn({6, 40}), b = randn({30, 40}), bias = randn({30});
  const Tensor plain_linear = F::linear(a, b, bias), plain_mm = mm(a, b.t());
  {
    detail::set_bf16_disabled_for_testing(true);
    AutocastGuard autocast;
    const Tensor y = F::linear(a, b, bias), z = mm(a, b.t());
    detail::set_bf16_disabled_for_testing(false);
    EXPECT_TRUE(equal(y, plain_linear)) << "without bf16 instructions autocast must change nothing";
    EXPECT_TRUE(equal(z, plain_mm)) << "without bf16 instructions autocast must change nothing";
  }
  AutocastGuard autocast;
  const Tensor xd = x.to(kFloat64), wd = w.to(kFloat64);
  const Tensor ad = a.to(kFloat64), bd = b.to(kFloat64);
  const Tensor yd = F::conv2d(xd, wd), md = matmul(ad, bd.t()), ld = F::linear(ad, bd, bias.to(kFloat64));
  AutocastGuard off(kBFloat16, false);
  EXPECT_TRUE(equal(yd, F::conv2d(xd, wd)));
  EXPECT_TRUE(equal(md, matmul(ad, bd.t())));
  EXPECT_TRUE(equal(ld, F::linear(ad, bd, bias.to(kFloat64))));
}

TEST(Autocast, CompiledGraphsKeepThePrecisionAndCacheApart) {
  SKIP_WITHOUT_BF16();
  manual_seed(3);
  auto net = models::cnn28();
  net->eval();
  NoGradGuard no_grad;
  const Tensor x = randn({2, 1, 28, 28});
  const Tensor f32 = (*net)(x);
  Tensor eager_bf16;
  {
    AutocastGuard autocast;
    eager_bf16 = (*net)(x);
  }
  for (bool freeze : {false, true}) {  // the frozen graph runs the blocked convolutions
    CompileOptions o;
    o.freeze = freeze;
    CompiledFunction f = compile(*net, o);
    Tensor graph_bf16;
    {
      AutocastGuard autocast;
      graph_bf16 = f(x);
      graph_bf16 = f(x);  // the first call traces (eagerly); the second runs the graph
    }
    const std::string bf16_graph = f.last_graph();
    EXPECT_NE(bf16_graph.find("bf16"), std::string::npos) << bf16_graph;
    Tensor graph_f32 = f(x);
    graph_f32 = f(x);
    EXPECT_EQ(f.stats().traces, 2) << "a graph traced under autocast is not the float32 one";
    EXPECT_EQ(f.last_graph().find("bf16"), std::string::npos) << f.last_graph();
    std::printf("cnn28 compiled (freeze %d) under autocast: %.1e from eager autocast, %.1e from float32\n",
                freeze, rel_l2(graph_bf16, eager_bf16), rel_l2(graph_bf16, f32));
    if (freeze) {
      // The frozen graph runs the second convolution (3x3, 288 tiles of 2x2) as bf16
      // Winograd (backends/cpu/winograd_bf16.h), eager as direct bf16: two roundings of
      // the same product, each about 2e-3 from float32, not the same bits.
      EXPECT_NE(bf16_graph.find("algorithm=\"winograd\", precision=\"bf16\""), std::string::npos) << bf16_graph;
      EXPECT_GT(rel_l2(graph_bf16, eager_bf16), 1e-4);
      EXPECT_LT(rel_l2(graph_bf16, eager_bf16), 1e-2);
    } else {
      EXPECT_LT(rel_l2(graph_bf16, eager_bf16), 1e-4);
    }
    EXPECT_GT(rel_l2(graph_bf16, f32), 1e-5);
    EXPECT_LT(rel_l2(graph_bf16, f32), 1e-2);
    EXPECT_LT(rel_l2(graph_f32, f32), 1e-5);
  }
}

// The encoder layer (projections, attention's two batched products, feed-forward) compiled
// under autocast, frozen (linear_fused) or not, gives the eager autocast outputs.
TEST(Autocast, EncoderCompiledUnderAutocastMatchesEager) {
  SKIP_WITHOUT_BF16();
  manual_seed(6);
  auto net = models::encoder();
  net->eval();
  NoGradGuard no_grad;
  const Tensor x = randn({2, 10, 256});
  const Tensor f32 = (*net)(x);
  Tensor eager_bf16;
  {
    AutocastGuard autocast;
    eager_bf16 = (*net)(x);
  }
  std::printf("encoder eager under autocast: %.1e from float32\n", rel_l2(eager_bf16, f32));
  EXPECT_GT(rel_l2(eager_bf16, f32), 1e-4);
  EXPECT_LT(rel_l2(eager_bf16, f32), 2e-2);
  for (bool freeze : {false, true}) {
    CompileOptions o;
    o.freeze = freeze;
    CompiledFunction f = compile(*net, o);
    Tensor graph_bf16;
    {
      AutocastGuard autocast;
      graph_bf16 = f(x);
      graph_bf16 = f(x);  // the second call runs the graph
    }
    const std::string g = f.last_graph();
    // Every product in it, the fused ones of the frozen graph included, multiplies in bf16.
    EXPECT_NE(g.find("precision=\"bf16\""), std::string::npos) << g;
    EXPECT_EQ(g.find("precision=\"float32\""), std::string::npos) << g;
    if (freeze) {
      EXPECT_NE(g.find("linear_fused"), std::string::npos) << g;
    }
    const Tensor graph_f32 = f(x);
    EXPECT_EQ(f.stats().traces, 2);
    EXPECT_EQ(f.last_graph().find("bf16"), std::string::npos) << f.last_graph();
    std::printf("encoder compiled (freeze %d) under autocast: %.1e from eager autocast, %.1e from float32\n", freeze,
                rel_l2(graph_bf16, eager_bf16), rel_l2(graph_bf16, f32));
    EXPECT_LT(rel_l2(graph_bf16, eager_bf16), 1e-5);
    EXPECT_GT(rel_l2(graph_bf16, f32), 1e-4);
    EXPECT_LT(rel_l2(graph_f32, f32), 1e-5);
  }
}

// Three copies of a model trained side by side with SGD (lr 0.05): under autocast eagerly,
// under autocast compiled, and in float32. Each step's compiled loss must follow eager's
// to `loss_tol`; the result compares the parameters at the end.
struct SideBySide {
  double compiled_vs_eager = 0, eager_vs_f32 = 0;  // relative l2 over all parameters
  std::string graph;                               // the compiled step's
  int64_t traces = 0;
};

double params_l2(nn::Module& a, nn::Module& b) {
  double num = 0, den = 0;
  const auto pa = a.parameters(), pb = b.parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    const std::vector<double> x = pa[i].to_vector<double>(), y = pb[i].to_vector<double>();
    for (size_t j = 0; j < x.size(); ++j) {
      num += (x[j] - y[j]) * (x[j] - y[j]);
      den += y[j] * y[j];
    }
  }
  return std::sqrt(num / den);
}

SideBySide train_side_by_side(const std::function<std::shared_ptr<nn::Sequential>()>& make, bool eval, int steps,
                              const std::function<std::vector<Tensor>()>& batch, double loss_tol) {
  auto eager_net = make(), compiled_net = make(), f32_net = make();
  compiled_net->load_state_dict(eager_net->state_dict());
  f32_net->load_state_dict(eager_net->state_dict());
  if (eval)  // dropout off: eval() only stops it, gradients still flow
    for (nn::Module* m : {eager_net.get(), compiled_net.get(), f32_net.get()}) m->eval();
  auto make_opt = [](nn::Module& m) {
    optim::SGDOptions o;
    o.lr = 0.05;
    return std::make_unique<optim::SGD>(m.parameters(), o);
  };
  auto eager_opt = make_opt(*eager_net), compiled_opt = make_opt(*compiled_net), f32_opt = make_opt(*f32_net);
  auto step_of = [](nn::Module& net, optim::Optimizer& opt) {
    return [&net, &opt](const std::vector<Tensor>& in) {
      opt.zero_grad();
      Tensor loss;
      {
        AutocastGuard autocast;
        loss = F::cross_entropy(net(in[0]), in[1]);
      }
      loss.backward();
      opt.step();
      return std::vector<Tensor>{loss};
    };
  };
  auto eager_step = step_of(*eager_net, *eager_opt);
  CompiledFunction compiled_step = compile(step_of(*compiled_net, *compiled_opt));
  for (int i = 0; i < steps; ++i) {
    const std::vector<Tensor> xy = batch();
    const Tensor le = eager_step(xy)[0];
    const Tensor lc = compiled_step(xy)[0];
    EXPECT_LT(rel_l2(lc, le), loss_tol) << "step " << i;
    f32_opt->zero_grad();
    F::cross_entropy((*f32_net)(xy[0]), xy[1]).backward();
    f32_opt->step();
  }
  return {params_l2(*compiled_net, *eager_net), params_l2(*eager_net, *f32_net), compiled_step.last_graph(),
          compiled_step.stats().traces};
}

// A training step (forward, backward, SGD) of the MLP compiled under autocast: the graph
// passes that rewrite the weight gradients' products keep their precision, so the compiled
// steps follow the eager autocast ones.
TEST(Autocast, MlpTrainingStepCompiledUnderAutocastMatchesEager) {
  SKIP_WITHOUT_BF16();
  manual_seed(7);
  const SideBySide r = train_side_by_side(
      [] { return models::mlp(); }, false, 4,
      [] { return std::vector<Tensor>{randn({16, 784}), randint(0, 10, {16})}; }, 1e-5);
  EXPECT_EQ(r.traces, 1);
  // The forward products and their gradients (the weight gradients' mm rewritten by
  // fold_transposed_gradients among them), all in bf16.
  EXPECT_NE(r.graph.find("mm("), std::string::npos) << r.graph;
  EXPECT_NE(r.graph.find("precision=\"bf16\""), std::string::npos) << r.graph;
  EXPECT_EQ(r.graph.find("precision=\"float32\""), std::string::npos) << r.graph;
  std::printf("mlp, 4 SGD steps under autocast: compiled parameters %.1e from eager's; eager autocast %.1e from "
              "float32 training\n",
              r.compiled_vs_eager, r.eager_vs_f32);
  EXPECT_LT(r.compiled_vs_eager, 1e-6);
  EXPECT_GT(r.eager_vs_f32, r.compiled_vs_eager * 10);
}

// CNN28's training step at batch 8 under autocast: its 32->64 layer (4608 output
// positions, ops::winograd_pays) asks for Winograd, which in bf16 runs the CPU backend's
// own kernel in all three passes (backends/cpu/winograd_bf16.h): eager converting to
// blocks and back, the compiled step on its blocked tensors. The two follow each other.
TEST(Autocast, Cnn28TrainingStepRunsBf16WinogradEagerAndCompiledAlike) {
  SKIP_WITHOUT_BF16();
  manual_seed(8);
  const SideBySide r = train_side_by_side(
      [] { return models::cnn28(); }, true, 3,
      [] { return std::vector<Tensor>{randn({8, 1, 28, 28}), randint(0, 10, {8})}; }, 1e-6);
  EXPECT_NE(r.graph.find("conv2d_blocked("), std::string::npos) << r.graph;
  EXPECT_NE(r.graph.find("algorithm=\"winograd\", precision=\"bf16\""), std::string::npos) << r.graph;
  // The 32->64 layer's pooling runs inside its forward pass, and the pooling's gradient
  // inside its two gradient passes (fuse_conv_pool.cc); the first layer's weight gradient
  // stays the plain pass.
  EXPECT_NE(r.graph.find("conv2d_max_pool2x2_blocked("), std::string::npos) << r.graph;
  EXPECT_EQ(r.graph.find("max_pool2d_indices_blocked("), std::string::npos) << r.graph;
  EXPECT_NE(r.graph.find("conv2d_backward_input_unpool_blocked("), std::string::npos) << r.graph;
  EXPECT_NE(r.graph.find("conv2d_backward_weight_unpool_blocked("), std::string::npos) << r.graph;
  EXPECT_NE(r.graph.find("conv2d_backward_weight_blocked("), std::string::npos) << r.graph;
  EXPECT_EQ(r.graph.find("max_pool2d_backward_blocked("), std::string::npos) << r.graph;
  std::printf("cnn28, 3 SGD steps at batch 8 under autocast: compiled parameters %.1e from eager's; eager autocast "
              "%.1e from float32 training\n",
              r.compiled_vs_eager, r.eager_vs_f32);
  EXPECT_LT(r.compiled_vs_eager, 1e-6);
  EXPECT_GT(r.eager_vs_f32, r.compiled_vs_eager * 10);
}

// tessera-bench --precision bf16 runs gemm_1024 under autocast: its same-answer check
// against float32 sgemm allows bf16's rounding (it used to demand float32's and stop with
// an internal error) and it reports the bf16 system.
TEST(Autocast, BenchGemmRunsInBf16AndNamesItsSystem) {
#ifndef TESSERA_BENCH_PATH
  GTEST_SKIP() << "built without tools (no tessera-bench)";
#else
  SKIP_WITHOUT_BF16();
  const std::string cmd =
      std::string(TESSERA_BENCH_PATH) + " --workload gemm_1024 --precision bf16 --threads 1 --iters 2 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  ASSERT_NE(pipe, nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), pipe.get()) != nullptr) out += buf.data();
  ASSERT_EQ(pclose(pipe.release()), 0) << out;
  EXPECT_NE(out.find("\"system\": \"tessera-eager-bf16\", \"metric\": \"gflops\""), std::string::npos) << out;
  EXPECT_EQ(out.find("error"), std::string::npos) << out;
#endif
}

}  // namespace
