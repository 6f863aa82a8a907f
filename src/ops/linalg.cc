// The linear-algebra family: shape and dtype rules of matmul, mm, bmm, addmm, outer, dot.
// All of them run on one strided batched-GEMM kernel (backends/cpu/linalg.cc); the separate
// OpDefs exist so that errors name the op the user called and so that graph capture and
// ONNX export see mm/bmm/addmm as such.
//
// Autocast (tessera/autocast.h): matmul, mm, bmm and addmm carry the attribute precision,
// "float32" or "bf16" (float32 operands rounded to bfloat16, float32 accumulation and
// result). The public functions below set "bf16" when called under autocast with float32
// operands; the backward rules give the gradient products the forward's precision, so
// gradients computed after the scope has closed (or inside one, of a float32 product)
// multiply as the forward did. dot and outer have no precision (PyTorch's autocast leaves
// them float32 too).
#include "ops/linalg.h"

#include "ops/registration.h"
#include "tessera/autocast.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

// The batch dims of an operand of matmul: everything before the two matrix dims
// (a 1-D operand has none).
IntArrayRef batch_dims(const InputMeta& t) {
  IntArrayRef s = t.sizes();
  return t.dim() <= 2 ? IntArrayRef() : IntArrayRef(s.data(), s.size() - 2);
}

