// Random factories: rand, randn, randint, normal, bernoulli, randperm and the in-place
// uniform_/normal_. Each call reserves its Philox counters from the generator up front
// and passes (seed, offset) to the kernel as attributes (see ops/random.h).
#include "ops/random.h"

#include <cmath>
#include <limits>

#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

constexpr int64_t kMaxNumel = int64_t{1} << 62;

void check_sizes(const char* op, const std::vector<int64_t>& sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) {
    TESSERA_CHECK(s >= 0, op, ": expected non-negative sizes, got ", shape_str(sizes));
    TESSERA_CHECK(s == 0 || n <= kMaxNumel / s, op, ": sizes ", shape_str(sizes),
                  " have too many elements");
    n *= s;
  }
}

// The integers a dtype holds exactly: randint's and randperm's values must fit.
void exact_int_range(DType t, int64_t& lo, int64_t& hi) {
  switch (t) {
    case DType::Bool:
      lo = 0;
      hi = 1;
      return;
    case DType::UInt8:
      lo = 0;
      hi = 255;
      return;
    case DType::Int8:
      lo = -128;
      hi = 127;
      return;
    case DType::Int32:
      lo = std::numeric_limits<int32_t>::min();
      hi = std::numeric_limits<int32_t>::max();
      return;
    case DType::Int64:
      lo = std::numeric_limits<int64_t>::min();
      hi = std::numeric_limits<int64_t>::max();
      return;
    case DType::Float16:
      hi = int64_t{1} << 11;
      break;
    case DType::BFloat16:
      hi = int64_t{1} << 8;
      break;
    case DType::Float32:
      hi = int64_t{1} << 24;
      break;
    case DType::Float64:
      hi = int64_t{1} << 53;
      break;
  }
  lo = -hi;
}

InferResult infer_rand(const std::vector<InputMeta>&, const Attrs& attrs) {
  const auto& sizes = attrs.ints("sizes");
  const DType dt = attrs.get<DType>("dtype");
  check_sizes("rand", sizes);
  TESSERA_CHECK(is_floating(dt), "rand: expected a floating dtype (f32, f64, f16 or bf16), got ",
                dtype_name(dt));
  const double low = attrs.f("low"), high = attrs.f("high");
  TESSERA_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high,
                "rand: expected finite bounds with low <= high, got low=", low, ", high=", high);
  return {{{Shape(sizes), dt}}, std::nullopt};
}

InferResult infer_randn(const std::vector<InputMeta>&, const Attrs& attrs) {
  const auto& sizes = attrs.ints("sizes");
  const DType dt = attrs.get<DType>("dtype");
  check_sizes("randn", sizes);
  TESSERA_CHECK(is_floating(dt), "randn: expected a floating dtype (f32, f64, f16 or bf16), got ",
                dtype_name(dt));
  const double mean = attrs.f("mean"), std = attrs.f("std");
  TESSERA_CHECK(std::isfinite(mean), "randn: expected a finite mean, got ", mean);
  TESSERA_CHECK(std >= 0 && std::isfinite(std), "randn: expected a finite std >= 0, got ", std);
  return {{{Shape(sizes), dt}}, std::nullopt};
}

InferResult infer_randint(const std::vector<InputMeta>&, const Attrs& attrs) {
  const auto& sizes = attrs.ints("sizes");
  const DType dt = attrs.get<DType>("dtype");
  check_sizes("randint", sizes);
  const int64_t low = attrs.i("low"), high = attrs.i("high");
  TESSERA_CHECK(low < high, "randint: expected low < high, got low=", low, ", high=", high);
  int64_t lo = 0, hi = 0;
  exact_int_range(dt, lo, hi);
  TESSERA_CHECK(low >= lo && high - 1 <= hi, "randint: range [", low, ", ", high,
                ") does not fit in ", dtype_name(dt), " (which holds ", lo, "..", hi, " exactly)");
  return {{{Shape(sizes), dt}}, std::nullopt};
}

InferResult infer_bernoulli(const std::vector<InputMeta>& in, const Attrs&) {
  TESSERA_CHECK(is_floating(in[0].dtype()),
                "bernoulli: expected floating probabilities (f32, f64, f16 or bf16), got ",
                dtype_name(in[0].dtype()));
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}

InferResult infer_bernoulli_scalar(const std::vector<InputMeta>&, const Attrs& attrs) {
  const auto& sizes = attrs.ints("sizes");
  check_sizes("bernoulli", sizes);
  const double p = attrs.f("p");
  TESSERA_CHECK(p >= 0 && p <= 1, "bernoulli: expected a probability p in [0, 1], got ", p);
  return {{{Shape(sizes), attrs.get<DType>("dtype")}}, std::nullopt};
}

