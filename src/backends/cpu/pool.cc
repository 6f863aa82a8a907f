// CPU kernels of the pooling ops. Plain loops, one (n, c) plane per task: pooling is
// memory-bound and a plane is the unit that keeps the argmax indices (flat within H*W, as
// PyTorch stores them) and the scatter of the backward free of write conflicts.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cpu/pool_loops.h"
#include "backends/cpu/vec/pool.h"
#include "ops/conv.h"
#include "ops/copy.h"
#include "ops/registration.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;

// Planes per task so that each task touches at least ~32K elements.
int64_t plane_grain(int64_t plane_elems) {
  return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, plane_elems));
}

template <typename T>
void max_pool_forward(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  Tensor& y = call.outputs[0];
  Tensor& idx = call.outputs[1];
  const std::vector<int64_t>& k = call.attrs.ints("kernel");
  const std::vector<int64_t>& s = call.attrs.ints("stride");
  const std::vector<int64_t>& p = call.attrs.ints("padding");
  const std::vector<int64_t>& d = call.attrs.ints("dilation");
  const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  const PoolWindow win{k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1]};
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  // Without indices (an empty output: no gradient follows) each task's planes write theirs
  // to one plane of scratch that stays in cache.
  const bool want_indices = idx.numel() > 0;
  int64_t* ip = want_indices ? idx.data<int64_t>() : nullptr;
  // The classic 2x2 / stride 2 pool (CNN28, CNN64, VGG-style nets) has no padding or
  // dilation to check: a straight-line window, several times faster than the general loop
  // (vec/pool.h; AVX-512 where the CPU has it). ceil_mode's extra partial window makes
  // 2 * OH > H and takes the general loop.
  const bool two_by_two = k[0] == 2 && k[1] == 2 && s[0] == 2 && s[1] == 2 && p[0] == 0 &&
                          p[1] == 0 && d[0] == 1 && d[1] == 1 && 2 * OH <= H && 2 * OW <= W &&
                          W < (int64_t{1} << 30);
  const vec::PoolKernels& kernels = vec::pool_kernels();
  parallel_for(0, x.size(0) * x.size(1), plane_grain(H * W), [&](int64_t p0, int64_t p1) {
    std::vector<int64_t> scratch(want_indices ? 0 : static_cast<size_t>(OH * OW));
    for (int64_t plane = p0; plane < p1; ++plane) {
      const T* xin = xp + plane * H * W;
      T* yo = yp + plane * OH * OW;
      int64_t* io = want_indices ? ip + plane * OH * OW : scratch.data();
      if (two_by_two) {
        if constexpr (std::is_same_v<T, float>) kernels.max2x2_f32(xin, H, W, yo, io, OH, OW);
        else max_pool2x2_plane(xin, W, yo, io, OH, OW);
        continue;
      }
      max_pool_plane(xin, H, W, yo, io, OH, OW, win);
    }
  });
}

template <typename T>
void max_pool_backward(const KernelCall& call) {
  const Tensor gy = contiguous(call.inputs[0]);
  const Tensor idx = contiguous(call.inputs[1]);
  Tensor& gx = call.outputs[0];
  const int64_t HW = gx.size(2) * gx.size(3), OHW = gy.size(2) * gy.size(3);
  const T* gp = gy.data<T>();
  const int64_t* ip = idx.data<int64_t>();
  T* op = gx.data<T>();
  parallel_for(0, gx.size(0) * gx.size(1), plane_grain(HW), [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      T* g = op + plane * HW;
      std::fill(g, g + HW, T(0));
      const T* src = gp + plane * OHW;
      const int64_t* ix = ip + plane * OHW;
      for (int64_t i = 0; i < OHW; ++i) {
        TESSERA_CHECK(ix[i] >= 0 && ix[i] < HW, "index ", ix[i], " is out of range for a plane of ",
                      HW, " elements");
        g[ix[i]] += src[i];
      }
    }
  });
}

struct AvgWindows {
  ops::PoolAxis h, w;
};

