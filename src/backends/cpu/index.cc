// CPU kernels of the index family. Index values are validated in one serial pass before
// the (possibly parallel) data movement, so the error names the first bad index and no
// thread ever touches memory outside the tensor.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <utility>

#include "ops/copy.h"
#include "ops/index.h"
#include "ops/registration.h"
#include "ops/shape.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;

// Sizes and strides with a 0-d tensor seen as 1-D of size 1 (the ops' dim rules do so).
Shape sizes1(const Tensor& t) { return t.dim() == 0 ? Shape{1} : Shape(t.sizes()); }
Shape strides1(const Tensor& t) { return t.dim() == 0 ? Shape{1} : Shape(t.strides()); }

[[noreturn]] void throw_bad_index(int64_t value, int64_t dim, int64_t size, bool negative_ok) {
  if (size == 0)
    TESSERA_CHECK(false, "index ", value, " is out of bounds for dim ", dim,
                  ", which has size 0 (no index is valid)");
  TESSERA_CHECK(false, "index ", value, " is out of bounds for dim ", dim, " with size ", size,
                " (valid range: ", negative_ok ? -size : 0, " to ", size - 1, ")");
  __builtin_unreachable();
}

// Every value of an int64 index tensor lies in [0, size).
void check_index_range(const Tensor& index, int64_t dim, int64_t size) {
  for_each_value<int64_t>(index, [&](int64_t, int64_t v) {
    if (v < 0 || v >= size) throw_bad_index(v, dim, size, false);
  });
}

// The values of a 0-d/1-D int64 or int32 index as int64.
std::vector<int64_t> read_index(const Tensor& index) {
  std::vector<int64_t> out(static_cast<size_t>(index.numel()));
  if (index.dtype() == kInt32) {
    for_each_value<int32_t>(index, [&](int64_t i, int32_t v) { out[static_cast<size_t>(i)] = v; });
  } else {
    for_each_value<int64_t>(index, [&](int64_t i, int64_t v) { out[static_cast<size_t>(i)] = v; });
  }
  return out;
}

// Accumulation for scatter_add / index_put(accumulate): bool adds as logical or, the
// reduced floats go through float (their implicit conversions), integers wrap.
template <typename T>
inline void add_into(T& dst, T v) {
  if constexpr (std::is_same_v<T, bool>) dst = dst || v;
  else dst = static_cast<T>(dst + v);
}

void gather_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Tensor& index = c.inputs[1];
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  const int64_t dim = wrap_dim(c.attrs.i("dim"), x.dim(), "gather");
  check_index_range(index, dim, sizes1(x)[static_cast<size_t>(dim)]);
  const Shape os = strides1(out), is = strides1(index), xs = strides1(x);
  const LineWalker<3> w(sizes1(index), dim, {os, is, xs});
  TESSERA_DISPATCH_ALL(x.dtype(), "gather", [&] {
    scalar_t* o = out.data<scalar_t>();
    const int64_t* ip = index.data<int64_t>();
    const scalar_t* xp = x.data<scalar_t>();
    const int64_t n = w.line_len(), so = w.line_stride(0), si = w.line_stride(1), sx = w.line_stride(2);
    parallel_for(0, w.num_lines(), w.grain(), [&](int64_t b, int64_t e) {
      int64_t off[3];
      for (int64_t l = b; l < e; ++l) {
        w.offsets(l, off);
        for (int64_t j = 0; j < n; ++j) o[off[0] + j * so] = xp[off[2] + ip[off[1] + j * si] * sx];
      }
    });
  });
}

template <bool Add>
void scatter_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Tensor& index = c.inputs[1];
  const Tensor& src = c.inputs[2];
  Tensor& out = c.outputs[0];
  copy_into(out, x);
  if (index.numel() == 0) return;
  const int64_t dim = wrap_dim(c.attrs.i("dim"), x.dim(), Add ? "scatter_add" : "scatter");
  check_index_range(index, dim, sizes1(x)[static_cast<size_t>(dim)]);
  const Shape os = strides1(out), is = strides1(index), ss = strides1(src);
  // Lines differ in some coordinate other than `dim`, which every write keeps, so lines
  // write disjoint elements and may run in parallel; within a line writes are in order
  // (the last duplicate index wins, or all of them add up).
  const LineWalker<3> w(sizes1(index), dim, {os, is, ss});
  TESSERA_DISPATCH_ALL(x.dtype(), "scatter", [&] {
    scalar_t* o = out.data<scalar_t>();
    const int64_t* ip = index.data<int64_t>();
    const scalar_t* sp = src.data<scalar_t>();
    const int64_t n = w.line_len(), so = w.line_stride(0), si = w.line_stride(1), sst = w.line_stride(2);
    parallel_for(0, w.num_lines(), w.grain(), [&](int64_t b, int64_t e) {
      int64_t off[3];
      for (int64_t l = b; l < e; ++l) {
        w.offsets(l, off);
        for (int64_t j = 0; j < n; ++j) {
          scalar_t& dst = o[off[0] + ip[off[1] + j * si] * so];
          if constexpr (Add) add_into(dst, sp[off[2] + j * sst]);
          else dst = sp[off[2] + j * sst];
        }
      }
    });
  });
}

