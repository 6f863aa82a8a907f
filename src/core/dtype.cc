#include "tessera/dtype.h"

#include <cmath>
#include <sstream>

#include "tessera/error.h"

namespace tessera {

size_t itemsize(DType t) {
  switch (t) {
    case DType::Bool:
    case DType::UInt8:
    case DType::Int8: return 1;
    case DType::Float16:
    case DType::BFloat16: return 2;
    case DType::Int32:
    case DType::Float32: return 4;
    case DType::Int64:
    case DType::Float64: return 8;
  }
  TESSERA_INTERNAL_ASSERT(false, "bad dtype ", static_cast<int>(t));
  __builtin_unreachable();
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Bool: return "bool";
    case DType::UInt8: return "u8";
    case DType::Int8: return "i8";
    case DType::Int32: return "i32";
    case DType::Int64: return "i64";
    case DType::Float16: return "f16";
    case DType::BFloat16: return "bf16";
    case DType::Float32: return "f32";
    case DType::Float64: return "f64";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

namespace {
// Rank within a kind; u8 and i8 promote to i16 in PyTorch, which Tessera lacks, so i32.
int int_rank(DType t) {
  switch (t) {
    case DType::UInt8:
    case DType::Int8: return 1;
    case DType::Int32: return 2;
    default: return 3;
  }
}
}  // namespace

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::Bool) return b;
  if (b == DType::Bool) return a;
  const bool fa = is_floating(a), fb = is_floating(b);
  if (fa && !fb) return a;
  if (fb && !fa) return b;
  if (fa && fb) {
    // f16 with bf16 has no common 16-bit type: float32, as PyTorch does.
    if (is_reduced_float(a) && is_reduced_float(b)) return DType::Float32;
    return itemsize(a) >= itemsize(b) ? a : b;
  }
  if ((a == DType::UInt8 && b == DType::Int8) || (a == DType::Int8 && b == DType::UInt8))
    return DType::Int32;  // PyTorch gives int16
  return int_rank(a) >= int_rank(b) ? a : b;
}

bool can_cast(DType from, DType to) {
  if (is_floating(from) && !is_floating(to)) return false;
  if (from != DType::Bool && to == DType::Bool) return false;
  return true;
}

Half::Half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) {  // inf or NaN
    bits = static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
    return;
  }
  if (absx >= 0x477ff000u) {  // rounds to beyond the largest half
    bits = static_cast<uint16_t>(sign | 0x7c00u);
    return;
  }
  if (absx < 0x38800000u) {  // subnormal half (or zero): scale and round to nearest even
    float a;
    std::memcpy(&a, &absx, 4);
    const float scaled = a * 16777216.0f;  // 2^24: one unit = smallest subnormal
    bits = static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
    return;
  }
  uint32_t mant = absx + 0xc8000fffu + ((absx >> 13) & 1u);  // rebias exponent and round
  bits = static_cast<uint16_t>(sign | (mant >> 13));
}

Half::operator float() const {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exp = (bits >> 10) & 0x1fu;
  const uint32_t mant = bits & 0x3ffu;
  float f;
  if (exp == 0) {
    f = static_cast<float>(mant) * 5.9604644775390625e-08f;  // 2^-24
    return sign ? -f : f;
  }
  uint32_t u = exp == 31 ? (sign | 0x7f800000u | (mant << 13))
                         : (sign | ((exp + 112u) << 23) | (mant << 13));
  std::memcpy(&f, &u, 4);
  return f;
}

DType Scalar::natural_dtype() const {
  return kind_ == Kind::Float ? DType::Float32 : kind_ == Kind::Bool ? DType::Bool : DType::Int64;
}

std::string Scalar::str() const {
  std::ostringstream os;
  if (kind_ == Kind::Float) os << d_;
  else if (kind_ == Kind::Bool) os << (i_ ? "true" : "false");
  else os << i_;
  return os.str();
}

}  // namespace tessera
