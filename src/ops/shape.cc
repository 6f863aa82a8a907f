// The shape family: ops that move elements without computing on them (cat, stack,
// repeat, flip, roll, tril, triu), and the view-only composites split and chunk.
#include "ops/shape.h"

#include <algorithm>
#include <numeric>

#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

// PyTorch's legacy rule: a 1-D empty tensor may join a cat of any shape and is skipped.
bool skipped_in_cat(const InputMeta& t) { return t.dim() == 1 && t.size(0) == 0; }

InferResult infer_cat(const std::vector<InputMeta>& in, const Attrs& a) {
  TESSERA_CHECK(!in.empty(), "expected a non-empty list of tensors");
  const DType dt = result_type(in);
  const InputMeta* ref = nullptr;
  for (size_t i = 0; i < in.size(); ++i) {
    TESSERA_CHECK(in[i].dim() > 0, "zero-dimensional tensor (at position ", i,
                  ") cannot be concatenated");
    if (ref == nullptr && !skipped_in_cat(in[i])) ref = &in[i];
  }
  if (ref == nullptr) return {{{Shape{0}, dt}}, dt};  // nothing but skipped tensors
  const int64_t rank = ref->dim();
  const int64_t dim = checked_dim(a.i("dim"), rank);
  Shape out(ref->sizes());
  out[static_cast<size_t>(dim)] = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const InputMeta& t = in[i];
    if (skipped_in_cat(t)) continue;
    TESSERA_CHECK(t.dim() == rank, "tensors must have the same number of dimensions: tensor 0 has ",
                  rank, " but tensor ", i, " has ", t.dim());
    for (int64_t d = 0; d < rank; ++d) {
      if (d == dim) continue;
      TESSERA_CHECK(t.size(d) == ref->size(d), "sizes of tensors must match except in dimension ",
                    dim, ": expected size ", ref->size(d), " but got size ", t.size(d),
                    " for tensor ", i, " in dimension ", d);
    }
    out[static_cast<size_t>(dim)] += t.size(dim);
  }
  return {{{out, dt}}, dt};
}

InferResult infer_stack(const std::vector<InputMeta>& in, const Attrs& a) {
  TESSERA_CHECK(!in.empty(), "expected a non-empty list of tensors");
  const DType dt = result_type(in);
  const IntArrayRef shape = in[0].sizes();
  for (size_t i = 1; i < in.size(); ++i)
    TESSERA_CHECK(in[i].sizes().equals(shape), "stack expects each tensor to be equal size, but got ",
                  shape_str(shape), " at entry 0 and ", shape_str(in[i].sizes()), " at entry ", i);
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t dim = checked_dim(a.i("dim"), rank + 1);
  Shape out(shape);
  out.insert(static_cast<size_t>(dim), static_cast<int64_t>(in.size()));
  return {{{out, dt}}, dt};
}

InferResult infer_repeat(const std::vector<InputMeta>& in, const Attrs& a) {
  const auto& reps = a.ints("repeats");
  const InputMeta& x = in[0];
  TESSERA_CHECK(static_cast<int64_t>(reps.size()) >= x.dim(),
                "number of repeat dims can not be smaller than the number of dims of the tensor (",
                reps.size(), " repeats ", shape_str(reps), " for a tensor of rank ", x.dim(), ")");
  const size_t pad = reps.size() - static_cast<size_t>(x.dim());
  Shape out(reps.size(), 1);
  for (size_t d = 0; d < reps.size(); ++d) {
    TESSERA_CHECK(reps[d] >= 0, "repeats must be non-negative, got ", shape_str(reps));
    out[d] = reps[d] * (d < pad ? 1 : x.sizes()[d - pad]);
  }
  return {{{out, x.dtype()}}, std::nullopt};
}

// Wrapped dims, each at most once.
std::vector<int64_t> unique_dims(const std::vector<int64_t>& dims, int64_t rank) {
  std::vector<int64_t> out;
  for (int64_t d : dims) {
    const int64_t w = checked_dim(d, rank);
    TESSERA_CHECK(std::find(out.begin(), out.end(), w) == out.end(), "dim ", w,
                  " appears multiple times in the list of dims ", shape_str(dims));
    out.push_back(w);
  }
  return out;
}

InferResult infer_flip(const std::vector<InputMeta>& in, const Attrs& a) {
  unique_dims(a.ints("dims"), in[0].dim());
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}

InferResult infer_roll(const std::vector<InputMeta>& in, const Attrs& a) {
  const auto& shifts = a.ints("shifts");
  const auto& dims = a.ints("dims");
  TESSERA_CHECK(!dims.empty() && shifts.size() == dims.size(),
                "shifts and dims must align: got ", shifts.size(), " shifts and ", dims.size(),
                " dims");
  for (int64_t d : dims) checked_dim(d, in[0].dim());
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}

