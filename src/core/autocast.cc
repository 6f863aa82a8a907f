// Autocast's per-thread flag (tessera/autocast.h). It lives in core beside grad mode; the
// question whether the CPU has bfloat16 instructions is the backend's
// (src/backends/cpu/onednn.cc: bf16_supported() and autocast_bf16_active()), a layer above.
#include "tessera/autocast.h"

#include "tessera/error.h"

namespace tessera {
namespace {
thread_local bool t_autocast = false;
}  // namespace

AutocastGuard::AutocastGuard(DType dtype, bool enabled) : previous_(t_autocast) {
  TESSERA_CHECK(dtype == DType::BFloat16, "autocast: the CPU runs mixed precision in bfloat16; got ",
                dtype_name(dtype));
  t_autocast = enabled;
}
AutocastGuard::~AutocastGuard() { t_autocast = previous_; }

bool is_autocast_enabled() { return t_autocast; }
void set_autocast_enabled(bool enabled) { t_autocast = enabled; }

}  // namespace tessera
