#pragma once
// OpDefs of the shape family (cat, stack, repeat, flip, roll, tril, triu), and the small
// strided-access helpers their CPU kernels share with the index family.
#include <algorithm>
#include <cstdint>

#include "ops/op.h"

namespace tessera::ops {
// attrs: dim. Variadic; inputs are promoted to a common dtype.
extern OpDef kCat, kStack;
// attrs: repeats (may be longer than the input's rank: new leading dims).
extern OpDef kRepeat;
// attrs: dims
extern OpDef kFlip;
// attrs: shifts, dims (same length, non-empty; roll without dims is a composite).
extern OpDef kRoll;
// attrs: diagonal, upper (false for tril, true for triu, as ONNX Trilu).
extern OpDef kTril, kTriu;
}  // namespace tessera::ops

namespace tessera::ops {
// wrap_dim for shape rules: the dispatcher already prefixes the op and its inputs.
inline int64_t checked_dim(int64_t dim, int64_t rank) {
  const int64_t r = std::max<int64_t>(rank, 1);
  TESSERA_CHECK(dim >= -r && dim < r, "dim ", dim, " is out of range for a tensor of rank ", rank,
                " (expected ", -r, " to ", r - 1, ")");
  return dim < 0 ? dim + r : dim;
}
}  // namespace tessera::ops

namespace tessera::cpu {

// A view over `base`'s storage built without going through dispatch: kernels carve up
// their inputs and outputs with it, and nothing gets recorded by autograd or a tracer.
Tensor raw_view(const Tensor& base, IntArrayRef sizes, IntArrayRef strides, int64_t offset);

// Visits every element of `t` in row-major order as f(flat_index, value). T must be the
// tensor's element type.
template <typename T, typename F>
void for_each_value(const Tensor& t, F&& f) {
  const int64_t n = t.numel();
  if (n == 0) return;
  const T* p = static_cast<const T*>(t.data_ptr());
  const int64_t nd = t.dim();
  if (nd == 0 || t.is_contiguous()) {
    for (int64_t i = 0; i < n; ++i) f(i, p[i]);
    return;
  }
  const IntArrayRef sizes = t.sizes(), strides = t.strides();
  Shape coord(static_cast<size_t>(nd), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(i, p[off]);
    for (int64_t d = nd - 1; d >= 0; --d) {
      const auto du = static_cast<size_t>(d);
      off += strides[du];
      if (++coord[du] < sizes[du]) break;
      off -= strides[du] * sizes[du];
      coord[du] = 0;
    }
  }
}

// Walks the 1-D lines along `dim` of an iteration shape: line l is one position of all
// the other dims. Several operands (element strides over the same dims) move together,
// so a kernel gets each operand's element offset for the start of a line and walks the
// line itself with its stride along `dim`.
template <int N>
class LineWalker {
 public:
  LineWalker(IntArrayRef sizes, int64_t dim, const IntArrayRef (&strides)[N]) {
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (static_cast<int64_t>(d) == dim) continue;
      outer_sizes_.push_back(sizes[d]);
      for (int k = 0; k < N; ++k) outer_strides_[k].push_back(strides[k][d]);
    }
    line_len_ = sizes.empty() ? 1 : sizes[static_cast<size_t>(dim)];
    num_lines_ = numel_of(outer_sizes_);
    for (int k = 0; k < N; ++k)
      line_stride_[k] = sizes.empty() ? 0 : strides[k][static_cast<size_t>(dim)];
  }
  int64_t num_lines() const { return num_lines_; }
  int64_t line_len() const { return line_len_; }
  int64_t line_stride(int k) const { return line_stride_[k]; }
  // Element offsets (relative to each operand's first element) where line l starts.
  void offsets(int64_t line, int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (size_t d = outer_sizes_.size(); d-- > 0;) {
      const int64_t c = line % outer_sizes_[d];
      line /= outer_sizes_[d];
      for (int k = 0; k < N; ++k) off[k] += c * outer_strides_[k][d];
    }
  }
  // Lines per parallel chunk so each chunk holds enough elements to pay for a thread.
  int64_t grain(int64_t elements_per_chunk = 32768) const {
    return std::max<int64_t>(1, elements_per_chunk / std::max<int64_t>(line_len_, 1));
  }

 private:
  Shape outer_sizes_;
  Shape outer_strides_[N];
  int64_t line_len_ = 1;
  int64_t num_lines_ = 1;
  int64_t line_stride_[N] = {};
};

}  // namespace tessera::cpu
