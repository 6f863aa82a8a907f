// View ops: a new Layout over the same Storage, never a copy. Each is an OpDef with the
// kView flag so graph capture and ONNX export see them like any other op.
#include <numeric>

#include "ops/copy.h"
#include "ops/view.h"
#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {
Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset);
}  // namespace

// Resolves one -1 and checks the element count.
Shape infer_size_for_reshape(IntArrayRef shape, int64_t numel, const char* op) {
  Shape out(shape);
  int64_t known = 1;
  int infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TESSERA_CHECK(infer_at < 0, op, ": only one dimension can be -1, got ", shape_str(shape));
      infer_at = static_cast<int>(i);
    } else {
      TESSERA_CHECK(out[i] >= 0, op, ": invalid size ", out[i], " in ", shape_str(shape));
      // Checked: a huge shape must be refused, not wrap around to a count that matches.
      TESSERA_CHECK(!__builtin_mul_overflow(known, out[i], &known), op, ": shape ", shape_str(shape),
                    " has more elements than int64 can count");
    }
  }
  if (infer_at >= 0) {
    TESSERA_CHECK(known != 0 && numel % known == 0, op, ": shape ", shape_str(shape),
                  " is invalid for ", numel, " elements");
    out[static_cast<size_t>(infer_at)] = numel / known;
  } else {
    TESSERA_CHECK(known == numel, op, ": shape ", shape_str(shape), " is invalid for ", numel,
                  " elements");
  }
  return out;
}

