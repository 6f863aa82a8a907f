#pragma once
// PNG encoding for image summaries, with Debian's libpng (simplified API: no setjmp here).
#include <cstdint>
#include <string>

namespace tessera::summary::detail {

// `pixels`: height rows of width * channels bytes (channels 1 grey, 2 grey + alpha, 3 RGB,
// 4 RGBA). Returns the PNG file's bytes; libpng's failure throws InternalError.
std::string encode_png(const uint8_t* pixels, int width, int height, int channels);

}  // namespace tessera::summary::detail
