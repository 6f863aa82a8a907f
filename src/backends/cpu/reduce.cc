// CPU kernels of the reductions (sum, mean, prod, amax/amin, max/min with indices,
// argmax/argmin, var/std, norms, logsumexp, all/any). Scans and softmax live in
// reduce_scan.cc.
//
// One engine runs every reduction. The input is split into kept dims (the output, row-major)
// and reduced dims; each group is coalesced (size-1 dims dropped, neighbours that are
// contiguous with each other merged). Then one of two loops runs:
//   rows:    each output reduces its own run of elements; the common case is a contiguous
//            run (sum over the last dim), which goes through the reducer's vectorizable
//            `contig` path. Strided and multi-dim runs use a plain stepping loop.
//   columns: when the innermost kept dim is contiguous in the input (sum over dim 0 of a
//            matrix, or any reduction of a transposed tensor), a tile of adjacent outputs is
//            accumulated at once: for each reduced position, acc[j] += x[j] over the tile.
// No copy of the input is ever made.
//
// Determinism: long runs are cut into chunks of fixed size (kChunk elements, or kRowChunk
// reduced positions in the column loop), reduced separately (in parallel when there is
// nothing else to parallelize) and merged in order. The chunking depends only on the
// shape, so results are bit-identical for every thread count.
//
// A reducer R provides:
//   in_t, acc_t (default constructible);
//   acc_t init(int64_t o)                       - the start state of output o;
//   void step(acc_t&, in_t x, int64_t i)        - fold in element i of the reduced run;
//   void merge(acc_t& a, const acc_t& b)        - b's elements come after a's;
//   void write(int64_t o, const acc_t&, int64_t n) - store output o (n elements reduced);
//   optionally void contig(acc_t&, const in_t*, int64_t n, int64_t i0) - a fast path for a
//   contiguous run starting at run index i0.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <type_traits>
#include <vector>

#include "backends/cpu/vec/float_loops.h"
#include "ops/reduce.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
void register_scan_kernels();                     // reduce_scan.cc
double sum_contiguous(const float* p, int64_t n);  // for reduce_scan.cc

namespace {

using ops::KernelCall;

constexpr int64_t kChunk = 16384;    // elements of a row reduced as one unit
constexpr int64_t kRowChunk = 1024;  // reduced positions per unit in the column loop
constexpr int64_t kTile = 256;       // outputs accumulated together in the column loop
constexpr int64_t kGrain = 32768;    // elements of work per task

struct Dims {
  Shape sizes;
  Shape strides;
  size_t rank() const { return sizes.size(); }
};

Dims coalesce(const Dims& in) {
  Dims out;
  for (size_t d = 0; d < in.rank(); ++d) {
    if (in.sizes[d] == 1) continue;
    if (!out.sizes.empty() && out.strides.back() == in.strides[d] * in.sizes[d]) {
      out.sizes.back() *= in.sizes[d];
      out.strides.back() = in.strides[d];
      continue;
    }
    out.sizes.push_back(in.sizes[d]);
    out.strides.push_back(in.strides[d]);
  }
  return out;
}

struct Geometry {
  Dims kept;  // outer to inner; output element o is the row-major index over these
  Dims red;   // the reduced run of each output
  int64_t n_out = 1;
  int64_t n_red = 1;
};

// `keep_order`: the run index must be the logical (row-major) index over the reduced dims
// (arg reductions). Otherwise the reduced dims are reordered by stride so more of them merge.
Geometry make_geometry(const Tensor& x, const std::vector<bool>& reduced, bool keep_order) {
  Geometry g;
  Dims k, r;
  for (size_t d = 0; d < static_cast<size_t>(x.dim()); ++d) {
    Dims& dst = reduced[d] ? r : k;
    dst.sizes.push_back(x.sizes()[d]);
    dst.strides.push_back(x.strides()[d]);
  }
  g.n_out = numel_of(k.sizes);
  g.n_red = numel_of(r.sizes);
  if (!keep_order) {
    std::vector<size_t> perm(r.rank());
    std::iota(perm.begin(), perm.end(), size_t{0});
    std::stable_sort(perm.begin(), perm.end(),
                     [&](size_t a, size_t b) { return r.strides[a] > r.strides[b]; });
    Dims sorted;
    for (size_t p : perm) {
      sorted.sizes.push_back(r.sizes[p]);
      sorted.strides.push_back(r.strides[p]);
    }
    r = std::move(sorted);
  }
  g.kept = coalesce(k);
  g.red = coalesce(r);
  if (g.kept.rank() == 0) {
    g.kept.sizes.push_back(1);
    g.kept.strides.push_back(0);
  }
  if (g.red.rank() == 0) {
    g.red.sizes.push_back(1);
    g.red.strides.push_back(1);
  }
  return g;
}

// Walks the elements of `dims` in row-major order, tracking the element offset.
class Walker {
 public:
  Walker(const Dims& d, int64_t start) : d_(d), coord_(d.rank(), 0) {
    for (size_t i = d.rank(); i-- > 0;) {
      coord_[i] = start % d.sizes[i];
      start /= d.sizes[i];
      offset_ += coord_[i] * d.strides[i];
    }
  }
  int64_t offset() const { return offset_; }
  void next() {
    for (size_t i = d_.rank(); i-- > 0;) {
      offset_ += d_.strides[i];
      if (++coord_[i] < d_.sizes[i]) return;
      offset_ -= d_.strides[i] * d_.sizes[i];
      coord_[i] = 0;
    }
  }

