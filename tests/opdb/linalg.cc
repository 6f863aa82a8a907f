// opdb entries of the linear-algebra family (src/ops/linalg.cc).
//
// Signed inputs with short inner dims, or positive inputs with long ones: a dot product
// that cancels is ill-conditioned, and its summation order (which legitimately differs
// between libraries) would dominate the comparison.
#include "opdb/opdb.h"

namespace tessera::opdb {
namespace {

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::string torch,
              std::function<std::vector<ErrorCase>()> errors) {
  OpEntry e;
  e.op = op;
  e.family = "linalg";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  e.errors = std::move(errors);
  e.tol.rtol64 = 1e-9;
  return e;
}

const Domain kUnit{0, 1};

}  // namespace

void add_linalg(std::vector<OpEntry>& out) {
  {
    // The fused layer of frozen graphs (graph/passes/fuse_linear.cc): x @ w + bias [+ r], [relu].
    auto relu = [] { return Attrs{{"activation", std::string("relu")}}; };
    OpEntry e = entry(
        "linear_fused",
        [](const Tensors& x, const Attrs& a) {
          ops::ensure_registered();
          return ops::call(*ops::find_op("linear_fused"), x, a);
        },
        [relu](DType t) {
          Maker m("linear_fused", t);
          std::vector<Sample> s;
          s.push_back({"2d", {m({4, 6}), m({6, 5}), m({5})}});
          // A Linear's weight as the traced graph holds it: [N, K] transposed (a view).
          s.push_back({"transposed_weight_relu", {m({2, 3, 8}), m({5, 8}).transpose(0, 1), m({5})}, relu()});
          s.push_back({"residual_relu", {noncontiguous(m({3, 6})), m({6, 4}), m({4}), m({3, 4})}, relu()});
          s.push_back({"vector_input", {m({6}), m({6, 3}), m({3})}});
          // One row takes the packed-panel product: a partial last panel (21 = 16 + 5
          // columns), rows past the last multiple of 4 (k = 7), a transposed weight.
          s.push_back({"one_row_residual_relu", {m({1, 7}), m({21, 7}).transpose(0, 1), m({21}), m({1, 21})}, relu()});
          s.push_back({"empty", {m({0, 3}), m({3, 4}), m({4})}});
          s.push_back({"empty_inner", {m({2, 0}), m({0, 3}), m({3}), m({2, 3})}, relu()});
          s.push_back({"large", {m({33, 200}, kUnit), m({200, 17}, kUnit), m({17})}, {}, false});
          // Neither of the weight's strides is 1 (no BLAS layout reads it in place).
          s.push_back({"strided_weight", {m({3, 6}), m({6, 4, 2}).select(2, 0), m({4})}, relu()});
          s.push_back({"large_one_row", {m({1, 1, 301}, kUnit), m({301, 70}, kUnit), m({70})}, {}, false});
          return s;
        },
        "(lambda y: F.relu(y) if A.get('activation') == 'relu' else y)("
        "torch.matmul(x[0], x[1]) + x[2] + (x[3] if len(x) > 3 else 0))",
        [] {
          return std::vector<ErrorCase>{
              {"inner", {ones({2, 3}), ones({4, 5}), ones({5})}, {}, "input [2, 3] has 3 features but the weight [4, 5] takes 4"},
              {"bias", {ones({2, 4}), ones({4, 5}), ones({4})}, {}, "expected a bias of shape [5]"},
              {"residual", {ones({2, 4}), ones({4, 5}), ones({5}), ones({5})}, {}, "expected a residual of the output's shape [2, 5]"},
              {"float64", {ones({2, 4}, kFloat64), ones({4, 5}), ones({5})}, {}, "expected float32 tensors"}};
        });
    e.dtypes = {kFloat32};  // oneDNN's float32 matmul
    e.tol.rtol32 = 1e-4;
    e.tol.atol32 = 1e-5;
    out.push_back(std::move(e));
  }
  out.push_back(entry(
      "matmul", [](const Tensors& x, const Attrs&) { return one(matmul(x[0], x[1])); },
      [](DType t) {
        Maker m("matmul", t);
        std::vector<Sample> s;
        s.push_back({"2d", {m({4, 6}), m({6, 5})}});
        s.push_back({"noncontiguous", {noncontiguous(m({3, 6})), noncontiguous(m({6, 4}))}});
        s.push_back({"1d_2d", {m({6}), m({6, 3})}});
        s.push_back({"2d_1d", {noncontiguous(m({3, 6})), m({6})}});
        s.push_back({"1d_1d", {m({7}), m({7})}});
        s.push_back({"batched_broadcast", {m({2, 1, 2, 3}), m({3, 3, 2})}});
        s.push_back({"3d_1d", {noncontiguous(m({2, 3, 4})), m({4})}});
        s.push_back({"1d_3d", {m({3}), m({2, 3, 2})}});
        s.push_back({"batched", {m({2, 3, 4}), m({2, 4, 2})}});
        s.push_back({"broadcast_2d_3d", {m({3, 4}), m({2, 4, 5})}});
        s.push_back({"broadcast_size1_batch", {m({1, 3, 2}), m({4, 2, 3})}});
        s.push_back({"transposed_batched", {m({2, 4, 3}).transpose(-1, -2), m({2, 5, 4}).transpose(-1, -2)}});
        s.push_back({"sliced_operand", {m({6, 4}).slice(0, 0, 6, 2), m({4, 3})}});
        s.push_back({"empty", {m({0, 3}), m({3, 4})}});
        s.push_back({"empty_inner", {m({2, 0}), m({0, 3})}});
        // A batch times one matrix (linear on [N, S, k]): the matrix's gradient folds the
        // batch into one product, in the matrix's layout (a weight read transposed).
        s.push_back({"3d_2d", {m({2, 3, 4}), m({4, 5})}});
        s.push_back({"linear_form", {noncontiguous(m({2, 2, 3, 4})), m({5, 4}).t()}});
        s.push_back({"3d_2d_empty_inner", {m({2, 3, 0}), m({0, 4})}});
        s.push_back({"3d_2d_empty_batch", {m({0, 3, 4}), m({4, 2})}});
        s.push_back({"large", {m({33, 200}, kUnit), m({200, 17}, kUnit)}, {}, false});
        s.push_back({"large_transposed", {noncontiguous(m({30, 64}, kUnit)), noncontiguous(m({64, 20}, kUnit))}, {}, false});
        return s;
      },
      "torch.matmul(x[0], x[1])",
      [] {
        return std::vector<ErrorCase>{
            {"inner", {ones({2, 3}), ones({4, 5})}, {}, "inner dimensions differ (3 vs 4)"},
            {"scalar", {ones({}), ones({3})}, {}, "matmul"},
            {"batch", {ones({2, 2, 3}), ones({3, 3, 4})}, {}, "batch dimensions"}};
      }));
  out.push_back(entry(
      "mm", [](const Tensors& x, const Attrs&) { return one(mm(x[0], x[1])); },
      [](DType t) {
        Maker m("mm", t);
        std::vector<Sample> s;
        s.push_back({"contiguous", {m({5, 4}), m({4, 3})}});
        s.push_back({"noncontiguous", {m({5, 4}), noncontiguous(m({4, 3}))}});
        s.push_back({"transposed", {m({4, 3}).t(), m({2, 4}).t()}});
        s.push_back({"sliced", {m({6, 4}).slice(0, 0, 6, 2), m({4, 5}).slice(1, 1, 5, 2)}});
        s.push_back({"empty", {m({0, 4}), m({4, 3})}});
        s.push_back({"large", {m({64, 128}, kUnit), m({128, 48}, kUnit)}, {}, false});
        return s;
      },
      "torch.mm(x[0], x[1])",
      [] {
        return std::vector<ErrorCase>{{"vector", {ones({3}), ones({3, 2})}, {}, "expected 2-D matrices"},
                                      {"inner", {ones({2, 3}), ones({2, 3})}, {}, "inner dimensions differ (3 vs 2)"}};
      }));
  out.push_back(entry(
      "bmm", [](const Tensors& x, const Attrs&) { return one(bmm(x[0], x[1])); },
      [](DType t) {
        Maker m("bmm", t);
        std::vector<Sample> s;
        s.push_back({"contiguous", {m({2, 3, 4}), m({2, 4, 2})}});
        s.push_back({"noncontiguous", {m({2, 3, 4}), m({4, 2, 2}).permute({1, 0, 2})}});
        s.push_back({"empty", {m({0, 4, 5}), m({0, 5, 2})}});
        s.push_back({"large", {m({8, 32, 64}, kUnit), m({8, 64, 16}, kUnit)}, {}, false});
        return s;
      },
      "torch.bmm(x[0], x[1])",
      [] {
        return std::vector<ErrorCase>{{"matrix", {ones({3, 4}), ones({3, 4, 2})}, {}, "expected 3-D batches of matrices"},
                                      {"batch", {ones({2, 3, 4}), ones({3, 4, 2})}, {}, "batch sizes differ (2 vs 3)"}};
      }));
  out.push_back(entry(
      "addmm",
      [](const Tensors& x, const Attrs& a) {
        const Scalar beta = a.has("beta") ? a.scalar("beta") : Scalar(int64_t{1});
        const Scalar alpha = a.has("alpha") ? a.scalar("alpha") : Scalar(int64_t{1});
        return one(addmm(x[0], x[1], x[2], beta, alpha));
      },
      [](DType t) {
        Maker m("addmm", t);
        const Attrs scaled{{"beta", Scalar(0.5)}, {"alpha", Scalar(2.0)}};
        std::vector<Sample> s;
        s.push_back({"broadcast_row", {m({3}), m({2, 4}), m({4, 3})}, scaled});
        s.push_back({"full_noncontiguous", {m({2, 3}), noncontiguous(m({2, 5})), m({5, 3})}, {{"beta", Scalar(int64_t{1})}, {"alpha", Scalar(int64_t{1})}}});
        s.push_back({"column", {m({2, 1}), m({2, 4}), noncontiguous(m({4, 3}))}, scaled});
        s.push_back({"beta_zero", {m({3, 2}), m({3, 4}), m({4, 2})}, {{"beta", Scalar(0.0)}, {"alpha", Scalar(1.5)}}});
        s.push_back({"negative_alpha", {m({3, 2}), m({3, 4}), m({4, 2})}, {{"beta", Scalar(0.5)}, {"alpha", Scalar(-2.0)}}});
        s.push_back({"scalar_input", {m({}), m({3, 4}), m({4, 2})}, {{"beta", Scalar(3.0)}, {"alpha", Scalar(0.5)}}});
        s.push_back({"transposed", {m({3, 2}), m({4, 3}).t(), m({2, 4}).t()}, scaled});
        // linear's form: bias, input, W.t(), alpha and beta 1 (no scaling pass).
        s.push_back({"linear_form", {m({3}), m({2, 4}), m({3, 4}).t()}, {{"beta", Scalar(int64_t{1})}, {"alpha", Scalar(1.0)}}});
        s.push_back({"empty", {m({3}), m({0, 4}), m({4, 3})}, scaled});
        s.push_back({"large", {m({48}), m({64, 128}, kUnit), m({128, 48}, kUnit)}, scaled, false});
        return s;
      },
      "torch.addmm(x[0], x[1], x[2], beta=A['beta'], alpha=A['alpha'])",
      [] {
        return std::vector<ErrorCase>{{"input_shape", {ones({4}), ones({2, 4}), ones({4, 3})}, {}, "input must broadcast to [2, 3]"}};
      }));
  out.push_back(entry(
      "outer", [](const Tensors& x, const Attrs&) { return one(outer(x[0], x[1])); },
      [](DType t) {
        Maker m("outer", t);
        std::vector<Sample> s;
        s.push_back({"contiguous", {m({4}), m({5})}});
        s.push_back({"noncontiguous", {m({4}), noncontiguous(m({5}))}});
        s.push_back({"stepped", {m({6}).slice(0, 0, 6, 2), m({4})}});
        s.push_back({"empty", {m({0}), m({5})}});
        s.push_back({"large", {m({70}), m({80})}, {}, false});
        return s;
      },
      "torch.outer(x[0], x[1])",
      [] { return std::vector<ErrorCase>{{"matrix", {ones({2, 2}), ones({2})}, {}, "expected 1-D vectors"}}; }));
  out.push_back(entry(
      "dot", [](const Tensors& x, const Attrs&) { return one(dot(x[0], x[1])); },
      [](DType t) {
        Maker m("dot", t);
        std::vector<Sample> s;
        s.push_back({"contiguous", {m({9}), m({9})}});
        s.push_back({"noncontiguous", {noncontiguous(m({6})), noncontiguous(m({6}))}});
        s.push_back({"stepped", {m({6}).slice(0, 1, 6, 2), m({3})}});
        s.push_back({"empty", {m({0}), m({0})}});
        s.push_back({"large", {m({12000}, kUnit), m({12000}, kUnit)}, {}, false});
        return s;
      },
      "torch.dot(x[0], x[1])",
      [] {
        return std::vector<ErrorCase>{{"sizes", {ones({3}), ones({4})}, {}, "vector sizes differ (3 vs 4)"},
                                      {"matrix", {ones({2, 2}), ones({4})}, {}, "expected 1-D vectors"}};
      }));
  for (OpEntry& e : out)
    if (e.family == "linalg") e.tol.rtol32 = 1e-4;  // summation order over long inner dims
}

}  // namespace tessera::opdb
