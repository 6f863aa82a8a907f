// Copy and conversion kernels. Same-dtype contiguous copies are memcpy; everything else
// goes through the elementwise loop with a converting functor.
#include <cstring>

#include "backends/cpu/convert.h"
#include "core/elementwise_loop.h"
#include "ops/copy.h"
#include "ops/registration.h"

namespace tessera::cpu {
namespace {

// Moves raw elements of `size` bytes: a same-dtype strided copy needs no conversion.
template <typename Bits>
void copy_bits(const ElementwiseLoop& loop) {
  map_loop<Bits, Bits>(loop, [](Bits v) { return v; });
}

void clone_kernel(const ops::KernelCall& c) { copy_into(c.outputs[0], c.inputs[0]); }

void copy_kernel(const ops::KernelCall& c) {
  const Tensor& self = c.outputs[0];
  const Tensor& src = c.inputs[1];
  // A source overlapping the destination (x.copy_(x.t())) is read out first.
  if (src.shares_storage(self) && !(src.data_ptr() == self.data_ptr() &&
                                    src.strides().equals(self.strides()) &&
                                    src.sizes().equals(self.sizes()))) {
    Tensor tmp = make_tensor(src.sizes(), src.dtype());
    copy_into(tmp, src);
    copy_into(self, tmp);
  } else {
    copy_into(self, src);
  }
}

void fill_kernel(const ops::KernelCall& c) { fill(c.outputs[0], c.attrs.scalar("value")); }

}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous() &&
      dst.sizes().equals(src.sizes())) {
    char* d = static_cast<char*>(dst.data_ptr());
    const char* s = static_cast<const char*>(src.data_ptr());
    const int64_t bytes = static_cast<int64_t>(dst.nbytes());
    parallel_for(0, bytes, int64_t{1} << 20, [&](int64_t b, int64_t e) {
      std::memcpy(d + b, s + b, static_cast<size_t>(e - b));
    });
    return;
  }
  ElementwiseLoop loop({&dst}, {&src});
  if (dst.dtype() == src.dtype()) {
    switch (dst.itemsize()) {
      case 1: return copy_bits<uint8_t>(loop);
      case 2: return copy_bits<uint16_t>(loop);
      case 4: return copy_bits<uint32_t>(loop);
      default: return copy_bits<uint64_t>(loop);
    }
  }
  TESSERA_DISPATCH_ALL(dst.dtype(), "copy", [&] {
    using to_t = scalar_t;
    TESSERA_DISPATCH_ALL(src.dtype(), "copy", [&] {
      map_loop<to_t, scalar_t>(loop, [](scalar_t v) { return convert<to_t>(v); });
    });
  });
}

void fill(const Tensor& dst, const Scalar& value) {
  ElementwiseLoop loop({&dst}, {});
  TESSERA_DISPATCH_ALL(dst.dtype(), "fill", [&] {
    scalar_t v;
    if (value.is_floating()) v = convert<scalar_t>(value.to_double());
    else if (value.is_bool()) v = convert<scalar_t>(value.to<bool>());
    else v = convert<scalar_t>(value.to_int());
    map_loop<scalar_t>(loop, [v]() { return v; });
  });
}

Tensor contiguous(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor r = make_tensor(t.sizes(), t.dtype());
  copy_into(r, t);
  return r;
}

Tensor cast(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor r = make_tensor(t.sizes(), dtype);
  copy_into(r, t);
  return r;
}

void register_copy_kernels() {
  register_kernel(ops::kCopy, Device::CPU, copy_kernel, ops::kAllMask);
  register_kernel(ops::kFill, Device::CPU, fill_kernel, ops::kAllMask);
  register_kernel(ops::kClone, Device::CPU, clone_kernel, ops::kAllMask);
  register_kernel(ops::kCast, Device::CPU, clone_kernel, ops::kAllMask);
}

}  // namespace tessera::cpu