 private:
  const Dims& d_;
  Shape coord_;
  int64_t offset_ = 0;
};

// A float sum whose column loop may add rows in float before widening (see run_columns).
template <typename R>
concept FloatRows = requires { requires R::kFloatRows; };

template <typename R>
concept HasContig = requires(const R& r, typename R::acc_t& a, const typename R::in_t* p) {
  r.contig(a, p, int64_t{0}, int64_t{0});
};

// Run elements [begin, end) of output o's reduced run, which starts at `base`.
template <typename R>
typename R::acc_t reduce_span(const R& r, const typename R::in_t* base, const Dims& red,
                              int64_t begin, int64_t end, int64_t o) {
  typename R::acc_t acc = r.init(o);
  if (red.rank() == 1) {
    const int64_t s = red.strides[0];
    const typename R::in_t* p = base + begin * s;
    if constexpr (HasContig<R>) {
      if (s == 1) {
        r.contig(acc, p, end - begin, begin);
        return acc;
      }
    }
    for (int64_t i = 0; i < end - begin; ++i) r.step(acc, p[i * s], begin + i);
    return acc;
  }
  if constexpr (HasContig<R>) {
    // A contiguous innermost reduced dim (batch norm's sum over N, H, W): walk the outer
    // dims and hand each inner run to the vectorized path.
    const size_t last = red.rank() - 1;
    const int64_t inner = red.sizes[last];
    if (red.strides[last] == 1 && inner >= 8) {
      Dims outer;
      for (size_t d = 0; d < last; ++d) {
        outer.sizes.push_back(red.sizes[d]);
        outer.strides.push_back(red.strides[d]);
      }
      int64_t i = begin;
      Walker w(outer, begin / inner);
      while (i < end) {
        const int64_t in_run = i % inner;
        const int64_t n = std::min(inner - in_run, end - i);
        r.contig(acc, base + w.offset() + in_run, n, i);
        i += n;
        w.next();
      }
      return acc;
    }
  }
  Walker w(red, begin);
  for (int64_t i = begin; i < end; ++i, w.next()) r.step(acc, base[w.offset()], i);
  return acc;
}

template <typename R>
typename R::acc_t reduce_run(const R& r, const typename R::in_t* base, const Dims& red,
                             int64_t n, int64_t o) {
  if (n <= kChunk) return reduce_span(r, base, red, 0, n, o);
  const int64_t nc = (n + kChunk - 1) / kChunk;
  // unique_ptr, not vector: vector<bool> (all/any) has no addressable elements.
  std::unique_ptr<typename R::acc_t[]> parts(new typename R::acc_t[static_cast<size_t>(nc)]);
  parallel_for(0, nc, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c)
      parts[static_cast<size_t>(c)] =
          reduce_span(r, base, red, c * kChunk, std::min(n, (c + 1) * kChunk), o);
  });
  typename R::acc_t acc = parts[0];
  for (int64_t c = 1; c < nc; ++c) r.merge(acc, parts[static_cast<size_t>(c)]);
  return acc;
}

template <typename R>
void run_rows(const R& r, const typename R::in_t* x, const Geometry& g) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, g.n_red));
  parallel_for(0, g.n_out, grain, [&](int64_t b, int64_t e) {
    Walker w(g.kept, b);
    for (int64_t o = b; o < e; ++o, w.next())
      r.write(o, reduce_run(r, x + w.offset(), g.red, g.n_red, o), g.n_red);
  });
}

