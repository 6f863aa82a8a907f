#pragma once
// Explicit registration of every op family and its CPU kernels (static initialisers would
// be dropped by a static link). One line per family in registration.cc.
namespace tessera::ops {
void register_all();

void register_copy_ops();         // ops/copy.cc: copy, to, contiguous, fill
void register_view_ops();         // ops/view.cc: view, permute, slice, expand, ...
void register_factory_ops();      // ops/factory.cc: arange, linspace, eye, ...
void register_random_ops();       // ops/random.cc: rand, randn, randint, bernoulli, ...
void register_elementwise_ops();  // ops/elementwise.cc
void register_reduce_ops();       // ops/reduce.cc (incl. softmax, cumsum)
void register_shape_ops();        // ops/shape.cc: cat, stack, repeat, flip, roll, tril, ...
void register_index_ops();        // ops/index.cc: gather, scatter, index_*, sort, topk, ...
void register_linalg_ops();       // ops/linalg.cc: matmul, bmm, addmm, outer, dot
void register_conv_ops();         // ops/conv.cc + pool.cc: conv2d, conv_transpose2d, pools
}  // namespace tessera::ops

namespace tessera::cpu {
void register_copy_kernels();
void register_factory_kernels();
void register_random_kernels();
void register_elementwise_kernels();
void register_reduce_kernels();
void register_shape_kernels();
void register_index_kernels();
void register_linalg_kernels();
void register_conv_kernels();
void register_nn_kernels();  // backends/cpu/nn.cc: fused kernels of composites
}  // namespace tessera::cpu
