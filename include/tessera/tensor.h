#pragma once
// Tensor: a cheap, reference-counted handle to (Storage, Layout, dtype, device).
// Views (view, permute, slice, ...) build a new Layout over the same Storage; nothing here
// knows about ops, kernels or autograd beyond a slot the autograd layer fills in.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tessera/array_ref.h"
#include "tessera/dtype.h"
#include "tessera/error.h"
#include "tessera/export.h"

namespace tessera {

// A refcounted, 64-byte aligned buffer. Its version counter is bumped by every in-place
// write, so a tensor saved for backward can tell it was modified.
class TESSERA_API Storage {
 public:
  using Deleter = std::function<void(void*)>;
  // Fresh memory from the caching allocator.
  explicit Storage(size_t nbytes);
  // Wraps memory owned elsewhere; `deleter` (may be empty) runs when the last user goes.
  Storage(void* data, size_t nbytes, Deleter deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_;
  size_t nbytes_;
  Deleter deleter_;  // empty for allocator-owned memory
  bool from_allocator_;
  std::atomic<uint64_t> version_{0};
};

// Sizes, strides (in elements) and offset into the storage. No rank limit.
struct Layout {
  Shape sizes;
  Shape strides;
  int64_t offset = 0;
};

struct AutogradMeta;  // defined by the autograd layer; core only carries the pointer

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Layout layout;
  DType dtype = DType::Float32;
  Device device = Device::CPU;
  int64_t numel = 0;
  bool contiguous = true;
  bool wrapped_number = false;  // a 0-d tensor made from a Scalar argument (type promotion)
  std::shared_ptr<AutogradMeta> autograd;
  void refresh();  // recomputes numel and contiguity after the layout changed
};

class TESSERA_API Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  DType dtype() const { return impl()->dtype; }
  Device device() const { return impl()->device; }
  int64_t dim() const { return static_cast<int64_t>(impl()->layout.sizes.size()); }
  IntArrayRef sizes() const { return impl()->layout.sizes; }
  IntArrayRef shape() const { return sizes(); }
  IntArrayRef strides() const { return impl()->layout.strides; }
  int64_t size(int64_t dim) const;    // negative dims count from the end
  int64_t stride(int64_t dim) const;
  int64_t storage_offset() const { return impl()->layout.offset; }
  int64_t numel() const { return impl()->numel; }
  size_t itemsize() const { return tessera::itemsize(dtype()); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * itemsize(); }
  bool is_contiguous() const { return impl()->contiguous; }
  bool is_floating_point() const { return is_floating(dtype()); }
  const Layout& layout() const { return impl()->layout; }
  const std::shared_ptr<Storage>& storage() const { return impl()->storage; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  bool shares_storage(const Tensor& other) const;
  TensorImpl* impl() const {
    TESSERA_CHECK(impl_ != nullptr, "tensor: use of an undefined tensor");
    return impl_.get();
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  std::string describe() const;  // "[2, 3] f32" (used by error messages)

  // ---- data access ----
  void* data_ptr() const;  // first element (storage + offset)
  template <typename T>
  T* data() const {
    TESSERA_CHECK(dtype_of<T> == dtype(), "data<T>: tensor is ", dtype_name(dtype()),
                  ", asked for ", dtype_name(dtype_of<T>));
    return static_cast<T*>(data_ptr());
  }
  template <typename T>
  T item() const;  // a one-element tensor's value, converted to T
  template <typename T>
  std::vector<T> to_vector() const;  // all values in row-major order, converted to T

  // ---- copies and conversions ----
  Tensor contiguous() const;  // this tensor itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;  // this tensor itself when the dtype matches
  Tensor& copy_(const Tensor& src);  // broadcasting, converting copy into this tensor
  Tensor& fill_(const Scalar& value);
  Tensor& zero_();

  // ---- views: share storage, never copy ----
  Tensor view(IntArrayRef shape) const;  // one dim may be -1; fails when strides forbid
  Tensor reshape(IntArrayRef shape) const;  // a view when possible, else a copy
  Tensor permute(IntArrayRef dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // 2-D transpose (0-D and 1-D returned as is)
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor operator[](int64_t index) const { return select(0, index); }
  Tensor expand(IntArrayRef shape) const;  // -1 keeps a size; new dims get stride 0
  Tensor expand_as(const Tensor& other) const { return expand(other.sizes()); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unflatten(int64_t dim, IntArrayRef sizes) const;
  Tensor diagonal(int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1) const;
  Tensor as_strided(IntArrayRef sizes, IntArrayRef strides, int64_t offset = -1) const;

  // ---- common ops as methods (the free functions in ops.h are the full set) ----
  Tensor operator-() const;
  Tensor sum() const;
  Tensor mean() const;
  Tensor abs() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor relu() const;
  Tensor matmul(const Tensor& other) const;
  Tensor& add_(const Tensor& other);
  Tensor& add_(const Scalar& other);
  Tensor& sub_(const Tensor& other);
  Tensor& sub_(const Scalar& other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(const Scalar& other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(const Scalar& other);

  // ---- autograd (see tessera/autograd.h) ----
  // Defined by the autograd layer (src/autograd/engine.cc), all but detach(): a program
  // linked only against tessera_inference, which has no autograd, cannot call them (the
  // link fails, naming the method). detach() is core's: it only drops the autograd slot.
  bool requires_grad() const;
  // Marks a leaf as needing gradients; only floating tensors can.
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const;  // no recorded history (created by the user, or detached)
  Tensor grad() const;   // the accumulated gradient of a leaf (undefined before backward)
  void set_grad(const Tensor& grad);  // e.g. set_grad(Tensor()) clears it
  // Backpropagates from this tensor; `gradient` may be omitted for one-element tensors.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;
  Tensor detach() const;  // same storage, no history
  void retain_grad() const;  // keep .grad() of a non-leaf after backward
  // Runs on this tensor's gradient during backward; returning a defined tensor replaces it.
  void register_hook(std::function<Tensor(const Tensor&)> hook) const;
  std::string grad_fn_name() const;  // "" for leaves, e.g. "mul_backward"

  std::string to_string() const;  // PyTorch-like printing, elided when large

 private:
  std::shared_ptr<TensorImpl> impl_;
};

TESSERA_API std::ostream& operator<<(std::ostream& os, const Tensor& t);
// "a [2, 3] f32, b [3] i64" for error messages.
TESSERA_API std::string describe(std::initializer_list<std::pair<const char*, const Tensor*>> named);

// Builds a tensor over fresh contiguous memory (no initialisation).
TESSERA_API Tensor make_tensor(IntArrayRef sizes, DType dtype);
// Contiguous strides for a shape.
TESSERA_API Shape contiguous_strides(IntArrayRef sizes);
TESSERA_API int64_t numel_of(IntArrayRef sizes);
// Wraps a possibly negative dim into [0, rank); the error names `op`.
TESSERA_API int64_t wrap_dim(int64_t dim, int64_t rank, const char* op);

// Reads element `flat` (row-major over the tensor's logical shape) as a double.
TESSERA_API double read_as_double(const Tensor& t, int64_t flat);

}  // namespace tessera