template <typename R>
void run_columns(const R& r, const typename R::in_t* x, const Geometry& g) {
  using acc_t = typename R::acc_t;
  const int64_t width = g.kept.sizes.back();
  Dims outer = g.kept;
  outer.sizes.pop_back();
  outer.strides.pop_back();
  const int64_t n_outer = g.n_out / width;
  const int64_t ntiles = (width + kTile - 1) / kTile;
  const int64_t nrc = (g.n_red + kRowChunk - 1) / kRowChunk;

  // Folds reduced positions [rb, re) of one tile into acc.
  auto accumulate = [&](acc_t* acc, const typename R::in_t* tile, int64_t tw, int64_t rb,
                        int64_t re) {
    Walker w(g.red, rb);
    if constexpr (FloatRows<R>) {
      // Float partial sums over a few rows, then one add into the double accumulators:
      // twice the speed of converting every element, and each partial holds <= 32 terms.
      constexpr int64_t kBlock = 32;
      float part[kTile];
      for (int64_t b = rb; b < re; b += kBlock) {
        for (int64_t j = 0; j < tw; ++j) part[j] = 0.f;
        for (int64_t i = b; i < std::min(re, b + kBlock); ++i, w.next()) {
          const float* p = tile + w.offset();
          for (int64_t j = 0; j < tw; ++j) part[j] += p[j];
        }
        for (int64_t j = 0; j < tw; ++j) acc[j] += static_cast<double>(part[j]);
      }
      return;
    }
    for (int64_t i = rb; i < re; ++i, w.next()) {
      const typename R::in_t* p = tile + w.offset();
      for (int64_t j = 0; j < tw; ++j) r.step(acc[j], p[j], i);
    }
  };

  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, kTile * g.n_red));
  parallel_for(0, n_outer * ntiles, grain, [&](int64_t b, int64_t e) {
    for (int64_t item = b; item < e; ++item) {
      const int64_t ob = item / ntiles;
      const int64_t j0 = (item % ntiles) * kTile;
      const int64_t tw = std::min(kTile, width - j0);
      const int64_t o0 = ob * width + j0;
      const typename R::in_t* tile = x + (outer.rank() ? Walker(outer, ob).offset() : 0) + j0;
      acc_t acc[kTile];
      for (int64_t j = 0; j < tw; ++j) acc[j] = r.init(o0 + j);
      if (nrc <= 1) {
        accumulate(acc, tile, tw, 0, g.n_red);
      } else {
        std::unique_ptr<acc_t[]> parts(new acc_t[static_cast<size_t>(nrc * tw)]);
        parallel_for(0, nrc, 1, [&](int64_t cb, int64_t ce) {
          for (int64_t c = cb; c < ce; ++c) {
            acc_t* pa = parts.get() + c * tw;
            for (int64_t j = 0; j < tw; ++j) pa[j] = r.init(o0 + j);
            accumulate(pa, tile, tw, c * kRowChunk, std::min(g.n_red, (c + 1) * kRowChunk));
          }
        });
        for (int64_t j = 0; j < tw; ++j) acc[j] = parts[static_cast<size_t>(j)];
        for (int64_t c = 1; c < nrc; ++c)
          for (int64_t j = 0; j < tw; ++j) r.merge(acc[j], parts[static_cast<size_t>(c * tw + j)]);
      }
      for (int64_t j = 0; j < tw; ++j) r.write(o0 + j, acc[j], g.n_red);
    }
  });
}

// A contiguous x viewed as [A, C, B], reduced over A and B, C kept: a conv or batch norm
// channel statistic (NCHW summed over 0, 2, 3). Returns C, or 0 when g is not that shape.
int64_t middle_channels(const Geometry& g) {
  if (g.kept.rank() != 1 || g.red.rank() != 2 || g.red.strides[1] != 1) return 0;
  const int64_t C = g.kept.sizes[0], B = g.red.sizes[1];
  if (g.kept.strides[0] != B || g.red.strides[0] != C * B) return 0;
  return C;
}

// The [A, C, B] case above, in the order the bytes lie in memory. The row loop would give
// each channel its own walk (A runs of B elements, each a stride C*B away), so a thread
// hops between A distant runs and the prefetcher restarts for each; here every thread
// streams one contiguous range of (a, c) planes, each summed by the vectorized `contig`
// into its own partial, and each channel then merges its A partials in order of a.
// Long planes are cut into kChunk pieces. The cuts and the merge order depend only on the
// shape, so the result is the same bit for bit at every thread count. Partials are
// written once per plane and contiguous per thread, so threads share no cache line but
// at the boundary of their ranges.
// Measured in CNN28's compiled b64 training step (TESSERA_PROFILE=1, 1 thread, best of 3 on
// a shared 2-core EPYC): the conv bias gradients `sum [64]` over 64x64x24x24 1.30 -> 0.56 ms
// and `sum [32]` over 64x32x26x26 0.67 -> 0.28 ms.
template <typename R>
void run_planes(const R& r, const typename R::in_t* x, const Geometry& g, int64_t C) {
  using acc_t = typename R::acc_t;
  const int64_t A = g.red.sizes[0], B = g.red.sizes[1];
  const int64_t pieces = (B + kChunk - 1) / kChunk;
  const int64_t units = A * C * pieces;
  std::unique_ptr<acc_t[]> part(new acc_t[static_cast<size_t>(units)]);
  const int64_t grain = std::max<int64_t>(1, kGrain / std::min(B, kChunk));
  parallel_for(0, units, grain, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const int64_t plane = u / pieces, k = u % pieces;  // plane = a * C + c
      const int64_t i0 = k * kChunk, n = std::min(kChunk, B - i0);
      acc_t acc = r.init(plane % C);
      // The run index of element (a, i) is a * B + i, as the row loop would number it.
      r.contig(acc, x + plane * B + i0, n, (plane / C) * B + i0);
      part[static_cast<size_t>(u)] = acc;
    }
  });
  parallel_for(0, C, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, A * pieces)),
               [&](int64_t b, int64_t e) {
                 for (int64_t c = b; c < e; ++c) {
                   acc_t acc = r.init(c);
                   for (int64_t a = 0; a < A; ++a)
                     for (int64_t k = 0; k < pieces; ++k)
                       r.merge(acc, part[static_cast<size_t>((a * C + c) * pieces + k)]);
                   r.write(c, acc, g.n_red);
                 }
               });
}

