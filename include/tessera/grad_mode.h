#pragma once
// Grad mode: whether ops record autograd history on this thread. It lives in the core
// layer (not in autograd) because code below autograd reads and sets it too: ops'
// decompositions (batch_norm's running statistics) update buffers under NoGradGuard, and an
// inference-only build (tessera_inference, docs/architecture.md) has no autograd at all.
// tessera/autograd.h includes this header, so users of autograd need not name it.
#include "tessera/export.h"

namespace tessera::autograd {

TESSERA_API bool is_grad_enabled();
TESSERA_API void set_grad_enabled(bool enabled);

// Disables recording in its scope (inference, optimizer updates), like torch.no_grad().
class TESSERA_API NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Re-enables recording in its scope (inside a NoGradGuard).
class TESSERA_API EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace tessera::autograd

namespace tessera {
using autograd::NoGradGuard;
}  // namespace tessera
