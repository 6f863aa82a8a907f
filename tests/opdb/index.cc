// opdb entries of the indexing family (src/ops/index.cc): gather, scatter, scatter_add,
// index_select, index_put (with their in-place forms), one_hot, sort, topk.
#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

using Ints = std::vector<int64_t>;
constexpr std::initializer_list<DType> kTypes{kFloat32, kFloat64, kInt64};

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::string torch,
              std::function<std::vector<ErrorCase>()> errors) {
  OpEntry e;
  e.op = op;
  e.family = "index";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  e.dtypes = kTypes;
  e.errors = std::move(errors);
  return e;
}

Attrs dim(int64_t d) { return {{"dim", d}}; }

// [k, n] int64 rows, distinct within each column (targets of a scatter without
// accumulation must not collide, or the result depends on the order of writes).
Tensor distinct_rows(Maker& m, int64_t rows, int64_t k, int64_t n) {
  Tensors cols;
  for (int64_t j = 0; j < n; ++j) cols.push_back(randperm(rows, kInt64, &m.gen()).slice(0, 0, k));
  return n == 0 ? zeros({k, 0}, kInt64) : stack(cols, 1);
}

}  // namespace

void add_index(std::vector<OpEntry>& out) {
  out.push_back(entry(
      "gather", [](const Tensors& x, const Attrs& a) { return one(gather(x[0], a.i("dim"), x[1])); },
      [](DType t) {
        Maker m("gather", t);
        std::vector<Sample> s;
        s.push_back({"dim1", {m({3, 5}), m.index({3, 4}, 0, 5)}, dim(1)});
        s.push_back({"noncontiguous_dim0", {noncontiguous(m({4, 3})), noncontiguous(m.index({3, 2}, 0, 4))}, dim(0)});
        s.push_back({"repeated", {m({6}), m.index({10}, 0, 6)}, dim(0)});
        s.push_back({"scalar", {m({}), scalar_tensor(0, kInt64)}, dim(0)});
        s.push_back({"empty", {m({3, 5}), m.index({3, 0}, 0, 5)}, dim(1)});
        s.push_back({"large", {m({100, 80}), m.index({100, 120}, 0, 80)}, dim(1), false});
        return s;
      },
      "torch.gather(x[0], A['dim'], x[1])",
      [] {
        return std::vector<ErrorCase>{
            {"float_index", {ones({3}), ones({3})}, dim(0), "expected an int64 index tensor, got f32"},
            {"rank", {ones({3, 2}), zeros({3}, kInt64)}, dim(0), "index must have as many dims as the input"},
            {"out_of_bounds", {ones({3}), full({1}, 5, kInt64)}, dim(0), "index 5 is out of bounds for dim 0"}};
      }));
  for (const char* op : {"scatter", "scatter_add"}) {
    const bool add = std::string(op) == "scatter_add";
    OpEntry e = entry(
        op,
        [add](const Tensors& x, const Attrs& a) {
          const int64_t d = a.i("dim");
          Tensor self = x[0];
          if (attr_b(a, "inplace")) return one(add ? scatter_add_(self, d, x[1], x[2]) : scatter_(self, d, x[1], x[2]));
          if (a.has("value")) return one(scatter(x[0], d, x[1], a.scalar("value")));
          return one(add ? scatter_add(x[0], d, x[1], x[2]) : scatter(x[0], d, x[1], x[2]));
        },
        [op, add](DType t) {
          Maker m(op, t);
          std::vector<Sample> s;
          // scatter_add may repeat targets; scatter may not.
          auto idx = [&](int64_t rows, int64_t k, int64_t n) {
            return add ? m.index({k, n}, 0, rows) : distinct_rows(m, rows, k, n);
          };
          s.push_back({"dim0", {m({4, 5}), idx(4, 2, 5), m({2, 5})}, dim(0)});
          s.push_back({"noncontiguous", {noncontiguous(m({4, 5})), idx(4, 3, 5), noncontiguous(m({3, 5}))}, dim(0)});
          s.push_back({"dim1", {m({5, 4}), idx(4, 2, 5).t().contiguous(), m({5, 3})}, dim(1)});
          s.push_back({"larger_src", {m({3, 5}), idx(3, 2, 5), m({3, 6})}, dim(0)});
          s.push_back({"empty", {m({4, 5}), idx(4, 0, 5), m({0, 5})}, dim(0)});
          s.push_back({"inplace", {noncontiguous(m({4, 5})), idx(4, 2, 5), m({2, 5})}, {{"dim", int64_t{0}}, {"inplace", true}}, false});
          if (!add) s.push_back({"value", {noncontiguous(m({4, 5})), idx(4, 2, 5)}, {{"dim", int64_t{0}}, {"value", Scalar(int64_t{9})}}});
          s.push_back({"large", {m({80, 90}), idx(80, 40, 90), m({40, 90})}, dim(0), false});
          return s;
        },
        std::string("torch.scatter(x[0], A['dim'], x[1], A['value']) if 'value' in A else torch.") + op +
            "(x[0], A['dim'], x[1], x[2])",
        [] {
          return std::vector<ErrorCase>{
              {"src_dtype", {ones({3}), zeros({2}, kInt64), ones({2}, kFloat64)}, dim(0), "expected src to have the input's dtype"},
              {"out_of_bounds", {ones({3}), full({1}, -4, kInt64), ones({1})}, dim(0), "index -4 is out of bounds"}};
        });
    e.grad_domain = "any (targets distinct for scatter)";
    out.push_back(std::move(e));
  }
  out.push_back(entry(
      "index_select", [](const Tensors& x, const Attrs& a) { return one(index_select(x[0], a.i("dim"), x[1])); },
      [](DType t) {
        Maker m("index_select", t);
        std::vector<Sample> s;
        s.push_back({"dim1_repeats", {m({3, 5}), tensor<int64_t>({4, 0, 0, 2})}, dim(1)});
        s.push_back({"noncontiguous", {noncontiguous(m({4, 3})), noncontiguous(tensor<int64_t>({3, 1}))}, dim(0)});
        s.push_back({"scalar_index", {m({4, 3}), scalar_tensor(2, kInt64)}, dim(0)});
        s.push_back({"dim1_of_3d", {m({2, 4, 3}), tensor<int64_t>({2, 2, 0})}, dim(1)});
        s.push_back({"int32_index", {m({5}), tensor<int32_t>({4, 1, 1})}, dim(0)});
        s.push_back({"scalar_input", {m({}), tensor<int64_t>({0, 0, 0})}, dim(0)});
        s.back().differs_from_torch = "a 0-d input gives one value per index ([3] here); torch 1.13 returns 0-d";
        s.push_back({"empty", {m({4, 3}), zeros({0}, kInt64)}, dim(0)});
        s.push_back({"large", {m({100, 80}), m.index({200}, 0, 100)}, dim(0), false});
        // Slices of 256 elements or more out of a strided view: copied slice by slice.
        s.push_back({"permuted_large_slices", {m({24, 3, 16}).permute({1, 0, 2}), tensor<int64_t>({2, 0, 2})}, dim(0)});
        s.push_back({"permuted_large_slices_dim1",
                     {m({6, 20, 3, 16}).permute({2, 1, 0, 3}), tensor<int64_t>({19, 3})}, dim(1)});
        return s;
      },
      "torch.index_select(x[0], A['dim'], x[1])",
      [] {
        return std::vector<ErrorCase>{
            {"matrix_index", {ones({3}), zeros({2, 2}, kInt64)}, dim(0), "index must be 0-d or 1-D"},
            {"out_of_bounds", {ones({3}), full({1}, 3, kInt64)}, dim(0), "index 3 is out of bounds"}};
      }));
  {
    // Inputs: x, values, then one index tensor (int64 or bool mask) per leading dim.
    OpEntry e = entry(
        "index_put",
        [](const Tensors& x, const Attrs& a) {
          const Tensors idx(x.begin() + 2, x.end());
          if (attr_b(a, "inplace")) {
            Tensor self = x[0];
            return one(index_put_(self, idx, x[1], attr_b(a, "accumulate")));
          }
          return one(index_put(x[0], idx, x[1], attr_b(a, "accumulate")));
        },
        [](DType t) {
          Maker m("index_put", t);
          const Attrs put{{"accumulate", false}}, acc{{"accumulate", true}};
          std::vector<Sample> s;
          s.push_back({"two_indices", {m({5, 4}), m({3}), tensor<int64_t>({0, 2, 4}), tensor<int64_t>({1, 3, 0})}, put});
          s.push_back({"accumulate_repeats", {noncontiguous(m({5, 4})), m({4, 4}), tensor<int64_t>({1, 3, 1, 1})}, acc});
          s.push_back({"mask", {m({5, 4}), m({4}), tensor<bool>({true, false, true, true, false})}, put});
          s.push_back({"broadcast_values", {m({5, 4}), m({4}), tensor<int64_t>({4, 0})}, put});
          s.push_back({"broadcast_values_accumulate", {m({5, 3}), m({3}), tensor<int64_t>({0, 3, 4})}, acc});
          s.push_back({"scalar_value", {m({5, 3}), m({}), tensor<int64_t>({1, 3})}, put});
          s.push_back({"negative_indices", {m({5, 3}), m({2, 3}), tensor<int64_t>({-1, 1})}, put});
          s.push_back({"two_broadcast_indices", {m({4, 5, 2}), m({2, 3, 2}), tensor<int64_t>({3, 0}, {2, 1}), tensor<int64_t>({1, 4, 2})}, put});
          s.push_back({"mask_2d_accumulate", {m({2, 3, 2}), m({3, 2}), tensor<bool>({false, true, true, false, false, true}, {2, 3})}, acc});
          s.push_back({"empty", {m({5, 4}), m({0, 4}), zeros({0}, kInt64)}, put});
          s.push_back({"inplace", {noncontiguous(m({4, 3})), m({2, 3}), tensor<int64_t>({3, 0})}, {{"accumulate", false}, {"inplace", true}}, false});
          s.push_back({"large", {m({100, 60}), m({150, 60}), m.index({150}, 0, 100)}, acc, false});
          return s;
        },
        "torch.index_put(x[0], tuple(x[2:]), x[1], accumulate=A['accumulate'])",
        [] {
          return std::vector<ErrorCase>{
              {"values_dtype", {ones({3}), ones({1}, kFloat64), zeros({1}, kInt64)}, {}, "expected values to have the input's dtype"},
              {"too_many", {ones({3}), ones({1}), zeros({1}, kInt64), zeros({1}, kInt64)}, {}, "too many indices for a tensor of rank 1"},
              {"no_index", {ones({3}), ones({1})}, {}, "expected at least one index tensor"}};
        });
    e.grad_domain = "any (the accumulating samples sum repeats)";
    e.grad_inputs = 0b11;
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "one_hot", [](const Tensors& x, const Attrs& a) { return one(one_hot(x[0], attr_i(a, "num_classes", -1))); },
        [](DType) {
          const Tensor labels = tensor<int64_t>({0, 3, 1, 4, 4, 2});
          std::vector<Sample> s;
          s.push_back({"given", {labels}, {{"num_classes", int64_t{6}}}});
          s.push_back({"inferred", {labels.view({2, 3})}, {{"num_classes", int64_t{-1}}}});
          s.push_back({"noncontiguous", {noncontiguous(labels.view({2, 3}))}, {{"num_classes", int64_t{5}}}});
          s.push_back({"empty", {zeros({0}, kInt64)}, {{"num_classes", int64_t{3}}}});
          Generator g(7);
          s.push_back({"large", {randint(0, 10, {5000}, kInt64, &g)}, {{"num_classes", int64_t{10}}}});
          return s;
        },
        "F.one_hot(x[0], A['num_classes'])",
        [] {
          return std::vector<ErrorCase>{
              {"float_labels", {ones({3})}, {}, "one_hot is only applicable to int64 class labels"},
              {"too_big", {full({2}, 3, kInt64)}, {{"num_classes", int64_t{3}}}, "class values must be smaller than num_classes (3)"},
              {"negative", {full({2}, -1, kInt64)}, {{"num_classes", int64_t{3}}}, "class values must be non-negative"},
              {"empty_inferred", {zeros({0}, kInt64)}, {}, "cannot infer the number of classes from an empty tensor"}};
        });
    e.dtypes = {kInt64};
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "sort", [](const Tensors& x, const Attrs& a) { return two(sort(x[0], attr_i(a, "dim", -1), attr_b(a, "descending"))); },
        [](DType t) {
          Maker m("sort", t);
          std::vector<Sample> s;
          s.push_back({"last", {noncontiguous(m({4, 7}))}, {{"dim", int64_t{-1}}, {"descending", false}}});
          s.push_back({"descending_dim0", {m({4, 7})}, {{"dim", int64_t{0}}, {"descending", true}}});
          // Ties: a stable sort keeps them in input order (forward only: not differentiable at ties).
          s.push_back({"stable_ties", {tensor<double>({2, 1, 2, 0, 1, 2, 0}).to(t)}, {{"dim", int64_t{0}}, {"descending", false}}, false});
          s.push_back({"scalar", {m({})}, {{"dim", int64_t{0}}, {"descending", false}}});
          s.push_back({"empty", {m({0, 3})}, {{"dim", int64_t{1}}, {"descending", false}}});
          s.push_back({"large", {m({20, 3000})}, {{"dim", int64_t{1}}, {"descending", true}}, false});
          return s;
        },
        "tuple(torch.sort(x[0], dim=A['dim'], descending=A['descending'], stable=True))",
        [] { return std::vector<ErrorCase>{{"dim_out_of_range", {ones({2, 3})}, {{"dim", int64_t{2}}}, "out of range"}}; });
    e.grad_domain = "distinct values";
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "topk",
        [](const Tensors& x, const Attrs& a) {
          return two(topk(x[0], a.i("k"), attr_i(a, "dim", -1), attr_b(a, "largest", true), attr_b(a, "sorted", true)));
        },
        [](DType t) {
          // Distinct values: which of two equal values topk picks is unspecified.
          Maker m("topk", t);
          auto distinct = [&](IntArrayRef shape) {
            if (is_floating(t)) return m(shape);
            return sub(randperm(numel_of(shape), kInt64, &m.gen()), numel_of(shape) / 2).view(shape).to(t);
          };
          auto k = [](int64_t k, int64_t d, bool largest) {
            return Attrs{{"k", k}, {"dim", d}, {"largest", largest}, {"sorted", true}};
          };
          std::vector<Sample> s;
          s.push_back({"largest", {distinct({4, 7})}, k(3, -1, true)});
          s.push_back({"smallest_dim0", {noncontiguous(distinct({6, 4}))}, k(2, 0, false)});
          s.push_back({"all", {distinct({5})}, k(5, 0, true)});
          s.push_back({"k0", {distinct({3, 4})}, k(0, 1, true)});
          s.push_back({"scalar", {distinct({})}, k(1, 0, true)});
          s.push_back({"empty", {distinct({0, 4})}, k(2, 1, true)});
          s.push_back({"large", {distinct({10, 5000})}, k(20, 1, true), false});
          return s;
        },
        "tuple(torch.topk(x[0], A['k'], A['dim'], largest=A['largest'], sorted=A['sorted']))",
        [] {
          return std::vector<ErrorCase>{{"k_too_big", {ones({2, 3})}, {{"k", int64_t{4}}}, "k (4) is out of range for dim 1 of size 3"}};
        });
    e.grad_domain = "distinct values";
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
