#pragma once
// Reading and writing tensors in standard file formats.
//
// NPY (numpy's .npy, format versions 1.0, 2.0 and 3.0): little-endian f2 f4 f8 i1 i4 i8
// u1 b1, any rank including 0-d. Fortran-ordered files are loaded and returned
// C-contiguous. A missing or unreadable file throws IOError; a corrupt, truncated or
// hostile one InvalidArgumentError; a valid NPY feature Tessera lacks (big-endian data,
// complex or structured dtypes) NotImplementedError. Each names the file and the problem;
// the file's size is checked before any data buffer is allocated.
#include <string>

#include "tessera/export.h"
#include "tessera/tensor.h"

namespace tessera {

TESSERA_API Tensor load_npy(const std::string& path);
// Writes the tensor's values in row-major order (non-contiguous views are fine). bfloat16
// has no NPY type: convert it with to(kFloat32) first. Atomic, as save_safetensors.
TESSERA_API void save_npy(const std::string& path, const Tensor& t);

// Throws IOError unless a file can be written at `path`: its folder exists, is a folder
// and is writable (probed by creating and removing a temporary file there, as a save
// does; permission bits alone mislead under root, ACLs or read-only mounts), and `path`
// is not a folder. The message starts with `who` and names the path and the reason:
//   train --out: '/no/such/dir/x.safetensors': the folder '/no/such/dir' does not exist (...)
// Call it before long work whose result goes to `path`, so a typo fails in milliseconds,
// not after the work.
TESSERA_API void check_writable(const std::string& path, const std::string& who = "check_writable");

}  // namespace tessera
