// opdb entries of the factory family (src/ops/factory.cc): full (zeros, ones, ...), arange,
// linspace, eye. No inputs: the samples are their arguments, empty and large sizes included.
#include <cmath>

#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

using Ints = std::vector<int64_t>;

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::string torch, std::vector<DType> dtypes) {
  OpEntry e;
  e.op = op;
  e.family = "factory";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  e.dtypes = std::move(dtypes);
  return e;
}

}  // namespace

void add_factory(std::vector<OpEntry>& out) {
  {
    OpEntry e = entry(
        "full", [](const Tensors&, const Attrs& a) { return one(full(a.ints("sizes"), a.scalar("value"), a.get<DType>("dtype"))); },
        [](DType t) {
          const Scalar v = t == kBool ? Scalar(true) : is_floating(t) ? Scalar(2.5) : Scalar(int64_t{-7});
          auto f = [&](Ints sizes) { return Attrs{{"sizes", std::move(sizes)}, {"value", v}, {"dtype", t}}; };
          return std::vector<Sample>{{"matrix", {}, f({3, 4})}, {"scalar", {}, f({})}, {"empty", {}, f({0, 3})},
                                     {"large", {}, f({200, 300}), false}};
        },
        "torch.full(A['sizes'], A['value'], dtype=A['dtype'])", {kFloat32, kFloat64, kInt64, kBool});
    e.errors = [] {
      return std::vector<ErrorCase>{{"negative", {}, {{"sizes", Ints{-2}}, {"value", Scalar(1)}, {"dtype", kFloat32}}, "-2"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "arange",
        [](const Tensors&, const Attrs& a) {
          return one(arange(a.scalar("start"), a.scalar("end"), a.scalar("step"), a.get<DType>("dtype")));
        },
        [](DType t) {
          auto r = [&](Scalar start, Scalar end, Scalar step) {
            return Attrs{{"start", start}, {"end", end}, {"step", step}, {"dtype", t}};
          };
          const bool fl = is_floating(t);
          return std::vector<Sample>{
              {"ints", {}, r(int64_t{-3}, int64_t{7}, int64_t{2})},
              {"down", {}, r(int64_t{5}, int64_t{-4}, int64_t{-3})},
              {"fraction", {}, fl ? r(0.0, 2.0, 0.25) : r(int64_t{0}, int64_t{2}, int64_t{1})},
              {"empty", {}, r(int64_t{2}, int64_t{2}, int64_t{1})},
              {"large", {}, r(int64_t{0}, int64_t{10000}, int64_t{1}), false}};
        },
        "torch.arange(A['start'], A['end'], A['step'], dtype=A['dtype'])", {kFloat32, kFloat64, kInt64});
    e.errors = [] {
      auto r = [](double start, double end, double step) {
        return Attrs{{"start", Scalar(start)}, {"end", Scalar(end)}, {"step", Scalar(step)}, {"dtype", kFloat32}};
      };
      return std::vector<ErrorCase>{{"zero_step", {}, r(0, 1, 0), "step must be nonzero"},
                                    {"wrong_way", {}, r(0, 5, -1), "arange"},
                                    {"infinite", {}, r(0, INFINITY, 1), "start and end must be finite"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "linspace",
        [](const Tensors&, const Attrs& a) { return one(linspace(a.f("start"), a.f("end"), a.i("steps"), a.get<DType>("dtype"))); },
        [](DType t) {
          auto l = [&](double start, double end, int64_t steps) {
            return Attrs{{"start", start}, {"end", end}, {"steps", steps}, {"dtype", t}};
          };
          return std::vector<Sample>{{"up", {}, l(-1, 2, 7)}, {"down", {}, l(3, -3, 5)}, {"one", {}, l(4, 9, 1)},
                                     {"empty", {}, l(0, 1, 0)}, {"large", {}, l(-5, 5, 10001), false}};
        },
        "torch.linspace(A['start'], A['end'], A['steps'], dtype=A['dtype'])", {kFloat32, kFloat64});
    e.errors = [] {
      return std::vector<ErrorCase>{{"negative", {}, {{"start", 0.0}, {"end", 1.0}, {"steps", int64_t{-1}}, {"dtype", kFloat32}},
                                     "number of steps must be non-negative"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "eye", [](const Tensors&, const Attrs& a) { return one(eye(a.i("n"), attr_i(a, "m", -1), a.get<DType>("dtype"))); },
        [](DType t) {
          auto i = [&](int64_t n, int64_t m) { return Attrs{{"n", n}, {"m", m}, {"dtype", t}}; };
          return std::vector<Sample>{{"square", {}, i(4, 4)}, {"wide", {}, i(3, 5)}, {"tall", {}, i(5, 2)},
                                     {"empty", {}, i(0, 3)}, {"large", {}, i(120, 100), false}};
        },
        "torch.eye(A['n'], A['m'], dtype=A['dtype'])", {kFloat32, kFloat64, kInt64, kBool});
    e.errors = [] {
      return std::vector<ErrorCase>{{"negative", {}, {{"n", int64_t{-2}}, {"m", int64_t{2}}, {"dtype", kFloat32}}, "n and m must be non-negative"}};
    };
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
