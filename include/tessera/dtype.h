#pragma once
// Element types, devices and scalars. Plain enums with a traits table: every switch over
// dtypes in the code base goes through TESSERA_DISPATCH_* below, so adding a dtype is one
// place to change.
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <type_traits>

#include "tessera/export.h"

namespace tessera {

enum class DType : uint8_t { Bool, UInt8, Int8, Int32, Int64, Float16, BFloat16, Float32, Float64 };
inline constexpr int kNumDTypes = 9;

inline constexpr DType kBool = DType::Bool;
inline constexpr DType kUInt8 = DType::UInt8;
inline constexpr DType kInt8 = DType::Int8;
inline constexpr DType kInt32 = DType::Int32;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kFloat16 = DType::Float16;
inline constexpr DType kBFloat16 = DType::BFloat16;
inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;

enum class Device : uint8_t { CPU };

// IEEE half and bfloat16: storage types. Arithmetic converts to float32.
struct TESSERA_API Half {
  uint16_t bits = 0;
  Half() = default;
  Half(float f);  // NOLINT: implicit like a numeric type
  operator float() const;  // NOLINT
};
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  BFloat16(float f) {  // NOLINT; round to nearest even, NaN stays NaN
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = 0x7fc0;
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>(u >> 16);
    }
  }
  operator float() const {  // NOLINT
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

TESSERA_API size_t itemsize(DType t);
TESSERA_API const char* dtype_name(DType t);  // short form used in errors: f32, i64, bool...
TESSERA_API std::ostream& operator<<(std::ostream& os, DType t);
inline constexpr bool is_floating(DType t) {
  return t == DType::Float16 || t == DType::BFloat16 || t == DType::Float32 || t == DType::Float64;
}
inline constexpr bool is_integral(DType t, bool include_bool) {
  return (t == DType::Bool && include_bool) || t == DType::UInt8 || t == DType::Int8 ||
         t == DType::Int32 || t == DType::Int64;
}
inline constexpr bool is_reduced_float(DType t) { return t == DType::Float16 || t == DType::BFloat16; }
// PyTorch's promotion lattice: bool < integers < floating; within a kind the wider type.
TESSERA_API DType promote_types(DType a, DType b);
// Whether a value of type `from` may be written into `to` without changing kind
// (float into int is refused, as PyTorch does for in-place ops).
TESSERA_API bool can_cast(DType from, DType to);

template <typename T> struct CppTypeToDType;
template <> struct CppTypeToDType<bool> { static constexpr DType value = DType::Bool; };
template <> struct CppTypeToDType<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct CppTypeToDType<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct CppTypeToDType<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct CppTypeToDType<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct CppTypeToDType<Half> { static constexpr DType value = DType::Float16; };
template <> struct CppTypeToDType<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct CppTypeToDType<float> { static constexpr DType value = DType::Float32; };
template <> struct CppTypeToDType<double> { static constexpr DType value = DType::Float64; };
template <typename T>
inline constexpr DType dtype_of = CppTypeToDType<T>::value;

// A number passed where a tensor could be: add(t, 2), full({2}, 1.5). Knows whether it
// is boolean, integral or floating, which matters for type promotion.
class TESSERA_API Scalar {
 public:
  enum class Kind : uint8_t { Bool, Int, Float };
  Scalar() : kind_(Kind::Int), i_(0) {}
  Scalar(bool v) : kind_(Kind::Bool), i_(v) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Scalar(T v) : kind_(Kind::Int), i_(static_cast<int64_t>(v)) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Scalar(T v) : kind_(Kind::Float), d_(static_cast<double>(v)) {}  // NOLINT

  Kind kind() const { return kind_; }
  bool is_floating() const { return kind_ == Kind::Float; }
  bool is_integral() const { return kind_ == Kind::Int; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  double to_double() const { return kind_ == Kind::Float ? d_ : static_cast<double>(i_); }
  int64_t to_int() const { return kind_ == Kind::Float ? static_cast<int64_t>(d_) : i_; }
  template <typename T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return kind_ == Kind::Float ? d_ != 0 : i_ != 0;
    else if constexpr (std::is_integral_v<T>) return static_cast<T>(to_int());
    else return static_cast<T>(static_cast<float>(to_double()));
  }
  // The dtype a tensor made from this value gets: bool, int64 or the default float.
  DType natural_dtype() const;
  std::string str() const;

 private:
  Kind kind_;
  union {
    int64_t i_;
    double d_;
  };
};

template <>
inline double Scalar::to<double>() const { return to_double(); }

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = Device::CPU;
  TensorOptions() = default;
  TensorOptions(DType t) : dtype(t) {}  // NOLINT: zeros({2}, kInt64) reads naturally
};

}  // namespace tessera

