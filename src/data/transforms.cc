// Per-example transforms. They work on raw bytes (crop, flip: any dtype) or on floats
// (normalize) directly, without ops, because they run on loader worker threads.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "tessera/data.h"

namespace tessera::data {
namespace {

// A Philox stream id of its own, so transform draws never coincide with a tensor
// factory's draws from a generator with the same seed.
constexpr uint64_t kTransformStream = 0x7472616e73666f72ull;  // "transfor"

uint32_t draw(Generator& gen) {
  const Generator::Counters c = gen.reserve_counters(1);  // seed and counter in one step
  return philox(c.seed, kTransformStream, c.offset).v[0];
}
// Uniform integer in [0, n]; the modulo bias is below 2^-20 for the sizes used here.
int64_t draw_upto(Generator& gen, int64_t n) {
  return static_cast<int64_t>(draw(gen) % static_cast<uint64_t>(n + 1));
}

template <typename T>
T from_double(double v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)
    return T(static_cast<float>(v));
  else
    return static_cast<T>(v);
}

}  // namespace

Normalize::Normalize(std::vector<double> mean, std::vector<double> std)
    : mean_(std::move(mean)), std_(std::move(std)) {
  TESSERA_CHECK(!mean_.empty() && mean_.size() == std_.size(), "Normalize: mean has ",
                mean_.size(), " values and std ", std_.size(), " (need the same number, >= 1)");
  for (double s : std_) TESSERA_CHECK(s != 0.0, "Normalize: std values must be nonzero");
}

Tensor Normalize::operator()(const Tensor& x, Generator&) const {
  TESSERA_CHECK(x.dim() >= 1, "Normalize: input ", x.describe(),
                ": expected a leading channel dim");
  const int64_t channels = x.size(0);
  TESSERA_CHECK(mean_.size() == 1 || static_cast<int64_t>(mean_.size()) == channels,
                "Normalize: input ", x.describe(), " has ", channels, " channels but ",
                mean_.size(), " mean/std values were given");
  const Tensor in = x.contiguous();
  Tensor out = make_tensor(x.sizes(), x.dtype());
  const int64_t per_channel = channels == 0 ? 0 : x.numel() / channels;
  TESSERA_DISPATCH_FLOATING(x.dtype(), "Normalize", [&] {
    const scalar_t* src = in.data<scalar_t>();
    scalar_t* dst = out.data<scalar_t>();
    for (int64_t c = 0; c < channels; ++c) {
      const size_t k = mean_.size() == 1 ? 0 : static_cast<size_t>(c);
      const auto m = static_cast<scalar_t>(mean_[k]);
      const auto s = static_cast<scalar_t>(std_[k]);
      // A true division, as torchvision does, so results match it bit for bit.
      for (int64_t i = c * per_channel; i < (c + 1) * per_channel; ++i) dst[i] = (src[i] - m) / s;
    }
  });
  return out;
}

Tensor ToTensor::operator()(const Tensor& x, Generator&) const {
  TESSERA_CHECK(x.dim() == 2 || x.dim() == 3, "ToTensor: input ", x.describe(),
                ": expected an image [H, W] or [H, W, C]");
  const int64_t h = x.size(0), w = x.size(1), c = x.dim() == 3 ? x.size(2) : 1;
  const Tensor in = x.contiguous();
  const bool bytes = x.dtype() == DType::UInt8;
  Tensor out = make_tensor({c, h, w}, bytes ? DType::Float32 : x.dtype());
  const int64_t plane = h * w;
  if (bytes) {
    const uint8_t* src = in.data<uint8_t>();
    float* dst = out.data<float>();
    // Division (not a multiply by 1/255), as torchvision does, so values match it bit for bit.
    for (int64_t p = 0; p < plane; ++p)
      for (int64_t k = 0; k < c; ++k) dst[k * plane + p] = static_cast<float>(src[p * c + k]) / 255.0f;
    return out;
  }
  // Other dtypes keep their values: [H, W, C] -> [C, H, W] element by element.
  const size_t item = x.itemsize();
  const char* src = static_cast<const char*>(in.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t k = 0; k < c; ++k)
      std::memcpy(dst + static_cast<size_t>(k * plane + p) * item,
                  src + static_cast<size_t>(p * c + k) * item, item);
  return out;
}

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding, double fill)
    : height_(height), width_(width), padding_(padding), fill_(fill) {
  TESSERA_CHECK(height > 0 && width > 0 && padding >= 0, "RandomCrop: size ", height, "x",
                width, " and padding ", padding, ": sizes must be positive, padding >= 0");
}