// Strides that express `new_sizes` over a tensor with (sizes, strides), if any exist:
// each run of old dims that is contiguous within itself may be split or merged freely.
std::optional<Shape> view_strides_for(IntArrayRef sizes, IntArrayRef strides, IntArrayRef new_sizes) {
  Shape out(new_sizes.size(), 1);
  if (numel_of(sizes) == 0 || sizes.empty()) {  // no strides to respect
    out = contiguous_strides(new_sizes);
    return out;
  }
  int64_t view_d = static_cast<int64_t>(new_sizes.size()) - 1;
  int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= sizes[static_cast<size_t>(d)];
    const bool chunk_ends =
        d == 0 || (sizes[static_cast<size_t>(d - 1)] != 1 &&
                   strides[static_cast<size_t>(d - 1)] != tensor_numel * chunk_base_stride);
    if (chunk_ends) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[static_cast<size_t>(view_d)] == 1)) {
        out[static_cast<size_t>(view_d)] = view_numel * chunk_base_stride;
        view_numel *= new_sizes[static_cast<size_t>(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[static_cast<size_t>(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

namespace {
Tensor make_view(const Tensor& base, Shape sizes, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->layout.sizes = std::move(sizes);
  impl->layout.strides = std::move(strides);
  impl->layout.offset = offset;
  impl->dtype = base.dtype();
  impl->device = base.device();
  impl->refresh();
  return Tensor(std::move(impl));
}

// ---- the output sizes of each view, from the input's sizes and the attributes alone ----
// One truth for both paths: the op's metadata rule (infer_*, which graph capture and ONNX
// import reach through infer_shapes) and its view function, which adds the strides and
// offset only a layout has. All argument checks live here, so both give the same errors.

InferResult same_dtype(const std::vector<InputMeta>& in, Shape sizes) {
  return {{{std::move(sizes), in[0].dtype()}}, std::nullopt};
}

// view: one -1 resolved, the element count checked. Sizes only: a view of a non-contiguous
// tensor can still fail for its strides (view_fn's check), which no metadata knows; a graph
// or ONNX Reshape that meets such a tensor learns it when it runs.
Shape view_sizes(IntArrayRef in, const Attrs& a) {
  return infer_size_for_reshape(a.ints("shape"), numel_of(in), "view");
}

// permute: the input dim behind each output dim.
Shape permute_source_dims(IntArrayRef in, const Attrs& a) {
  const auto& dims = a.ints("dims");
  const int64_t rank = static_cast<int64_t>(in.size());
  TESSERA_CHECK(static_cast<int64_t>(dims.size()) == rank, "permute: expected ", rank,
                " dims, got ", shape_str(dims));
  Shape source(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], rank, "permute");
    TESSERA_CHECK(!seen[static_cast<size_t>(d)], "permute: dim ", d, " repeats in ", shape_str(dims));
    seen[static_cast<size_t>(d)] = true;
    source[i] = d;
  }
  return source;
}

struct SlicePlan {
  int64_t dim, start, step;
  Shape sizes;
};
SlicePlan slice_plan(IntArrayRef in, const Attrs& a) {
  TESSERA_CHECK(!in.empty(), "slice: cannot slice a 0-d tensor");
  const int64_t dim = wrap_dim(a.i("dim"), static_cast<int64_t>(in.size()), "slice");
  const int64_t step = a.i("step");
  TESSERA_CHECK(step > 0, "slice: step must be positive, got ", step);
  const int64_t n = in[static_cast<size_t>(dim)];
  // Python slicing: negative bounds count from the end, out-of-range bounds clamp.
  auto clampi = [n](int64_t v) {
    if (v < 0) v += n;
    return std::clamp<int64_t>(v, 0, n);
  };
  const int64_t start = clampi(a.i("start"));
  const int64_t end = std::max(start, clampi(a.i("end")));
  Shape sizes(in);
  sizes[static_cast<size_t>(dim)] = (end - start + step - 1) / step;
  return {dim, start, step, std::move(sizes)};
}

struct SelectPlan {
  int64_t dim, index;  // index made non-negative
  Shape sizes;
};
SelectPlan select_plan(IntArrayRef in, const Attrs& a) {
  TESSERA_CHECK(!in.empty(), "select: cannot select from a 0-d tensor");
  const int64_t dim = wrap_dim(a.i("dim"), static_cast<int64_t>(in.size()), "select");
  const int64_t n = in[static_cast<size_t>(dim)];
  int64_t index = a.i("index");
  TESSERA_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ",
                dim, " of size ", n);
  if (index < 0) index += n;
  Shape sizes(in);
  sizes.erase(static_cast<size_t>(dim));
  return {dim, index, std::move(sizes)};
}

// expand: new leading dims must be given; -1 keeps a dim; only size-1 dims grow.
Shape expand_sizes(IntArrayRef in, const Attrs& a) {
  const auto& shape = a.ints("shape");
  TESSERA_CHECK(shape.size() >= in.size(), "expand: the target ", shape_str(shape),
                " has fewer dims than the input ", shape_str(in));
  const size_t lead = shape.size() - in.size();
  Shape sizes(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      TESSERA_CHECK(shape[i] >= 0, "expand: new leading dim ", i, " must be given, got ", shape[i]);
      sizes[i] = shape[i];
      continue;
    }
    const int64_t have = in[i - lead];
    const int64_t want = shape[i] == -1 ? have : shape[i];
    TESSERA_CHECK(want == have || have == 1, "expand: cannot expand ", shape_str(in), " to ",
                  shape_str(shape), " (dim ", i, ": ", have, " -> ", want, ")");
    sizes[i] = want;
  }
  return sizes;
}

// squeeze: which dims go (empty "dims": every size-1 dim; a named dim not of size 1 stays,
// as in PyTorch).
std::vector<bool> squeeze_drops(IntArrayRef in, const Attrs& a) {
  const auto& dims = a.ints("dims");
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> drop(in.size(), false);
  if (dims.empty()) {
    for (size_t d = 0; d < in.size(); ++d) drop[d] = in[d] == 1;
  } else {
    for (int64_t d : dims) {
      if (rank == 0) {
        wrap_dim(d, 0, "squeeze");
        continue;
      }
      const size_t w = static_cast<size_t>(wrap_dim(d, rank, "squeeze"));
      drop[w] = in[w] == 1;
    }
  }
  return drop;
}
Shape squeeze_sizes(IntArrayRef in, const std::vector<bool>& drop) {
  Shape sizes;
  for (size_t d = 0; d < in.size(); ++d)
    if (!drop[d]) sizes.push_back(in[d]);
  return sizes;
}

int64_t unsqueeze_dim(IntArrayRef in, const Attrs& a) {
  return wrap_dim(a.i("dim"), static_cast<int64_t>(in.size()) + 1, "unsqueeze");
}
Shape unsqueeze_sizes(IntArrayRef in, int64_t dim) {
  Shape sizes(in);
  sizes.insert(static_cast<size_t>(dim), 1);
  return sizes;
}

struct DiagonalPlan {
  int64_t d1, d2, offset, len;
  Shape sizes;  // the other dims, then the diagonal's length
};
DiagonalPlan diagonal_plan(IntArrayRef in, const Attrs& a) {
  const int64_t rank = static_cast<int64_t>(in.size());
  TESSERA_CHECK(rank >= 2, "diagonal: expected a tensor of rank >= 2, got rank ", rank);
  const int64_t d1 = wrap_dim(a.i("dim1"), rank, "diagonal");
  const int64_t d2 = wrap_dim(a.i("dim2"), rank, "diagonal");
  TESSERA_CHECK(d1 != d2, "diagonal: dim1 and dim2 must differ, both are ", d1);
  const int64_t off = a.i("offset");
  const int64_t n1 = in[static_cast<size_t>(d1)], n2 = in[static_cast<size_t>(d2)];
  const int64_t len = off >= 0 ? std::max<int64_t>(std::min(n1, n2 - off), 0)
                               : std::max<int64_t>(std::min(n1 + off, n2), 0);
  Shape sizes;
  for (int64_t d = 0; d < rank; ++d)
    if (d != d1 && d != d2) sizes.push_back(in[static_cast<size_t>(d)]);
  sizes.push_back(len);
  return {d1, d2, off, len, std::move(sizes)};
}

// as_strided: the sizes are the attribute itself, checked against the strides. Whether
// the furthest element lies inside the storage depends on the storage and the input's
// offset, which only the layout knows: as_strided_fn checks that, the rule cannot.
Shape as_strided_sizes(const Attrs& a) {
  const auto& sizes = a.ints("sizes");
  const auto& strides = a.ints("strides");
  TESSERA_CHECK(sizes.size() == strides.size(), "as_strided: ", sizes.size(), " sizes but ",
                strides.size(), " strides");
  for (size_t i = 0; i < sizes.size(); ++i)
    TESSERA_CHECK(sizes[i] >= 0 && strides[i] >= 0, "as_strided: sizes and strides must be >= 0, got ",
                  shape_str(sizes), " and ", shape_str(strides));
  return Shape(IntArrayRef(sizes));
}

// ---- the metadata rules: the sizes above, the input's dtype ----

InferResult infer_view(const std::vector<InputMeta>& in, const Attrs& a) {
  return same_dtype(in, view_sizes(in[0].sizes(), a));
}
InferResult infer_permute(const std::vector<InputMeta>& in, const Attrs& a) {
  const Shape source = permute_source_dims(in[0].sizes(), a);
  Shape sizes;
  for (int64_t d : source) sizes.push_back(in[0].sizes()[static_cast<size_t>(d)]);
  return same_dtype(in, std::move(sizes));
}
InferResult infer_slice(const std::vector<InputMeta>& in, const Attrs& a) {
  return same_dtype(in, slice_plan(in[0].sizes(), a).sizes);
}
InferResult infer_select(const std::vector<InputMeta>& in, const Attrs& a) {
  return same_dtype(in, select_plan(in[0].sizes(), a).sizes);
}
InferResult infer_expand(const std::vector<InputMeta>& in, const Attrs& a) {
  return same_dtype(in, expand_sizes(in[0].sizes(), a));
}
InferResult infer_squeeze(const std::vector<InputMeta>& in, const Attrs& a) {
  return same_dtype(in, squeeze_sizes(in[0].sizes(), squeeze_drops(in[0].sizes(), a)));
}
InferResult infer_unsqueeze(const std::vector<InputMeta>& in, const Attrs& a) {
  return same_dtype(in, unsqueeze_sizes(in[0].sizes(), unsqueeze_dim(in[0].sizes(), a)));
}
InferResult infer_diagonal(const std::vector<InputMeta>& in, const Attrs& a) {
  return same_dtype(in, diagonal_plan(in[0].sizes(), a).sizes);
}
InferResult infer_as_strided(const std::vector<InputMeta>& in, const Attrs& a) {
  return same_dtype(in, as_strided_sizes(a));
}

// ---- the view functions: the same sizes, with the strides and offset of a layout ----

Tensor view_fn(const Tensor& x, const Attrs& a) {
  Shape sizes = view_sizes(x.sizes(), a);
  auto strides = view_strides_for(x.sizes(), x.strides(), sizes);
  TESSERA_CHECK(strides.has_value(), "view: shape ", shape_str(sizes),
                " is incompatible with the input's strides ", shape_str(x.strides()),
                " (use reshape, which copies when it must)");
  return make_view(x, std::move(sizes), std::move(*strides), x.storage_offset());
}

Tensor permute_fn(const Tensor& x, const Attrs& a) {
  const Shape source = permute_source_dims(x.sizes(), a);
  Shape sizes, strides;
  for (int64_t d : source) {
    sizes.push_back(x.sizes()[static_cast<size_t>(d)]);
    strides.push_back(x.strides()[static_cast<size_t>(d)]);
  }
  return make_view(x, std::move(sizes), std::move(strides), x.storage_offset());
}

Tensor slice_fn(const Tensor& x, const Attrs& a) {
  SlicePlan p = slice_plan(x.sizes(), a);
  const int64_t stride = x.strides()[static_cast<size_t>(p.dim)];
  Shape strides(x.strides());
  strides[static_cast<size_t>(p.dim)] = stride * p.step;
  return make_view(x, std::move(p.sizes), std::move(strides), x.storage_offset() + p.start * stride);
}

Tensor select_fn(const Tensor& x, const Attrs& a) {
  SelectPlan p = select_plan(x.sizes(), a);
  Shape strides(x.strides());
  const int64_t offset = x.storage_offset() + p.index * strides[static_cast<size_t>(p.dim)];
  strides.erase(static_cast<size_t>(p.dim));
  return make_view(x, std::move(p.sizes), std::move(strides), offset);
}

Tensor expand_fn(const Tensor& x, const Attrs& a) {
  Shape sizes = expand_sizes(x.sizes(), a);
  const size_t lead = sizes.size() - static_cast<size_t>(x.dim());
  Shape strides(sizes.size(), 0);  // new dims and grown size-1 dims repeat: stride 0
  for (size_t i = lead; i < sizes.size(); ++i)
    if (sizes[i] == x.sizes()[i - lead]) strides[i] = x.strides()[i - lead];
  return make_view(x, std::move(sizes), std::move(strides), x.storage_offset());
}

Tensor squeeze_fn(const Tensor& x, const Attrs& a) {
  const std::vector<bool> drop = squeeze_drops(x.sizes(), a);
  Shape strides;
  for (size_t d = 0; d < drop.size(); ++d)
    if (!drop[d]) strides.push_back(x.strides()[d]);
  return make_view(x, squeeze_sizes(x.sizes(), drop), std::move(strides), x.storage_offset());
}

Tensor unsqueeze_fn(const Tensor& x, const Attrs& a) {
  const int64_t dim = unsqueeze_dim(x.sizes(), a);
  Shape strides(x.strides());
  const int64_t stride =
      dim < x.dim() ? x.sizes()[static_cast<size_t>(dim)] * strides[static_cast<size_t>(dim)] : 1;
  strides.insert(static_cast<size_t>(dim), std::max<int64_t>(stride, 1));
  return make_view(x, unsqueeze_sizes(x.sizes(), dim), std::move(strides), x.storage_offset());
}

Tensor diagonal_fn(const Tensor& x, const Attrs& a) {
  DiagonalPlan p = diagonal_plan(x.sizes(), a);
  const int64_t s1 = x.strides()[static_cast<size_t>(p.d1)], s2 = x.strides()[static_cast<size_t>(p.d2)];
  int64_t start = x.storage_offset();
  if (p.len > 0) start += p.offset >= 0 ? p.offset * s2 : -p.offset * s1;
  Shape strides;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != p.d1 && d != p.d2) strides.push_back(x.strides()[static_cast<size_t>(d)]);
  strides.push_back(s1 + s2);
  return make_view(x, std::move(p.sizes), std::move(strides), start);
}

Tensor as_strided_fn(const Tensor& x, const Attrs& a) {
  Shape sizes = as_strided_sizes(a);
  const auto& strides = a.ints("strides");
  const int64_t offset = a.i("offset") < 0 ? x.storage_offset() : a.i("offset");
  // The furthest element must lie inside the storage: no view may read past its end.
  int64_t max_index = offset;
  bool empty = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == 0) empty = true;
    else max_index += (sizes[i] - 1) * strides[i];
  }
  const int64_t capacity = static_cast<int64_t>(x.storage()->nbytes() / x.itemsize());
  TESSERA_CHECK(offset >= 0 && (empty || max_index < capacity), "as_strided: sizes ", shape_str(sizes),
                " strides ", shape_str(strides), " offset ", offset, " reach element ", max_index,
                " but the storage holds ", capacity);
  return make_view(x, std::move(sizes), Shape(IntArrayRef(strides)), offset);
}