AvgWindows avg_windows(const ops::Attrs& attrs, int64_t H, int64_t W) {
  return {ops::avg_pool_axis(attrs, H, 0), ops::avg_pool_axis(attrs, W, 1)};
}

template <typename T>
void avg_pool_forward(const KernelCall& call) {
  const Tensor x = contiguous(call.inputs[0]);
  Tensor& y = call.outputs[0];
  const int64_t H = x.size(2), W = x.size(3), OH = y.size(2), OW = y.size(3);
  const AvgWindows win = avg_windows(call.attrs, H, W);
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  parallel_for(0, x.size(0) * x.size(1), plane_grain(H * W), [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const T* xin = xp + plane * H * W;
      T* yo = yp + plane * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const size_t i = static_cast<size_t>(oh);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const size_t j = static_cast<size_t>(ow);
          T acc = 0;
          for (int64_t ih = win.h.begin[i]; ih < win.h.end[i]; ++ih)
            for (int64_t iw = win.w.begin[j]; iw < win.w.end[j]; ++iw) acc += xin[ih * W + iw];
          yo[oh * OW + ow] = acc / static_cast<T>(win.h.div[i] * win.w.div[j]);
        }
      }
    }
  });
}

// The gradient of average pooling (avg_pool2d_backward and adaptive_avg_pool2d_backward):
// each output's gradient spread evenly over its window.
template <typename T>
void avg_pool_backward(const KernelCall& call) {
  const Tensor gy = contiguous(call.inputs[0]);
  Tensor& gx = call.outputs[0];
  const int64_t H = gx.size(2), W = gx.size(3), OH = gy.size(2), OW = gy.size(3);
  const AvgWindows win = avg_windows(call.attrs, H, W);
  const T* gp = gy.data<T>();
  T* op = gx.data<T>();
  parallel_for(0, gx.size(0) * gx.size(1), plane_grain(H * W), [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      T* g = op + plane * H * W;
      std::fill(g, g + H * W, T(0));
      const T* src = gp + plane * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const size_t i = static_cast<size_t>(oh);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const size_t j = static_cast<size_t>(ow);
          const T v = src[oh * OW + ow] / static_cast<T>(win.h.div[i] * win.w.div[j]);
          for (int64_t ih = win.h.begin[i]; ih < win.h.end[i]; ++ih)
            for (int64_t iw = win.w.begin[j]; iw < win.w.end[j]; ++iw) g[ih * W + iw] += v;
        }
      }
    }
  });
}

template <template <typename> class F>
void by_float_type(const KernelCall& call) {
  if (call.inputs[0].dtype() == DType::Float64) {
    F<double>::run(call);
  } else {
    F<float>::run(call);
  }
}

template <typename T> struct MaxFwd { static void run(const KernelCall& c) { max_pool_forward<T>(c); } };
template <typename T> struct MaxBwd { static void run(const KernelCall& c) { max_pool_backward<T>(c); } };
template <typename T> struct AvgFwd { static void run(const KernelCall& c) { avg_pool_forward<T>(c); } };
template <typename T> struct AvgBwd { static void run(const KernelCall& c) { avg_pool_backward<T>(c); } };

}  // namespace

void register_pool_kernels() {
  using namespace ops;
  register_kernel(kMaxPool2d, Device::CPU, by_float_type<MaxFwd>, kFloatMask);
  register_kernel(kMaxPool2dBackward, Device::CPU, by_float_type<MaxBwd>, kFloatMask);
  register_kernel(kAvgPool2d, Device::CPU, by_float_type<AvgFwd>, kFloatMask);
  register_kernel(kAvgPool2dBackward, Device::CPU, by_float_type<AvgBwd>, kFloatMask);
  register_kernel(kAdaptiveAvgPool2d, Device::CPU, by_float_type<AvgFwd>, kFloatMask);
  register_kernel(kGlobalAvgPool2d, Device::CPU, by_float_type<AvgFwd>, kFloatMask);
  register_kernel(kAdaptiveAvgPool2dBackward, Device::CPU, by_float_type<AvgBwd>, kFloatMask);
}

}  // namespace tessera::cpu