InferResult infer_randperm(const std::vector<InputMeta>&, const Attrs& attrs) {
  const int64_t n = attrs.i("n");
  const DType dt = attrs.get<DType>("dtype");
  TESSERA_CHECK(n >= 0, "randperm: expected n >= 0, got ", n);
  TESSERA_CHECK(dt != DType::Bool, "randperm: a permutation can't be stored as bool");
  int64_t lo = 0, hi = 0;
  exact_int_range(dt, lo, hi);
  TESSERA_CHECK(n == 0 || n - 1 <= hi, "randperm: n=", n, " is too large for ", dtype_name(dt),
                " (which holds integers up to ", hi, " exactly)");
  return {{{Shape{n}, dt}}, std::nullopt};
}

// Validates (by running the shape rule) before touching the generator, so a rejected
// call does not advance it, then reserves the counters and dispatches. `make_attrs`
// builds the op's attributes for a given (seed, offset).
template <typename MakeAttrs>
Tensor run_random(const OpDef& op, std::vector<Tensor> inputs, Generator* gen, int per_block,
                  MakeAttrs make_attrs) {
  ensure_registered();
  const InferResult meta =
      infer_shapes(op, {inputs.begin(), inputs.end()}, make_attrs(int64_t{0}, int64_t{0}));
  const int64_t numel = numel_of(meta.outputs[0].sizes);
  const auto blocks = static_cast<uint64_t>((numel + per_block - 1) / per_block);
  // No generator given: the calling thread's current one (a GeneratorGuard's, else the
  // process default). The seed and the counters are taken in one step under the
  // generator's own lock, so threads sharing a generator draw disjoint numbers.
  Generator& g = gen != nullptr ? *gen : current_generator();
  const Generator::Counters c = g.reserve_counters(blocks);
  // Attributes are int64; the bits round-trip exactly.
  return call1(op, std::move(inputs),
               make_attrs(static_cast<int64_t>(c.seed), static_cast<int64_t>(c.offset)));
}

}  // namespace

Attrs with_fresh_counters(const OpDef& op, const std::vector<InputMeta>& inputs, const Attrs& attrs,
                          Generator& gen) {
  int per_block = 0;
  if (&op == &kRand) per_block = uniform_per_block(attrs.get<DType>("dtype"));
  else if (&op == &kRandn) per_block = normal_per_block(attrs.get<DType>("dtype"));
  else if (&op == &kRandint) per_block = randint_per_block(attrs.i("low"), attrs.i("high"));
  else if (&op == &kBernoulli) per_block = bernoulli_per_block(inputs.at(0).dtype());
  else if (&op == &kBernoulliScalar) per_block = kBernoulliScalarPerBlock;
  else if (&op == &kRandperm) per_block = kRandpermPerBlock;
  TESSERA_INTERNAL_ASSERT(per_block > 0, op.name, ": not a random op of this family");
  const InferResult meta = infer_shapes(op, inputs, attrs);
  const int64_t numel = numel_of(meta.outputs[0].sizes);
  const Generator::Counters c = gen.reserve_counters(static_cast<uint64_t>((numel + per_block - 1) / per_block));
  Attrs out;
  for (const Attr& a : attrs.items()) {
    if (a.name == "seed") out.add({a.name, static_cast<int64_t>(c.seed)});
    else if (a.name == "offset") out.add({a.name, static_cast<int64_t>(c.offset)});
    else out.add(a);
  }
  return out;
}

OpDef kRand{"rand", 0, kRandom,
            {attr("sizes", AttrType::Ints), attr("dtype", AttrType::DType),
             attr("low", AttrType::Float), attr("high", AttrType::Float),
             attr("seed", AttrType::Int), attr("offset", AttrType::Int)},
            infer_rand, nullptr, "RandomUniform"};
OpDef kRandn{"randn", 0, kRandom,
             {attr("sizes", AttrType::Ints), attr("dtype", AttrType::DType),
              attr("mean", AttrType::Float), attr("std", AttrType::Float),
              attr("seed", AttrType::Int), attr("offset", AttrType::Int)},
             infer_randn, nullptr, "RandomNormal"};
OpDef kRandint{"randint", 0, kRandom,
               {attr("sizes", AttrType::Ints), attr("dtype", AttrType::DType),
                attr("low", AttrType::Int), attr("high", AttrType::Int),
                attr("seed", AttrType::Int), attr("offset", AttrType::Int)},
               infer_randint, nullptr, nullptr};
OpDef kBernoulli{"bernoulli", 1, kRandom,
                 {attr("seed", AttrType::Int), attr("offset", AttrType::Int)},
                 infer_bernoulli, nullptr, "Bernoulli"};
OpDef kBernoulliScalar{"bernoulli_scalar", 0, kRandom,
                       {attr("sizes", AttrType::Ints), attr("dtype", AttrType::DType),
                        attr("p", AttrType::Float), attr("seed", AttrType::Int),
                        attr("offset", AttrType::Int)},
                       infer_bernoulli_scalar, nullptr, nullptr};
OpDef kRandperm{"randperm", 0, kRandom,
                {attr("n", AttrType::Int), attr("dtype", AttrType::DType),
                 attr("seed", AttrType::Int), attr("offset", AttrType::Int)},
                infer_randperm, nullptr, nullptr};