// Calls a generic lambda body with `scalar_t` bound to the C++ type of `DT`. Reduced float
// types are excluded from the arithmetic dispatchers: kernels compute them in float32.
// A dtype without a case is a NotImplementedError (a kernel that lacks a loop for it);
// TESSERA_DISPATCH_FLOATING's "expected a floating dtype" is the caller's mistake.
#define TESSERA_DTYPE_CASE(DT, T, ...) \
  case DT: {                           \
    using scalar_t = T;                \
    return __VA_ARGS__();              \
  }

#define TESSERA_DISPATCH_ALL(DTYPE, OPNAME, ...)                                        \
  [&] {                                                                                 \
    switch (DTYPE) {                                                                    \
      TESSERA_DTYPE_CASE(::tessera::DType::Bool, bool, __VA_ARGS__)                     \
      TESSERA_DTYPE_CASE(::tessera::DType::UInt8, uint8_t, __VA_ARGS__)                 \
      TESSERA_DTYPE_CASE(::tessera::DType::Int8, int8_t, __VA_ARGS__)                   \
      TESSERA_DTYPE_CASE(::tessera::DType::Int32, int32_t, __VA_ARGS__)                 \
      TESSERA_DTYPE_CASE(::tessera::DType::Int64, int64_t, __VA_ARGS__)                 \
      TESSERA_DTYPE_CASE(::tessera::DType::Float16, ::tessera::Half, __VA_ARGS__)       \
      TESSERA_DTYPE_CASE(::tessera::DType::BFloat16, ::tessera::BFloat16, __VA_ARGS__)  \
      TESSERA_DTYPE_CASE(::tessera::DType::Float32, float, __VA_ARGS__)                 \
      TESSERA_DTYPE_CASE(::tessera::DType::Float64, double, __VA_ARGS__)                \
    }                                                                                   \
    TESSERA_NOT_IMPLEMENTED(OPNAME, ": unsupported dtype ", ::tessera::dtype_name(DTYPE)); \
  }()

// Numeric types without the reduced floats (those are upcast before a kernel runs).
#define TESSERA_DISPATCH_NUMERIC(DTYPE, OPNAME, ...)                                       \
  [&] {                                                                                    \
    switch (DTYPE) {                                                                       \
      TESSERA_DTYPE_CASE(::tessera::DType::Bool, bool, __VA_ARGS__)                        \
      TESSERA_DTYPE_CASE(::tessera::DType::UInt8, uint8_t, __VA_ARGS__)                    \
      TESSERA_DTYPE_CASE(::tessera::DType::Int8, int8_t, __VA_ARGS__)                      \
      TESSERA_DTYPE_CASE(::tessera::DType::Int32, int32_t, __VA_ARGS__)                    \
      TESSERA_DTYPE_CASE(::tessera::DType::Int64, int64_t, __VA_ARGS__)                    \
      TESSERA_DTYPE_CASE(::tessera::DType::Float32, float, __VA_ARGS__)                    \
      TESSERA_DTYPE_CASE(::tessera::DType::Float64, double, __VA_ARGS__)                   \
      default: break;                                                                      \
    }                                                                                      \
    TESSERA_NOT_IMPLEMENTED(OPNAME, ": no kernel for dtype ", ::tessera::dtype_name(DTYPE)); \
  }()

#define TESSERA_DISPATCH_FLOATING(DTYPE, OPNAME, ...)                                      \
  [&] {                                                                                    \
    switch (DTYPE) {                                                                       \
      TESSERA_DTYPE_CASE(::tessera::DType::Float32, float, __VA_ARGS__)                    \
      TESSERA_DTYPE_CASE(::tessera::DType::Float64, double, __VA_ARGS__)                   \
      default: break;                                                                      \
    }                                                                                      \
    TESSERA_CHECK(false, OPNAME, ": expected a floating dtype (f32 or f64), got ",        \
                  ::tessera::dtype_name(DTYPE));                                           \
    __builtin_unreachable();                                                               \
  }()
