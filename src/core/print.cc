// Tensor printing, following PyTorch's torch/_tensor_str.py so output reads the same to
// anyone used to it: one formatter (fixed 4 decimals, integer mode "1.", or scientific)
// chosen from the values that are actually shown, right-aligned columns, lines wrapped
// at 80 characters, and "..." with 3 edge items per dim above 1000 elements.
// Only the shown elements are read, through the strides, so printing a huge or
// non-contiguous tensor costs nothing more than printing a small one.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tessera/tensor.h"

namespace tessera {
namespace {

constexpr int64_t kThreshold = 1000;  // summarize above this many elements
constexpr int64_t kEdgeItems = 3;
constexpr int64_t kLineWidth = 80;
constexpr int kPrecision = 4;
constexpr int64_t kEllipsis = -1;  // marks the "..." position in a list of indices

struct Value {
  double f = 0;
  int64_t i = 0;
};

// `fmt` takes the precision and the value: "%.*e" or "%.*f".
std::string printf_str(const char* fmt, int precision, double v) {
  char buf[512];  // %f of 1e308 needs ~310 characters
  const int n = std::snprintf(buf, sizeof buf, fmt, precision, v);
  return std::string(buf, static_cast<size_t>(std::clamp<int>(n, 0, sizeof buf - 1)));
}

class Printer {
 public:
  explicit Printer(const Tensor& t)
      : t_(t),
        dtype_(t.dtype()),
        floating_(is_floating(t.dtype())),
        base_(static_cast<const char*>(t.data_ptr())),
        summarize_(t.numel() > kThreshold) {
    build_formatter();
  }

  std::string body(int64_t indent) const { return tensor_str(0, 0, indent); }

 private:
  Value read(int64_t elem_offset) const {
    const char* p = base_ + elem_offset * static_cast<int64_t>(itemsize(dtype_));
    Value v;
    switch (dtype_) {
      case DType::Bool:
        v.i = *reinterpret_cast<const bool*>(p) ? 1 : 0;
        break;
      case DType::UInt8:
        v.i = *reinterpret_cast<const uint8_t*>(p);
        break;
      case DType::Int8:
        v.i = *reinterpret_cast<const int8_t*>(p);
        break;
      case DType::Int32:
        v.i = *reinterpret_cast<const int32_t*>(p);
        break;
      case DType::Int64:
        v.i = *reinterpret_cast<const int64_t*>(p);
        break;
      case DType::Float16:
        v.f = static_cast<float>(*reinterpret_cast<const Half*>(p));
        break;
      case DType::BFloat16:
        v.f = static_cast<float>(*reinterpret_cast<const BFloat16*>(p));
        break;
      case DType::Float32:
        v.f = *reinterpret_cast<const float*>(p);
        break;
      case DType::Float64:
        v.f = *reinterpret_cast<const double*>(p);
        break;
    }
    return v;
  }

  // The indices shown along a dim of `size`: all, or the edges around kEllipsis.
  std::vector<int64_t> shown(int64_t size) const {
    std::vector<int64_t> idx;
    if (summarize_ && size > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
      idx.push_back(kEllipsis);
      for (int64_t i = size - kEdgeItems; i < size; ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < size; ++i) idx.push_back(i);
    }
    return idx;
  }

  void collect(int64_t d, int64_t offset, std::vector<Value>& out) const {
    if (d == t_.dim()) {
      out.push_back(read(offset));
      return;
    }
    for (int64_t i : shown(t_.size(d)))
      if (i != kEllipsis) collect(d + 1, offset + i * t_.stride(d), out);
  }

  // PyTorch's _Formatter: the mode and column width come from the shown values; for
  // floats only the finite non-zero ones decide.
  void build_formatter() {
    std::vector<Value> values;
    collect(0, 0, values);
    if (!floating_) {
      for (const Value& v : values)
        width_ = std::max(width_, static_cast<int64_t>(format_int(v.i).size()));
      return;
    }
    double lo = INFINITY, hi = 0;
    bool any = false;
    for (const Value& v : values) {
      if (!std::isfinite(v.f) || v.f == 0) continue;
      any = true;
      lo = std::min(lo, std::abs(v.f));
      hi = std::max(hi, std::abs(v.f));
      if (v.f != std::ceil(v.f)) int_mode_ = false;
    }
    if (!any) return;
    sci_ = hi / lo > 1000.0 || hi > 1.0e8 || (!int_mode_ && lo < 1.0e-4);
    for (const Value& v : values)
      if (std::isfinite(v.f) && v.f != 0)
        width_ = std::max(width_, static_cast<int64_t>(format_float_raw(v.f).size()));
  }

