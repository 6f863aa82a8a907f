#pragma once
// Thread settings for code inside the library that hands work to oneDNN.

namespace tessera::detail {

// Sets the calling thread's OpenMP thread count to get_num_threads(). OpenMP keeps that
// count per thread, and oneDNN sizes (and at build time fixes the split of) its parallel
// work from it, so every oneDNN call site runs this first. A thread_local compare when
// nothing changed; no-op in TESSERA_OPENMP=OFF builds and inside parallel regions.
void sync_openmp_threads();

}  // namespace tessera::detail
