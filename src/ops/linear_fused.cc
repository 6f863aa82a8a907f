// linear_fused: the fully connected layer of compiled inference graphs
// (graph/passes/fuse_linear.cc), y = act(x @ w + bias [+ residual]) in one kernel.
//   inputs: x [..., K], w [K, N] (any strides: a Linear's weight transposed is a view),
//           bias [N], optional residual [..., N]
//   attrs:  activation "none" | "relu"; precision "float32" | "bf16" (the matmul's, under
//           autocast: operands rounded to bfloat16, float32 accumulation and output)
// Eager matmul multiplies with the weight as it lies and adds the bias, the residual and
// the ReLU as three more passes over the output; here the backend packs the weight once
// into its GEMM's panels (a frozen graph's weights are constant) and applies the rest
// while the output is in registers. Float32; not differentiable (graphs that train keep
// matmul).
#include "ops/linalg.h"

namespace tessera::ops {
namespace {

using In = std::vector<InputMeta>;

InferResult infer_linear_fused(const In& in, const Attrs& attrs) {
  TESSERA_CHECK(in.size() == 3 || in.size() == 4, "expected (input, weight, bias[, residual]), got ", in.size(),
                " tensors");
  for (const InputMeta& t : in)
    TESSERA_CHECK(t.dtype() == DType::Float32, "expected float32 tensors, got ", t.describe());
  const InputMeta& x = in[0];
  const InputMeta& w = in[1];
  TESSERA_CHECK(x.dim() >= 1, "expected an input of at least 1 dim, got a 0-d tensor");
  TESSERA_CHECK(w.dim() == 2, "expected a 2-D weight [K, N], got ", shape_str(w.sizes()));
  TESSERA_CHECK(x.size(-1) == w.size(0), "input ", shape_str(x.sizes()), " has ", x.size(-1),
                " features but the weight ", shape_str(w.sizes()), " takes ", w.size(0));
  const int64_t n = w.size(1);
  TESSERA_CHECK(in[2].dim() == 1 && in[2].size(0) == n, "expected a bias of shape [", n, "], got ",
                shape_str(in[2].sizes()));
  Shape out(x.sizes());
  out.back() = n;
  if (in.size() == 4)
    TESSERA_CHECK(in[3].sizes().equals(out), "expected a residual of the output's shape ", shape_str(out), ", got ",
                  shape_str(in[3].sizes()));
  const std::string& act = attrs.get<std::string>("activation");
  TESSERA_CHECK(act == "none" || act == "relu", "activation must be \"none\" or \"relu\", got \"", act, "\"");
  check_precision(attrs);
  return {{{out, DType::Float32}}, std::nullopt};
}

}  // namespace

OpDef kLinearFused{"linear_fused", -1, 0,
                   {attr("activation", AttrType::String, std::string("none")),
                    attr("precision", AttrType::String, std::string("float32"))},
                   infer_linear_fused};

}  // namespace tessera::ops