InferResult infer_trilu(const std::vector<InputMeta>& in, const Attrs&) {
  TESSERA_CHECK(in[0].dim() >= 2, "expected a tensor with at least 2 dimensions, got ",
                in[0].dim());
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}

// ---- backward rules ----
// These ops only move elements, so each gradient moves the output's gradient back with
// views or ops of this family, all differentiable again.

// Each input's gradient is its own stretch of the output's gradient along `dim`.
std::vector<Tensor> cat_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  std::vector<Tensor> out(c.num_inputs());
  int64_t offset = 0;
  for (size_t i = 0; i < c.num_inputs(); ++i) {
    const IntArrayRef sizes = c.input_sizes(i);
    // A skipped empty 1-D input took no part in the result (and its rank need not match
    // `dim`): its gradient is empty too.
    if (sizes.size() == 1 && sizes[0] == 0) {
      if (c.needs(i)) out[i] = zeros(sizes, g.dtype());
      continue;
    }
    const int64_t dim = checked_dim(c.attrs().i("dim"), g.dim());
    const int64_t len = sizes[static_cast<size_t>(dim)];
    if (c.needs(i)) out[i] = g.narrow(dim, offset, len);
    offset += len;
  }
  return out;
}

std::vector<Tensor> stack_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const int64_t dim = checked_dim(c.attrs().i("dim"), g.dim());
  std::vector<Tensor> out(c.num_inputs());
  for (size_t i = 0; i < c.num_inputs(); ++i)
    if (c.needs(i)) out[i] = g.select(dim, static_cast<int64_t>(i));
  return out;
}

// Output dim d holds reps[d] copies of the (1-padded) input dim: viewing it as
// [reps[0], size[0], reps[1], size[1], ...] puts the copies on even dims, summed away.
std::vector<Tensor> repeat_backward(const BackwardCall& c) {
  const auto& reps = c.attrs().ints("repeats");
  const IntArrayRef sizes = c.input_sizes(0);
  const size_t pad = reps.size() - sizes.size();
  std::vector<int64_t> split_shape, copy_dims;
  for (size_t d = 0; d < reps.size(); ++d) {
    copy_dims.push_back(static_cast<int64_t>(split_shape.size()));
    split_shape.push_back(reps[d]);
    split_shape.push_back(d < pad ? 1 : sizes[d - pad]);
  }
  Tensor g = c.grad(0).reshape(split_shape);
  if (!copy_dims.empty()) g = sum(g, copy_dims);
  return {g.reshape(sizes)};
}

// flip, tril and triu are their own adjoints: the same op with the same attributes.
std::vector<Tensor> self_adjoint_backward(const BackwardCall& c) {
  return {call1(c.op(), {c.grad(0)}, c.attrs())};
}

std::vector<Tensor> roll_backward(const BackwardCall& c) {
  std::vector<int64_t> back = c.attrs().ints("shifts");
  for (int64_t& s : back) s = -s;
  return {call1(kRoll, {c.grad(0)}, {{"shifts", back}, {"dims", c.attrs().ints("dims")}})};
}

}  // namespace

OpDef kCat{"cat", -1, kDifferentiable,
           {attr("dim", AttrType::Int, int64_t{0})},
           infer_cat, nullptr, "Concat", cat_backward};
// ONNX has no stack: exporters write Unsqueeze on each input, then Concat.
OpDef kStack{"stack", -1, kDifferentiable,
             {attr("dim", AttrType::Int, int64_t{0})},
             infer_stack, nullptr, nullptr, stack_backward};
OpDef kRepeat{"repeat", 1, kDifferentiable,
              {attr("repeats", AttrType::Ints)},
              infer_repeat, nullptr, "Tile", repeat_backward};
OpDef kFlip{"flip", 1, kDifferentiable,
            {attr("dims", AttrType::Ints)},
            infer_flip, nullptr, nullptr, self_adjoint_backward};
OpDef kRoll{"roll", 1, kDifferentiable,
            {attr("shifts", AttrType::Ints), attr("dims", AttrType::Ints)},
            infer_roll, nullptr, nullptr, roll_backward};
OpDef kTril{"tril", 1, kDifferentiable,
            {attr("diagonal", AttrType::Int, int64_t{0}), attr("upper", AttrType::Bool)},
            infer_trilu, nullptr, "Trilu", self_adjoint_backward};
OpDef kTriu{"triu", 1, kDifferentiable,
            {attr("diagonal", AttrType::Int, int64_t{0}), attr("upper", AttrType::Bool)},
            infer_trilu, nullptr, "Trilu", self_adjoint_backward};