  std::string format_int(int64_t v) const {
    if (dtype_ == DType::Bool) return v ? "True" : "False";
    return std::to_string(v);
  }

  // A float without padding, in the formatter's mode.
  std::string format_float_raw(double v) const {
    if (std::isnan(v)) return "nan";  // printf may say "-nan"
    if (sci_) return printf_str("%.*e", kPrecision, v);
    // Integer mode: "3." says "a float holding an integer"; inf and nan get no dot.
    if (int_mode_) return printf_str("%.*f", 0, v) + (std::isfinite(v) ? "." : "");
    return printf_str("%.*f", kPrecision, v);
  }

  std::string format(const Value& v) const {
    std::string s = floating_ ? format_float_raw(v.f) : format_int(v.i);
    if (static_cast<int64_t>(s.size()) < width_)
      s.insert(0, static_cast<size_t>(width_) - s.size(), ' ');
    return s;
  }

  std::string vector_str(int64_t d, int64_t offset, int64_t indent) const {
    const int64_t element_length = width_ + 2;
    const int64_t per_line = std::max<int64_t>(1, (kLineWidth - indent) / element_length);
    std::vector<std::string> items;
    for (int64_t i : shown(t_.size(d)))
      items.push_back(i == kEllipsis ? " ..." : format(read(offset + i * t_.stride(d))));
    std::string s = "[";
    for (size_t k = 0; k < items.size(); ++k) {
      if (k > 0 && k % static_cast<size_t>(per_line) == 0) {
        s += ",\n";
        s.append(static_cast<size_t>(indent + 1), ' ');
      } else if (k > 0) {
        s += ", ";
      }
      s += items[k];
    }
    return s + "]";
  }

  std::string tensor_str(int64_t d, int64_t offset, int64_t indent) const {
    const int64_t rank = t_.dim();
    if (rank == 0) return format(read(0));
    if (d == rank - 1) return vector_str(d, offset, indent);
    // Sub-tensors are separated by one blank line per remaining dim beyond the second.
    std::string sep = ",";
    sep.append(static_cast<size_t>(rank - d - 1), '\n');
    sep.append(static_cast<size_t>(indent + 1), ' ');
    std::string s = "[";
    bool first = true;
    for (int64_t i : shown(t_.size(d))) {
      if (!first) s += sep;
      first = false;
      s += i == kEllipsis ? "..." : tensor_str(d + 1, offset + i * t_.stride(d), indent + 1);
    }
    return s + "]";
  }

  const Tensor& t_;
  DType dtype_;
  bool floating_;
  const char* base_;
  bool summarize_;
  bool int_mode_ = true;
  bool sci_ = false;
  int64_t width_ = 1;
};

// PyTorch's _add_suffixes: a suffix goes on the same line unless it would pass the
// line width.
std::string add_suffixes(std::string s, const std::vector<std::string>& suffixes, int64_t indent) {
  const size_t nl = s.rfind('\n');
  // Mirrors PyTorch's len(s) - s.rfind("\n") + 1, where rfind gives -1 when absent.
  int64_t last_line = static_cast<int64_t>(s.size()) -
                      (nl == std::string::npos ? -1 : static_cast<int64_t>(nl)) + 1;
  for (const std::string& suffix : suffixes) {
    const auto len = static_cast<int64_t>(suffix.size());
    if (last_line + len + 2 > kLineWidth) {
      s += ",\n";
      s.append(static_cast<size_t>(indent), ' ');
      s += suffix;
      last_line = indent + len;
    } else {
      s += ", " + suffix;
      last_line += len + 2;
    }
  }
  return s + ")";
}

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  const std::string prefix = "tensor(";
  const auto indent = static_cast<int64_t>(prefix.size());
  std::vector<std::string> suffixes;
  std::string body;
  if (numel() == 0) {
    // Nothing shows the shape or the dtype of an empty tensor, so both are spelled out.
    if (dim() != 1) suffixes.push_back("size=" + shape_str(sizes()));
    if (dtype() != DType::Float32) suffixes.push_back(std::string("dtype=") + dtype_name(dtype()));
    body = "[]";
  } else {
    if (dtype() != DType::Float32 && dtype() != DType::Int64 && dtype() != DType::Bool)
      suffixes.push_back(std::string("dtype=") + dtype_name(dtype()));
    body = Printer(*this).body(indent);
  }
  return add_suffixes(prefix + body, suffixes, indent);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace tessera