// ---- backward rules ----
// Views that only rearrange: the gradient is rearranged back.
std::vector<Tensor> reshape_back(const BackwardCall& c) { return {c.grad(0).reshape(c.input_sizes(0))}; }

std::vector<Tensor> permute_backward(const BackwardCall& c) {
  const auto& dims = c.attrs().ints("dims");
  const int64_t rank = static_cast<int64_t>(dims.size());
  std::vector<int64_t> inverse(dims.size());
  for (int64_t i = 0; i < rank; ++i) inverse[static_cast<size_t>(wrap_dim(dims[static_cast<size_t>(i)], rank, "permute"))] = i;
  return {c.grad(0).permute(inverse)};
}

std::vector<Tensor> expand_backward(const BackwardCall& c) { return {sum_to(c.grad(0), c.input_sizes(0))}; }

// Views that pick elements (slice, select, diagonal, as_strided): the gradient is
// written into zeros through the same view (the "view_scatter" op below).
std::vector<Tensor> scatter_back(const BackwardCall& c);

}  // namespace

// view_scatter: zeros of `base_sizes` with its `view_op` view (with the view's own
// attributes) set to the input. Its backward applies the view again, so double
// backward through slicing works.
extern OpDef kViewScatter;

namespace {

InferResult infer_view_scatter(const std::vector<InputMeta>& in, const Attrs& a) {
  return {{{Shape(IntArrayRef(a.ints("base_sizes"))), in[0].dtype()}}, std::nullopt};
}

const OpDef& view_op_named(const Attrs& a) {
  const OpDef* op = find_op(a.get<std::string>("view_op"));
  TESSERA_INTERNAL_ASSERT(op != nullptr && op->view != nullptr, "view_scatter: bad view op");
  return *op;
}

void view_scatter_kernel(const KernelCall& c) {
  Tensor& out = c.outputs[0];
  cpu::fill(out, 0);
  // The view fn builds a layout only (no dispatch); the copy stays below dispatch too.
  cpu::copy_into(view_op_named(c.attrs).view(out, c.attrs), c.inputs[0]);
}

std::vector<Tensor> view_scatter_backward(const BackwardCall& c) {
  // The view takes its own attributes only: view_op and base_sizes are view_scatter's,
  // and the dispatcher refuses attributes an op does not declare.
  const OpDef& view = view_op_named(c.attrs());
  Attrs attrs;
  for (const Attr& a : c.attrs().items())
    for (const AttrSpec& s : view.attrs)
      if (s.name == a.name) attrs.add(a);
  return {call1(view, {c.grad(0)}, attrs)};
}

std::vector<Tensor> scatter_back(const BackwardCall& c) {
  std::vector<Attr> items = c.attrs().items();
  items.push_back({"view_op", std::string(c.op().name)});
  items.push_back({"base_sizes", c.input_sizes(0).vec()});
  Attrs attrs;
  for (Attr& a : items) attrs.add(std::move(a));
  return {call1(kViewScatter, {c.grad(0)}, attrs)};
}

}  // namespace