template <typename R>
void run_reduction(const R& r, const Tensor& x, const Geometry& g) {
  if (g.n_out == 0) return;
  const auto* data = static_cast<const typename R::in_t*>(x.data_ptr());
  if (g.n_red == 0) {
    for (int64_t o = 0; o < g.n_out; ++o) r.write(o, r.init(o), 0);
    return;
  }
  if constexpr (HasContig<R>) {
    if (const int64_t C = middle_channels(g); C > 0) return run_planes(r, data, g, C);
  }
  const bool run_contiguous = g.red.rank() == 1 && g.red.strides[0] == 1 && g.n_red > 1;
  const bool columns_contiguous = g.kept.strides.back() == 1 && g.kept.sizes.back() >= 4;
  if (!run_contiguous && columns_contiguous) run_columns(r, data, g);
  else run_rows(r, data, g);
}

// ---------------------------------------------------------------- reducers

template <typename T>
using wide_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <typename T>
constexpr bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}

// Sum (and mean) of T written as Out. Floats accumulate in double across short float
// blocks, so a million-element float32 sum keeps about 1e-7 relative error.
template <typename T, typename Out = T>
struct SumR {
  using in_t = T;
  using acc_t = wide_t<T>;
  static constexpr bool kFloatRows = std::is_same_v<T, float>;
  Out* out;
  bool mean = false;
  acc_t init(int64_t) const { return 0; }
  void step(acc_t& a, T x, int64_t) const { a += static_cast<acc_t>(x); }
  void merge(acc_t& a, const acc_t& b) const { a += b; }
  void contig(acc_t& a, const T* p, int64_t n, int64_t) const {
    if constexpr (std::is_same_v<T, float>) {
      constexpr int L = 16;
      constexpr int64_t kBlock = 1024;
      for (int64_t b = 0; b < n; b += kBlock) {
        const int64_t m = std::min(kBlock, n - b);
        const float* q = p + b;
        float lane[L] = {};
        int64_t i = 0;
        for (; i + L <= m; i += L)
          for (int j = 0; j < L; ++j) lane[j] += q[i + j];
        float tail = 0;
        for (; i < m; ++i) tail += q[i];
        for (int w = L / 2; w > 0; w /= 2)
          for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
        a += static_cast<double>(lane[0]) + static_cast<double>(tail);
      }
    } else {
      constexpr int L = 8;
      acc_t lane[L] = {};
      int64_t i = 0;
      for (; i + L <= n; i += L)
        for (int j = 0; j < L; ++j) lane[j] += static_cast<acc_t>(p[i + j]);
      for (; i < n; ++i) lane[0] += static_cast<acc_t>(p[i]);
      for (int w = L / 2; w > 0; w /= 2)
        for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
      a += lane[0];
    }
  }
  void write(int64_t o, const acc_t& a, int64_t n) const {
    if constexpr (std::is_floating_point_v<acc_t>) {
      out[o] = static_cast<Out>(mean ? a / static_cast<double>(n) : a);
    } else {
      out[o] = static_cast<Out>(a);
    }
  }
};

template <typename T>
struct ProdR {
  using in_t = T;
  using acc_t = wide_t<T>;
  T* out;
  acc_t init(int64_t) const { return 1; }
  void step(acc_t& a, T x, int64_t) const {
    if constexpr (std::is_integral_v<acc_t>) {
      // Wraps like PyTorch's int64 product, without signed-overflow UB.
      a = static_cast<acc_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(x));
    } else {
      a *= static_cast<acc_t>(x);
    }
  }
  void merge(acc_t& a, const acc_t& b) const {
    if constexpr (std::is_integral_v<acc_t>) {
      a = static_cast<acc_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
    } else {
      a *= b;
    }
  }
  void write(int64_t o, const acc_t& a, int64_t) const { out[o] = static_cast<T>(a); }
};

// Larger (kMax) or smaller; NaN beats everything so that it propagates.
template <typename T, bool kMax>
constexpr bool better(T x, T than) {
  if constexpr (std::is_floating_point_v<T>) {
    if (x != x) return than == than;
  }
  return kMax ? x > than : x < than;
}