InferResult infer_matmul(const std::vector<InputMeta>& in, const Attrs& attrs) {
  check_precision(attrs);
  const InputMeta& a = in[0];
  const InputMeta& b = in[1];
  TESSERA_CHECK(a.dim() >= 1 && b.dim() >= 1,
                "both operands need at least 1 dimension, got ", a.dim(), "-D and ", b.dim(), "-D");
  const int64_t ka = a.size(-1);
  const int64_t kb = b.dim() == 1 ? b.size(0) : b.size(-2);
  TESSERA_CHECK(ka == kb, "inner dimensions differ (", ka, " vs ", kb, ")");

  // Batch dims broadcast like elementwise shapes, right-aligned.
  IntArrayRef ba = batch_dims(a);
  IntArrayRef bb = batch_dims(b);
  const size_t nb = std::max(ba.size(), bb.size());
  Shape out(nb, 1);
  for (size_t i = 0; i < nb; ++i) {
    const int64_t da = i < nb - ba.size() ? 1 : ba[i - (nb - ba.size())];
    const int64_t db = i < nb - bb.size() ? 1 : bb[i - (nb - bb.size())];
    TESSERA_CHECK(da == db || da == 1 || db == 1, "batch dimensions ", shape_str(ba), " and ",
                  shape_str(bb), " are not broadcastable (", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  if (a.dim() >= 2) out.push_back(a.size(-2));
  if (b.dim() >= 2) out.push_back(b.size(-1));
  const DType dt = result_type(in);
  return {{{out, dt}}, dt};
}

InferResult infer_mm(const std::vector<InputMeta>& in, const Attrs& attrs) {
  TESSERA_CHECK(in[0].dim() == 2 && in[1].dim() == 2, "expected 2-D matrices, got ", in[0].dim(),
                "-D and ", in[1].dim(), "-D");
  return infer_matmul(in, attrs);
}

InferResult infer_bmm(const std::vector<InputMeta>& in, const Attrs& attrs) {
  TESSERA_CHECK(in[0].dim() == 3 && in[1].dim() == 3, "expected 3-D batches of matrices, got ",
                in[0].dim(), "-D and ", in[1].dim(), "-D");
  TESSERA_CHECK(in[0].size(0) == in[1].size(0), "batch sizes differ (", in[0].size(0), " vs ",
                in[1].size(0), ")");
  return infer_matmul(in, attrs);
}

InferResult infer_dot(const std::vector<InputMeta>& in, const Attrs& attrs) {
  TESSERA_CHECK(in[0].dim() == 1 && in[1].dim() == 1, "expected 1-D vectors, got ", in[0].dim(),
                "-D and ", in[1].dim(), "-D");
  TESSERA_CHECK(in[0].size(0) == in[1].size(0), "vector sizes differ (", in[0].size(0), " vs ",
                in[1].size(0), ")");
  return infer_matmul(in, attrs);
}

InferResult infer_outer(const std::vector<InputMeta>& in, const Attrs&) {
  TESSERA_CHECK(in[0].dim() == 1 && in[1].dim() == 1, "expected 1-D vectors, got ", in[0].dim(),
                "-D and ", in[1].dim(), "-D");
  const DType dt = result_type(in);
  return {{{Shape{in[0].size(0), in[1].size(0)}, dt}}, dt};
}

// inputs: input, a, b.
InferResult infer_addmm(const std::vector<InputMeta>& in, const Attrs& attrs) {
  const InputMeta& input = in[0];
  const InputMeta& a = in[1];
  const InputMeta& b = in[2];
  TESSERA_CHECK(a.dim() == 2 && b.dim() == 2, "expected 2-D matrices to multiply, got ", a.dim(),
                "-D and ", b.dim(), "-D");
  TESSERA_CHECK(a.size(1) == b.size(0), "inner dimensions differ (", a.size(1), " vs ", b.size(0),
                ")");
  const Shape out{a.size(0), b.size(1)};
  // Only the input broadcasts: the product's shape is the result's.
  TESSERA_CHECK(input.dim() <= 2, "input must broadcast to ", shape_str(out), ", got ",
                shape_str(input.sizes()));
  for (int64_t i = 0; i < input.dim(); ++i) {
    const int64_t want = out[static_cast<size_t>(2 - input.dim() + i)];
    TESSERA_CHECK(input.size(i) == want || input.size(i) == 1, "input must broadcast to ",
                  shape_str(out), ", got ", shape_str(input.sizes()));
  }
  check_precision(attrs);
  const DType dt = result_type(in);
  if (!is_floating(dt)) {
    TESSERA_CHECK(!attrs.scalar("beta").is_floating() && !attrs.scalar("alpha").is_floating(),
                  "beta and alpha must be integers for an integer result (", dtype_name(dt), ")");
  }
  return {{{out, dt}}, dt};
}

// ---- backward rules ----
// Each product's gradient is another product of the same family, so the rules are
// differentiable again (gradgradcheck) without any linear-algebra-specific machinery.

// Swaps the two matrix dims (a view, so no copy: the GEMM reads the strides).
Tensor mT(const Tensor& t) { return t.transpose(-1, -2); }

// The gradient products, at the forward product's precision (its attrs: `from`), whatever
// autocast says when the backward pass runs.
Attrs precision_of(const Attrs& from) {
  return from.has("precision") ? Attrs{{"precision", from.get<std::string>("precision")}} : Attrs{};
}
Tensor matmul_as(const Tensor& a, const Tensor& b, const Attrs& from) {
  return call1(kMatmul, {a, b}, precision_of(from));
}
Tensor mm_as(const Tensor& a, const Tensor& b, const Attrs& from) { return call1(kMm, {a, b}, precision_of(from)); }
Tensor bmm_as(const Tensor& a, const Tensor& b, const Attrs& from) { return call1(kBmm, {a, b}, precision_of(from)); }

// Whether m is a matrix stored transposed: W.t() of a contiguous W, as linear reads its
// weight. Its gradient is then computed transposed too, (g^T a)^T rather than a^T g, so
// it comes out in W's layout and the transpose's backward hands W a contiguous gradient;
// the other way W got a strided view that AccumulateGrad copied element by element
// (mlp_train_b128, eager, 1 thread: a fifth of the step). PyTorch's mm_mat2_backward does
// the same.
bool stored_transposed(const Tensor& m) {
  return m.dim() == 2 && m.size(0) > 1 && m.size(1) > 1 && m.stride(0) == 1 && m.stride(1) == m.size(0);
}

// d(a @ b)/da = g b^T and d(a @ b)/db = a^T g, each in its operand's layout.
Tensor mm_grad_left(const Tensor& g, const Tensor& a, const Tensor& b, const Attrs& from) {
  return stored_transposed(a) ? mm_as(b, g.t(), from).t() : mm_as(g, b.t(), from);
}
Tensor mm_grad_right(const Tensor& g, const Tensor& a, const Tensor& b, const Attrs& from) {
  return stored_transposed(b) ? mm_as(g.t(), a, from).t() : mm_as(a.t(), g, from);
}

// t * s, or t itself when s is 1 (addmm's default alpha and beta): no pass over t.
Tensor scaled(const Tensor& t, const Scalar& s) { return s.to_double() == 1.0 ? t : mul(t, s); }

std::vector<Tensor> matmul_backward(const BackwardCall& c) {
  const Tensor& a = c.input(0);
  const Tensor& b = c.input(1);
  // Promote 1-D operands to matrices ([k] -> [1, k] on the left, [k, 1] on the right) and
  // give the gradient the dims the forward dropped, so one batched rule covers every case.
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  Tensor g = c.grad(0);
  if (b.dim() == 1) g = g.unsqueeze(-1);
  if (a.dim() == 1) g = g.unsqueeze(-2);
  std::vector<Tensor> out(2);
  // Broadcast batch dims are summed back to each operand's own (sum_to), then the
  // promoted 1-D shape is restored.
  if (c.needs(0)) out[0] = sum_to(matmul_as(g, mT(b2), c.attrs()), a2.sizes()).reshape(c.input_sizes(0));
  if (c.needs(1)) {
    if (b.dim() == 2 && a.dim() > 2) {
      // A matrix applied to every row of a batch (linear on [N, S, k]): its gradient sums
      // over the batch, so fold the batch into the product's depth, one [k, N*S] x
      // [N*S, m] product, instead of N products and a sum over an [N, k, m] temporary
      // (PyTorch folds the same way), in b's layout (mm_grad_right).
      int64_t rows = 1;  // N * S (a product of sizes, so right when k or m is 0 too)
      for (int64_t d = 0; d + 1 < a.dim(); ++d) rows *= a.size(d);
      out[1] = mm_grad_right(g.reshape({rows, g.size(-1)}), a.reshape({rows, a.size(-1)}), b, c.attrs());
    } else {
      out[1] = sum_to(matmul_as(mT(a2), g, c.attrs()), b2.sizes()).reshape(c.input_sizes(1));
    }
  }
  return out;
}

std::vector<Tensor> mm_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {c.needs(0) ? mm_grad_left(g, c.input(0), c.input(1), c.attrs()) : Tensor(),
          c.needs(1) ? mm_grad_right(g, c.input(0), c.input(1), c.attrs()) : Tensor()};
}

std::vector<Tensor> bmm_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {c.needs(0) ? bmm_as(g, mT(c.input(1)), c.attrs()) : Tensor(),
          c.needs(1) ? bmm_as(mT(c.input(0)), g, c.attrs()) : Tensor()};
}

