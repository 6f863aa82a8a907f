#pragma once
// The CPU caching allocator: 64-byte aligned blocks, freed blocks kept in size-class
// bins for reuse, so steady-state training and inference loops do not call malloc.
#include <cstddef>
#include <cstdint>

#include "tessera/export.h"

namespace tessera {

struct MemoryStats {
  int64_t current_bytes = 0;   // bytes held by live tensors
  int64_t peak_bytes = 0;      // high-water mark of current_bytes since the last reset
  int64_t cached_bytes = 0;    // bytes kept for reuse
  int64_t alloc_calls = 0;     // allocations served
  int64_t cache_hits = 0;      // ... of which from the cache
};

TESSERA_API MemoryStats memory_stats();
TESSERA_API void reset_peak_memory();
// Returns cached blocks to the system.
TESSERA_API void empty_cache();

namespace detail {
TESSERA_API void* cpu_allocate(size_t nbytes);
TESSERA_API void cpu_free(void* ptr, size_t nbytes);
}  // namespace detail

}  // namespace tessera
