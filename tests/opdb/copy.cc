// opdb entries of the copy family (src/ops/copy.cc): clone (and contiguous / reshape, which
// clone when they must), cast (Tensor::to), and the in-place writes copy_ and fill_.
#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

using Ints = std::vector<int64_t>;

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::string torch, std::vector<DType> dtypes) {
  OpEntry e;
  e.op = op;
  e.family = "copy";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  e.dtypes = std::move(dtypes);
  return e;
}

constexpr std::initializer_list<DType> kTypes{kFloat32, kFloat64, kInt64, kBool};

}  // namespace

void add_copy(std::vector<OpEntry>& out) {
  out.push_back(entry(
      "clone",
      [](const Tensors& x, const Attrs& a) {
        if (attr_b(a, "contiguous")) return one(x[0].contiguous());
        if (a.has("reshape")) return one(x[0].reshape(a.ints("reshape")));
        return one(x[0].clone());
      },
      [](DType t) {
        Maker m("clone", t);
        auto s = unary_samples(m);
        // A non-contiguous tensor made contiguous, or reshaped where no view can express it.
        s.push_back({"contiguous", {noncontiguous(m({3, 4, 5}))}, {{"contiguous", true}}});
        s.push_back({"reshape_copies", {noncontiguous(m({4, 6}))}, {{"reshape", Ints{3, 8}}}});
        return s;
      },
      "x[0].reshape(A['reshape']) if 'reshape' in A else x[0].clone()", kTypes));
  {
    // Tensor::to: the same dtype returns the tensor itself, so for the float64 samples
    // (gradcheck) the op is called through dispatch.
    OpEntry e = entry(
        "cast",
        [](const Tensors& x, const Attrs& a) {
          const DType d = a.get<DType>("dtype");
          if (d != x[0].dtype()) return one(x[0].to(d));
          ops::ensure_registered();
          return ops::call(*ops::find_op("cast"), x, a);
        },
        [](DType t) {
          Maker m("cast", t);
          std::vector<Sample> s;
          for (DType to : kTypes) {
            auto u = unary_samples(m, {{"dtype", to}});
            for (Sample& x : u) {
              x.name = std::string(x.name) + "_to_" + dtype_name(to);
              x.grad = x.grad && to == kFloat64;
              if (to == kFloat64 || x.name.rfind("noncontiguous", 0) == 0 || x.name.rfind("empty", 0) == 0) s.push_back(std::move(x));
            }
          }
          // Rounding toward zero and out-of-[0, 1] values into bool.
          s.push_back({"fractions_to_i64", {m({7}, Domain{-3, 3})}, {{"dtype", kInt64}}, false});
          return s;
        },
        "x[0].to(A['dtype'])", kTypes);
    out.push_back(std::move(e));
  }
  {
    // dst.copy_(src): broadcasting and converting; returns dst, written in place.
    OpEntry e = entry(
        "copy_",
        [](const Tensors& x, const Attrs&) {
          Tensor dst = x[0];
          dst.copy_(x[1]);
          return one(dst);
        },
        [](DType t) {
          Maker m("copy_", t);
          std::vector<Sample> s;
          s.push_back({"same", {m({3, 4}), m({3, 4})}});
          s.push_back({"broadcast", {m({3, 4}), m({4})}});
          s.push_back({"noncontiguous_dst", {noncontiguous(m({3, 4})), m({3, 1})}});
          s.push_back({"noncontiguous_src", {m({3, 4}), noncontiguous(m({3, 4}))}});
          s.push_back({"converting", {m({3, 4}), m.values({3, 4}, Domain{-3, 3}, t == kFloat64 ? kFloat32 : kFloat64)}});
          s.push_back({"empty", {m({0, 4}), m({4})}});
          s.push_back({"large", {noncontiguous(m({65, 67})), m({65, 67})}, {}, false});
          return s;
        },
        "x[0].clone().copy_(x[1])", kTypes);
    e.errors = [] {
      return std::vector<ErrorCase>{{"shape", {ones({3, 4}), ones({2, 4})}, {}, "shapes [3, 4] and [2, 4] are not broadcastable"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "fill_",
        [](const Tensors& x, const Attrs& a) {
          Tensor dst = x[0];
          dst.fill_(a.scalar("value"));
          return one(dst);
        },
        [](DType t) {
          Maker m("fill_", t);
          const Scalar v = t == kBool ? Scalar(true) : is_floating(t) ? Scalar(-1.5) : Scalar(int64_t{4});
          return unary_samples(m, {{"value", v}});
        },
        "x[0].clone().fill_(A['value'])", kTypes);
    e.errors = [] {
      return std::vector<ErrorCase>{{"float_into_int", {ones({2}, kInt64)}, {{"value", Scalar(0.5)}}, "cannot fill a i64 tensor with the floating value 0.5"}};
    };
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
