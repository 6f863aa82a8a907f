#pragma once
// The eager op API. Every function here goes through the op table (src/ops/op.h), which
// validates arguments, infers shape and dtype (NumPy broadcasting, PyTorch promotion),
// and runs the kernel registered for the device.
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "tessera/call_site.h"
#include "tessera/random.h"
#include "tessera/tensor.h"

namespace tessera {

// ============================== factories ==============================
TESSERA_API Tensor empty(IntArrayRef sizes, TensorOptions opts = {},
                         CallSite at = CallSite::current());
TESSERA_API Tensor zeros(IntArrayRef sizes, TensorOptions opts = {},
                         CallSite at = CallSite::current());
TESSERA_API Tensor ones(IntArrayRef sizes, TensorOptions opts = {},
                        CallSite at = CallSite::current());
TESSERA_API Tensor full(IntArrayRef sizes, const Scalar& value, TensorOptions opts = {},
                        CallSite at = CallSite::current());
TESSERA_API Tensor scalar_tensor(const Scalar& value, TensorOptions opts = {},
                                 CallSite at = CallSite::current());
TESSERA_API Tensor empty_like(const Tensor& t, CallSite at = CallSite::current());
TESSERA_API Tensor zeros_like(const Tensor& t, CallSite at = CallSite::current());
TESSERA_API Tensor ones_like(const Tensor& t, CallSite at = CallSite::current());
TESSERA_API Tensor full_like(const Tensor& t, const Scalar& value,
                             CallSite at = CallSite::current());
TESSERA_API Tensor rand_like(const Tensor& t, Generator* gen = nullptr,
                             CallSite at = CallSite::current());
TESSERA_API Tensor randn_like(const Tensor& t, Generator* gen = nullptr,
                              CallSite at = CallSite::current());
// [start, end) with `step`; int64 when all three are integers, else the default float.
TESSERA_API Tensor arange(const Scalar& end, CallSite at = CallSite::current());
TESSERA_API Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step = 1,
                          CallSite at = CallSite::current());
TESSERA_API Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step,
                          TensorOptions opts, CallSite at = CallSite::current());
TESSERA_API Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {},
                            CallSite at = CallSite::current());
TESSERA_API Tensor eye(int64_t n, int64_t m = -1, TensorOptions opts = {},
                       CallSite at = CallSite::current());
// Copies values; the shape defaults to 1-D.
template <typename T>
Tensor tensor(const std::vector<T>& values, IntArrayRef shape = {});
template <typename T>
Tensor tensor(std::initializer_list<T> values, IntArrayRef shape = {}) {
  return tensor(std::vector<T>(values), shape);
}
// Wraps memory without copying; `deleter` runs when the last view is gone.
TESSERA_API Tensor from_blob(void* data, IntArrayRef sizes, DType dtype,
                             std::function<void(void*)> deleter = {},
                             CallSite at = CallSite::current());
TESSERA_API Tensor from_blob(void* data, IntArrayRef sizes, IntArrayRef strides, DType dtype,
                             std::function<void(void*)> deleter = {},
                             CallSite at = CallSite::current());

// ============================== random ==============================
// Without `gen`, these draw from current_generator(): the thread's GeneratorGuard's
// generator, else the process default (tessera/random.h).
TESSERA_API Tensor rand(IntArrayRef sizes, TensorOptions opts = {}, Generator* gen = nullptr,
                        CallSite at = CallSite::current());
TESSERA_API Tensor randn(IntArrayRef sizes, TensorOptions opts = {}, Generator* gen = nullptr,
                         CallSite at = CallSite::current());
TESSERA_API Tensor randint(int64_t low, int64_t high, IntArrayRef sizes,
                           TensorOptions opts = kInt64, Generator* gen = nullptr,
                           CallSite at = CallSite::current());
TESSERA_API Tensor normal(double mean, double std, IntArrayRef sizes, TensorOptions opts = {},
                          Generator* gen = nullptr, CallSite at = CallSite::current());
TESSERA_API Tensor bernoulli(const Tensor& probs, Generator* gen = nullptr,
                             CallSite at = CallSite::current());
TESSERA_API Tensor bernoulli(IntArrayRef sizes, double p, TensorOptions opts = {},
                             Generator* gen = nullptr, CallSite at = CallSite::current());
TESSERA_API Tensor randperm(int64_t n, TensorOptions opts = kInt64, Generator* gen = nullptr,
                            CallSite at = CallSite::current());
TESSERA_API Tensor& uniform_(Tensor& t, double low = 0, double high = 1, Generator* gen = nullptr,
                             CallSite at = CallSite::current());
TESSERA_API Tensor& normal_(Tensor& t, double mean = 0, double std = 1, Generator* gen = nullptr,
                            CallSite at = CallSite::current());

