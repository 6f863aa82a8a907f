// The index family: ops driven by integer index tensors (gather, scatter, index_select,
// index_put, one_hot) and the ordering ops (sort, topk). Index values are range-checked
// by the kernels before any element moves, so a bad index is an Error, never a stray
// memory access.
#include "ops/index.h"

#include <algorithm>

#include "ops/registration.h"
#include "ops/shape.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

// A 0-d tensor counts as 1-D of size 1 for the dim rules below, as in PyTorch.
int64_t rank1(const Tensor& t) { return std::max<int64_t>(t.dim(), 1); }
int64_t size1(const Tensor& t, int64_t d) { return t.dim() == 0 ? 1 : t.size(d); }

void check_int64_index(const Tensor& index) {
  TESSERA_CHECK(index.dtype() == kInt64, "expected an int64 index tensor, got ",
                dtype_name(index.dtype()));
}

InferResult infer_gather(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const Tensor& index = in[1];
  check_int64_index(index);
  const int64_t dim = checked_dim(a.i("dim"), x.dim());
  TESSERA_CHECK(rank1(index) == rank1(x), "index must have as many dims as the input (",
                x.dim(), "), got ", index.dim());
  for (int64_t d = 0; d < rank1(x); ++d)
    TESSERA_CHECK(d == dim || size1(index, d) <= size1(x, d), "index size ", size1(index, d),
                  " in dim ", d, " exceeds the input's size ", size1(x, d),
                  " (only dim ", dim, " may be larger)");
  return {{{Shape(index.sizes()), x.dtype()}}, std::nullopt};
}

InferResult infer_scatter(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const Tensor& index = in[1];
  const Tensor& src = in[2];
  check_int64_index(index);
  TESSERA_CHECK(src.dtype() == x.dtype(), "expected src to have the input's dtype ",
                dtype_name(x.dtype()), ", got ", dtype_name(src.dtype()));
  const int64_t dim = checked_dim(a.i("dim"), x.dim());
  TESSERA_CHECK(rank1(index) == rank1(x) && rank1(src) == rank1(x),
                "index and src must have as many dims as the input (", x.dim(), "), got ",
                index.dim(), " and ", src.dim());
  for (int64_t d = 0; d < rank1(x); ++d) {
    TESSERA_CHECK(size1(index, d) <= size1(src, d), "index size ", size1(index, d), " in dim ", d,
                  " exceeds the src size ", size1(src, d));
    TESSERA_CHECK(d == dim || size1(index, d) <= size1(x, d), "index size ", size1(index, d),
                  " in dim ", d, " exceeds the input's size ", size1(x, d),
                  " (only dim ", dim, " may be larger)");
  }
  return {{{Shape(x.sizes()), x.dtype()}}, std::nullopt};
}

InferResult infer_index_select(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const Tensor& index = in[1];
  TESSERA_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32,
                "expected an int64 or int32 index, got ", dtype_name(index.dtype()));
  TESSERA_CHECK(index.dim() <= 1, "index must be 0-d or 1-D, got ", index.dim(), " dims");
  const int64_t dim = checked_dim(a.i("dim"), x.dim());
  if (x.dim() == 0) return {{{Shape(index.sizes()), x.dtype()}}, std::nullopt};
  Shape out(x.sizes());
  out[static_cast<size_t>(dim)] = index.numel();
  return {{{out, x.dtype()}}, std::nullopt};
}

InferResult infer_index_put(const std::vector<Tensor>& in, const Attrs&) {
  const Tensor& x = in[0];
  const Tensor& values = in[1];
  TESSERA_CHECK(in.size() >= 3, "expected at least one index tensor");
  TESSERA_CHECK(values.dtype() == x.dtype(), "expected values to have the input's dtype ",
                dtype_name(x.dtype()), ", got ", dtype_name(values.dtype()));
  int64_t indexed = 0;
  for (size_t i = 2; i < in.size(); ++i) {
    const Tensor& t = in[i];
    if (t.dtype() == kBool) {
      TESSERA_CHECK(t.dim() >= 1, "a boolean mask index must have at least 1 dim (index ", i - 2, ")");
      for (int64_t d = 0; d < t.dim(); ++d)
        TESSERA_CHECK(indexed + d < x.dim() && t.size(d) == x.size(indexed + d),
                      "the shape of the mask ", shape_str(t.sizes()), " at index ", i - 2,
                      " does not match the shape of the indexed tensor ", shape_str(x.sizes()),
                      " starting at dim ", indexed);
      indexed += t.dim();
    } else {
      TESSERA_CHECK(t.dtype() == kInt64 || t.dtype() == kInt32,
                    "index tensors must be int64, int32 or bool, got ",
                    dtype_name(t.dtype()), " at index ", i - 2);
      ++indexed;
    }
  }
  TESSERA_CHECK(indexed <= x.dim(), "too many indices for a tensor of rank ", x.dim(), " (got ",
                indexed, ")");
  return {{{Shape(x.sizes()), x.dtype()}}, std::nullopt};
}

