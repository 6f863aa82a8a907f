#include "tessera/tensor.h"

#include <limits>
#include <sstream>

#include "tessera/allocator.h"
#include "tessera/traced.h"

namespace tessera {

// ---------------------------------------------------------------- Storage

Storage::Storage(size_t nbytes)
    : data_(detail::cpu_allocate(nbytes)), nbytes_(nbytes), from_allocator_(true) {}

Storage::Storage(void* data, size_t nbytes, Deleter deleter)
    : data_(data), nbytes_(nbytes), deleter_(std::move(deleter)), from_allocator_(false) {}

Storage::~Storage() {
  if (from_allocator_) {
    detail::cpu_free(data_, nbytes_);
  } else if (deleter_) {
    deleter_(data_);
  }
}

// ---------------------------------------------------------------- shapes

std::string shape_str(IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t numel_of(IntArrayRef sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) {
    TESSERA_CHECK(s >= 0, "negative dimension ", s, " in shape ", shape_str(sizes));
    TESSERA_CHECK(s == 0 || n <= std::numeric_limits<int64_t>::max() / s, "shape ",
                  shape_str(sizes), " has more elements than int64 can count");
    n *= s;
  }
  return n;
}

Shape contiguous_strides(IntArrayRef sizes) {
  Shape strides(sizes.size(), 1);
  int64_t acc = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    strides[i] = acc;
    // Checked even where a zero dim makes the tensor empty: [0, 2^40, 2^40]'s strides
    // would overflow int64.
    TESSERA_CHECK(!__builtin_mul_overflow(acc, std::max<int64_t>(sizes[i], 1), &acc), "shape ", shape_str(sizes),
                  " has strides that int64 cannot hold");
  }
  return strides;
}

int64_t wrap_dim(int64_t dim, int64_t rank, const char* op) {
  // A 0-d tensor accepts dim 0 and -1, as in PyTorch.
  const int64_t r = std::max<int64_t>(rank, 1);
  TESSERA_CHECK(dim >= -r && dim < r, op, ": dim ", dim, " is out of range for a tensor of rank ",
                rank, " (expected ", -r, " to ", r - 1, ")");
  return dim < 0 ? dim + r : dim;
}

void TensorImpl::refresh() {
  numel = numel_of(layout.sizes);
  contiguous = true;
  int64_t expected = 1;
  for (size_t i = layout.sizes.size(); i-- > 0;) {
    if (layout.sizes[i] == 1) continue;
    if (layout.strides[i] != expected) {
      contiguous = false;
      break;
    }
    expected *= layout.sizes[i];
  }
  if (numel == 0) contiguous = true;
}

Tensor make_tensor(IntArrayRef sizes, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->layout.sizes = Shape(sizes);
  impl->layout.strides = contiguous_strides(sizes);
  impl->dtype = dtype;
  impl->numel = numel_of(sizes);
  impl->contiguous = true;
  const int64_t n = impl->numel;
  TESSERA_CHECK(n <= std::numeric_limits<int64_t>::max() / static_cast<int64_t>(itemsize(dtype)),
                "tensor of shape ", shape_str(sizes), " is too large");
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(n) * itemsize(dtype));
  return Tensor(std::move(impl));
}

// ---------------------------------------------------------------- Tensor metadata

int64_t Tensor::size(int64_t d) const {
  TESSERA_CHECK(dim() > 0, "size: dim ", d, " asked of a 0-d tensor, which has no dims");
  return impl()->layout.sizes[static_cast<size_t>(wrap_dim(d, dim(), "size"))];
}

int64_t Tensor::stride(int64_t d) const {
  if (dim() == 0) return 1;
  return impl()->layout.strides[static_cast<size_t>(wrap_dim(d, dim(), "stride"))];
}

bool Tensor::shares_storage(const Tensor& other) const {
  return defined() && other.defined() && storage().get() == other.storage().get();
}

std::string Tensor::describe() const {
  if (!defined()) return "<undefined>";
  return shape_str(sizes()) + " " + dtype_name(dtype());
}

std::string describe(std::initializer_list<std::pair<const char*, const Tensor*>> named) {
  std::string s;
  for (const auto& [name, t] : named) {
    if (!s.empty()) s += ", ";
    s += name;
    s += " ";
    s += t->describe();
  }
  return s;
}

// Here, not in the autograd layer: detaching only drops the autograd slot core carries,
// and layers below autograd (ops' decompositions, safetensors' save) detach too.
Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>(*this->impl());
  impl->autograd.reset();
  impl->wrapped_number = false;
  return Tensor(std::move(impl));
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(impl()->storage->data()) +
         impl()->layout.offset * static_cast<int64_t>(itemsize());
}

namespace {

// Byte offset of the `flat`-th element in row-major logical order.
int64_t element_offset(const Tensor& t, int64_t flat) {
  int64_t off = 0;
  const IntArrayRef sizes = t.sizes(), strides = t.strides();
  for (size_t d = sizes.size(); d-- > 0;) {
    off += (flat % sizes[d]) * strides[d];
    flat /= sizes[d];
  }
  return off;
}

template <typename T>
T read_element(const Tensor& t, int64_t flat) {
  const char* base = static_cast<const char*>(t.data_ptr()) +
                     element_offset(t, flat) * static_cast<int64_t>(t.itemsize());
  return TESSERA_DISPATCH_ALL(t.dtype(), "read", [&]() -> T {
    scalar_t v;
    std::memcpy(&v, base, sizeof(scalar_t));
    if constexpr (std::is_same_v<T, bool>) return static_cast<double>(v) != 0;
    else if constexpr (std::is_same_v<scalar_t, Half> || std::is_same_v<scalar_t, BFloat16>)
      return static_cast<T>(static_cast<float>(v));
    else return static_cast<T>(v);
  });
}

}  // namespace

double read_as_double(const Tensor& t, int64_t flat) {
  TESSERA_CHECK(flat >= 0 && flat < t.numel(), "read: index ", flat, " out of range for ",
                t.describe());
  return read_element<double>(t, flat);
}

template <typename T>
T Tensor::item() const {
  if (detail::TraceObserver* o = detail::trace_observer()) o->on_value_read(*this);
  TESSERA_CHECK(numel() == 1, "item: expected a tensor with one element, got ", describe());
  return read_element<T>(*this, 0);
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  if (detail::TraceObserver* o = detail::trace_observer()) o->on_value_read(*this);
  std::vector<T> out(static_cast<size_t>(numel()));
  if constexpr (!std::is_same_v<T, bool>) {  // std::vector<bool> has no data()
    if (is_contiguous() && dtype() == dtype_of<T>) {
      if (!out.empty()) std::memcpy(out.data(), data_ptr(), nbytes());
      return out;
    }
  }
  for (int64_t i = 0; i < numel(); ++i) out[static_cast<size_t>(i)] = read_element<T>(*this, i);
  return out;
}

#define TESSERA_INSTANTIATE_ACCESS(T)                   \
  template TESSERA_API T Tensor::item<T>() const;       \
  template TESSERA_API std::vector<T> Tensor::to_vector<T>() const;
TESSERA_INSTANTIATE_ACCESS(float)
TESSERA_INSTANTIATE_ACCESS(double)
TESSERA_INSTANTIATE_ACCESS(int64_t)
TESSERA_INSTANTIATE_ACCESS(int32_t)
TESSERA_INSTANTIATE_ACCESS(int8_t)
TESSERA_INSTANTIATE_ACCESS(uint8_t)
TESSERA_INSTANTIATE_ACCESS(bool)
#undef TESSERA_INSTANTIATE_ACCESS

}  // namespace tessera