OpDef kViewScatter{"view_scatter", 1, kDifferentiable,
                   {attr("view_op", AttrType::String), attr("base_sizes", AttrType::Ints),
                    attr_optional("dim", AttrType::Int), attr_optional("start", AttrType::Int),
                    attr_optional("end", AttrType::Int), attr_optional("step", AttrType::Int),
                    attr_optional("index", AttrType::Int), attr_optional("dim1", AttrType::Int),
                    attr_optional("dim2", AttrType::Int), attr_optional("offset", AttrType::Int),
                    attr_optional("sizes", AttrType::Ints),
                    attr_optional("strides", AttrType::Ints)},
                   infer_view_scatter, nullptr, nullptr,
                   view_scatter_backward};

OpDef kView{"view", 1, kIsView | kDifferentiable,
            {attr("shape", AttrType::Ints)},
            infer_view, view_fn, "Reshape", reshape_back};
OpDef kPermute{"permute", 1, kIsView | kDifferentiable,
               {attr("dims", AttrType::Ints)},
               infer_permute, permute_fn, "Transpose", permute_backward};
OpDef kSlice{"slice", 1, kIsView | kDifferentiable,
             {attr("dim", AttrType::Int), attr("start", AttrType::Int), attr("end", AttrType::Int),
              attr("step", AttrType::Int, int64_t{1})},
             infer_slice, slice_fn, "Slice", scatter_back};
