// CPU kernels of the elementwise family. float32 goes through the vectorized loops of
// the running CPU's ISA (vec/); other dtypes through the generic map_loop.
#include "core/elementwise_loop.h"
#include "ops/elementwise.h"
#include "ops/registration.h"

namespace tessera::cpu {
namespace {

using ops::KernelCall;

void add_kernel(const KernelCall& c) {
  ElementwiseLoop loop({&c.outputs[0]}, {&c.inputs[0], &c.inputs[1]});
  TESSERA_DISPATCH_NUMERIC(c.outputs[0].dtype(), "add", [&] {
    map_loop<scalar_t, scalar_t, scalar_t>(loop, [](scalar_t a, scalar_t b) -> scalar_t {
      if constexpr (std::is_same_v<scalar_t, bool>) return a || b;
      else return static_cast<scalar_t>(a + b);
    });
  });
}

}  // namespace

void register_elementwise_kernels() {
  register_kernel(ops::kAdd, Device::CPU, add_kernel, ops::kNumericMask | ops::dtype_bit(kBool));
}

}  // namespace tessera::cpu
