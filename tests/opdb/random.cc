// opdb entries of the random family (src/ops/random.cc). PyTorch's numbers differ by
// design (another generator), so each entry gives the distribution's moments instead; the
// test checks them on a large sample, and that one seed gives one result. The seed is the
// sample's "seed" attribute (plus "seed_offset", which the test adds to ask for another).
#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

using Ints = std::vector<int64_t>;

Generator gen_of(const Attrs& a) {
  return Generator(static_cast<uint64_t>(attr_i(a, "seed", 1) + attr_i(a, "seed_offset", 0)));
}

Attrs sized(Ints sizes, std::initializer_list<ops::Attr> more = {}) {
  Attrs a{{"sizes", std::move(sizes)}, {"seed", int64_t{1234}}};
  for (const ops::Attr& x : more) a.add(x);
  return a;
}

// A small sample, an empty one and a large one (the moments).
std::vector<Sample> sized_samples(std::initializer_list<ops::Attr> more = {}) {
  return {{"small", {}, sized({3, 4}, more)}, {"empty", {}, sized({0, 3}, more)}, {"large", {}, sized({200, 250}, more), false}};
}

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::vector<DType> dtypes, Moments moments) {
  OpEntry e;
  e.op = op;
  e.family = "random";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.dtypes = std::move(dtypes);
  e.moments = moments;
  return e;
}

}  // namespace

void add_random(std::vector<OpEntry>& out) {
  {
    // rand, and uniform_ (rand with bounds, copied in).
    OpEntry e = entry(
        "rand",
        [](const Tensors&, const Attrs& a) {
          Generator g = gen_of(a);
          return one(rand(a.ints("sizes"), a.get<DType>("dtype"), &g));
        },
        [](DType t) {
          auto s = sized_samples({{"dtype", t}});
          return s;
        },
        {kFloat32, kFloat64}, {0.5, 1.0 / 12, 0.01});
    e.errors = [] {
      return std::vector<ErrorCase>{{"int_dtype", {}, sized({2}, {{"dtype", kInt64}}), "rand: expected a floating dtype"},
                                    {"negative_size", {}, sized({-1}, {{"dtype", kFloat32}}), "expected non-negative sizes"}};
    };
    out.push_back(std::move(e));
  }
  {
    // normal(mean, std): randn with its attributes.
    OpEntry e = entry(
        "randn",
        [](const Tensors&, const Attrs& a) {
          Generator g = gen_of(a);
          return one(normal(attr_f(a, "mean"), attr_f(a, "std", 1), a.ints("sizes"), a.get<DType>("dtype"), &g));
        },
        [](DType t) { return sized_samples({{"dtype", t}, {"mean", 1.0}, {"std", 2.0}}); }, {kFloat32, kFloat64},
        {1.0, 4.0, 0.1});
    e.errors = [] {
      return std::vector<ErrorCase>{{"negative_std", {}, sized({2}, {{"dtype", kFloat32}, {"std", -1.0}}), "expected a finite std >= 0"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "randint",
        [](const Tensors&, const Attrs& a) {
          Generator g = gen_of(a);
          return one(randint(a.i("low"), a.i("high"), a.ints("sizes"), a.get<DType>("dtype"), &g));
        },
        [](DType t) { return sized_samples({{"dtype", t}, {"low", int64_t{-3}}, {"high", int64_t{5}}}); }, {kInt64, kInt32},
        {0.5, (8.0 * 8 - 1) / 12, 0.05});
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"empty_range", {}, sized({2}, {{"dtype", kInt64}, {"low", int64_t{3}}, {"high", int64_t{3}}}), "randint: expected low < high"}};
    };
    out.push_back(std::move(e));
  }
  {
    // bernoulli(probs): probabilities 0.3 everywhere (non-contiguous too).
    OpEntry e = entry(
        "bernoulli",
        [](const Tensors& x, const Attrs& a) {
          Generator g = gen_of(a);
          return one(bernoulli(x[0], &g));
        },
        [](DType t) {
          const Attrs seed{{"seed", int64_t{99}}};
          std::vector<Sample> s;
          s.push_back({"small", {full({3, 4}, 0.3, t)}, seed});
          s.push_back({"noncontiguous", {noncontiguous(full({3, 4}, 0.3, t))}, seed});
          s.push_back({"empty", {full({0, 2}, 0.3, t)}, seed});
          s.push_back({"large", {noncontiguous(full({250, 200}, 0.3, t))}, seed, false});
          return s;
        },
        {kFloat32, kFloat64}, {0.3, 0.21, 0.01});
    e.errors = [] {
      return std::vector<ErrorCase>{{"int_probs", {ones({2}, kInt64)}, {}, "bernoulli"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "bernoulli_scalar",
        [](const Tensors&, const Attrs& a) {
          Generator g = gen_of(a);
          return one(bernoulli(a.ints("sizes"), a.f("p"), a.get<DType>("dtype"), &g));
        },
        [](DType t) { return sized_samples({{"dtype", t}, {"p", 0.7}}); }, {kFloat32, kBool}, {0.7, 0.21, 0.01});
    e.errors = [] {
      return std::vector<ErrorCase>{{"p", {}, sized({2}, {{"dtype", kFloat32}, {"p", 1.5}}), "expected a probability p in [0, 1]"}};
    };
    out.push_back(std::move(e));
  }
  {
    // A permutation: its moments are exact, and sorted it is arange(n).
    OpEntry e = entry(
        "randperm",
        [](const Tensors&, const Attrs& a) {
          Generator g = gen_of(a);
          return one(randperm(a.i("n"), a.get<DType>("dtype"), &g));
        },
        [](DType t) {
          std::vector<Sample> s;
          for (auto [name, n] : {std::pair{"small", int64_t{10}}, std::pair{"empty", int64_t{0}}, std::pair{"large", int64_t{50000}}})
            s.push_back({name, {}, {{"n", n}, {"dtype", t}, {"seed", int64_t{5}}}, false});
          return s;
        },
        {kInt64}, {24999.5, (50000.0 * 50000 - 1) / 12, 1e-3});
    e.errors = [] {
      return std::vector<ErrorCase>{{"negative", {}, {{"n", int64_t{-1}}, {"dtype", kInt64}}, "randperm: expected n >= 0"},
                                    {"bool", {}, {{"n", int64_t{3}}, {"dtype", kBool}}, "can't be stored as bool"}};
    };
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