std::vector<Tensor> addmm_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  const Scalar& beta = c.attrs().scalar("beta");
  const Scalar& alpha = c.attrs().scalar("alpha");
  std::vector<Tensor> out(3);
  if (c.needs(0)) out[0] = sum_to(scaled(g, beta), c.input_sizes(0));
  if (c.needs(1)) out[1] = scaled(mm_grad_left(g, c.input(1), c.input(2), c.attrs()), alpha);
  if (c.needs(2)) out[2] = scaled(mm_grad_right(g, c.input(1), c.input(2), c.attrs()), alpha);
  return out;
}

// outer(a, b)[i, j] = a[i] b[j]: d/da = g @ b, d/db = a @ g (matrix-vector products).
std::vector<Tensor> outer_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {c.needs(0) ? matmul(g, c.input(1)) : Tensor(),
          c.needs(1) ? matmul(c.input(0), g) : Tensor()};
}

// The gradient of a dot product is 0-d: it scales the other vector.
std::vector<Tensor> dot_backward(const BackwardCall& c) {
  const Tensor& g = c.grad(0);
  return {c.needs(0) ? mul(g, c.input(1)) : Tensor(), c.needs(1) ? mul(g, c.input(0)) : Tensor()};
}

// "float32", or "bf16": autocast's operands rounded to bfloat16, float32 accumulation and
// output (float32 operands only; other dtypes ignore it).
AttrSpec precision_attr() { return attr("precision", AttrType::String, std::string("float32")); }

}  // namespace

OpDef kMatmul{"matmul", 2, kDifferentiable, {precision_attr()}, infer_matmul, nullptr, "MatMul", matmul_backward};
OpDef kMm{"mm", 2, kDifferentiable, {precision_attr()}, infer_mm, nullptr, "MatMul", mm_backward};
OpDef kBmm{"bmm", 2, kDifferentiable, {precision_attr()}, infer_bmm, nullptr, "MatMul", bmm_backward};
OpDef kAddmm{"addmm", 3, kDifferentiable,
             {attr("beta", AttrType::Scalar, Scalar(int64_t{1})),
              attr("alpha", AttrType::Scalar, Scalar(int64_t{1})), precision_attr()},
             infer_addmm, nullptr, "Gemm", addmm_backward};
// ONNX has no outer product: an exporter writes it as Mul of [n, 1] and [1, m].
OpDef kOuter{"outer", 2, kDifferentiable, {}, infer_outer, nullptr, nullptr, outer_backward};
OpDef kDot{"dot", 2, kDifferentiable, {}, infer_dot, nullptr, "MatMul", dot_backward};

void register_linalg_ops() {
  for (OpDef* op : {&kMatmul, &kMm, &kBmm, &kAddmm, &kOuter, &kDot, &kLinearFused}) register_op(*op);
}

}  // namespace tessera::ops

namespace tessera {
namespace {

// Under autocast (tessera/autocast.h) a product of float32 tensors says on the op that it
// multiplies in bfloat16: its gradients, computed later, and a traced graph keep that.
// Any other dtype (float64 gradient checks, integers) is left alone.
ops::Attrs autocast_attrs(std::initializer_list<const Tensor*> operands, ops::Attrs attrs = {}) {
  if (!autocast_bf16_active()) return attrs;
  for (const Tensor* t : operands)
    if (!t->defined() || t->dtype() != DType::Float32) return attrs;
  attrs.add({"precision", std::string("bf16")});
  return attrs;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kMatmul, {a, b}, autocast_attrs({&a, &b}));
}
Tensor mm(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kMm, {a, b}, autocast_attrs({&a, &b}));
}
Tensor bmm(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kBmm, {a, b}, autocast_attrs({&a, &b}));
}
Tensor addmm(const Tensor& input, const Tensor& a, const Tensor& b, const Scalar& beta,
             const Scalar& alpha, CallSite at) {
  detail::UserCallScope scope(at);
  // The result is float32 only when the input is too (else the product runs in float64).
  return ops::call1(ops::kAddmm, {input, a, b}, autocast_attrs({&input, &a, &b}, {{"beta", beta}, {"alpha", alpha}}));
}
Tensor outer(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kOuter, {a, b});
}
Tensor dot(const Tensor& a, const Tensor& b, CallSite at) {
  detail::UserCallScope scope(at);
  return ops::call1(ops::kDot, {a, b});
}

Tensor Tensor::matmul(const Tensor& other) const { return tessera::matmul(*this, other); }

}  // namespace tessera
