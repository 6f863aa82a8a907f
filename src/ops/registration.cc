#include "ops/registration.h"

#include "ops/collective.h"
#include "ops/fused_elementwise.h"
#include "ops/nn.h"
#include "ops/optim.h"

namespace tessera::ops {

void register_all() {
  register_copy_ops();
  register_view_ops();
  register_factory_ops();
  register_random_ops();
  register_elementwise_ops();
  register_reduce_ops();
  register_shape_ops();
  register_index_ops();
  register_linalg_ops();
  register_conv_ops();
  register_optim_ops();
  register_collective_ops();  // ops/collective.cc: all-reduce and broadcast nodes
  register_fused_elementwise_op();  // graph fusion (graph/passes/fuse_elementwise.cc)
  register_nn_ops();  // composites: decompositions (and fused kernels, backends/cpu/nn.cc)

  cpu::register_copy_kernels();
  cpu::register_factory_kernels();
  cpu::register_random_kernels();
  cpu::register_elementwise_kernels();
  cpu::register_reduce_kernels();
  cpu::register_shape_kernels();
  cpu::register_index_kernels();
  cpu::register_linalg_kernels();
  cpu::register_conv_kernels();
  cpu::register_optim_kernels();
  cpu::register_collective_kernels();
  cpu::register_nn_kernels();
  cpu::register_fused_elementwise_kernel();
}

}  // namespace tessera::ops
