// opdb entries of the view family (src/ops/view.cc): ops that build a new layout over the
// input's storage (the Tensor methods view, permute, slice, ...), and view_scatter, the
// backward of the slicing views.
#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

using Ints = std::vector<int64_t>;
constexpr std::initializer_list<DType> kTypes{kFloat32, kFloat64, kInt64};

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::string torch,
              std::function<std::vector<ErrorCase>()> errors) {
  OpEntry e;
  e.op = op;
  e.family = "view";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  e.dtypes = kTypes;
  e.errors = std::move(errors);
  return e;
}

Attrs i(std::string_view a, int64_t v) { return {{a, v}}; }

}  // namespace

void add_view(std::vector<OpEntry>& out) {
  out.push_back(entry(
      "view",
      [](const Tensors& x, const Attrs& a) {
        if (a.has("start_dim")) return one(x[0].flatten(a.i("start_dim"), attr_i(a, "end_dim", -1)));
        if (attr_b(a, "reshape")) return one(x[0].reshape(a.ints("shape")));
        return one(x[0].view(a.ints("shape")));
      },
      [](DType t) {
        Maker m("view", t);
        std::vector<Sample> s;
        s.push_back({"merge", {m({3, 4, 5})}, {{"shape", Ints{12, 5}}}});
        s.push_back({"infer", {m({3, 4, 5})}, {{"shape", Ints{-1, 10}}}});
        // Splitting a dim works on any strides.
        s.push_back({"noncontiguous_split", {noncontiguous(m({4, 6}))}, {{"shape", Ints{2, 2, 6}}}});
        s.push_back({"reshape", {m({4, 6})}, {{"shape", Ints{3, 8}}, {"reshape", true}}});
        s.push_back({"flatten", {m({3, 4, 5})}, {{"start_dim", int64_t{1}}, {"end_dim", int64_t{-1}}}});
        s.push_back({"scalar", {m({})}, {{"shape", Ints{1, 1}}}});
        s.push_back({"empty", {m({0, 3})}, {{"shape", Ints{3, 0}}}});
        s.push_back({"large", {m({60, 70})}, {{"shape", Ints{70, 60}}}, false});
        return s;
      },
      "x[0].flatten(A['start_dim'], A['end_dim']) if 'start_dim' in A else x[0].reshape(A['shape'])",
      [] {
        return std::vector<ErrorCase>{
            {"bad_numel", {ones({2, 3})}, {{"shape", Ints{4}}}, "is invalid for"},
            {"two_infers", {ones({2, 3})}, {{"shape", Ints{-1, -1}}}, "only one dimension can be -1"},
            {"strides_forbid", {ones({3, 4}).t()}, {{"shape", Ints{12}}}, "is incompatible with the input's strides"}};
      }));
  out.push_back(entry(
      "permute",
      [](const Tensors& x, const Attrs& a) {
        if (a.has("dim0")) return one(x[0].transpose(a.i("dim0"), a.i("dim1")));
        return one(x[0].permute(a.ints("dims")));
      },
      [](DType t) {
        Maker m("permute", t);
        std::vector<Sample> s;
        s.push_back({"rotate", {m({3, 4, 5})}, {{"dims", Ints{2, 0, 1}}}});
        s.push_back({"noncontiguous", {noncontiguous(m({3, 4, 5}))}, {{"dims", Ints{1, -1, 0}}}});
        s.push_back({"transpose", {m({3, 4, 5})}, {{"dim0", int64_t{0}}, {"dim1", int64_t{2}}}});
        s.push_back({"scalar", {m({})}, {{"dims", Ints{}}}});
        s.push_back({"empty", {m({0, 3})}, {{"dims", Ints{1, 0}}}});
        s.push_back({"large", {m({60, 70})}, {{"dims", Ints{1, 0}}}, false});
        return s;
      },
      "x[0].transpose(A['dim0'], A['dim1']) if 'dim0' in A else x[0].permute(A['dims'])",
      [] {
        return std::vector<ErrorCase>{
            {"too_few_dims", {ones({2, 3, 4})}, {{"dims", Ints{1, 0}}}, "expected 3 dims, got [1, 0]"},
            {"repeated", {ones({2, 3})}, {{"dims", Ints{1, 1}}}, "repeats in"}};
      }));
  out.push_back(entry(
      "slice",
      // slice, and what is built from it: narrow, split and chunk.
      [](const Tensors& x, const Attrs& a) {
        const int64_t dim = a.i("dim");
        if (a.has("length")) return one(x[0].narrow(dim, a.i("start"), a.i("length")));
        if (a.has("split_size")) return split(x[0], a.i("split_size"), dim);
        if (a.has("split_sizes")) return split(x[0], a.ints("split_sizes"), dim);
        if (a.has("chunks")) return chunk(x[0], a.i("chunks"), dim);
        return one(x[0].slice(dim, a.i("start"), a.i("end"), attr_i(a, "step", 1)));
      },
      [](DType t) {
        Maker m("slice", t);
        auto sl = [](int64_t dim, int64_t start, int64_t end, int64_t step) {
          return Attrs{{"dim", dim}, {"start", start}, {"end", end}, {"step", step}};
        };
        std::vector<Sample> s;
        s.push_back({"step", {noncontiguous(m({6, 8}))}, sl(1, 1, 7, 3)});
        s.push_back({"negative_bounds", {m({5, 4})}, sl(0, -4, -1, 1)});
        s.push_back({"clamped", {m({5})}, sl(0, 2, 100, 2)});
        s.push_back({"narrow", {m({3, 4, 5})}, {{"dim", int64_t{1}}, {"start", int64_t{1}}, {"length", int64_t{2}}}});
        s.push_back({"split", {noncontiguous(m({3, 7}))}, {{"dim", int64_t{1}}, {"split_size", int64_t{2}}}});
        s.push_back({"split_sizes", {m({6, 2})}, {{"dim", int64_t{0}}, {"split_sizes", Ints{1, 2, 3}}}});
        s.push_back({"chunk", {m({7, 3})}, {{"dim", int64_t{0}}, {"chunks", int64_t{3}}}});
        s.push_back({"empty", {m({0, 4})}, sl(1, 1, 3, 1)});
        s.push_back({"empty_result", {m({3, 4})}, sl(1, 3, 1, 1)});
        s.push_back({"large", {m({70, 80})}, sl(0, 5, 65, 2), false});
        return s;
      },
      "tslice(x[0], A)",
      [] {
        return std::vector<ErrorCase>{
            {"scalar", {ones({})}, {{"dim", int64_t{0}}, {"start", int64_t{0}}, {"end", int64_t{1}}}, "cannot slice a 0-d tensor"},
            {"zero_step", {ones({4})}, {{"dim", int64_t{0}}, {"start", int64_t{0}}, {"end", int64_t{4}}, {"step", int64_t{0}}},
             "step must be positive"},
            {"narrow_too_far", {ones({4})}, {{"dim", int64_t{0}}, {"start", int64_t{2}}, {"length", int64_t{3}}}, "narrow: start 2"},
            {"zero_chunks", {ones({4})}, {{"dim", int64_t{0}}, {"chunks", int64_t{0}}}, "chunks must be greater than 0"},
            {"split_sizes_sum", {ones({4})}, {{"dim", int64_t{0}}, {"split_sizes", Ints{1, 2}}}, "split sizes [1, 2]"}};
      }));
  out.push_back(entry(
      "select", [](const Tensors& x, const Attrs& a) { return one(x[0].select(a.i("dim"), a.i("index"))); },
      [](DType t) {
        Maker m("select", t);
        std::vector<Sample> s;
        s.push_back({"dim1", {noncontiguous(m({4, 5}))}, {{"dim", int64_t{1}}, {"index", int64_t{2}}}});
        s.push_back({"negative_index", {m({3, 4, 5})}, {{"dim", int64_t{0}}, {"index", int64_t{-1}}}});
        s.push_back({"vector", {m({5})}, {{"dim", int64_t{0}}, {"index", int64_t{3}}}});
        s.push_back({"empty", {m({0, 3})}, {{"dim", int64_t{1}}, {"index", int64_t{0}}}});
        s.push_back({"large", {m({70, 80})}, {{"dim", int64_t{1}}, {"index", int64_t{7}}}, false});
        return s;
      },
      "x[0].select(A['dim'], A['index'])",
      [] {
        return std::vector<ErrorCase>{
            {"scalar", {ones({})}, {{"dim", int64_t{0}}, {"index", int64_t{0}}}, "cannot select from a 0-d tensor"},
            {"out_of_range", {ones({2, 3})}, {{"dim", int64_t{1}}, {"index", int64_t{3}}}, "index 3 is out of range for dim 1 of size 3"}};
      }));
  out.push_back(entry(
      "expand", [](const Tensors& x, const Attrs& a) { return one(x[0].expand(a.ints("shape"))); },
      [](DType t) {
        Maker m("expand", t);
        std::vector<Sample> s;
        s.push_back({"new_dims", {m({3, 1})}, {{"shape", Ints{2, 3, 4}}}});
        s.push_back({"keep", {noncontiguous(m({1, 4}))}, {{"shape", Ints{3, -1}}}});
        s.push_back({"scalar", {m({})}, {{"shape", Ints{2, 3}}}});
        s.push_back({"empty", {m({0, 1})}, {{"shape", Ints{0, 4}}}});
        s.push_back({"large", {m({1, 67})}, {{"shape", Ints{65, 67}}}, false});
        return s;
      },
      "x[0].expand(*A['shape'])",
      [] {
        return std::vector<ErrorCase>{
            {"not_one", {ones({2, 3})}, {{"shape", Ints{4, 3}}}, "cannot expand [2, 3] to [4, 3]"},
            {"fewer_dims", {ones({2, 3})}, {{"shape", Ints{3}}}, "has fewer dims than the input"}};
      }));
  out.push_back(entry(
      "squeeze",
      [](const Tensors& x, const Attrs& a) {
        if (a.has("dim")) return one(x[0].squeeze(a.i("dim")));
        return one(x[0].squeeze());
      },
      [](DType t) {
        Maker m("squeeze", t);
        std::vector<Sample> s;
        s.push_back({"dim", {m({3, 1, 4, 1})}, i("dim", 1)});
        s.push_back({"all", {m({3, 1, 4, 1})}, {}});
        s.push_back({"not_one", {noncontiguous(m({3, 4}))}, i("dim", 0)});
        s.push_back({"scalar", {m({})}, {}});
        s.push_back({"empty", {m({0, 1})}, {}});
        s.push_back({"large", {m({1, 4000})}, i("dim", 0), false});
        return s;
      },
      "x[0].squeeze(A['dim']) if 'dim' in A else x[0].squeeze()",
      [] { return std::vector<ErrorCase>{{"dim_out_of_range", {ones({2, 1})}, i("dim", 2), "out of range"}}; }));
  out.push_back(entry(
      "unsqueeze", [](const Tensors& x, const Attrs& a) { return one(x[0].unsqueeze(a.i("dim"))); },
      [](DType t) {
        Maker m("unsqueeze", t);
        std::vector<Sample> s;
        s.push_back({"middle", {noncontiguous(m({3, 4}))}, i("dim", 1)});
        s.push_back({"last", {m({3, 4})}, i("dim", -1)});
        s.push_back({"scalar", {m({})}, i("dim", 0)});
        s.push_back({"empty", {m({0, 3})}, i("dim", 0)});
        s.push_back({"large", {m({60, 70})}, i("dim", 2), false});
        return s;
      },
      "x[0].unsqueeze(A['dim'])",
      [] { return std::vector<ErrorCase>{{"dim_out_of_range", {ones({2, 3})}, i("dim", 4), "out of range"}}; }));
  out.push_back(entry(
      "diagonal",
      [](const Tensors& x, const Attrs& a) {
        return one(x[0].diagonal(attr_i(a, "offset"), attr_i(a, "dim1", 0), attr_i(a, "dim2", 1)));
      },
      [](DType t) {
        Maker m("diagonal", t);
        auto d = [](int64_t offset, int64_t d1, int64_t d2) {
          return Attrs{{"offset", offset}, {"dim1", d1}, {"dim2", d2}};
        };
        std::vector<Sample> s;
        s.push_back({"above", {m({4, 5})}, d(1, 0, 1)});
        s.push_back({"below_batched", {noncontiguous(m({3, 4, 5}))}, d(-1, 1, 2)});
        s.push_back({"swapped_dims", {m({4, 3})}, d(0, 1, 0)});
        s.push_back({"past_the_end", {m({3, 3})}, d(5, 0, 1)});
        s.push_back({"empty", {m({0, 3})}, d(0, 0, 1)});
        s.push_back({"large", {m({70, 80})}, d(3, 0, 1), false});
        return s;
      },
      "torch.diagonal(x[0], A['offset'], A['dim1'], A['dim2'])",
      [] {
        return std::vector<ErrorCase>{
            {"vector", {ones({3})}, {}, "expected a tensor of rank >= 2, got rank 1"},
            {"same_dims", {ones({3, 3})}, {{"offset", int64_t{0}}, {"dim1", int64_t{1}}, {"dim2", int64_t{1}}},
             "dim1 and dim2 must differ"}};
      }));
  {
    // Defined on the storage, not on the values: only contiguous inputs compare with
    // PyTorch (whose copy of the values is the whole storage).
    OpEntry e = entry(
        "as_strided",
        [](const Tensors& x, const Attrs& a) {
          return one(x[0].as_strided(a.ints("sizes"), a.ints("strides"), attr_i(a, "offset", -1)));
        },
        [](DType t) {
          Maker m("as_strided", t);
          auto st = [](Ints sizes, Ints strides, int64_t offset) {
            return Attrs{{"sizes", std::move(sizes)}, {"strides", std::move(strides)}, {"offset", offset}};
          };
          std::vector<Sample> s;
          s.push_back({"transposed_window", {m({3, 4})}, st({2, 2}, {1, 4}, 1)});
          s.push_back({"every_other", {m({12})}, st({3, 2}, {4, 2}, 0)});
          s.push_back({"keep_offset", {m({3, 4})}, st({4}, {3}, -1)});
          s.push_back({"empty", {m({0, 3})}, st({0, 2}, {1, 1}, 0)});
          s.push_back({"large", {m({60, 70})}, st({70, 30}, {1, 70}, 5), false});
          return s;
        },
        "torch.as_strided(x[0], A['sizes'], A['strides'], max(A['offset'], 0))",
        [] {
          return std::vector<ErrorCase>{
              {"rank_mismatch", {ones({4})}, {{"sizes", Ints{2, 2}}, {"strides", Ints{1}}}, "2 sizes but 1 strides"},
              {"past_storage", {ones({4})}, {{"sizes", Ints{3}}, {"strides", Ints{2}}}, "but the storage holds 4"}};
        });
    out.push_back(std::move(e));
  }
  {
    // Internal (the backward of slice, select, diagonal and as_strided): called through
    // dispatch, with the view's attributes and the base's sizes.
    OpEntry e = entry(
        "view_scatter",
        [](const Tensors& x, const Attrs& a) {
          ops::ensure_registered();
          return ops::call(*ops::find_op("view_scatter"), x, a);
        },
        [](DType t) {
          Maker m("view_scatter", t);
          auto vs = [](const char* view, Ints base, Attrs view_attrs) {
            Attrs a{{"view_op", std::string(view)}, {"base_sizes", std::move(base)}};
            for (const ops::Attr& x : view_attrs.items()) a.add(x);
            return a;
          };
          std::vector<Sample> s;
          s.push_back({"slice", {noncontiguous(m({4, 2}))},
                       vs("slice", {4, 6}, {{"dim", int64_t{1}}, {"start", int64_t{1}}, {"end", int64_t{5}}, {"step", int64_t{2}}})});
          s.push_back({"select", {m({4})}, vs("select", {3, 4}, {{"dim", int64_t{0}}, {"index", int64_t{-1}}})});
          s.push_back({"diagonal", {m({3})}, vs("diagonal", {3, 4}, {{"offset", int64_t{1}}, {"dim1", int64_t{0}}, {"dim2", int64_t{1}}})});
          s.push_back({"as_strided", {m({2, 2})}, vs("as_strided", {3, 4}, {{"sizes", Ints{2, 2}}, {"strides", Ints{1, 4}}, {"offset", int64_t{1}}})});
          s.push_back({"empty", {m({0, 2})}, vs("slice", {0, 4}, {{"dim", int64_t{1}}, {"start", int64_t{0}}, {"end", int64_t{2}}, {"step", int64_t{1}}})});
          s.push_back({"large", {m({60, 35})}, vs("slice", {60, 70}, {{"dim", int64_t{1}}, {"start", int64_t{0}}, {"end", int64_t{70}}, {"step", int64_t{2}}}), false});
          return s;
        },
        "view_scatter(x[0], A)", nullptr);
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