Tensor RandomCrop::operator()(const Tensor& x, Generator& gen) const {
  TESSERA_CHECK(x.dim() >= 2, "RandomCrop: input ", x.describe(), ": expected [..., H, W]");
  const int64_t h = x.size(-2), w = x.size(-1);
  const int64_t ph = h + 2 * padding_, pw = w + 2 * padding_;
  TESSERA_CHECK(height_ <= ph && width_ <= pw, "RandomCrop: a ", height_, "x", width_,
                " crop does not fit input ", x.describe(), " padded by ", padding_);
  const int64_t top = draw_upto(gen, ph - height_);
  const int64_t left = draw_upto(gen, pw - width_);

  Shape shape(x.sizes());
  shape[shape.size() - 2] = height_;
  shape[shape.size() - 1] = width_;
  const Tensor in = x.contiguous();
  Tensor out = make_tensor(shape, x.dtype());
  const size_t item = x.itemsize();
  // One row of fill values, copied wherever the window covers padding.
  std::vector<char> fill_row(static_cast<size_t>(width_) * item);
  TESSERA_DISPATCH_ALL(x.dtype(), "RandomCrop", [&] {
    const scalar_t v = from_double<scalar_t>(fill_);
    for (int64_t i = 0; i < width_; ++i) std::memcpy(&fill_row[static_cast<size_t>(i) * item], &v, item);
  });
  const int64_t planes = h * w == 0 ? 0 : x.numel() / (h * w);
  const char* src = static_cast<const char*>(in.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  // Columns of the window [left, left + width) in padded coordinates that hit the image.
  const int64_t c0 = std::max<int64_t>(left, padding_), c1 = std::min(left + width_, padding_ + w);
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t r = 0; r < height_; ++r) {
      char* row = dst + static_cast<size_t>((p * height_ + r) * width_) * item;
      std::memcpy(row, fill_row.data(), fill_row.size());
      const int64_t sr = top + r - padding_;
      if (sr < 0 || sr >= h || c0 >= c1) continue;
      std::memcpy(row + static_cast<size_t>(c0 - left) * item,
                  src + static_cast<size_t>((p * h + sr) * w + (c0 - padding_)) * item,
                  static_cast<size_t>(c1 - c0) * item);
    }
  }
  return out;
}

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  TESSERA_CHECK(p >= 0.0 && p <= 1.0, "RandomHorizontalFlip: p = ", p, " is not in [0, 1]");
}

Tensor RandomHorizontalFlip::operator()(const Tensor& x, Generator& gen) const {
  TESSERA_CHECK(x.dim() >= 1, "RandomHorizontalFlip: input ", x.describe(), " has no dims");
  // Always draw, so later transforms see the same stream whether or not this one flipped.
  const double u = static_cast<double>(draw(gen)) * 0x1p-32;
  if (!(u < p_)) return x;
  const int64_t w = x.size(-1);
  const int64_t rows = w == 0 ? 0 : x.numel() / w;
  const size_t item = x.itemsize();
  const Tensor in = x.contiguous();
  Tensor out = make_tensor(x.sizes(), x.dtype());
  const char* src = static_cast<const char*>(in.data_ptr());
  char* dst = static_cast<char*>(out.data_ptr());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < w; ++c)
      std::memcpy(dst + static_cast<size_t>(r * w + c) * item,
                  src + static_cast<size_t>(r * w + (w - 1 - c)) * item, item);
  return out;
}

Tensor Compose::operator()(const Tensor& x, Generator& gen) const {
  Tensor t = x;
  for (const Transform& f : transforms_) t = f(t, gen);
  return t;
}

}  // namespace tessera::data
