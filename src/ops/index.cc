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
int64_t rank1(const InputMeta& t) { return std::max<int64_t>(t.dim(), 1); }
int64_t size1(const InputMeta& t, int64_t d) { return t.dim() == 0 ? 1 : t.size(d); }

void check_int64_index(const InputMeta& index) {
  TESSERA_CHECK(index.dtype() == kInt64, "expected an int64 index tensor, got ",
                dtype_name(index.dtype()));
}

InferResult infer_gather(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  const InputMeta& index = in[1];
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

InferResult infer_scatter(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  const InputMeta& index = in[1];
  const InputMeta& src = in[2];
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

InferResult infer_index_select(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
  const InputMeta& index = in[1];
  TESSERA_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32,
                "expected an int64 or int32 index, got ", dtype_name(index.dtype()));
  TESSERA_CHECK(index.dim() <= 1, "index must be 0-d or 1-D, got ", index.dim(), " dims");
  const int64_t dim = checked_dim(a.i("dim"), x.dim());
  if (x.dim() == 0) return {{{Shape(index.sizes()), x.dtype()}}, std::nullopt};
  Shape out(x.sizes());
  out[static_cast<size_t>(dim)] = index.numel();
  return {{{out, x.dtype()}}, std::nullopt};
}

InferResult infer_index_put(const std::vector<InputMeta>& in, const Attrs&) {
  const InputMeta& x = in[0];
  const InputMeta& values = in[1];
  TESSERA_CHECK(in.size() >= 3, "expected at least one index tensor");
  TESSERA_CHECK(values.dtype() == x.dtype(), "expected values to have the input's dtype ",
                dtype_name(x.dtype()), ", got ", dtype_name(values.dtype()));
  int64_t indexed = 0;
  for (size_t i = 2; i < in.size(); ++i) {
    const InputMeta& t = in[i];
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

// On metadata: without num_classes the class count is the largest label + 1, which only
// the values know, so the last dim comes back unknown (one_hot is kDataDependentShape) and
// the eager backend asks one_hot_data_shape. That labels lie in [0, classes) is a check on
// values too: the kernel makes it.
InferResult infer_one_hot(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& labels = in[0];
  TESSERA_CHECK(labels.dtype() == kInt64, "one_hot is only applicable to int64 class labels, got ",
                dtype_name(labels.dtype()));
  const int64_t classes = a.i("num_classes");
  TESSERA_CHECK(classes >= -1, "num_classes must be -1 (infer) or non-negative, got ", classes);
  TESSERA_CHECK(classes != -1 || labels.numel() > 0,
                "cannot infer the number of classes from an empty tensor");
  Shape out(labels.sizes());
  out.push_back(classes == -1 ? kUnknownDim : classes);
  return {{{out, kInt64}}, std::nullopt};
}

InferResult one_hot_data_shape(const std::vector<Tensor>& in, const Attrs& a) {
  InferResult r = infer_one_hot({in.begin(), in.end()}, a);
  int64_t hi = -1;
  cpu::for_each_value<int64_t>(in[0], [&](int64_t, int64_t v) { hi = std::max(hi, v); });
  // Negative labels are the kernel's error to report; the shape only has to be valid.
  r.outputs[0].sizes.back() = std::max<int64_t>(hi + 1, 0);
  return r;
}

InferResult infer_sort(const std::vector<InputMeta>& in, const Attrs& a) {
  checked_dim(a.i("dim"), in[0].dim());
  Shape s(in[0].sizes());
  return {{{s, in[0].dtype()}, {s, kInt64}}, std::nullopt};
}

InferResult infer_topk(const std::vector<InputMeta>& in, const Attrs& a) {
  const InputMeta& x = in[0];
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

// ---- backward rules ----
// Picking elements by index and putting them back are each other's adjoints: gather's
// gradient is a scatter_add and scatter's a gather, index_select's an accumulating
// index_put and index_put's an index_select. Every rule is written with these ops, so
// double backward goes round the same set. Index inputs get no gradient.

std::vector<Tensor> gather_backward(const BackwardCall& c) {
  if (!c.needs(0)) return {Tensor(), Tensor()};
  const Tensor& g = c.grad(0);
  return {scatter_add(zeros(c.input_sizes(0), g.dtype()), c.attrs().i("dim"), c.input(1), g),
          Tensor()};
}

// The gradient of scatter's src: what the output's gradient holds where each src element
// went. src may be larger than index in any dim; the elements beyond it went nowhere
// and get zeros (padded with cat, so the rule stays differentiable).
Tensor scatter_src_grad(const BackwardCall& c) {
  const IntArrayRef src_sizes = c.input_sizes(2);
  Tensor t = gather(c.grad(0), c.attrs().i("dim"), c.input(1));
  if (t.dim() == static_cast<int64_t>(src_sizes.size())) {
    for (int64_t d = 0; d < t.dim(); ++d) {
      const int64_t missing = src_sizes[static_cast<size_t>(d)] - t.size(d);
      if (missing <= 0) continue;
      Shape pad(t.sizes());
      pad[static_cast<size_t>(d)] = missing;
      t = cat({t, zeros(pad, t.dtype())}, d);
    }
  }
  return t.reshape(src_sizes);  // 0-d and 1-element 1-D operands count as the same rank
}

std::vector<Tensor> scatter_backward(const BackwardCall& c) {
  std::vector<Tensor> out(3);
  const Tensor& g = c.grad(0);
  // Overwritten elements of x do not reach the output: their gradient is zero.
  if (c.needs(0))
    out[0] = scatter(g, c.attrs().i("dim"), c.input(1), zeros(c.input(1).sizes(), g.dtype()));
  if (c.needs(2)) out[2] = scatter_src_grad(c);
  return out;
}

std::vector<Tensor> scatter_add_backward(const BackwardCall& c) {
  std::vector<Tensor> out(3);
  if (c.needs(0)) out[0] = c.grad(0);
  if (c.needs(2)) out[2] = scatter_src_grad(c);
  return out;
}

std::vector<Tensor> index_select_backward(const BackwardCall& c) {
  if (!c.needs(0)) return {Tensor(), Tensor()};
  const Tensor& g = c.grad(0);
  const IntArrayRef sizes = c.input_sizes(0);
  // A 0-d input was picked index.numel() times: its gradient is the total.
  if (sizes.empty()) return {sum(g).reshape(sizes), Tensor()};
  // index_put indexes leading dims, so `dim` is swapped to the front and back again;
  // accumulate adds up the gradients of indices picked more than once.
  const int64_t dim = checked_dim(c.attrs().i("dim"), static_cast<int64_t>(sizes.size()));
  Shape swapped(sizes);
  std::swap(swapped[0], swapped[static_cast<size_t>(dim)]);
  const Tensor index = c.input(1).reshape({-1});
  Tensor gx = index_put(zeros(swapped, g.dtype()), {index}, g.transpose(0, dim), true);
  return {gx.transpose(0, dim), Tensor()};
}

// The elements index_put(x, indices, v) writes, read back out of `g`: a tensor of the
// indexed result's shape (the broadcast index shape, then x's unindexed dims). The
// indices become one flat offset into x's indexed dims, so one index_select does it.
Tensor take_indexed(const Tensor& g, const BackwardCall& c) {
  const IntArrayRef sizes = c.input_sizes(0);
  size_t k = 0;  // indexed dims
  for (size_t i = 2; i < c.num_inputs(); ++i)
    k += c.input(i).dtype() == kBool ? static_cast<size_t>(c.input(i).dim()) : 1;
  // Row-major strides of the indexed dims taken on their own.
  Shape stride(k, 1);
  for (size_t d = k; d-- > 1;) stride[d - 1] = stride[d] * sizes[d];
  Tensor flat;
  size_t d = 0;
  for (size_t i = 2; i < c.num_inputs(); ++i) {
    const Tensor& index = c.input(i);
    Tensor term;
    if (index.dtype() == kBool) {
      // A mask over dims [d, d + r) selects its true elements in row-major order; a flat
      // position p within the mask is p times the stride of the mask's last dim. Index
      // data is read directly: it carries no gradient.
      std::vector<int64_t> where;
      cpu::for_each_value<bool>(index, [&](int64_t p, bool v) {
        if (v) where.push_back(p);
      });
      d += static_cast<size_t>(index.dim());
      term = mul(tensor<int64_t>(where), stride[d - 1]);
    } else {
      // remainder takes the divisor's sign: negative indices wrap as the kernel's do.
      term = mul(remainder(index.to(kInt64), sizes[d]), stride[d]);
      ++d;
    }
    flat = flat.defined() ? add(flat, term) : term;  // the indices broadcast together
  }
  Shape rows{1}, result(flat.sizes());
  for (size_t j = 0; j < k; ++j) rows[0] *= sizes[j];
  for (size_t j = k; j < sizes.size(); ++j) {
    rows.push_back(sizes[j]);
    result.push_back(sizes[j]);
  }
  return index_select(g.reshape(rows), 0, flat.reshape({-1})).reshape(result);
}

std::vector<Tensor> index_put_backward(const BackwardCall& c) {
  std::vector<Tensor> out(c.num_inputs());
  const Tensor& g = c.grad(0);
  if (c.needs(0)) {
    if (c.attrs().b("accumulate")) {
      out[0] = g;
    } else {
      // Overwritten elements of x do not reach the output.
      std::vector<Tensor> indices;
      for (size_t i = 2; i < c.num_inputs(); ++i) indices.push_back(c.input(i));
      out[0] = index_put(g, indices, zeros({}, g.dtype()), false);
    }
  }
  // Broadcast values are summed back to their own shape. With duplicate indices and no
  // accumulate every duplicate gets the gradient, as in PyTorch (which write wins is
  // an implementation detail there).
  if (c.needs(1)) out[1] = sum_to(take_indexed(g, c), c.input_sizes(1));
  return out;
}

// sort and topk: the values are the input's elements at the returned indices (output
// 1), so the gradient goes back to those places; other elements get zero.
std::vector<Tensor> select_values_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {scatter_add(zeros(c.input_sizes(0), g.dtype()), c.attrs().i("dim"), c.output(1), g)};
}

}  // namespace

OpDef kGather{"gather", 2, kDifferentiable,
              {attr("dim", AttrType::Int)},
              infer_gather, nullptr, "GatherElements", gather_backward};
OpDef kScatter{"scatter", 3, kDifferentiable,
               {attr("dim", AttrType::Int), attr("reduction", AttrType::String)},
               infer_scatter, nullptr, "ScatterElements",
               scatter_backward};
OpDef kScatterAdd{"scatter_add", 3, kDifferentiable,
                  {attr("dim", AttrType::Int), attr("reduction", AttrType::String)},
                  infer_scatter, nullptr, "ScatterElements",
                  scatter_add_backward};
OpDef kIndexSelect{"index_select", 2, kDifferentiable,
                   {attr("dim", AttrType::Int)},
                   infer_index_select, nullptr, "Gather",
                   index_select_backward};
OpDef kIndexPut{"index_put", -1, kDifferentiable,
                {attr("accumulate", AttrType::Bool, false)},
                infer_index_put, nullptr, "ScatterND",
                index_put_backward};
// Integer output: nothing to differentiate.
OpDef kOneHot{"one_hot", 1, kDataDependentShape, {attr("num_classes", AttrType::Int, int64_t{-1})},
              infer_one_hot, nullptr, "OneHot", nullptr, 0, nullptr, one_hot_data_shape};
// ONNX has no sort: an exporter writes TopK with k = the dim's size.
OpDef kSort{"sort", 1, kDifferentiable,
            {attr("dim", AttrType::Int, int64_t{-1}), attr("descending", AttrType::Bool, false),
             attr("stable", AttrType::Bool, false)},
            infer_sort, nullptr, nullptr, select_values_backward};
OpDef kTopK{"topk", 1, kDifferentiable,
            {attr("k", AttrType::Int), attr("dim", AttrType::Int, int64_t{-1}),
             attr("largest", AttrType::Bool, true), attr("sorted", AttrType::Bool, true)},
            infer_topk, nullptr, "TopK", select_values_backward};

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

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kGather, {x, index}, {{"dim", dim}});
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kScatter, {x, index, src}, scatter_attrs(dim, "none"));
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Scalar& value,
               CallSite at) {
  detail::UserCallScope scope(at);
  // ScatterElements takes a tensor of updates; a filled one keeps the op table smaller.
  return scatter(x, dim, index, full(index.sizes(), value, x.dtype()));
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                   CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kScatterAdd, {x, index, src}, scatter_attrs(dim, "add"));
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kIndexSelect, {x, index}, {{"dim", dim}});
}

Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kIndexPut, index_put_inputs(x, indices, values),
                    {{"accumulate", accumulate}});
}

Tensor one_hot(const Tensor& labels, int64_t num_classes, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kOneHot, {labels}, {{"num_classes", num_classes}});
}

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending, CallSite at) {
  detail::UserCallScope scope(at);
  auto out = ops::call(ops::kSort, {x}, {{"dim", dim}, {"descending", descending}, {"stable", true}});
  return {out[0], out[1]};
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted,
                               CallSite at) {
  detail::UserCallScope scope(at);
  auto out = ops::call(ops::kTopK, {x},
                       {{"k", k}, {"dim", dim}, {"largest", largest}, {"sorted", sorted}});
  return {out[0], out[1]};
}

// In place: call_inplace computes the result out of place and copies it into x (only
// elementwise ops write directly), so x aliasing index or src is safe.
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kScatter, x, {x, index, src}, scatter_attrs(dim, "none"));
}

Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kScatterAdd, x, {x, index, src}, scatter_attrs(dim, "add"));
}

Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                   bool accumulate, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call_inplace(ops::kIndexPut, x, index_put_inputs(x, indices, values),
                           {{"accumulate", accumulate}});
}

}  // namespace tessera
