// The few-input-channel weight gradient (conv_first_layer.h): the input copied into
// zero-padded planes, then vec::conv3x3_weight_grad_few_channels_f32_avx2 per share of
// the images.
#include "backends/cpu/conv_first_layer.h"

#include <algorithm>
#include <vector>

#include "backends/cpu/vec/conv_first_layer.h"
#include "backends/cpu/vec/float_loops.h"
#include "tessera/parallel.h"

namespace tessera::cpu {
namespace {

constexpr int64_t kBlock = 8;
constexpr int64_t kMaxChannels = 4;

}  // namespace

bool few_channels_weight_grad_applies(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy) {
  static const bool avx2 = vec::cpu_runs_isa("avx2");
  const bool x_layout = x.dim() == 4 || (x.dim() == 5 && x.size(4) == kBlock);
  return avx2 && x.dtype() == DType::Float32 && gy.dtype() == DType::Float32 && x_layout && gy.dim() == 5 &&
         gy.size(4) == kBlock && g.kh == 3 && g.kw == 3 && g.stride[0] == 1 && g.stride[1] == 1 &&
         g.dilation[0] == 1 && g.dilation[1] == 1 && g.groups == 1 && g.c >= 1 && g.c <= kMaxChannels &&
         g.oh + 2 == g.h + g.pad_begin[0] + g.pad_end[0] && g.ow + 2 == g.w + g.pad_begin[1] + g.pad_end[1];
}

void few_channels_weight_grad(const ops::ConvGeometry& g, const Tensor& x, const Tensor& gy, Tensor& gw) {
  const int64_t N = g.n, C = g.c, KB = gy.size(1), PH = g.oh + 2, PW = g.ow + 2;
  // Planes of (OH + 2) x (OW + 2): every output reads its 3x3 patch without a bounds check.
  // The padding may be negative (a crop); positions outside x stay 0.
  Tensor padded = make_tensor({N * C * PH * PW}, DType::Float32);
  float* xp = padded.data<float>();
  const float* xs = x.data<float>();
  const bool blocked = x.dim() == 5;
  parallel_for(0, N * C, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / C, c = p % C;
      float* dst = xp + p * PH * PW;
      for (int64_t py = 0; py < PH; ++py)
        for (int64_t px = 0; px < PW; ++px) {
          const int64_t iy = py - g.pad_begin[0], ix = px - g.pad_begin[1];
          const bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
          const int64_t at = blocked ? (((n * x.size(1) + c / kBlock) * g.h + iy) * g.w + ix) * kBlock + c % kBlock
                                     : ((n * C + c) * g.h + iy) * g.w + ix;
          dst[py * PW + px] = inside ? xs[at] : 0.f;
        }
    }
  });
  const int64_t per = KB * C * 9 * kBlock;
  const int64_t shares = std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), N));
  std::vector<float> acc(static_cast<size_t>(shares * per), 0.f);
  const float* gyp = gy.data<float>();
  parallel_for(0, shares, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s)
      vec::conv3x3_weight_grad_few_channels_f32_avx2(xp, C, gyp, KB, g.oh, g.ow, s * N / shares, (s + 1) * N / shares,
                                                     acc.data() + s * per);
  });
  for (int64_t s = 1; s < shares; ++s)
    for (int64_t i = 0; i < per; ++i) acc[static_cast<size_t>(i)] += acc[static_cast<size_t>(s * per + i)];
  float* out = gw.data<float>();
  for (int64_t k = 0; k < g.o; ++k)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < 9; ++t)
        out[(k * C + c) * 9 + t] = acc[static_cast<size_t>((((k / kBlock) * C + c) * 9 + t) * kBlock + k % kBlock)];
}

}  // namespace tessera::cpu