void register_shape_ops() {
  for (OpDef* op : {&kCat, &kStack, &kRepeat, &kFlip, &kRoll, &kTril, &kTriu}) register_op(*op);
}

}  // namespace tessera::ops

namespace tessera {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kCat, tensors, {{"dim", dim}});
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kStack, tensors, {{"dim", dim}});
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(x.dim() > 0, "split: ", x.describe(), ": expected a tensor with at least 1 dim");
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(d);
  TESSERA_CHECK(split_size > 0 || (split_size == 0 && n == 0), "split: ", x.describe(),
                ": split_size must be positive (or 0 when the dim is empty), got ", split_size);
  // An empty dim still yields one (empty) piece, as PyTorch does.
  const int64_t pieces = split_size == 0 ? 1 : std::max<int64_t>((n + split_size - 1) / split_size, 1);
  std::vector<Tensor> out;
  out.reserve(static_cast<size_t>(pieces));
  for (int64_t i = 0; i < pieces; ++i) {
    const int64_t start = i * split_size;
    out.push_back(x.narrow(d, start, std::min(split_size, n - start)));
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, IntArrayRef split_sizes, int64_t dim, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(x.dim() > 0, "split: ", x.describe(), ": expected a tensor with at least 1 dim");
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(d);
  int64_t total = 0;
  for (int64_t s : split_sizes) {
    TESSERA_CHECK(s >= 0, "split: ", x.describe(), ": split sizes must be non-negative, got ",
                  shape_str(split_sizes));
    total += s;
  }
  TESSERA_CHECK(total == n, "split: ", x.describe(), ": split sizes ", shape_str(split_sizes),
                " must sum exactly to ", n, " (the size of dim ", d, "), but sum to ", total);
  std::vector<Tensor> out;
  out.reserve(split_sizes.size());
  int64_t start = 0;
  for (int64_t s : split_sizes) {
    out.push_back(x.narrow(d, start, s));
    start += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim, CallSite at) {
  detail::UserCallScope scope(at);
  TESSERA_CHECK(chunks > 0, "chunk: ", x.describe(), ": chunks must be greater than 0, got ", chunks);
  TESSERA_CHECK(x.dim() > 0, "chunk: ", x.describe(), ": expected a tensor with at least 1 dim");
  const int64_t d = wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.size(d);
  const int64_t size = (n + chunks - 1) / chunks;
  // An empty dim gives `chunks` empty pieces (PyTorch), not the one piece split would.
  if (size == 0) return split(x, std::vector<int64_t>(static_cast<size_t>(chunks), 0), d);
  return split(x, size, d);
}

Tensor repeat(const Tensor& x, IntArrayRef repeats, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kRepeat, {x}, {{"repeats", repeats.vec()}});
}

Tensor tile(const Tensor& x, IntArrayRef reps, CallSite at) {
  detail::UserCallScope scope(at);
  // tile pads the shorter of reps and shape with leading 1s; repeat only pads the shape.
  std::vector<int64_t> full = reps.vec();
  if (static_cast<int64_t>(full.size()) < x.dim())
    full.insert(full.begin(), static_cast<size_t>(x.dim()) - full.size(), 1);
  return repeat(x, full);
}

Tensor flip(const Tensor& x, IntArrayRef dims, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kFlip, {x}, {{"dims", dims.vec()}});
}

Tensor roll(const Tensor& x, IntArrayRef shifts, IntArrayRef dims, CallSite at) {
  detail::UserCallScope scope(at);
  if (dims.empty() && x.dim() > 0) {
    // Without dims the tensor rolls as if flattened, then takes its shape back.
    TESSERA_CHECK(shifts.size() == 1, "roll: ", x.describe(),
                  ": expected one shift when no dims are given, got ", shape_str(shifts));
    return ops::call1(ops::kRoll, {x.flatten()},
                      {{"shifts", shifts.vec()}, {"dims", std::vector<int64_t>{0}}})
        .view(x.sizes());
  }
  // A 0-d tensor rolls as a one-element 1-D one: dims {0} needs no flatten.
  const std::vector<int64_t> d = dims.empty() ? std::vector<int64_t>{0} : dims.vec();
  return ops::call1(ops::kRoll, {x}, {{"shifts", shifts.vec()}, {"dims", d}});
}

Tensor tril(const Tensor& x, int64_t diagonal, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kTril, {x}, {{"diagonal", diagonal}, {"upper", false}});
}

Tensor triu(const Tensor& x, int64_t diagonal, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kTriu, {x}, {{"diagonal", diagonal}, {"upper", true}});
}

}  // namespace tessera