InferResult infer_one_hot(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& labels = in[0];
  TESSERA_CHECK(labels.dtype() == kInt64, "one_hot is only applicable to int64 class labels, got ",
                dtype_name(labels.dtype()));
  int64_t classes = a.i("num_classes");
  TESSERA_CHECK(classes >= -1, "num_classes must be -1 (infer) or non-negative, got ", classes);
  // The class count depends on the values when not given, so this rule reads the data.
  int64_t lo = 0, hi = -1;
  bool first = true;
  cpu::for_each_value<int64_t>(labels, [&](int64_t, int64_t v) {
    lo = first ? v : std::min(lo, v);
    hi = first ? v : std::max(hi, v);
    first = false;
  });
  if (classes == -1) {
    TESSERA_CHECK(labels.numel() > 0, "cannot infer the number of classes from an empty tensor");
    classes = hi + 1;
  }
  TESSERA_CHECK(labels.numel() == 0 || lo >= 0, "class values must be non-negative, got ", lo);
  TESSERA_CHECK(labels.numel() == 0 || hi < classes, "class values must be smaller than num_classes (",
                classes, "), got ", hi);
  Shape out(labels.sizes());
  out.push_back(classes);
  return {{{out, kInt64}}, std::nullopt};
}

InferResult infer_sort(const std::vector<Tensor>& in, const Attrs& a) {
  checked_dim(a.i("dim"), in[0].dim());
  Shape s(in[0].sizes());
  return {{{s, in[0].dtype()}, {s, kInt64}}, std::nullopt};
}

InferResult infer_topk(const std::vector<Tensor>& in, const Attrs& a) {
  const Tensor& x = in[0];
  const int64_t dim = checked_dim(a.i("dim"), x.dim());
  const int64_t k = a.i("k");
  const int64_t n = size1(x, dim);
  TESSERA_CHECK(k >= 0 && k <= n, "k (", k, ") is out of range for dim ", dim, " of size ", n,
                " (expected 0 to ", n, ")");
  TESSERA_CHECK(x.dim() > 0 || k == 1, "k must be 1 for a 0-d tensor, got ", k);
  Shape s(x.sizes());
  if (x.dim() > 0) s[static_cast<size_t>(dim)] = k;
  return {{{s, x.dtype()}, {s, kInt64}}, std::nullopt};
}

}  // namespace

OpDef kGather{"gather", 2, kDifferentiable, infer_gather, nullptr, "GatherElements"};
OpDef kScatter{"scatter", 3, kDifferentiable, infer_scatter, nullptr, "ScatterElements"};
OpDef kScatterAdd{"scatter_add", 3, kDifferentiable, infer_scatter, nullptr, "ScatterElements"};
OpDef kIndexSelect{"index_select", 2, kDifferentiable, infer_index_select, nullptr, "Gather"};
OpDef kIndexPut{"index_put", -1, kDifferentiable, infer_index_put, nullptr, "ScatterND"};
OpDef kOneHot{"one_hot", 1, 0, infer_one_hot, nullptr, "OneHot"};
// ONNX has no sort: an exporter writes TopK with k = the dim's size.
OpDef kSort{"sort", 1, kDifferentiable, infer_sort, nullptr, nullptr};
OpDef kTopK{"topk", 1, kDifferentiable, infer_topk, nullptr, "TopK"};

void register_index_ops() {
  for (OpDef* op : {&kGather, &kScatter, &kScatterAdd, &kIndexSelect, &kIndexPut, &kOneHot, &kSort,
                    &kTopK})
    register_op(*op);
}

}  // namespace tessera::ops

namespace tessera {
namespace {

ops::Attrs scatter_attrs(int64_t dim, const char* reduction) {
  return {{"dim", dim}, {"reduction", std::string(reduction)}};
}

std::vector<Tensor> index_put_inputs(const Tensor& x, const std::vector<Tensor>& indices,
                                     const Tensor& values) {
  std::vector<Tensor> in{x, values};
  in.insert(in.end(), indices.begin(), indices.end());
  return in;
}

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  return ops::call1(ops::kGather, {x, index}, {{"dim", dim}});
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return ops::call1(ops::kScatter, {x, index, src}, scatter_attrs(dim, "none"));
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Scalar& value) {
  // ScatterElements takes a tensor of updates; a filled one keeps the op table smaller.
  return scatter(x, dim, index, full(index.sizes(), value, x.dtype()));
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return ops::call1(ops::kScatterAdd, {x, index, src}, scatter_attrs(dim, "add"));
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  return ops::call1(ops::kIndexSelect, {x, index}, {{"dim", dim}});
}

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate) {
  return ops::call1(ops::kIndexPut, index_put_inputs(x, indices, values),
                    {{"accumulate", accumulate}});
}

Tensor one_hot(const Tensor& labels, int64_t num_classes) {
  return ops::call1(ops::kOneHot, {labels}, {{"num_classes", num_classes}});
}

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  auto out = ops::call(ops::kSort, {x}, {{"dim", dim}, {"descending", descending}, {"stable", true}});
  return {out[0], out[1]};
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  auto out = ops::call(ops::kTopK, {x},
                       {{"k", k}, {"dim", dim}, {"largest", largest}, {"sorted", sorted}});
  return {out[0], out[1]};
}

// In place: call_inplace computes the result out of place and copies it into x (only
// elementwise ops write directly), so x aliasing index or src is safe.
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return ops::call_inplace(ops::kScatter, x, {x, index, src}, scatter_attrs(dim, "none"));
}

Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return ops::call_inplace(ops::kScatterAdd, x, {x, index, src}, scatter_attrs(dim, "add"));
}

Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                   bool accumulate) {
  return ops::call_inplace(ops::kIndexPut, x, index_put_inputs(x, indices, values),
                           {{"accumulate", accumulate}});
}

}  // namespace tessera
