// PNG encoding through libpng's simplified API (png_image_write_to_memory): libpng reports
// errors through its return value and image.message instead of longjmp, so no C++ object
// is ever jumped over.
#include "summary/png.h"

#include <png.h>

#include <cstring>

#include "tessera/error.h"

namespace tessera::summary::detail {

std::string encode_png(const uint8_t* pixels, int width, int height, int channels) {
  TESSERA_INTERNAL_ASSERT(channels >= 1 && channels <= 4 && width > 0 && height > 0);
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  static constexpr png_uint_32 kFormats[] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB,
                                             PNG_FORMAT_RGBA};
  image.format = kFormats[channels - 1];
  const png_int_32 stride = width * channels;
  // First call sizes the output, the second writes it.
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, pixels, stride, nullptr)) {
    std::string msg = image.message;
    png_image_free(&image);
    TESSERA_INTERNAL_ASSERT(false, "libpng could not size a ", width, "x", height, "x", channels,
                            " image: ", msg);
  }
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, pixels, stride, nullptr)) {
    std::string msg = image.message;
    png_image_free(&image);
    TESSERA_INTERNAL_ASSERT(false, "libpng could not encode a ", width, "x", height, "x",
                            channels, " image: ", msg);
  }
  out.resize(size);
  return out;
}

}  // namespace tessera::summary::detail