OpDef kSelect{"select", 1, kIsView | kDifferentiable,
              {attr("dim", AttrType::Int), attr("index", AttrType::Int)},
              infer_select, select_fn, "Gather", scatter_back};
OpDef kExpand{"expand", 1, kIsView | kDifferentiable,
              {attr("shape", AttrType::Ints)},
              infer_expand, expand_fn, "Expand", expand_backward};
OpDef kSqueeze{"squeeze", 1, kIsView | kDifferentiable,
               {attr("dims", AttrType::Ints, std::vector<int64_t>{})},
               infer_squeeze, squeeze_fn, "Squeeze", reshape_back};
OpDef kUnsqueeze{"unsqueeze", 1, kIsView | kDifferentiable,
                 {attr("dim", AttrType::Int)},
                 infer_unsqueeze, unsqueeze_fn, "Unsqueeze", reshape_back};
OpDef kDiagonal{"diagonal", 1, kIsView | kDifferentiable,
                {attr("offset", AttrType::Int, int64_t{0}), attr("dim1", AttrType::Int, int64_t{0}),
                 attr("dim2", AttrType::Int, int64_t{1})},
                infer_diagonal, diagonal_fn, nullptr, scatter_back};
OpDef kAsStrided{"as_strided", 1, kIsView | kDifferentiable,
                 {attr("sizes", AttrType::Ints), attr("strides", AttrType::Ints),
                  attr("offset", AttrType::Int, int64_t{-1})},
                 infer_as_strided, as_strided_fn, nullptr, scatter_back};