template <typename T, bool kMax>
struct ExtremumR {
  using in_t = T;
  using acc_t = T;
  T* out;
  acc_t init(int64_t) const {
    if constexpr (std::is_floating_point_v<T>)
      return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    else
      return kMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  }
  void step(acc_t& a, T x, int64_t) const { a = better<T, kMax>(x, a) ? x : a; }
  void merge(acc_t& a, const acc_t& b) const { step(a, b, 0); }
  void contig(acc_t& a, const T* p, int64_t n, int64_t) const {
    constexpr int L = 16;
    int64_t i = 0;
    if constexpr (std::is_floating_point_v<T>) {
      // 16-byte vector lanes (GCC/Clang vector types: SSE2 at the baseline ISA, where GCC
      // did not vectorize the plain lane loop): `x > lane ? x : lane` is one MAXPS (MINPS
      // for amin), and a NaN, which that skips, is flagged on the side; a run holding one,
      // rare, is reduced again by the exact rule. amax over [512, 1152] floats at 1 thread:
      // 0.47 ms with a NaN test in every lane update, 0.22-0.27 with scalar lanes.
      using V [[gnu::vector_size(16)]] = T;
      using M = decltype(V{} != V{});
      constexpr int kPerV = 16 / sizeof(T), kVs = L / kPerV;
      V start{};  // a in every lane (not V{} + a: that turns -0 into +0)
      for (int l = 0; l < kPerV; ++l) start[l] = a;
      V lane[kVs];
      for (int q = 0; q < kVs; ++q) lane[q] = start;
      M nan{};
      for (; i + L <= n; i += L)
        for (int q = 0; q < kVs; ++q) {
          V x;
          std::memcpy(&x, p + i + q * kPerV, sizeof x);
          lane[q] = (kMax ? x > lane[q] : x < lane[q]) ? x : lane[q];
          nan |= x != x;
        }
      bool any_nan = false;
      for (int l = 0; l < kPerV; ++l) any_nan |= nan[l] != 0;
      if (any_nan) {
        for (int64_t k = 0; k < i; ++k) step(a, p[k], 0);
        for (; i < n; ++i) step(a, p[i], 0);
        return;
      }
      T tail = a;
      for (; i < n; ++i) step(tail, p[i], 0);
      for (int q = 0; q < kVs; ++q)
        for (int l = 0; l < kPerV; ++l) step(a, lane[q][l], 0);
      step(a, tail, 0);
    } else {
      T lane[L];
      for (int j = 0; j < L; ++j) lane[j] = a;
      for (; i + L <= n; i += L)
        for (int j = 0; j < L; ++j) step(lane[j], p[i + j], 0);
      for (; i < n; ++i) step(lane[0], p[i], 0);
      for (int j = 0; j < L; ++j) step(a, lane[j], 0);
    }
  }
  void write(int64_t o, const acc_t& a, int64_t) const { out[o] = a; }
};

// Value and index of the first extremum (the first NaN, if any).
template <typename T>
struct ValIdx {
  T v{};
  int64_t i = -1;
};
template <typename T, bool kMax>
struct ArgR {
  using in_t = T;
  using acc_t = ValIdx<T>;
  T* values;         // may be null (argmax)
  int64_t* indices;
  acc_t init(int64_t) const { return {}; }
  void step(acc_t& a, T x, int64_t i) const {
    if (a.i < 0 || better<T, kMax>(x, a.v)) a = {x, i};
  }
  void merge(acc_t& a, const acc_t& b) const {
    if (b.i >= 0 && (a.i < 0 || better<T, kMax>(b.v, a.v))) a = b;
  }
  // Floats: 16 lanes in 16-byte vectors, each keeping its first extremum and where it
  // was (value and index selected by one mask), instead of a scalar step per element:
  // argmax over [512, 1152] floats at 1 thread 0.52 -> ms below. The lanes are then merged
  // by value, the lower index winning a tie, so the result is step's: the first extremum.
  // A run holding a NaN (the first NaN wins) is reduced again by step.
  void contig(acc_t& a, const T* p, int64_t n, int64_t i0) const {
    constexpr int L = 16;
    if constexpr (std::is_floating_point_v<T>) {
      using V [[gnu::vector_size(16)]] = T;
      using Lane = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;  // a comparison's lanes
      using M [[gnu::vector_size(16)]] = Lane;
      constexpr int kPerV = 16 / sizeof(T), kVs = L / kPerV;
      if (n >= L && n <= std::numeric_limits<Lane>::max()) {
        M at{};  // 0, 1, ... kPerV - 1
        for (int l = 0; l < kPerV; ++l) at[l] = static_cast<Lane>(l);
        V lv[kVs];
        M li[kVs];
        M nan{};
        for (int q = 0; q < kVs; ++q) {
          std::memcpy(&lv[q], p + q * kPerV, sizeof(V));
          li[q] = at + static_cast<Lane>(q * kPerV);
          nan |= lv[q] != lv[q];
        }
        int64_t i = L;
        for (; i + L <= n; i += L)
          for (int q = 0; q < kVs; ++q) {
            V x;
            std::memcpy(&x, p + i + q * kPerV, sizeof x);
            const M take = kMax ? x > lv[q] : x < lv[q];
            lv[q] = take ? x : lv[q];
            li[q] = take ? at + static_cast<Lane>(i + q * kPerV) : li[q];
            nan |= x != x;
          }
        bool any_nan = false;
        for (int l = 0; l < kPerV; ++l) any_nan |= nan[l] != 0;
        if (!any_nan) {
          acc_t best{lv[0][0], static_cast<int64_t>(li[0][0])};
          for (int q = 0; q < kVs; ++q)
            for (int l = 0; l < kPerV; ++l) {
              const T v = lv[q][l];
              const int64_t k = li[q][l];
              if (better<T, kMax>(v, best.v) || (v == best.v && k < best.i)) best = {v, k};
            }
          best.i += i0;
          merge(a, best);
          for (; i < n; ++i) step(a, p[i], i0 + i);
          return;
        }
      }
    }
    for (int64_t i = 0; i < n; ++i) step(a, p[i], i0 + i);
  }
  void write(int64_t o, const acc_t& a, int64_t) const {
    if (values) values[o] = a.v;
    indices[o] = a.i;
  }
};

