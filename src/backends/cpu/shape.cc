// CPU kernels of the shape family. Every one of them is a copy between a view of the
// input and a view of the output: the views are built here (raw_view) and the copy is
// copy_into, which coalesces dims, uses memcpy for contiguous runs and runs in parallel.
// The kernels are dtype-agnostic, so every dtype (bool and half included) is supported.
#include <cstring>

#include "ops/copy.h"
#include "ops/registration.h"
#include "ops/shape.h"
#include "tessera/parallel.h"

namespace tessera::cpu {

Tensor raw_view(const Tensor& base, IntArrayRef sizes, IntArrayRef strides, int64_t offset) {
  TESSERA_INTERNAL_ASSERT(sizes.size() == strides.size(), "raw_view: rank mismatch");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->layout.sizes = Shape(sizes);
  impl->layout.strides = Shape(strides);
  impl->layout.offset = offset;
  impl->dtype = base.dtype();
  impl->device = base.device();
  impl->refresh();
  return Tensor(std::move(impl));
}

namespace {

using ops::KernelCall;

Tensor narrow_view(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  Shape sizes(t.sizes());
  sizes[static_cast<size_t>(dim)] = length;
  return raw_view(t, sizes, t.strides(), t.storage_offset() + start * t.strides()[static_cast<size_t>(dim)]);
}

void cat_kernel(const KernelCall& c) {
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  const int64_t dim = wrap_dim(c.attrs.i("dim"), out.dim(), "cat");
  int64_t offset = 0;
  for (const Tensor& in : c.inputs) {
    if (in.numel() == 0) continue;  // includes the skipped 1-D empties
    const int64_t n = in.size(dim);
    copy_into(narrow_view(out, dim, offset, n), in);
    offset += n;
  }
}

void stack_kernel(const KernelCall& c) {
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  const int64_t dim = wrap_dim(c.attrs.i("dim"), out.dim(), "stack");
  // Slot i of the output along `dim`, seen with the input's shape.
  Shape sizes(out.sizes()), strides(out.strides());
  const int64_t step = strides[static_cast<size_t>(dim)];
  sizes.erase(static_cast<size_t>(dim));
  strides.erase(static_cast<size_t>(dim));
  for (size_t i = 0; i < c.inputs.size(); ++i)
    copy_into(raw_view(out, sizes, strides, static_cast<int64_t>(i) * step), c.inputs[i]);
}

void repeat_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  const auto& reps = c.attrs.ints("repeats");
  const size_t pad = reps.size() - static_cast<size_t>(x.dim());
  // The output seen as [r0, s0, r1, s1, ...]; the input broadcast over every r_i (stride 0).
  Shape osizes, ostrides, isizes, istrides;
  int64_t acc = 1;
  for (size_t d = reps.size(); d-- > 0;) {
    const int64_t s = d < pad ? 1 : x.sizes()[d - pad];
    const int64_t xs = d < pad ? 0 : x.strides()[d - pad];
    osizes.insert(0, s);
    ostrides.insert(0, acc);
    acc *= s;
    osizes.insert(0, reps[d]);
    ostrides.insert(0, acc);
    acc *= reps[d];
    isizes.insert(0, s);
    istrides.insert(0, xs);
    isizes.insert(0, reps[d]);
    istrides.insert(0, 0);
  }
  copy_into(raw_view(out, osizes, ostrides, 0), raw_view(x, isizes, istrides, x.storage_offset()));
}

void flip_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  // A view of x with negative strides on the flipped dims reads it back to front.
  Shape strides(x.strides());
  int64_t offset = x.storage_offset();
  for (int64_t d : c.attrs.ints("dims")) {
    if (x.dim() == 0) continue;
    const auto w = static_cast<size_t>(wrap_dim(d, x.dim(), "flip"));
    offset += (x.sizes()[w] - 1) * strides[w];
    strides[w] = -strides[w];
  }
  copy_into(out, raw_view(x, x.sizes(), strides, offset));
}

