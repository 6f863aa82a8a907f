// MultiheadAttention and TransformerEncoderLayer with PyTorch's parameter layout, so a
// state_dict exported from torch.nn loads key for key.
#include <cmath>
#include <limits>

#include "tessera/nn/init.h"
#include "tessera/nn/layers.h"

namespace tessera::nn {

namespace F = functional;

// ============================== MultiheadAttention ==============================

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout,
                                       bool bias, bool batch_first)
    : Module("MultiheadAttention"),
      embed_dim(embed_dim),
      num_heads(num_heads),
      head_dim(num_heads > 0 ? embed_dim / num_heads : 0),
      dropout(dropout),
      batch_first(batch_first),
      in_proj_weight(register_parameter("in_proj_weight", empty({3 * embed_dim, embed_dim}))),
      in_proj_bias(register_parameter("in_proj_bias", bias ? empty({3 * embed_dim}) : Tensor())) {
  TESSERA_CHECK(num_heads > 0 && embed_dim % num_heads == 0, "MultiheadAttention: embed_dim ",
                embed_dim, " must be divisible by num_heads ", num_heads);
  TESSERA_CHECK(dropout >= 0 && dropout <= 1, "MultiheadAttention: dropout ", dropout,
                " must be in [0, 1]");
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, bias));
  // PyTorch's _reset_parameters: xavier for the packed projection, zero biases; the
  // output projection keeps Linear's weight initialisation.
  init::xavier_uniform_(in_proj_weight);
  if (bias) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
}

Tensor MultiheadAttention::forward(const Tensor& x) {
  return forward(x, x, x, Tensor(), false).first;
}

namespace {
// A mask as an additive float tensor: bool true (PyTorch's "not allowed") becomes -inf.
Tensor additive(const Tensor& mask, DType dtype) {
  if (mask.dtype() == kBool)
    return masked_fill(zeros(mask.sizes(), dtype), mask, -std::numeric_limits<double>::infinity());
  TESSERA_CHECK(mask.is_floating_point(), "MultiheadAttention: mask ", mask.describe(),
                ": expected a bool or floating mask");
  return mask.to(dtype);
}
}  // namespace