// Slices of at least this many elements are copied one by one (see below).
constexpr int64_t kStridedSliceMin = 256;

void index_select_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& out = c.outputs[0];
  const int64_t dim = wrap_dim(c.attrs.i("dim"), x.dim(), "index_select");
  const Shape xsz = sizes1(x);
  const int64_t size = xsz[static_cast<size_t>(dim)];
  const std::vector<int64_t> ids = read_index(c.inputs[1]);
  for (int64_t v : ids)
    if (v < 0 || v >= size) throw_bad_index(v, dim, size, false);
  if (out.numel() == 0) return;
  const auto n = static_cast<int64_t>(ids.size());
  const size_t isz = x.itemsize();
  if (x.is_contiguous()) {
    // Each selected slice is `inner` contiguous elements: one memcpy per (outer, index).
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < static_cast<int64_t>(xsz.size()); ++d)
      (d < dim ? outer : inner) *= d == dim ? 1 : xsz[static_cast<size_t>(d)];
    const char* xp = static_cast<const char*>(x.data_ptr());
    char* op = static_cast<char*>(out.data_ptr());
    const size_t bytes = static_cast<size_t>(inner) * isz;
    parallel_for(0, outer * n, std::max<int64_t>(1, kElementwiseGrain / inner), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t o = r / n, i = r % n;
        std::memcpy(op + static_cast<size_t>(r) * bytes,
                    xp + static_cast<size_t>(o * size + ids[static_cast<size_t>(i)]) * bytes, bytes);
      }
    });
    return;
  }
  // A strided input with large slices (a few rows picked out of a permuted view: the q, k
  // and v of a fused projection as PyTorch 2's exporter writes them) copies each slice as a
  // strided copy: lines along `dim` would be one element long, each paying a
  // multi-dimensional offset computation (0.5 ms per [128, 1, 256] slice, 15 ns an element).
  if (out.numel() / n >= kStridedSliceMin) {
    for (int64_t j = 0; j < n; ++j) copy_into(out.select(dim, j), x.select(dim, ids[static_cast<size_t>(j)]));
    return;
  }
  const Shape os = strides1(out), xs = strides1(x);
  Shape osz = xsz;
  osz[static_cast<size_t>(dim)] = n;
  const LineWalker<2> w(osz, dim, {os, xs});
  TESSERA_DISPATCH_ALL(x.dtype(), "index_select", [&] {
    scalar_t* o = out.data<scalar_t>();
    const scalar_t* xp = x.data<scalar_t>();
    const int64_t so = w.line_stride(0), sx = w.line_stride(1);
    parallel_for(0, w.num_lines(), w.grain(), [&](int64_t b, int64_t e) {
      int64_t off[2];
      for (int64_t l = b; l < e; ++l) {
        w.offsets(l, off);
        for (int64_t j = 0; j < n; ++j) o[off[0] + j * so] = xp[off[1] + ids[static_cast<size_t>(j)] * sx];
      }
    });
  });
}

// One index per indexed dim: its values (wrapped to non-negative) and shape. A bool mask
// over r dims becomes r 1-D indices holding the coordinates of its true elements.
struct DimIndex {
  Shape sizes;
  std::vector<int64_t> values;
};