template <typename T, bool kAll>
struct LogicalR {
  using in_t = T;
  using acc_t = bool;
  bool* out;
  acc_t init(int64_t) const { return kAll; }
  void step(acc_t& a, T x, int64_t) const {
    const bool nz = x != T(0);  // NaN counts as true, as in PyTorch
    a = kAll ? (a && nz) : (a || nz);
  }
  void merge(acc_t& a, const acc_t& b) const { a = kAll ? (a && b) : (a || b); }
  void write(int64_t o, const acc_t& a, int64_t) const { out[o] = a; }
};

enum class NormKind { L1, L2, Inf, NegInf, Zero, General };

template <typename T, NormKind K>
struct NormR {
  using in_t = T;
  using acc_t = double;
  T* out;
  double p;
  acc_t init(int64_t) const { return K == NormKind::NegInf ? INFINITY : 0.0; }
  void step(acc_t& a, T x, int64_t) const {
    const double v = std::fabs(static_cast<double>(x));
    if constexpr (K == NormKind::L1) a += v;
    else if constexpr (K == NormKind::L2) a += v * v;
    else if constexpr (K == NormKind::Inf) a = better<double, true>(v, a) ? v : a;
    else if constexpr (K == NormKind::NegInf) a = better<double, false>(v, a) ? v : a;
    else if constexpr (K == NormKind::Zero) a += (x != T(0)) ? 1.0 : 0.0;
    else a += std::pow(v, p);
  }
  void merge(acc_t& a, const acc_t& b) const {
    if constexpr (K == NormKind::Inf) a = better<double, true>(b, a) ? b : a;
    else if constexpr (K == NormKind::NegInf) a = better<double, false>(b, a) ? b : a;
    else a += b;
  }
  void write(int64_t o, const acc_t& a, int64_t) const {
    double r = a;
    if constexpr (K == NormKind::L2) r = std::sqrt(a);
    else if constexpr (K == NormKind::General) r = std::pow(a, 1.0 / p);
    out[o] = static_cast<T>(r);
  }
};

// Second pass of var/std: squared deviations from a mean computed by the first pass.
struct MeanM2 {
  double mean = 0;
  double m2 = 0;
};
template <typename T>
struct SqDevR {
  using in_t = T;
  using acc_t = MeanM2;
  T* out;
  const double* means;
  int64_t correction;
  bool take_sqrt;
  acc_t init(int64_t o) const { return {means[o], 0.0}; }
  void step(acc_t& a, T x, int64_t) const {
    const double d = static_cast<double>(x) - a.mean;
    a.m2 += d * d;
  }
  void merge(acc_t& a, const acc_t& b) const { a.m2 += b.m2; }
  void contig(acc_t& a, const T* p, int64_t n, int64_t) const {
    constexpr int L = 8;
    double lane[L] = {};
    int64_t i = 0;
    for (; i + L <= n; i += L)
      for (int j = 0; j < L; ++j) {
        const double d = static_cast<double>(p[i + j]) - a.mean;
        lane[j] += d * d;
      }
    for (; i < n; ++i) {
      const double d = static_cast<double>(p[i]) - a.mean;
      lane[0] += d * d;
    }
    for (int w = L / 2; w > 0; w /= 2)
      for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
    a.m2 += lane[0];
  }
  void write(int64_t o, const acc_t& a, int64_t n) const {
    // N - correction <= 0 divides by zero: NaN for 0/0, inf otherwise (as PyTorch).
    const double div = static_cast<double>(std::max<int64_t>(0, n - correction));
    const double v = a.m2 / div;
    out[o] = static_cast<T>(take_sqrt ? std::sqrt(v) : v);
  }
};

// var/std by Welford's update, PyTorch's algorithm, for the outputs whose two-pass result is
// not finite. The first pass's sum overflows for data near the float limits (70 copies of
// FLT_MAX / 2), where the running mean does not: there this gives PyTorch's result (a
// variance of 0 for constant data, not inf); for data holding inf or NaN it gives the same
// NaN as both. Finite two-pass results are kept: they are the more accurate ones.
struct WelfordAcc {
  double mean = 0;
  double m2 = 0;
  int64_t n = 0;
};
template <typename T>
struct WelfordR {
  using in_t = T;
  using acc_t = WelfordAcc;
  T* out;
  int64_t correction;
  bool take_sqrt;
  acc_t init(int64_t) const { return {}; }
  void step(acc_t& a, T x, int64_t) const {
    const double v = static_cast<double>(x);
    ++a.n;
    const double delta = v - a.mean;
    a.mean += delta / static_cast<double>(a.n);
    a.m2 += delta * (v - a.mean);
  }
  // Chan et al.'s combination, as PyTorch's WelfordOps::combine.
  void merge(acc_t& a, const acc_t& b) const {
    if (b.n == 0) return;
    if (a.n == 0) {
      a = b;
      return;
    }
    const double count = static_cast<double>(a.n + b.n);
    const double delta = b.mean - a.mean;
    const double nb_over_n = static_cast<double>(b.n) / count;
    a.mean += delta * nb_over_n;
    a.m2 += b.m2 + delta * delta * static_cast<double>(a.n) * nb_over_n;
    a.n += b.n;
  }
  void write(int64_t o, const acc_t& a, int64_t n) const {
    if (std::isfinite(static_cast<double>(out[o]))) return;
    const double v = a.m2 / static_cast<double>(std::max<int64_t>(0, n - correction));
    out[o] = static_cast<T>(take_sqrt ? std::sqrt(v) : v);
  }
};

