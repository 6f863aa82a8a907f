#pragma once
// The weight gradient of a 3x3 stride-1 convolution with few input channels (a network's
// first layer), vectorized over 8 output channels, compiled for AVX2
// (conv_first_layer_avx2.cc: call it only where vec::cpu_runs_isa("avx2")).
#include <cstdint>

namespace tessera::cpu::vec {

// acc[kb][c][a * 3 + b][lane] += sum over images [n0, n1) and outputs (i, j) of
// gy[n][kb][i][j][lane] * xp[n][c][i + a][j + b], where xp holds the input padded to
// (OH + 2) x (OW + 2) planes (so that no tap needs a bounds check) and gy is the output
// gradient in blocks of 8 channels, [N][KB][OH][OW][8]. acc is [KB][C][9][8].
void conv3x3_weight_grad_few_channels_f32_avx2(const float* xp, int64_t channels, const float* gy, int64_t out_blocks,
                                               int64_t OH, int64_t OW, int64_t n0, int64_t n1, float* acc);

}  // namespace tessera::cpu::vec
