#pragma once
// The elementwise loop engine (a small TensorIterator): operands (outputs first, then
// inputs) are broadcast to the output shape with stride 0, adjacent dims that are
// contiguous in every operand are merged, and the range of elements is cut into chunks
// for the thread pool. Kernels only ever see an inner 1-D loop:
//     inner(char** ptrs, const int64_t* byte_strides, int64_t n)
// and pick a vectorized path when every stride equals the element size (or is 0 for a
// broadcast scalar).
#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>

#include "tessera/parallel.h"
#include "tessera/tensor.h"

namespace tessera {

inline constexpr int kMaxOperands = 4;

class ElementwiseLoop {
 public:
  // outputs and inputs must be broadcastable to outputs[0]'s shape.
  ElementwiseLoop(std::initializer_list<const Tensor*> outputs,
                  std::initializer_list<const Tensor*> inputs);

  int num_operands() const { return nops_; }
  int64_t numel() const { return numel_; }
  int ndim() const { return static_cast<int>(sizes_.size()); }
  // True when one inner loop covers everything (all operands contiguous or broadcast).
  bool is_1d() const { return sizes_.size() <= 1; }

  // Runs `inner` over elements [begin, end) of the (coalesced) iteration space.
  template <typename Inner>
  void run_range(int64_t begin, int64_t end, Inner&& inner) const;

  // Runs over everything, in parallel when numel >= grain.
  template <typename Inner>
  void run(Inner&& inner, int64_t grain = kElementwiseGrain) const {
    if (numel_ == 0) return;
    if (numel_ < grain || get_num_threads() == 1 || in_parallel_region()) {
      run_range(0, numel_, inner);
      return;
    }
    parallel_for(0, numel_, grain, [&](int64_t b, int64_t e) { run_range(b, e, inner); });
  }

 private:
  int nops_ = 0;
  int64_t numel_ = 0;
  char* base_[kMaxOperands] = {};
  Shape sizes_;                        // innermost dim last
  Shape strides_[kMaxOperands];        // byte strides per operand, same order as sizes_
};

template <typename Inner>
void ElementwiseLoop::run_range(int64_t begin, int64_t end, Inner&& inner) const {
  const int nd = ndim();
  char* ptrs[kMaxOperands];
  int64_t inner_strides[kMaxOperands];
  if (nd == 0) {  // a single element
    for (int k = 0; k < nops_; ++k) {
      ptrs[k] = base_[k];
      inner_strides[k] = 0;
    }
    if (begin < end) inner(ptrs, inner_strides, int64_t{1});
    return;
  }
  for (int k = 0; k < nops_; ++k) inner_strides[k] = strides_[k][nd - 1];
  // Coordinates of `begin`.
  int64_t coord[32];
  Shape big_coord;
  int64_t* c = coord;
  if (nd > 32) {
    big_coord.resize(static_cast<size_t>(nd));
    c = big_coord.data();
  }
  int64_t rem = begin;
  for (int d = nd - 1; d >= 0; --d) {
    c[d] = rem % sizes_[d];
    rem /= sizes_[d];
  }
  int64_t pos = begin;
  const int64_t inner_size = sizes_[nd - 1];
  while (pos < end) {
    for (int k = 0; k < nops_; ++k) {
      int64_t off = 0;
      for (int d = 0; d < nd; ++d) off += c[d] * strides_[k][d];
      ptrs[k] = base_[k] + off;
    }
    int64_t n = std::min(inner_size - c[nd - 1], end - pos);
    inner(ptrs, inner_strides, n);
    pos += n;
    c[nd - 1] += n;
    for (int d = nd - 1; d > 0 && c[d] == sizes_[d]; --d) {
      c[d] = 0;
      ++c[d - 1];
    }
  }
}

// Applies a scalar function elementwise: out = f(in...). All operands are of type T
// (the dispatcher converted them). The contiguous case is a plain indexed loop, which
// the compiler vectorizes for the ISA of the translation unit it is compiled in.
template <typename Out, typename... In, typename F>
void map_loop(const ElementwiseLoop& loop, F f) {
  constexpr int N = sizeof...(In);
  loop.run([&](char** p, const int64_t* s, int64_t n) {
    Out* out = reinterpret_cast<Out*>(p[0]);
    const bool contiguous = [&]<size_t... I>(std::index_sequence<I...>) {
      return s[0] == static_cast<int64_t>(sizeof(Out)) &&
             ((s[I + 1] == static_cast<int64_t>(sizeof(In))) && ...);
    }(std::make_index_sequence<N>{});
    if (contiguous) {
      auto run_contig = [&]<size_t... I>(std::index_sequence<I...>) {
        const auto ins = std::make_tuple(reinterpret_cast<const In*>(p[I + 1])...);
        (void)ins;
        for (int64_t i = 0; i < n; ++i) out[i] = f(std::get<I>(ins)[i]...);
      };
      run_contig(std::make_index_sequence<N>{});
      return;
    }
    auto run_strided = [&]<size_t... I>(std::index_sequence<I...>) {
      for (int64_t i = 0; i < n; ++i) {
        *reinterpret_cast<Out*>(p[0] + i * s[0]) =
            f(*reinterpret_cast<const In*>(p[I + 1] + i * s[I + 1])...);
      }
    };
    run_strided(std::make_index_sequence<N>{});
  });
}

}  // namespace tessera