void roll_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  const int64_t rank = std::max<int64_t>(x.dim(), 1);
  // Net shift per dim: a dim named twice rolls by the sum of its shifts.
  std::vector<int64_t> shift(static_cast<size_t>(rank), 0);
  const auto& shifts = c.attrs.ints("shifts");
  const auto& dims = c.attrs.ints("dims");
  for (size_t i = 0; i < dims.size(); ++i) {
    const auto d = static_cast<size_t>(wrap_dim(dims[i], x.dim(), "roll"));
    const int64_t n = x.dim() == 0 ? 1 : x.sizes()[d];
    shift[d] = ((shift[d] + shifts[i]) % n + n) % n;
  }
  if (x.dim() == 0) {
    copy_into(out, x);
    return;
  }
  // Along a dim rolled by s, out[s:] = x[:n-s] and out[:s] = x[n-s:]. With k rolled dims
  // that is 2^k block copies, one per choice of half in each dim.
  std::vector<size_t> rolled;
  for (size_t d = 0; d < shift.size(); ++d)
    if (shift[d] != 0) rolled.push_back(d);
  for (uint64_t mask = 0; mask < (uint64_t{1} << rolled.size()); ++mask) {
    Shape sizes(x.sizes());
    int64_t in_off = x.storage_offset(), out_off = 0;
    bool empty = false;
    for (size_t j = 0; j < rolled.size(); ++j) {
      const size_t d = rolled[j];
      const int64_t n = x.sizes()[d], s = shift[d];
      const bool tail = (mask >> j) & 1u;  // the input's tail x[n-s:] lands at out[:s]
      sizes[d] = tail ? s : n - s;
      if (tail) in_off += (n - s) * x.strides()[d];
      else out_off += s * out.strides()[d];
      empty = empty || sizes[d] == 0;
    }
    if (empty) continue;
    copy_into(raw_view(out, sizes, out.strides(), out_off), raw_view(x, sizes, x.strides(), in_off));
  }
}

void trilu_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  copy_into(out, x);
  const bool upper = c.attrs.b("upper");
  const int64_t k = c.attrs.i("diagonal");
  const int64_t rows = x.size(-2), cols = x.size(-1);
  const int64_t total_rows = out.numel() / cols;
  const size_t isz = out.itemsize();
  char* base = static_cast<char*>(out.data_ptr());
  // All-zero bytes are 0 in every dtype, so clearing is a memset of the dropped columns.
  parallel_for(0, total_rows, std::max<int64_t>(1, kElementwiseGrain / cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t i = r % rows;
      // tril keeps columns j <= i + k, triu keeps j >= i + k.
      const int64_t lo = upper ? 0 : std::clamp<int64_t>(i + k + 1, 0, cols);
      const int64_t hi = upper ? std::clamp<int64_t>(i + k, 0, cols) : cols;
      if (hi > lo)
        std::memset(base + (r * cols + lo) * static_cast<int64_t>(isz), 0,
                    static_cast<size_t>(hi - lo) * isz);
    }
  });
}

}  // namespace

void register_shape_kernels() {
  register_kernel(ops::kCat, Device::CPU, cat_kernel, ops::kAllMask);
  register_kernel(ops::kStack, Device::CPU, stack_kernel, ops::kAllMask);
  register_kernel(ops::kRepeat, Device::CPU, repeat_kernel, ops::kAllMask);
  register_kernel(ops::kFlip, Device::CPU, flip_kernel, ops::kAllMask);
  register_kernel(ops::kRoll, Device::CPU, roll_kernel, ops::kAllMask);
  register_kernel(ops::kTril, Device::CPU, trilu_kernel, ops::kAllMask);
  register_kernel(ops::kTriu, Device::CPU, trilu_kernel, ops::kAllMask);
}

}  // namespace tessera::cpu