// ============================== elementwise ==============================
// Binary ops broadcast and promote like PyTorch.
TESSERA_API Tensor add(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor add(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor sub(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor sub(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor mul(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor mul(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor div(const Tensor& a, const Tensor& b,
                       CallSite at = CallSite::current());  // true division: floats out
TESSERA_API Tensor div(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor floor_divide(const Tensor& a, const Tensor& b,
                                CallSite at = CallSite::current());  // rounds toward -inf
TESSERA_API Tensor floor_divide(const Tensor& a, const Scalar& b,
                                CallSite at = CallSite::current());
TESSERA_API Tensor remainder(const Tensor& a, const Tensor& b,
                             CallSite at = CallSite::current());  // sign of the divisor
TESSERA_API Tensor remainder(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor pow(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor pow(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor pow(const Scalar& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor minimum(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor maximum(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor atan2(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());

TESSERA_API Tensor neg(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor abs(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor sign(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor exp(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor expm1(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor log(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor log1p(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor log2(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor sqrt(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor rsqrt(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor sin(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor cos(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor tan(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor tanh(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor sigmoid(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor erf(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor relu(const Tensor& x, CallSite at = CallSite::current());
// approximate: "none" (exact, erf) or "tanh"
TESSERA_API Tensor gelu(const Tensor& x, const std::string& approximate = "none",
                        CallSite at = CallSite::current());
TESSERA_API Tensor silu(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0,
                            CallSite at = CallSite::current());
TESSERA_API Tensor square(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor reciprocal(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor floor(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor ceil(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor round(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max,
                         CallSite at = CallSite::current());
TESSERA_API Tensor clamp(const Tensor& x, const Tensor& min, const Tensor& max,
                         CallSite at = CallSite::current());

// Comparisons return bool tensors.
TESSERA_API Tensor eq(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor eq(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor ne(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor ne(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor lt(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor lt(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor le(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor le(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor gt(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor gt(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor ge(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor ge(const Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor logical_and(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor logical_or(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor logical_xor(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor logical_not(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b,
                         CallSite at = CallSite::current());
TESSERA_API Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b,
                         CallSite at = CallSite::current());
TESSERA_API Tensor isnan(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor isinf(const Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor isfinite(const Tensor& x, CallSite at = CallSite::current());
// Defaults like PyTorch: nan -> 0, +inf -> dtype max, -inf -> dtype lowest.
TESSERA_API Tensor nan_to_num(const Tensor& x, double nan = 0.0,
                              std::optional<double> posinf = std::nullopt,
                              std::optional<double> neginf = std::nullopt,
                              CallSite at = CallSite::current());
TESSERA_API bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5,
                          double atol = 1e-8, bool equal_nan = false,
                          CallSite at = CallSite::current());
TESSERA_API bool equal(const Tensor& a, const Tensor& b,
                       CallSite at = CallSite::current());  // same shape and values

// In-place forms (the result must be castable to the tensor's dtype).
TESSERA_API Tensor& add_(Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor& sub_(Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor& mul_(Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor& div_(Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor& pow_(Tensor& a, const Scalar& b, CallSite at = CallSite::current());
TESSERA_API Tensor& neg_(Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor& abs_(Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor& exp_(Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor& log_(Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor& sqrt_(Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor& relu_(Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor& sigmoid_(Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor& tanh_(Tensor& x, CallSite at = CallSite::current());
TESSERA_API Tensor& clamp_(Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max,
                           CallSite at = CallSite::current());
TESSERA_API Tensor& masked_fill_(Tensor& x, const Tensor& mask, const Scalar& value,
                                 CallSite at = CallSite::current());

// ============================== reductions ==============================
// `dims` empty means all dims. Integer/bool sums accumulate in int64 (as PyTorch).
TESSERA_API Tensor sum(const Tensor& x, IntArrayRef dims = {}, bool keepdim = false,
                       std::optional<DType> dtype = std::nullopt,
                       CallSite at = CallSite::current());
TESSERA_API Tensor mean(const Tensor& x, IntArrayRef dims = {}, bool keepdim = false,
                        CallSite at = CallSite::current());
TESSERA_API Tensor prod(const Tensor& x, IntArrayRef dims = {}, bool keepdim = false,
                        CallSite at = CallSite::current());
TESSERA_API Tensor amax(const Tensor& x, IntArrayRef dims = {}, bool keepdim = false,
                        CallSite at = CallSite::current());
TESSERA_API Tensor amin(const Tensor& x, IntArrayRef dims = {}, bool keepdim = false,
                        CallSite at = CallSite::current());
TESSERA_API Tensor max(const Tensor& x, CallSite at = CallSite::current());  // over all elements
TESSERA_API Tensor min(const Tensor& x, CallSite at = CallSite::current());
// (values, indices) along one dim; indices are int64 (first occurrence on ties).
TESSERA_API std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false,
                                          CallSite at = CallSite::current());
TESSERA_API std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false,
                                          CallSite at = CallSite::current());
TESSERA_API Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt,
                          bool keepdim = false, CallSite at = CallSite::current());
TESSERA_API Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt,
                          bool keepdim = false, CallSite at = CallSite::current());
TESSERA_API Tensor var(const Tensor& x, IntArrayRef dims = {}, int64_t correction = 1,
                       bool keepdim = false, CallSite at = CallSite::current());
TESSERA_API Tensor std(const Tensor& x, IntArrayRef dims = {}, int64_t correction = 1,
                       bool keepdim = false, CallSite at = CallSite::current());
TESSERA_API Tensor norm(const Tensor& x, double p = 2.0, IntArrayRef dims = {},
                        bool keepdim = false, CallSite at = CallSite::current());
TESSERA_API Tensor logsumexp(const Tensor& x, IntArrayRef dims, bool keepdim = false,
                             CallSite at = CallSite::current());
TESSERA_API Tensor all(const Tensor& x, IntArrayRef dims = {}, bool keepdim = false,
                       CallSite at = CallSite::current());
TESSERA_API Tensor any(const Tensor& x, IntArrayRef dims = {}, bool keepdim = false,
                       CallSite at = CallSite::current());
TESSERA_API Tensor cumsum(const Tensor& x, int64_t dim, CallSite at = CallSite::current());
TESSERA_API Tensor softmax(const Tensor& x, int64_t dim, CallSite at = CallSite::current());
TESSERA_API Tensor log_softmax(const Tensor& x, int64_t dim, CallSite at = CallSite::current());

// ============================== linear algebra ==============================
TESSERA_API Tensor matmul(const Tensor& a, const Tensor& b,
                          CallSite at = CallSite::current());  // numpy matmul semantics
TESSERA_API Tensor mm(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor bmm(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
// beta * input + alpha * (a @ b); input broadcasts to [n, m]
TESSERA_API Tensor addmm(const Tensor& input, const Tensor& a, const Tensor& b,
                         const Scalar& beta = 1, const Scalar& alpha = 1,
                         CallSite at = CallSite::current());
TESSERA_API Tensor outer(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());
TESSERA_API Tensor dot(const Tensor& a, const Tensor& b, CallSite at = CallSite::current());

// ============================== shape and indexing ==============================
TESSERA_API Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0,
                       CallSite at = CallSite::current());
TESSERA_API Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0,
                         CallSite at = CallSite::current());
// Views along `dim`: pieces of `split_size` (the last may be smaller), or given sizes.
TESSERA_API std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0,
                                      CallSite at = CallSite::current());
TESSERA_API std::vector<Tensor> split(const Tensor& x, IntArrayRef split_sizes, int64_t dim = 0,
                                      CallSite at = CallSite::current());
TESSERA_API std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0,
                                      CallSite at = CallSite::current());
TESSERA_API Tensor repeat(const Tensor& x, IntArrayRef repeats, CallSite at = CallSite::current());
TESSERA_API Tensor tile(const Tensor& x, IntArrayRef reps, CallSite at = CallSite::current());
TESSERA_API Tensor flip(const Tensor& x, IntArrayRef dims, CallSite at = CallSite::current());
TESSERA_API Tensor roll(const Tensor& x, IntArrayRef shifts, IntArrayRef dims = {},
                        CallSite at = CallSite::current());
TESSERA_API Tensor tril(const Tensor& x, int64_t diagonal = 0, CallSite at = CallSite::current());
TESSERA_API Tensor triu(const Tensor& x, int64_t diagonal = 0, CallSite at = CallSite::current());
TESSERA_API Tensor gather(const Tensor& x, int64_t dim, const Tensor& index,
                          CallSite at = CallSite::current());
TESSERA_API Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                           CallSite at = CallSite::current());
TESSERA_API Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Scalar& value,
                           CallSite at = CallSite::current());
TESSERA_API Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index,
                               const Tensor& src, CallSite at = CallSite::current());
TESSERA_API Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index,
                                CallSite at = CallSite::current());
TESSERA_API Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value,
                               CallSite at = CallSite::current());
// indices: one int64 (or bool mask) tensor per leading dim, broadcast together.
TESSERA_API Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices,
                             const Tensor& values, bool accumulate = false,
                             CallSite at = CallSite::current());
TESSERA_API Tensor one_hot(const Tensor& labels, int64_t num_classes = -1,
                           CallSite at = CallSite::current());
// (values, indices); stable sort.
TESSERA_API std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1,
                                           bool descending = false,
                                           CallSite at = CallSite::current());
TESSERA_API std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1,
                                           bool largest = true, bool sorted = true,
                                           CallSite at = CallSite::current());
TESSERA_API Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                             CallSite at = CallSite::current());
TESSERA_API Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                                 CallSite at = CallSite::current());
TESSERA_API Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices,
                               const Tensor& values, bool accumulate = false,
                               CallSite at = CallSite::current());

// ============================== operators ==============================
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator+(const Tensor& a, const Scalar& b) { return add(a, b); }
inline Tensor operator+(const Scalar& a, const Tensor& b) { return add(b, a); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator-(const Tensor& a, const Scalar& b) { return sub(a, b); }
inline Tensor operator-(const Scalar& a, const Tensor& b) { return add(neg(b), a); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator*(const Tensor& a, const Scalar& b) { return mul(a, b); }
inline Tensor operator*(const Scalar& a, const Tensor& b) { return mul(b, a); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator/(const Tensor& a, const Scalar& b) { return div(a, b); }

}  // namespace tessera
