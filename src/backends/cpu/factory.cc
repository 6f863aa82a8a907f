#include <cmath>

#include "backends/cpu/convert.h"
#include "ops/copy.h"
#include "ops/factory.h"
#include "ops/registration.h"

namespace tessera::cpu {
namespace {

void full_kernel(const ops::KernelCall& c) { fill(c.outputs[0], c.attrs.scalar("value")); }

void arange_kernel(const ops::KernelCall& c) {
  const double start = c.attrs.f("start"), step = c.attrs.f("step");
  TESSERA_DISPATCH_ALL(c.outputs[0].dtype(), "arange", [&] {
    auto* out = static_cast<scalar_t*>(c.outputs[0].data_ptr());
    for (int64_t i = 0; i < c.outputs[0].numel(); ++i)
      out[i] = convert<scalar_t>(start + static_cast<double>(i) * step);
  });
}

void linspace_kernel(const ops::KernelCall& c) {
  const double start = c.attrs.f("start"), end = c.attrs.f("end");
  const int64_t n = c.attrs.i("steps");
  const double step = n > 1 ? (end - start) / static_cast<double>(n - 1) : 0.0;
  TESSERA_DISPATCH_ALL(c.outputs[0].dtype(), "linspace", [&] {
    auto* out = static_cast<scalar_t*>(c.outputs[0].data_ptr());
    // Symmetric evaluation from both ends, so the last value is exactly `end`.
    for (int64_t i = 0; i < n; ++i) {
      const double v = (i < n / 2 || n == 1) ? start + step * static_cast<double>(i)
                                 : end - step * static_cast<double>(n - 1 - i);
      out[i] = convert<scalar_t>(v);
    }
  });
}

void eye_kernel(const ops::KernelCall& c) {
  const Tensor& out = c.outputs[0];
  fill(out, 0);
  const int64_t n = out.size(0), m = out.size(1);
  TESSERA_DISPATCH_ALL(out.dtype(), "eye", [&] {
    auto* p = static_cast<scalar_t*>(out.data_ptr());
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = convert<scalar_t>(1);
  });
}

}  // namespace

void register_factory_kernels() {
  register_kernel(ops::kFull, Device::CPU, full_kernel, ops::kAllMask);
  register_kernel(ops::kArange, Device::CPU, arange_kernel, ops::kAllMask);
  register_kernel(ops::kLinspace, Device::CPU, linspace_kernel, ops::kAllMask);
  register_kernel(ops::kEye, Device::CPU, eye_kernel, ops::kAllMask);
}

}  // namespace tessera::cpu