void register_random_ops() {
  register_op(kRand);
  register_op(kRandn);
  register_op(kRandint);
  register_op(kBernoulli);
  register_op(kBernoulliScalar);
  register_op(kRandperm);
}

}  // namespace tessera::ops

namespace tessera {
namespace {

Tensor uniform_impl(IntArrayRef sizes, DType dtype, double low, double high, Generator* gen) {
  std::vector<int64_t> s = sizes.vec();
  return ops::run_random(ops::kRand, {}, gen, ops::uniform_per_block(dtype),
                         [&](int64_t seed, int64_t offset) {
                           return ops::Attrs{{"sizes", s},   {"dtype", dtype}, {"low", low},
                                             {"high", high}, {"seed", seed},   {"offset", offset}};
                         });
}

Tensor normal_impl(IntArrayRef sizes, DType dtype, double mean, double std, Generator* gen) {
  std::vector<int64_t> s = sizes.vec();
  return ops::run_random(ops::kRandn, {}, gen, ops::normal_per_block(dtype),
                         [&](int64_t seed, int64_t offset) {
                           return ops::Attrs{{"sizes", s}, {"dtype", dtype}, {"mean", mean},
                                             {"std", std}, {"seed", seed},   {"offset", offset}};
                         });
}

void check_std(const char* op, double std) {
  TESSERA_CHECK(std >= 0 && std::isfinite(std), op, ": expected a finite std >= 0, got ", std);
}

void check_floating_target(const char* op, const Tensor& t) {
  TESSERA_CHECK(t.defined(), op, ": the tensor is undefined");
  TESSERA_CHECK(t.is_floating_point(), op, ": expected a floating tensor, got ", t.describe());
}

}  // namespace

Tensor rand(IntArrayRef sizes, TensorOptions opts, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  return uniform_impl(sizes, opts.dtype, 0.0, 1.0, gen);
}

Tensor randn(IntArrayRef sizes, TensorOptions opts, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  return normal_impl(sizes, opts.dtype, 0.0, 1.0, gen);
}

Tensor normal(double mean, double std, IntArrayRef sizes, TensorOptions opts, Generator* gen,
              CallSite at) {
  detail::UserCallScope scope(at);
  check_std("normal", std);
  return normal_impl(sizes, opts.dtype, mean, std, gen);
}

Tensor rand_like(const Tensor& t, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  check_floating_target("rand_like", t);
  return uniform_impl(t.sizes(), t.dtype(), 0.0, 1.0, gen);
}

Tensor randn_like(const Tensor& t, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  check_floating_target("randn_like", t);
  return normal_impl(t.sizes(), t.dtype(), 0.0, 1.0, gen);
}

Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, TensorOptions opts, Generator* gen,
               CallSite at) {
  detail::UserCallScope scope(at);
  std::vector<int64_t> s = sizes.vec();
  // per_block needs a valid range; infer reports the error when it isn't.
  const int per_block = low < high ? ops::randint_per_block(low, high) : 4;
  return ops::run_random(ops::kRandint, {}, gen, per_block, [&](int64_t seed, int64_t offset) {
    return ops::Attrs{{"sizes", s},   {"dtype", opts.dtype}, {"low", low},
                      {"high", high}, {"seed", seed},        {"offset", offset}};
  });
}

Tensor bernoulli(const Tensor& probs, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(probs.defined(), "bernoulli: the probabilities tensor is undefined");
  return ops::run_random(ops::kBernoulli, {probs}, gen, ops::bernoulli_per_block(probs.dtype()),
                         [](int64_t seed, int64_t offset) {
                           return ops::Attrs{{"seed", seed}, {"offset", offset}};
                         });
}

Tensor bernoulli(IntArrayRef sizes, double p, TensorOptions opts, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  std::vector<int64_t> s = sizes.vec();
  return ops::run_random(
      ops::kBernoulliScalar, {}, gen, ops::kBernoulliScalarPerBlock,
      [&](int64_t seed, int64_t offset) {
        return ops::Attrs{
            {"sizes", s}, {"dtype", opts.dtype}, {"p", p}, {"seed", seed}, {"offset", offset}};
      });
}

Tensor randperm(int64_t n, TensorOptions opts, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::run_random(
      ops::kRandperm, {}, gen, ops::kRandpermPerBlock, [&](int64_t seed, int64_t offset) {
        return ops::Attrs{{"n", n}, {"dtype", opts.dtype}, {"seed", seed}, {"offset", offset}};
      });
}

Tensor& uniform_(Tensor& t, double low, double high, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  check_floating_target("uniform_", t);
  TESSERA_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high,
                "uniform_: expected finite bounds with low <= high, got low=", low,
                ", high=", high);
  t.copy_(uniform_impl(t.sizes(), t.dtype(), low, high, gen));
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen, CallSite at) {
  detail::UserCallScope scope(at);
  check_floating_target("normal_", t);
  check_std("normal_", std);
  t.copy_(normal_impl(t.sizes(), t.dtype(), mean, std, gen));
  return t;
}

}  // namespace tessera
