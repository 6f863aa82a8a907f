// opdb entries of the shape family (src/ops/shape.cc): cat, stack, repeat (and tile),
// flip, roll, tril, triu.
#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

using Ints = std::vector<int64_t>;
constexpr std::initializer_list<DType> kTypes{kFloat32, kFloat64, kInt64};

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::string torch) {
  OpEntry e;
  e.op = op;
  e.family = "shape";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  e.dtypes = kTypes;
  return e;
}

}  // namespace

void add_shape(std::vector<OpEntry>& out) {
  {
    OpEntry e = entry(
        "cat", [](const Tensors& x, const Attrs& a) { return one(cat(x, attr_i(a, "dim"))); },
        [](DType t) {
          Maker m("cat", t);
          std::vector<Sample> s;
          s.push_back({"dim0", {m({2, 3}), m({4, 3})}, {{"dim", int64_t{0}}}});
          s.push_back({"dim1_noncontiguous", {noncontiguous(m({3, 2})), m({3, 4}), noncontiguous(m({3, 1}))}, {{"dim", int64_t{1}}}});
          s.push_back({"negative_dim", {m({2, 2, 3}), m({2, 2, 1})}, {{"dim", int64_t{-1}}}});
          s.push_back({"empty_piece", {m({0, 3}), m({2, 3})}, {{"dim", int64_t{0}}}});
          s.push_back({"one", {m({5})}, {{"dim", int64_t{0}}}});
          // A 1-D empty tensor is skipped whatever the dim (PyTorch's legacy rule).
          s.push_back({"skips_empty_1d", {m({2, 3}), m({0}), m({2, 2})}, {{"dim", int64_t{1}}}});
          s.push_back({"only_empty", {m({0}), m({0})}, {{"dim", int64_t{0}}}});
          s.push_back({"large", {m({100, 40}), m({100, 60})}, {{"dim", int64_t{1}}}, false});
          return s;
        },
        "torch.cat(x, A['dim'])");
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"no_tensors", {}, {{"dim", int64_t{0}}}, "expected a non-empty list of tensors"},
          {"ranks_differ", {ones({2, 3}), ones({3})}, {{"dim", int64_t{0}}}, "same number of dimensions"},
          {"sizes_differ", {ones({2, 3}), ones({2, 4})}, {{"dim", int64_t{0}}}, "sizes of tensors must match"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "stack", [](const Tensors& x, const Attrs& a) { return one(stack(x, attr_i(a, "dim"))); },
        [](DType t) {
          Maker m("stack", t);
          std::vector<Sample> s;
          s.push_back({"dim1", {m({3, 4}), noncontiguous(m({3, 4})), m({3, 4})}, {{"dim", int64_t{1}}}});
          s.push_back({"dim0", {m({5}), m({5})}, {{"dim", int64_t{0}}}});
          s.push_back({"last", {m({2, 3}), m({2, 3})}, {{"dim", int64_t{-1}}}});
          s.push_back({"scalars", {m({}), m({})}, {{"dim", int64_t{0}}}});
          s.push_back({"empty", {m({0, 3}), m({0, 3})}, {{"dim", int64_t{1}}}});
          s.push_back({"large", {m({100, 50}), m({100, 50})}, {{"dim", int64_t{2}}}, false});
          return s;
        },
        "torch.stack(x, A['dim'])");
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"sizes_differ", {ones({2, 3}), ones({3, 2})}, {{"dim", int64_t{0}}}, "stack expects each tensor to be equal size"}};
    };
    out.push_back(std::move(e));
  }
  {
    // repeat, and tile (which pads reps with leading 1s and calls it).
    OpEntry e = entry(
        "repeat",
        [](const Tensors& x, const Attrs& a) {
          if (a.has("reps")) return one(tile(x[0], a.ints("reps")));
          return one(repeat(x[0], a.ints("repeats")));
        },
        [](DType t) {
          Maker m("repeat", t);
          std::vector<Sample> s;
          s.push_back({"more_dims", {noncontiguous(m({2, 3}))}, {{"repeats", Ints{2, 1, 3}}}});
          s.push_back({"same_dims", {m({3, 2})}, {{"repeats", Ints{2, 2}}}});
          s.push_back({"scalar", {m({})}, {{"repeats", Ints{3}}}});
          s.push_back({"empty", {m({0, 2})}, {{"repeats", Ints{2, 3}}}});
          s.push_back({"zero_repeats", {m({2})}, {{"repeats", Ints{0}}}});
          s.push_back({"tile_short", {m({2, 3})}, {{"reps", Ints{2}}}});
          s.push_back({"tile_long", {noncontiguous(m({2, 3}))}, {{"reps", Ints{3, 1, 2}}}});
          s.push_back({"large", {m({60, 70})}, {{"repeats", Ints{2, 3}}}, false});
          return s;
        },
        "torch.tile(x[0], A['reps']) if 'reps' in A else x[0].repeat(*A['repeats'])");
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"too_few", {ones({2, 3})}, {{"repeats", Ints{2}}}, "repeats"},
          {"negative", {ones({2})}, {{"repeats", Ints{-1}}}, "repeats must be non-negative"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "flip", [](const Tensors& x, const Attrs& a) { return one(flip(x[0], a.ints("dims"))); },
        [](DType t) {
          Maker m("flip", t);
          std::vector<Sample> s;
          s.push_back({"two_dims", {m({3, 4, 5})}, {{"dims", Ints{0, 2}}}});
          s.push_back({"noncontiguous", {noncontiguous(m({3, 4}))}, {{"dims", Ints{-1}}}});
          s.push_back({"scalar", {m({})}, {{"dims", Ints{}}}});
          s.push_back({"empty", {m({0, 4})}, {{"dims", Ints{1}}}});
          s.push_back({"large", {m({70, 80})}, {{"dims", Ints{0, 1}}}, false});
          return s;
        },
        "torch.flip(x[0], A['dims'])");
    e.errors = [] {
      return std::vector<ErrorCase>{{"repeated_dim", {ones({2, 3})}, {{"dims", Ints{1, 1}}}, "dim 1"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "roll", [](const Tensors& x, const Attrs& a) { return one(roll(x[0], a.ints("shifts"), a.ints("dims"))); },
        [](DType t) {
          Maker m("roll", t);
          std::vector<Sample> s;
          s.push_back({"two_dims", {m({4, 5})}, {{"shifts", Ints{1, -2}}, {"dims", Ints{0, 1}}}});
          s.push_back({"flat", {noncontiguous(m({3, 4}))}, {{"shifts", Ints{5}}, {"dims", Ints{}}}});
          s.push_back({"big_shift", {noncontiguous(m({3, 4}))}, {{"shifts", Ints{-9}}, {"dims", Ints{1}}}});
          s.push_back({"empty", {m({0, 4})}, {{"shifts", Ints{1}}, {"dims", Ints{1}}}});
          s.push_back({"large", {m({70, 80})}, {{"shifts", Ints{3}}, {"dims", Ints{1}}}, false});
          return s;
        },
        "torch.roll(x[0], A['shifts'], A['dims'])");
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"two_shifts_no_dims", {ones({2, 3})}, {{"shifts", Ints{1, 2}}, {"dims", Ints{}}}, "expected one shift"}};
    };
    out.push_back(std::move(e));
  }
  for (auto [op, fn] : {std::pair{"tril", &tril}, std::pair{"triu", &triu}}) {
    OpEntry e = entry(
        op, [fn = fn](const Tensors& x, const Attrs& a) { return one(fn(x[0], attr_i(a, "diagonal"), CallSite::current())); },
        [op = std::string(op)](DType t) {
          Maker m(op, t);
          std::vector<Sample> s;
          s.push_back({"main", {m({4, 5})}, {{"diagonal", int64_t{0}}}});
          s.push_back({"below", {noncontiguous(m({5, 4}))}, {{"diagonal", int64_t{-1}}}});
          s.push_back({"batched_above", {m({2, 4, 5})}, {{"diagonal", int64_t{1}}}});
          s.push_back({"empty", {m({0, 3})}, {{"diagonal", int64_t{0}}}});
          s.push_back({"large", {m({90, 80})}, {{"diagonal", int64_t{2}}}, false});
          return s;
        },
        std::string("torch.") + op + "(x[0], A['diagonal'])");
    e.errors = [] {
      return std::vector<ErrorCase>{{"vector", {ones({3})}, {{"diagonal", int64_t{0}}}, "at least 2 dimensions"}};
    };
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