std::pair<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query, const Tensor& key,
                                                      const Tensor& value,
                                                      const Tensor& key_padding_mask,
                                                      bool need_weights, const Tensor& attn_mask,
                                                      bool average_attn_weights, bool is_causal) {
  const bool unbatched = query.dim() == 2;
  auto check_input = [&](const Tensor& t, const char* name) {
    TESSERA_CHECK(t.dim() == query.dim() && (t.dim() == 2 || t.dim() == 3) &&
                      t.size(-1) == embed_dim,
                  "MultiheadAttention: ", name, " ", t.describe(), ": expected ",
                  batch_first ? "[N, L, E]" : "[L, N, E]", " or [L, E] with E = ", embed_dim,
                  " (query is ", query.describe(), ")");
  };
  check_input(query, "query");
  check_input(key, "key");
  check_input(value, "value");
  // Work batch-major: [N, L, E].
  auto batch_major = [&](const Tensor& t) {
    if (unbatched) return t.unsqueeze(0);
    return batch_first ? t : t.transpose(0, 1);
  };
  const bool self_attention = query.is_same(key) && key.is_same(value);
  Tensor q = batch_major(query), k = batch_major(key), v = batch_major(value);
  const int64_t N = q.size(0), L = q.size(1), S = k.size(1), E = embed_dim, H = num_heads;
  TESSERA_CHECK(k.size(0) == N && v.size(0) == N && v.size(1) == S,
                "MultiheadAttention: query ", query.describe(), ", key ", key.describe(),
                ", value ", value.describe(), ": batch sizes or key/value lengths differ");

  const Tensor b = in_proj_bias;
  auto bias_part = [&](int64_t i) { return b.defined() ? b.slice(0, i * E, (i + 1) * E) : Tensor(); };
  if (self_attention) {
    // One matmul for all three projections.
    auto qkv = chunk(F::linear(q, in_proj_weight, b), 3, -1);
    q = qkv[0], k = qkv[1], v = qkv[2];
  } else {
    q = F::linear(q, in_proj_weight.slice(0, 0, E), bias_part(0));
    k = F::linear(k, in_proj_weight.slice(0, E, 2 * E), bias_part(1));
    v = F::linear(v, in_proj_weight.slice(0, 2 * E, 3 * E), bias_part(2));
  }
  auto heads = [&](const Tensor& t, int64_t len) {  // [N, len, E] -> [N, H, len, hd]
    return t.reshape({N, len, H, head_dim}).transpose(1, 2);
  };
  q = heads(q, L);
  k = heads(k, S);
  v = heads(v, S);

  // Every mask folded into one additive [N|1, H|1, L, S] tensor.
  Tensor mask;
  if (attn_mask.defined()) {
    Tensor m = additive(attn_mask, q.dtype());
    if (m.dim() == 2) {
      TESSERA_CHECK(m.size(0) == L && m.size(1) == S, "MultiheadAttention: attn_mask ",
                    attn_mask.describe(), ": expected [", L, ", ", S, "]");
      mask = m.reshape({1, 1, L, S});
    } else {
      TESSERA_CHECK(m.dim() == 3 && m.size(0) == N * H && m.size(1) == L && m.size(2) == S,
                    "MultiheadAttention: attn_mask ", attn_mask.describe(), ": expected [", L,
                    ", ", S, "] or [", N * H, ", ", L, ", ", S, "]");
      mask = m.reshape({N, H, L, S});
    }
  }
  if (key_padding_mask.defined()) {
    Tensor kpm = unbatched ? key_padding_mask.unsqueeze(0) : key_padding_mask;
    TESSERA_CHECK(kpm.dim() == 2 && kpm.size(0) == N && kpm.size(1) == S,
                  "MultiheadAttention: key_padding_mask ", key_padding_mask.describe(),
                  ": expected [", N, ", ", S, "]");
    Tensor m = additive(kpm, q.dtype()).reshape({N, 1, 1, S});
    mask = mask.defined() ? add(mask, m) : m;
  }
  bool causal_flag = false;
  if (is_causal) {
    if (mask.defined())
      mask = add(mask, additive(triu(ones({L, S}, kBool), 1), q.dtype()).reshape({1, 1, L, S}));
    else
      causal_flag = true;
  }
  const double p = is_training() ? dropout : 0.0;

  Tensor out, weights;
  if (!need_weights) {
    out = F::scaled_dot_product_attention(q, k, v, mask, p, causal_flag);
  } else {
    Tensor scores = mul(matmul(q, k.transpose(-2, -1)), 1.0 / std::sqrt(static_cast<double>(head_dim)));
    if (causal_flag)
      mask = additive(triu(ones({L, S}, kBool), 1), q.dtype()).reshape({1, 1, L, S});
    if (mask.defined()) scores = add(scores, mask);
    weights = softmax(scores, -1);
    // PyTorch returns the weights after dropout, the ones actually applied.
    if (p > 0) weights = F::dropout(weights, p, true);
    out = matmul(weights, v);
    if (average_attn_weights) weights = mean(weights, {1});
    if (unbatched) weights = weights.squeeze(0);
  }
  out = (*out_proj)(out.transpose(1, 2).reshape({N, L, E}));
  if (unbatched) return {out.squeeze(0), weights};
  return {batch_first ? out : out.transpose(0, 1), weights};
}

// ============================== TransformerEncoderLayer ==============================

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d_model, int64_t nhead,
                                                 const TransformerEncoderLayerOptions& o)
    : Module("TransformerEncoderLayer"), options(o) {
  TESSERA_CHECK(o.activation == "relu" || o.activation == "gelu", "TransformerEncoderLayer: activation '",
                o.activation, "': expected 'relu' or 'gelu'");
  // PyTorch's registration order, which fixes the state_dict's key order.
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(
                                               d_model, nhead, o.dropout, o.bias, o.batch_first));
  linear1 = register_module("linear1", std::make_shared<Linear>(d_model, o.dim_feedforward, o.bias));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout));
  linear2 = register_module("linear2", std::make_shared<Linear>(o.dim_feedforward, d_model, o.bias));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(d_model, o.layer_norm_eps, true, o.bias));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(d_model, o.layer_norm_eps, true, o.bias));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src) { return forward(src, Tensor()); }

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask,
                                        const Tensor& src_key_padding_mask, bool is_causal) {
  auto sa_block = [&](const Tensor& x) {
    return (*dropout1)(self_attn->forward(x, x, x, src_key_padding_mask, false, src_mask, true, is_causal).first);
  };
  auto ff_block = [&](const Tensor& x) {
    Tensor h = (*linear1)(x);
    h = options.activation == "relu" ? relu(h) : gelu(h);
    return (*dropout2)((*linear2)((*dropout)(h)));
  };
  Tensor x = src;
  if (options.norm_first) {
    x = add(x, sa_block((*norm1)(x)));
    x = add(x, ff_block((*norm2)(x)));
  } else {
    x = (*norm1)(add(x, sa_block(x)));
    x = (*norm2)(add(x, ff_block(x)));
  }
  return x;
}

}  // namespace tessera::nn