// Second pass of logsumexp: sum of exp(x - max). An infinite max shifts by 0 instead, so
// all -inf gives log(0) = -inf and any +inf gives +inf rather than NaN.
struct ShiftSum {
  double shift = 0;
  double sum = 0;
};
template <typename T>
struct SumExpR {
  using in_t = T;
  using acc_t = ShiftSum;
  T* out;
  const T* maxes;
  acc_t init(int64_t o) const {
    const double m = static_cast<double>(maxes[o]);
    return {std::isinf(m) ? 0.0 : m, 0.0};
  }
  void step(acc_t& a, T x, int64_t) const {
    a.sum += static_cast<double>(std::exp(x - static_cast<T>(a.shift)));
  }
  void contig(acc_t& a, const T* p, int64_t n, int64_t) const {
    if constexpr (std::is_same_v<T, float>) {
      // The vectorized exp of the ISA loops, over a stack buffer of x - shift.
      const vec::FloatLoops& v = vec::float_loops();
      const auto sub = v.binary_vs[static_cast<int>(vec::Binary::Sub)];
      const auto exp = v.unary[static_cast<int>(vec::Unary::Exp)];
      constexpr int64_t kBuf = 1024;
      float buf[kBuf];
      for (int64_t b = 0; b < n; b += kBuf) {
        const int64_t m = std::min(kBuf, n - b);
        sub(p + b, static_cast<float>(a.shift), buf, m);
        exp(buf, buf, m, {});
        double s = 0;
        SumR<float>{nullptr}.contig(s, buf, m, 0);
        a.sum += s;
      }
    } else {
      for (int64_t i = 0; i < n; ++i) step(a, p[i], 0);
    }
  }
  void merge(acc_t& a, const acc_t& b) const { a.sum += b.sum; }
  void write(int64_t o, const acc_t& a, int64_t) const {
    out[o] = static_cast<T>(std::log(a.sum) + a.shift);
  }
};

// ---------------------------------------------------------------- kernels

std::vector<bool> mask_of(const Tensor& x, const ops::Attrs& a) {
  static const std::vector<int64_t> none;
  return ops::reduced_dims_mask(x.dim(), a.has("dims") ? a.ints("dims") : none);
}

template <typename T>
constexpr bool kArith = !std::is_same_v<T, bool>;

void sum_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Geometry g = make_geometry(x, mask_of(x, c.attrs), false);
  TESSERA_DISPATCH_NUMERIC(x.dtype(), "sum", [&] {
    if constexpr (kArith<scalar_t>)
      run_reduction(SumR<scalar_t>{c.outputs[0].data<scalar_t>()}, x, g);
  });
}

void mean_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Geometry g = make_geometry(x, mask_of(x, c.attrs), false);
  TESSERA_DISPATCH_FLOATING(x.dtype(), "mean", [&] {
    run_reduction(SumR<scalar_t>{c.outputs[0].data<scalar_t>(), true}, x, g);
  });
}

void prod_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Geometry g = make_geometry(x, mask_of(x, c.attrs), false);
  TESSERA_DISPATCH_NUMERIC(x.dtype(), "prod", [&] {
    if constexpr (kArith<scalar_t>)
      run_reduction(ProdR<scalar_t>{c.outputs[0].data<scalar_t>()}, x, g);
  });
}

template <bool kMax>
void extremum_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Geometry g = make_geometry(x, mask_of(x, c.attrs), false);
  TESSERA_DISPATCH_NUMERIC(x.dtype(), c.op.name, [&] {
    run_reduction(ExtremumR<scalar_t, kMax>{c.outputs[0].data<scalar_t>()}, x, g);
  });
}

std::vector<bool> one_dim_mask(const Tensor& x, int64_t dim) {
  return ops::reduced_dims_mask(x.dim(), {dim});
}

template <bool kMax>
void extremum_dim_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Geometry g = make_geometry(x, one_dim_mask(x, c.attrs.i("dim")), true);
  TESSERA_DISPATCH_NUMERIC(x.dtype(), c.op.name, [&] {
    run_reduction(ArgR<scalar_t, kMax>{c.outputs[0].data<scalar_t>(), c.outputs[1].data<int64_t>()},
                  x, g);
  });
}

template <bool kMax>
void arg_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const std::vector<bool> mask = c.attrs.has("dim") ? one_dim_mask(x, c.attrs.i("dim"))
                                                    : std::vector<bool>(static_cast<size_t>(x.dim()), true);
  const Geometry g = make_geometry(x, mask, true);
  TESSERA_DISPATCH_NUMERIC(x.dtype(), c.op.name, [&] {
    run_reduction(ArgR<scalar_t, kMax>{nullptr, c.outputs[0].data<int64_t>()}, x, g);
  });
}