std::vector<DimIndex> expand_indices(const std::vector<Tensor>& in) {
  std::vector<DimIndex> out;
  for (size_t i = 2; i < in.size(); ++i) {
    const Tensor& t = in[i];
    if (t.dtype() != kBool) {
      out.push_back({Shape(t.sizes()), read_index(t)});
      continue;
    }
    const Shape msz(t.sizes());
    std::vector<int64_t> flats;
    for_each_value<bool>(t, [&](int64_t flat, bool v) {
      if (v) flats.push_back(flat);
    });
    const auto nnz = static_cast<int64_t>(flats.size());
    const size_t first = out.size();
    for (size_t d = 0; d < msz.size(); ++d)
      out.push_back({Shape{nnz}, std::vector<int64_t>(static_cast<size_t>(nnz))});
    for (size_t k = 0; k < flats.size(); ++k) {
      int64_t f = flats[k];
      for (size_t d = msz.size(); d-- > 0;) {
        out[first + d].values[k] = f % msz[d];
        f /= msz[d];
      }
    }
  }
  return out;
}

// Values of `idx` broadcast to `shape` (right-aligned), in row-major order.
std::vector<int64_t> broadcast_index(const DimIndex& idx, IntArrayRef shape) {
  const size_t nd = shape.size(), r = idx.sizes.size();
  Shape strides(nd, 0);
  const Shape own = contiguous_strides(idx.sizes);
  for (size_t d = 0; d < r; ++d)
    if (idx.sizes[d] != 1) strides[nd - r + d] = own[d];
  std::vector<int64_t> out(static_cast<size_t>(numel_of(shape)));
  Shape coord(nd, 0);
  int64_t off = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = idx.values[static_cast<size_t>(off)];
    for (size_t d = nd; d-- > 0;) {
      off += strides[d];
      if (++coord[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      coord[d] = 0;
    }
  }
  return out;
}

void index_put_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Tensor& values = c.inputs[1];
  Tensor& out = c.outputs[0];
  const bool accumulate = c.attrs.b("accumulate");
  copy_into(out, x);

  const std::vector<DimIndex> indices = expand_indices(c.inputs);
  const size_t k = indices.size();
  TESSERA_CHECK(static_cast<int64_t>(k) <= x.dim(), "too many indices for a tensor of rank ",
                x.dim(), " (got ", k, ")");
  // The indices broadcast together to B; the indexed result has shape B + x.sizes[k:].
  Shape b_shape = indices[0].sizes;
  for (size_t i = 1; i < k; ++i) {
    const Shape& s = indices[i].sizes;
    const size_t n = std::max(b_shape.size(), s.size());
    Shape merged(n, 1);
    for (size_t d = 0; d < n; ++d) {
      const int64_t a = d < n - b_shape.size() ? 1 : b_shape[d - (n - b_shape.size())];
      const int64_t e = d < n - s.size() ? 1 : s[d - (n - s.size())];
      TESSERA_CHECK(a == e || a == 1 || e == 1,
                    "shape mismatch: indices could not be broadcast together: ", shape_str(b_shape),
                    " (indices 0 to ", i - 1, ") vs ", shape_str(s), " (index ", i, ")");
      merged[d] = a == 1 ? e : a;
    }
    b_shape = merged;
  }
  Shape r_shape = b_shape;
  for (size_t d = k; d < static_cast<size_t>(x.dim()); ++d) r_shape.push_back(x.sizes()[d]);
  bool fits = values.dim() <= static_cast<int64_t>(r_shape.size());
  for (int64_t d = 0; fits && d < values.dim(); ++d) {
    const int64_t v = values.sizes()[static_cast<size_t>(values.dim() - 1 - d)];
    fits = v == 1 || v == r_shape[r_shape.size() - 1 - static_cast<size_t>(d)];
  }
  TESSERA_CHECK(fits, "shape mismatch: values of shape ", shape_str(values.sizes()),
                " cannot be broadcast to the indexed result of shape ", shape_str(r_shape));

  // Resolve every index to a non-negative one (range-checked) before writing anything.
  std::vector<std::vector<int64_t>> flat(k);
  for (size_t i = 0; i < k; ++i) {
    flat[i] = broadcast_index(indices[i], b_shape);
    const int64_t size = x.sizes()[i];
    for (int64_t& v : flat[i]) {
      if (v < -size || v >= size) throw_bad_index(v, static_cast<int64_t>(i), size, true);
      if (v < 0) v += size;
    }
  }
  const int64_t count = numel_of(b_shape);
  int64_t inner = 1;
  for (size_t d = k; d < static_cast<size_t>(x.dim()); ++d) inner *= x.sizes()[d];
  if (count == 0 || inner == 0) return;
  Tensor vals = make_tensor(r_shape, values.dtype());
  copy_into(vals, values);  // broadcast once, so each indexed block is contiguous
  const int64_t isz = static_cast<int64_t>(out.itemsize());
  char* op = static_cast<char*>(out.data_ptr());
  const char* vp = static_cast<const char*>(vals.data_ptr());
  // Serial in index order: duplicates then behave deterministically (last write wins,
  // or every duplicate adds).
  TESSERA_DISPATCH_ALL(out.dtype(), "index_put", [&] {
    for (int64_t b = 0; b < count; ++b) {
      int64_t dst = 0;
      for (size_t i = 0; i < k; ++i) dst += flat[i][static_cast<size_t>(b)] * out.strides()[i];
      if (accumulate) {
        auto* o = reinterpret_cast<scalar_t*>(op + dst * isz);
        const auto* v = reinterpret_cast<const scalar_t*>(vp + b * inner * isz);
        for (int64_t j = 0; j < inner; ++j) add_into(o[j], v[j]);
      } else {
        std::memcpy(op + dst * isz, vp + b * inner * isz, static_cast<size_t>(inner * isz));
      }
    }
  });
}

