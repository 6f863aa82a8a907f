#pragma once
// Reading and writing tensors in standard file formats.
//
// NPY (numpy's .npy, format versions 1.0, 2.0 and 3.0): little-endian f2 f4 f8 i1 i4 i8
// u1 b1, any rank including 0-d. Fortran-ordered files are loaded and returned
// C-contiguous. A corrupt, truncated or hostile file throws tessera::Error naming the file
// and the problem; the file's size is checked before any data buffer is allocated.
#include <string>

#include "tessera/export.h"
#include "tessera/tensor.h"

namespace tessera {

TESSERA_API Tensor load_npy(const std::string& path);
// Writes the tensor's values in row-major order (non-contiguous views are fine). bfloat16
// has no NPY type: convert it with to(kFloat32) first.
TESSERA_API void save_npy(const std::string& path, const Tensor& t);

}  // namespace tessera