template <bool kSqrt>
void var_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Geometry g = make_geometry(x, mask_of(x, c.attrs), false);
  // Two passes (mean, then squared deviations), both in double: exact enough that no
  // compensated update is needed, and each pass vectorizes.
  std::vector<double> means(static_cast<size_t>(g.n_out));
  TESSERA_DISPATCH_FLOATING(x.dtype(), c.op.name, [&] {
    scalar_t* out = c.outputs[0].data<scalar_t>();
    const int64_t correction = c.attrs.i("correction");
    run_reduction(SumR<scalar_t, double>{means.data(), true}, x, g);
    run_reduction(SqDevR<scalar_t>{out, means.data(), correction, kSqrt}, x, g);
    // Rare: an infinite or NaN result, from special values or from an overflowing sum.
    if (!std::all_of(out, out + g.n_out, [](scalar_t v) { return std::isfinite(v); }))
      run_reduction(WelfordR<scalar_t>{out, correction, kSqrt}, x, g);
  });
}

void norm_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Geometry g = make_geometry(x, mask_of(x, c.attrs), false);
  const double p = c.attrs.f("p");
  TESSERA_DISPATCH_FLOATING(x.dtype(), c.op.name, [&] {
    scalar_t* out = c.outputs[0].data<scalar_t>();
    if (p == 1.0) run_reduction(NormR<scalar_t, NormKind::L1>{out, p}, x, g);
    else if (p == 2.0) run_reduction(NormR<scalar_t, NormKind::L2>{out, p}, x, g);
    else if (p == 0.0) run_reduction(NormR<scalar_t, NormKind::Zero>{out, p}, x, g);
    else if (p == INFINITY) run_reduction(NormR<scalar_t, NormKind::Inf>{out, p}, x, g);
    else if (p == -INFINITY) run_reduction(NormR<scalar_t, NormKind::NegInf>{out, p}, x, g);
    else run_reduction(NormR<scalar_t, NormKind::General>{out, p}, x, g);
  });
}

void logsumexp_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Geometry g = make_geometry(x, mask_of(x, c.attrs), false);
  TESSERA_DISPATCH_FLOATING(x.dtype(), "logsumexp", [&] {
    std::vector<scalar_t> maxes(static_cast<size_t>(g.n_out));
    run_reduction(ExtremumR<scalar_t, true>{maxes.data()}, x, g);
    run_reduction(SumExpR<scalar_t>{c.outputs[0].data<scalar_t>(), maxes.data()}, x, g);
  });
}

template <bool kAll>
void logical_kernel(const KernelCall& c) {
  const Tensor& x = c.inputs[0];
  const Geometry g = make_geometry(x, mask_of(x, c.attrs), false);
  TESSERA_DISPATCH_NUMERIC(x.dtype(), c.op.name, [&] {
    run_reduction(LogicalR<scalar_t, kAll>{c.outputs[0].data<bool>()}, x, g);
  });
}

constexpr uint32_t kNumBool = ops::kNumericMask | ops::dtype_bit(DType::Bool);

}  // namespace

double sum_contiguous(const float* p, int64_t n) {
  double acc = 0;
  SumR<float>{nullptr}.contig(acc, p, n, 0);
  return acc;
}

void register_reduce_kernels() {
  using namespace ops;
  register_kernel(kSum, Device::CPU, sum_kernel, kNumericMask);
  register_kernel(kMean, Device::CPU, mean_kernel, kFloatMask);
  register_kernel(kProd, Device::CPU, prod_kernel, kNumericMask);
  register_kernel(kAmax, Device::CPU, extremum_kernel<true>, kNumBool);
  register_kernel(kAmin, Device::CPU, extremum_kernel<false>, kNumBool);
  register_kernel(kMaxDim, Device::CPU, extremum_dim_kernel<true>, kNumBool);
  register_kernel(kMinDim, Device::CPU, extremum_dim_kernel<false>, kNumBool);
  register_kernel(kArgmax, Device::CPU, arg_kernel<true>, kNumBool);
  register_kernel(kArgmin, Device::CPU, arg_kernel<false>, kNumBool);
  register_kernel(kVar, Device::CPU, var_kernel<false>, kFloatMask);
  register_kernel(kStd, Device::CPU, var_kernel<true>, kFloatMask);
  register_kernel(kNorm, Device::CPU, norm_kernel, kFloatMask);
  register_kernel(kNormL1, Device::CPU, norm_kernel, kFloatMask);
  register_kernel(kNormL2, Device::CPU, norm_kernel, kFloatMask);
  register_kernel(kLogSumExp, Device::CPU, logsumexp_kernel, kFloatMask);
  register_kernel(kAll, Device::CPU, logical_kernel<true>, kNumBool);
  register_kernel(kAny, Device::CPU, logical_kernel<false>, kNumBool);
  register_scan_kernels();
}

}  // namespace tessera::cpu
