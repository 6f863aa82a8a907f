// Import functions of the ONNX operator table (op_table.cc): RNN, GRU and LSTM.
// Each turns a node (inputs, attributes, opset) into Tessera ops; the rows at the end of
// the file list the operators this file handles, each with a slot for its export function.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "onnx/import_util.h"
#include "tessera/error.h"
#include "tessera/nn/functional.h"
#include "tessera/ops.h"

namespace tessera::onnx::detail {
namespace {

using tessera::detail::concat;

// ---------------------------------------------------------------- recurrent layers
// RNN, GRU and LSTM as ONNX defines them (gate orders: LSTM i, o, f, c; GRU z, r, h),
// unrolled over the sequence with matmuls; sequence_lens masks the steps past each
// sequence's end (state held, outputs zero); reverse directions run on each sequence
// reversed within its length.
enum class Cell { Rnn, Gru, Lstm };
struct Act {
  std::string name;
  double alpha = 0, beta = 0;
  Tensor operator()(const Tensor& x) const {
    if (name == "Sigmoid") return sigmoid(x);
    if (name == "Tanh") return tanh(x);
    if (name == "Relu") return relu(x);
    if (name == "LeakyRelu") return F::leaky_relu(x, alpha);
    if (name == "HardSigmoid") return clamp(add(mul(x, Scalar(alpha)), Scalar(beta)), Scalar(0.0), Scalar(1.0));
    if (name == "Affine") return add(mul(x, Scalar(alpha)), Scalar(beta));
    if (name == "ScaledTanh") return mul(tanh(mul(x, Scalar(beta))), Scalar(alpha));
    if (name == "ThresholdedRelu") return where(gt(x, Scalar(alpha)), x, zeros_like(x));
    if (name == "Elu") return where(gt(x, Scalar(0.0)), x, mul(expm1(x), Scalar(alpha)));
    if (name == "Softsign") return div(x, add(abs(x), Scalar(1.0)));
    if (name == "Softplus") return softplus(x);
    return Tensor();
  }
};
// Reverses each batch entry's first len steps along dim 0 ([seq, batch, ...]).
Tensor reverse_steps(const Tensor& x, const std::vector<int64_t>& lens) {
  if (lens.empty()) return flip(x, {0});
  const int64_t steps = x.size(0), batch = x.size(1);
  std::vector<int64_t> src;
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = std::clamp<int64_t>(lens[static_cast<size_t>(b)], 0, steps);
      src.push_back(t < len ? len - 1 - t : t);
    }
  std::vector<int64_t> shape{steps, batch};
  for (int64_t d = 2; d < x.dim(); ++d) shape.push_back(1);
  Tensor idx = tensor<int64_t>(src, {steps, batch}).reshape(shape).expand(x.sizes()).contiguous();
  return gather(x, 0, idx);
}
template <Cell K>
Outs op_recurrent(NodeContext& c) {
  const int gates = K == Cell::Rnn ? 1 : K == Cell::Gru ? 3 : 4;
  const int n_acts = K == Cell::Rnn ? 1 : K == Cell::Gru ? 2 : 3;
  const bool batch_first = c.opset() >= 14 && c.i("layout", 0) != 0;
  Tensor x = c.in(0);
  if (batch_first) x = x.transpose(0, 1);
  c.check(x.dim() == 3, concat("X must be 3-D, got ", shape_str(x.sizes())));
  const Tensor &w = c.in(1), &rw = c.in(2);
  const std::string direction = c.s("direction", "forward");
  const int dirs = direction == "bidirectional" ? 2 : 1;
  c.check(direction == "forward" || direction == "reverse" || direction == "bidirectional",
          concat("direction must be forward, reverse or bidirectional, got '", direction, "'"));
  const int64_t hidden = c.has_attr("hidden_size") ? c.i("hidden_size") : rw.size(-1);
  const int64_t steps = x.size(0), batch = x.size(1);
  c.check(w.dim() == 3 && w.size(0) == dirs && w.size(1) == gates * hidden,
          concat("W must be [", dirs, ", ", gates * hidden, ", input], got ", shape_str(w.sizes())));
  if (K == Cell::Lstm && c.i("input_forget", 0)) c.unsupported("input_forget");
  std::vector<Act> acts;
  {
    const auto* a = c.attr("activations");
    std::vector<std::string> names;
    if (a) for (const auto& n : a->strings()) names.push_back(n);
    const std::vector<float> alphas = c.floats_attr("activation_alpha"), betas = c.floats_attr("activation_beta");
    const char* defaults[3] = {K == Cell::Rnn ? "Tanh" : "Sigmoid", "Tanh", "Tanh"};
    for (int i = 0; i < n_acts * dirs; ++i) {
      Act act;
      act.name = i < static_cast<int>(names.size()) ? names[static_cast<size_t>(i)] : defaults[i % n_acts];
      act.alpha = i < static_cast<int>(alphas.size()) ? alphas[static_cast<size_t>(i)] : (act.name == "LeakyRelu" ? 0.01 : act.name == "HardSigmoid" ? 0.2 : 1.0);
      act.beta = i < static_cast<int>(betas.size()) ? betas[static_cast<size_t>(i)] : (act.name == "HardSigmoid" ? 0.5 : 0.0);
      if (!act(zeros({1})).defined()) c.unsupported(concat("activation '", act.name, "'"));
      acts.push_back(act);
    }
  }
  const double clip = c.f("clip", 0.0);
  std::vector<int64_t> lens;
  if (c.has(4)) lens = c.ints(4);
  auto get = [&](size_t i) { return c.has(i) ? c.in(i) : Tensor(); };
  Tensor h0 = get(5), c0 = K == Cell::Lstm ? get(6) : Tensor(), peep = K == Cell::Lstm ? get(7) : Tensor();
  if (batch_first) {
    if (h0.defined()) h0 = h0.transpose(0, 1);
    if (c0.defined()) c0 = c0.transpose(0, 1);
  }
  const bool lbr = K == Cell::Gru && c.i("linear_before_reset", 0) != 0;
  Tensor mask;  // [seq, batch, 1]: step t is inside sequence b
  if (!lens.empty()) {
    std::vector<uint8_t> m;
    for (int64_t t = 0; t < steps; ++t)
      for (int64_t b = 0; b < batch; ++b) m.push_back(t < lens[static_cast<size_t>(b)]);
    mask = tensor<uint8_t>(m, {steps, batch, 1}).to(DType::Bool);
  }
  std::vector<Tensor> ys, hs, cs;
  for (int d = 0; d < dirs; ++d) {
    const bool rev = direction == "reverse" || d == 1;
    const Tensor wd = w.select(0, d), rd = rw.select(0, d);
    Tensor bias_w, bias_r;
    if (c.has(3)) {
      bias_w = c.in(3).select(0, d).slice(0, 0, gates * hidden);
      bias_r = c.in(3).select(0, d).slice(0, gates * hidden, 2 * gates * hidden);
    }
    const Tensor xs = rev ? reverse_steps(x, lens) : x;
    // The input projections of all steps at once: [seq, batch, gates * hidden].
    Tensor xw = matmul(xs, wd.transpose(0, 1));
    if (bias_w.defined()) xw = add(xw, bias_w);
    Tensor h = h0.defined() ? h0.select(0, d) : zeros({batch, hidden}, x.dtype());
    Tensor cell = c0.defined() ? c0.select(0, d) : zeros({batch, hidden}, x.dtype());
    const Act* a = &acts[static_cast<size_t>(d * n_acts)];
    auto clipped = [&](const Tensor& v) { return clip > 0 ? clamp(v, Scalar(-clip), Scalar(clip)) : v; };
    auto gate = [&](const Tensor& v, int g) { return v.slice(-1, g * hidden, (g + 1) * hidden); };
    std::vector<Tensor> outs;
    for (int64_t t = 0; t < steps; ++t) {
      const Tensor xt = xw.select(0, t);
      Tensor hn, cn;
      if (K == Cell::Rnn) {
        Tensor v = add(xt, matmul(h, rd.transpose(0, 1)));
        if (bias_r.defined()) v = add(v, bias_r);
        hn = a[0](clipped(v));
      } else if (K == Cell::Gru) {
        auto rows = [&](int g) { return rd.slice(0, g * hidden, (g + 1) * hidden); };
        Tensor hr = matmul(h, rows(0).transpose(0, 1)), rr = matmul(h, rows(1).transpose(0, 1));
        Tensor zb = gate(xt, 0), rb = gate(xt, 1), hb = gate(xt, 2);
        if (bias_r.defined()) {
          hr = add(hr, gate(bias_r, 0));
          rr = add(rr, gate(bias_r, 1));
        }
        const Tensor z = a[0](clipped(add(zb, hr))), r = a[0](clipped(add(rb, rr)));
        Tensor hh;
        const Tensor rh = rd.slice(0, 2 * hidden, 3 * hidden);
        if (lbr) {
          Tensor lin = matmul(h, rh.transpose(0, 1));
          if (bias_r.defined()) lin = add(lin, gate(bias_r, 2));
          hh = a[1](clipped(add(hb, mul(r, lin))));
        } else {
          Tensor lin = matmul(mul(r, h), rh.transpose(0, 1));
          if (bias_r.defined()) lin = add(lin, gate(bias_r, 2));
          hh = a[1](clipped(add(hb, lin)));
        }
        hn = add(mul(sub(ones_like(z), z), hh), mul(z, h));
      } else {
        Tensor v = add(xt, matmul(h, rd.transpose(0, 1)));
        if (bias_r.defined()) v = add(v, bias_r);
        Tensor vi = gate(v, 0), vo = gate(v, 1), vf = gate(v, 2), vc = gate(v, 3);
        if (peep.defined()) {
          const Tensor pd = peep.select(0, d);
          vi = add(vi, mul(pd.slice(0, 0, hidden), cell));
          vf = add(vf, mul(pd.slice(0, 2 * hidden, 3 * hidden), cell));
        }
        const Tensor i = a[0](clipped(vi)), f = a[0](clipped(vf)), g = a[1](clipped(vc));
        cn = add(mul(f, cell), mul(i, g));
        if (peep.defined()) vo = add(vo, mul(peep.select(0, d).slice(0, hidden, 2 * hidden), cn));
        const Tensor o = a[0](clipped(vo));
        hn = mul(o, a[2](cn));
      }
      if (mask.defined()) {
        const Tensor m = mask.select(0, t);
        h = where(m, hn, h);
        if (K == Cell::Lstm) cell = where(m, cn, cell);
        outs.push_back(where(m, hn, zeros_like(hn)));
      } else {
        h = hn;
        if (K == Cell::Lstm) cell = cn;
        outs.push_back(hn);
      }
    }
    Tensor y = stack(outs, 0);  // [seq, batch, hidden]
    if (rev) y = reverse_steps(y, lens);
    ys.push_back(y);
    hs.push_back(h);
    cs.push_back(cell);
  }
  Tensor y = stack(ys, 1);  // [seq, dirs, batch, hidden]
  Tensor yh = stack(hs, 0), yc = stack(cs, 0);
  if (batch_first) {
    y = y.permute({2, 0, 1, 3}).contiguous();
    yh = yh.transpose(0, 1).contiguous();
    yc = yc.transpose(0, 1).contiguous();
  }
  Outs outs{y, yh};
  if (K == Cell::Lstm) outs.push_back(yc);
  return outs;
}

}  // namespace

std::vector<OpEntry> rnn_ops() {
  return {
      {"RNN", 7, op_recurrent<Cell::Rnn>, "matmul per step (unrolled)"},
      {"GRU", 7, op_recurrent<Cell::Gru>, "matmul per step (unrolled)"},
      {"LSTM", 7, op_recurrent<Cell::Lstm>, "matmul per step (unrolled; peepholes)"},
  };
}

}  // namespace tessera::onnx::detail