void one_hot_kernel(const KernelCall& c) {
  Tensor& out = c.outputs[0];
  const int64_t classes = out.size(-1);
  // The range check reads values, so it is here rather than in the shape rule (which runs
  // on metadata); the extremes make the message (PyTorch names them too).
  int64_t lo = 0, hi = -1;
  bool first = true;
  for_each_value<int64_t>(c.inputs[0], [&](int64_t, int64_t v) {
    lo = first ? v : std::min(lo, v);
    hi = first ? v : std::max(hi, v);
    first = false;
  });
  TESSERA_CHECK(lo >= 0, "class values must be non-negative, got ", lo);
  TESSERA_CHECK(hi < classes, "class values must be smaller than num_classes (", classes, "), got ", hi);
  if (out.numel() == 0) return;
  std::memset(out.data_ptr(), 0, out.nbytes());
  int64_t* o = out.data<int64_t>();
  for_each_value<int64_t>(c.inputs[0], [&](int64_t i, int64_t v) { o[i * classes + v] = 1; });
}

// NaN sorts above every number (PyTorch): last ascending, first descending.
template <typename T>
inline bool less_nan_last(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return (!std::isnan(a) && std::isnan(b)) || a < b;
  else return a < b;
}

// A float32 line of fewer than 2^32 elements, ordered as order_lines orders it, by plain
// integer keys: each value's bits mapped to an unsigned integer in the same order (-0 as
// +0, every NaN past every number, or before for descending), the position in the low 32
// bits, so one 64-bit comparison gives value order and the stable tie-break; a full sort
// of a long line is a radix sort on the keys. [512, 1152] rows at 1 thread: 33.6 ms with
// the NaN-aware pair comparator, 19.8 with std::sort on the keys, 7.1 with the radix
// sort. Values are copied from the line, so NaN payloads and zero signs are kept. Returns
// false where it does not apply (float64: its key needs 64 bits).
template <typename T>
bool order_float_line(const T* x, int64_t sx, int64_t n, int64_t k, bool descending, T* v, int64_t sv, int64_t* idx,
                      int64_t si) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    if (n >= (int64_t{1} << 32)) return false;
    thread_local std::vector<uint64_t> keys;
    keys.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      const float f = x[j * sx];
      uint32_t key;
      if (f != f) {
        key = descending ? 0u : ~0u;
      } else {
        const uint32_t bits = std::bit_cast<uint32_t>(f == 0.f ? 0.f : f);
        key = (bits >> 31) != 0 ? ~bits : bits | 0x80000000u;  // order-preserving
        if (descending) key = ~key;
      }
      keys[static_cast<size_t>(j)] = (uint64_t{key} << 32) | static_cast<uint64_t>(j);
    }
    const uint64_t* sorted = keys.data();
    if (k < n) {
      std::partial_sort(keys.begin(), keys.begin() + k, keys.end());
    } else if (n < 256) {
      std::sort(keys.begin(), keys.end());
    } else {
      // Least-significant-digit radix sort on the key's 32 bits, 8 at a time: stable, so
      // positions stay in order among equal keys. A pass where every key has the same
      // digit is skipped.
      thread_local std::vector<uint64_t> spare;
      spare.resize(static_cast<size_t>(n));
      uint64_t* from = keys.data();
      uint64_t* to = spare.data();
      for (int shift = 32; shift < 64; shift += 8) {
        int64_t start[257] = {};
        for (int64_t j = 0; j < n; ++j) ++start[((from[j] >> shift) & 0xff) + 1];
        if (std::find(start + 1, start + 257, n) != start + 257) continue;
        for (int d = 0; d < 256; ++d) start[d + 1] += start[d];
        for (int64_t j = 0; j < n; ++j) to[start[(from[j] >> shift) & 0xff]++] = from[j];
        std::swap(from, to);
      }
      sorted = from;
    }
    for (int64_t j = 0; j < k; ++j) {
      const int64_t at = static_cast<int64_t>(sorted[j] & 0xffffffffu);
      v[j * sv] = x[at * sx];
      idx[j * si] = at;
    }
    return true;
  }
}

