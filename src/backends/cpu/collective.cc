// Kernels of the collectives (ops/collective.h): each hands its buffer to the communicator
// the node names, which does the communication (src/distributed/). Nothing here depends
// on the dtype beyond the shape rule's f32/f64 check.
#include "ops/collective.h"

namespace tessera::cpu {
namespace {

// The buffer is the op's only input and output (written in place).
const Tensor& buffer_of(const ops::KernelCall& c) {
  const Tensor& b = c.outputs[0];
  TESSERA_CHECK(b.is_contiguous(), "the buffer ", b.describe(), " must be contiguous (the collective "
                "writes its memory directly)");
  return b;
}

void all_reduce_start_kernel(const ops::KernelCall& c) {
  const Tensor& b = buffer_of(c);
  ops::find_communicator(c.attrs.i("group"), c.op.name)->all_reduce_start(b);
}

void all_reduce_wait_kernel(const ops::KernelCall& c) {
  const Tensor& b = buffer_of(c);
  ops::find_communicator(c.attrs.i("group"), c.op.name)->all_reduce_wait(b);
}

void broadcast_kernel(const ops::KernelCall& c) {
  const Tensor& b = buffer_of(c);
  ops::find_communicator(c.attrs.i("group"), c.op.name)->broadcast(b, c.attrs.i("root"));
}

}  // namespace

void register_collective_kernels() {
  register_kernel(ops::kAllReduceStart, Device::CPU, all_reduce_start_kernel, ops::kFloatMask);
  register_kernel(ops::kAllReduceWait, Device::CPU, all_reduce_wait_kernel, ops::kFloatMask);
  register_kernel(ops::kBroadcastInto, Device::CPU, broadcast_kernel, ops::kFloatMask);
}

}  // namespace tessera::cpu