void register_view_ops() {
  for (OpDef* op : {&kView, &kPermute, &kSlice, &kSelect, &kExpand, &kSqueeze, &kUnsqueeze,
                    &kDiagonal, &kAsStrided, &kViewScatter})
    register_op(*op);
  // A composite of zero_, a view and copy_: device independent, so registered here.
  register_kernel(kViewScatter, Device::CPU, view_scatter_kernel, kAllMask);
}

}  // namespace tessera::ops

namespace tessera {

using ops::call1;

Tensor Tensor::view(IntArrayRef shape) const { return call1(ops::kView, {*this}, {{"shape", shape.vec()}}); }

Tensor Tensor::reshape(IntArrayRef shape) const {
  Shape target = ops::infer_size_for_reshape(shape, numel());
  if (ops::view_strides_for(sizes(), strides(), target)) return view(target);
  return clone().view(target);
}

Tensor Tensor::permute(IntArrayRef dims) const {
  return call1(ops::kPermute, {*this}, {{"dims", dims.vec()}});
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  const int64_t r = dim();
  if (r == 0) {
    wrap_dim(dim0, 0, "transpose");
    wrap_dim(dim1, 0, "transpose");
    return *this;
  }
  std::vector<int64_t> dims(static_cast<size_t>(r));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[static_cast<size_t>(wrap_dim(dim0, r, "transpose"))],
            dims[static_cast<size_t>(wrap_dim(dim1, r, "transpose"))]);
  return permute(dims);
}