// Sort (k = line length) and topk share one kernel: per line, order positions by value
// with ties broken by position (what a stable sort gives), and keep the first k.
void order_lines(const Tensor& x, Tensor& values, Tensor& indices, int64_t dim, int64_t k,
                 bool descending) {
  if (values.numel() == 0) return;
  const Shape xs = strides1(x), vs = strides1(values), is = strides1(indices);
  const LineWalker<3> w(sizes1(x), dim, {xs, vs, is});
  TESSERA_DISPATCH_NUMERIC(x.dtype(), "sort", [&] {
    const scalar_t* xp = x.data<scalar_t>();
    scalar_t* vp = values.data<scalar_t>();
    int64_t* ip = indices.data<int64_t>();
    const int64_t n = w.line_len(), sx = w.line_stride(0), sv = w.line_stride(1), si = w.line_stride(2);
    parallel_for(0, w.num_lines(), w.grain(), [&](int64_t b, int64_t e) {
      // (value, position) pairs: comparing them needs no indirection through the line.
      std::vector<std::pair<scalar_t, int64_t>> buf(static_cast<size_t>(n));
      int64_t off[3];
      auto before = [descending](const std::pair<scalar_t, int64_t>& p, const std::pair<scalar_t, int64_t>& q) {
        if (descending ? less_nan_last(q.first, p.first) : less_nan_last(p.first, q.first)) return true;
        if (descending ? less_nan_last(p.first, q.first) : less_nan_last(q.first, p.first)) return false;
        return p.second < q.second;
      };
      for (int64_t l = b; l < e; ++l) {
        w.offsets(l, off);
        if constexpr (std::is_same_v<scalar_t, float> || std::is_same_v<scalar_t, double>) {
          if (order_float_line(xp + off[0], sx, n, k, descending, vp + off[1], sv, ip + off[2], si)) continue;
        }
        for (int64_t j = 0; j < n; ++j) buf[static_cast<size_t>(j)] = {xp[off[0] + j * sx], j};
        if (k == n) std::sort(buf.begin(), buf.end(), before);
        else std::partial_sort(buf.begin(), buf.begin() + k, buf.end(), before);
        for (int64_t j = 0; j < k; ++j) {
          vp[off[1] + j * sv] = buf[static_cast<size_t>(j)].first;
          ip[off[2] + j * si] = buf[static_cast<size_t>(j)].second;
        }
      }
    });
  });
}

void sort_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const int64_t dim = wrap_dim(c.attrs.i("dim"), x.dim(), "sort");
  order_lines(x, c.outputs[0], c.outputs[1], dim, sizes1(x)[static_cast<size_t>(dim)],
              c.attrs.b("descending"));
}

void topk_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const int64_t dim = wrap_dim(c.attrs.i("dim"), x.dim(), "topk");
  order_lines(x, c.outputs[0], c.outputs[1], dim, c.attrs.i("k"), c.attrs.b("largest"));
}

}  // namespace

void register_index_kernels() {
  const uint32_t sortable = ops::kNumericMask | ops::dtype_bit(kBool);
  register_kernel(ops::kGather, Device::CPU, gather_kernel, ops::kAllMask);
  register_kernel(ops::kScatter, Device::CPU, scatter_kernel<false>, ops::kAllMask);
  register_kernel(ops::kScatterAdd, Device::CPU, scatter_kernel<true>, ops::kAllMask);
  register_kernel(ops::kIndexSelect, Device::CPU, index_select_kernel, ops::kAllMask);
  register_kernel(ops::kIndexPut, Device::CPU, index_put_kernel, ops::kAllMask);
  register_kernel(ops::kOneHot, Device::CPU, one_hot_kernel, ops::dtype_bit(kInt64));
  register_kernel(ops::kSort, Device::CPU, sort_kernel, sortable);
  register_kernel(ops::kTopK, Device::CPU, topk_kernel, sortable);
}

}  // namespace tessera::cpu