Tensor Tensor::t() const {
  TESSERA_CHECK(dim() <= 2, "t: expects a tensor of rank <= 2, got ", describe());
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::slice(int64_t dim, int64_t start, int64_t end, int64_t step) const {
  return call1(ops::kSlice, {*this}, {{"dim", dim}, {"start", start}, {"end", end}, {"step", step}});
}

Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  TESSERA_CHECK(this->dim() > 0, "narrow: cannot narrow a 0-d tensor");
  const int64_t n = size(dim);
  if (start < 0) start += n;
  TESSERA_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: start ", start,
                " + length ", length, " exceeds the size ", n, " of dim ", dim);
  return slice(dim, start, start + length, 1);
}

Tensor Tensor::select(int64_t dim, int64_t index) const {
  return call1(ops::kSelect, {*this}, {{"dim", dim}, {"index", index}});
}

Tensor Tensor::expand(IntArrayRef shape) const {
  return call1(ops::kExpand, {*this}, {{"shape", shape.vec()}});
}

Tensor Tensor::squeeze() const { return call1(ops::kSqueeze, {*this}, {{"dims", std::vector<int64_t>{}}}); }

Tensor Tensor::squeeze(int64_t dim) const {
  return call1(ops::kSqueeze, {*this}, {{"dims", std::vector<int64_t>{dim}}});
}

Tensor Tensor::unsqueeze(int64_t dim) const { return call1(ops::kUnsqueeze, {*this}, {{"dim", dim}}); }

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int64_t s = wrap_dim(start_dim, dim(), "flatten");
  const int64_t e = wrap_dim(end_dim, dim(), "flatten");
  TESSERA_CHECK(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  std::vector<int64_t> shape;
  int64_t merged = 1;
  for (int64_t d = 0; d < dim(); ++d) {
    if (d < s || d > e) shape.push_back(size(d));
    else merged *= size(d);
    if (d == e) shape.push_back(merged);
  }
  return reshape(shape);
}

Tensor Tensor::unflatten(int64_t dim, IntArrayRef sizes) const {
  const int64_t d = wrap_dim(dim, this->dim(), "unflatten");
  TESSERA_CHECK(!sizes.empty(), "unflatten: sizes must be non-empty");
  Shape inner = ops::infer_size_for_reshape(sizes, size(d));
  std::vector<int64_t> shape;
  for (int64_t i = 0; i < this->dim(); ++i) {
    if (i == d) shape.insert(shape.end(), inner.begin(), inner.end());
    else shape.push_back(size(i));
  }
  return view(shape);
}

Tensor Tensor::diagonal(int64_t offset, int64_t dim1, int64_t dim2) const {
  return call1(ops::kDiagonal, {*this}, {{"offset", offset}, {"dim1", dim1}, {"dim2", dim2}});
}

Tensor Tensor::as_strided(IntArrayRef sizes, IntArrayRef strides, int64_t offset) const {
  return call1(ops::kAsStrided, {*this},
               {{"sizes", sizes.vec()}, {"strides", strides.vec()}, {"offset", offset}});
}

}  // namespace tessera
