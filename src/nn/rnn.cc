// LSTM and GRU written with ordinary ops (so autograd differentiates them): the input
// projection for all time steps is one matmul per layer and direction, then a loop over
// time adds the recurrent projection and applies the gates.
#include <cmath>

#include "tessera/nn/init.h"
#include "tessera/nn/layers.h"

namespace tessera::nn {

namespace F = functional;

RNNBase::RNNBase(const char* type, int64_t gates, int64_t input_size, int64_t hidden_size,
                 const RNNOptions& o)
    : Module(type), input_size(input_size), hidden_size(hidden_size), options(o), gates_(gates) {
  TESSERA_CHECK(input_size > 0 && hidden_size > 0 && o.num_layers > 0, type, ": input_size ",
                input_size, ", hidden_size ", hidden_size, " and num_layers ", o.num_layers,
                " must be positive");
  TESSERA_CHECK(o.dropout >= 0 && o.dropout <= 1, type, ": dropout ", o.dropout,
                " must be in [0, 1]");
  const int64_t dirs = o.bidirectional ? 2 : 1;
  for (int64_t layer = 0; layer < o.num_layers; ++layer) {
    const int64_t in = layer == 0 ? input_size : hidden_size * dirs;
    for (int64_t dir = 0; dir < dirs; ++dir) {
      const std::string sfx = "_l" + std::to_string(layer) + (dir ? "_reverse" : "");
      Weights w{};
      w.w_ih = &register_parameter("weight_ih" + sfx, empty({gates * hidden_size, in}));
      w.w_hh = &register_parameter("weight_hh" + sfx, empty({gates * hidden_size, hidden_size}));
      if (o.bias) {
        w.b_ih = &register_parameter("bias_ih" + sfx, empty({gates * hidden_size}));
        w.b_hh = &register_parameter("bias_hh" + sfx, empty({gates * hidden_size}));
      }
      weights_.push_back(w);
    }
  }
  reset_parameters();
}

void RNNBase::reset_parameters() {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (auto& [name, p] : named_parameters(false)) init::uniform_(p, -bound, bound);
}

std::string RNNBase::extra_repr() const {
  std::string s = std::to_string(input_size) + ", " + std::to_string(hidden_size);
  if (options.num_layers != 1) s += ", num_layers=" + std::to_string(options.num_layers);
  if (!options.bias) s += ", bias=False";
  if (options.batch_first) s += ", batch_first=True";
  if (options.dropout != 0) s += ", dropout=" + repr::py_float(options.dropout);
  if (options.bidirectional) s += ", bidirectional=True";
  return s;
}

Tensor RNNBase::time_major(const Tensor& x, bool& unbatched) const {
  TESSERA_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(-1) == input_size, type_name(),
                ": input ", x.describe(), ": expected ",
                options.batch_first ? "[N, T, " : "[T, N, ", input_size, "] or [T, ", input_size, "]");
  unbatched = x.dim() == 2;
  if (unbatched) return x.unsqueeze(1);
  return options.batch_first ? x.transpose(0, 1) : x;
}

Tensor RNNBase::restore_layout(const Tensor& y, bool unbatched) const {
  if (unbatched) return y.squeeze(1);
  return options.batch_first ? y.transpose(0, 1) : y;
}

Tensor RNNBase::initial_state(const Tensor& given, const Tensor& x_tn, bool unbatched,
                              const char* what) const {
  const int64_t layers = options.num_layers * (options.bidirectional ? 2 : 1);
  const int64_t n = x_tn.size(1);
  if (!given.defined()) return zeros({layers, n, hidden_size}, x_tn.dtype());
  Tensor h = unbatched ? given.unsqueeze(1) : given;
  TESSERA_CHECK(h.dim() == 3 && h.size(0) == layers && h.size(1) == n && h.size(2) == hidden_size,
                type_name(), ": ", what, " ", given.describe(), ": expected ",
                unbatched ? shape_str({layers, hidden_size}) : shape_str({layers, n, hidden_size}));
  return h;
}

namespace {

// Runs one layer in both directions (as configured) and joins the outputs on features.
template <typename Step>
Tensor run_layer(const Tensor& input, int64_t dirs, int64_t first_index, Step&& step) {
  const int64_t T = input.size(0);
  std::vector<Tensor> per_dir;
  for (int64_t dir = 0; dir < dirs; ++dir) {
    std::vector<Tensor> ys(static_cast<size_t>(T));
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = dir ? T - 1 - s : s;
      ys[static_cast<size_t>(t)] = step(first_index + dir, t);
    }
    per_dir.push_back(T > 0 ? stack(ys, 0) : Tensor());
  }
  return per_dir.size() == 1 ? per_dir[0] : cat(per_dir, 2);
}

Tensor optional_ref(const Tensor* p) { return p ? *p : Tensor(); }

}  // namespace

// ============================== LSTM ==============================

LSTM::LSTM(int64_t input_size, int64_t hidden_size, const RNNOptions& options)
    : RNNBase("LSTM", 4, input_size, hidden_size, options) {}

Tensor LSTM::forward(const Tensor& x) { return forward(x, {Tensor(), Tensor()}).first; }

std::pair<Tensor, std::pair<Tensor, Tensor>> LSTM::forward(const Tensor& x,
                                                           const std::pair<Tensor, Tensor>& hx) {
  bool unbatched = false;
  Tensor input = time_major(x, unbatched);
  TESSERA_CHECK(input.size(0) > 0, "LSTM: input ", x.describe(), " has no time steps");
  const Tensor h0 = initial_state(hx.first, input, unbatched, "h_0");
  const Tensor c0 = initial_state(hx.second, input, unbatched, "c_0");
  const int64_t dirs = options.bidirectional ? 2 : 1;
  std::vector<Tensor> h_n(weights_.size()), c_n(weights_.size());
  for (int64_t layer = 0; layer < options.num_layers; ++layer) {
    std::vector<Tensor> xw(static_cast<size_t>(dirs)), h(static_cast<size_t>(dirs)),
        c(static_cast<size_t>(dirs));
    for (int64_t d = 0; d < dirs; ++d) {
      const size_t idx = static_cast<size_t>(layer * dirs + d);
      xw[static_cast<size_t>(d)] = F::linear(input, *weights_[idx].w_ih, optional_ref(weights_[idx].b_ih));
      h[static_cast<size_t>(d)] = h0[static_cast<int64_t>(idx)];
      c[static_cast<size_t>(d)] = c0[static_cast<int64_t>(idx)];
    }
    Tensor out = run_layer(input, dirs, layer * dirs, [&](int64_t idx, int64_t t) {
      const size_t d = static_cast<size_t>(idx - layer * dirs);
      const Weights& w = weights_[static_cast<size_t>(idx)];
      Tensor g = add(xw[d][t], F::linear(h[d], *w.w_hh, optional_ref(w.b_hh)));
      auto parts = chunk(g, 4, 1);  // i, f, g, o
      Tensor i = sigmoid(parts[0]), f = sigmoid(parts[1]), gg = tanh(parts[2]), o = sigmoid(parts[3]);
      c[d] = add(mul(f, c[d]), mul(i, gg));
      h[d] = mul(o, tanh(c[d]));
      return h[d];
    });
    for (int64_t d = 0; d < dirs; ++d) {
      h_n[static_cast<size_t>(layer * dirs + d)] = h[static_cast<size_t>(d)];
      c_n[static_cast<size_t>(layer * dirs + d)] = c[static_cast<size_t>(d)];
    }
    if (options.dropout > 0 && is_training() && layer + 1 < options.num_layers)
      out = F::dropout(out, options.dropout, true);
    input = out;
  }
  Tensor hn = stack(h_n, 0), cn = stack(c_n, 0);
  if (unbatched) hn = hn.squeeze(1), cn = cn.squeeze(1);
  return {restore_layout(input, unbatched), {hn, cn}};
}

// ============================== GRU ==============================

GRU::GRU(int64_t input_size, int64_t hidden_size, const RNNOptions& options)
    : RNNBase("GRU", 3, input_size, hidden_size, options) {}

Tensor GRU::forward(const Tensor& x) { return forward(x, Tensor()).first; }

std::pair<Tensor, Tensor> GRU::forward(const Tensor& x, const Tensor& hx) {
  bool unbatched = false;
  Tensor input = time_major(x, unbatched);
  TESSERA_CHECK(input.size(0) > 0, "GRU: input ", x.describe(), " has no time steps");
  const Tensor h0 = initial_state(hx, input, unbatched, "h_0");
  const int64_t dirs = options.bidirectional ? 2 : 1;
  std::vector<Tensor> h_n(weights_.size());
  for (int64_t layer = 0; layer < options.num_layers; ++layer) {
    std::vector<Tensor> xw(static_cast<size_t>(dirs)), h(static_cast<size_t>(dirs));
    for (int64_t d = 0; d < dirs; ++d) {
      const size_t idx = static_cast<size_t>(layer * dirs + d);
      xw[static_cast<size_t>(d)] = F::linear(input, *weights_[idx].w_ih, optional_ref(weights_[idx].b_ih));
      h[static_cast<size_t>(d)] = h0[static_cast<int64_t>(idx)];
    }
    Tensor out = run_layer(input, dirs, layer * dirs, [&](int64_t idx, int64_t t) {
      const size_t d = static_cast<size_t>(idx - layer * dirs);
      const Weights& w = weights_[static_cast<size_t>(idx)];
      auto gi = chunk(xw[d][t], 3, 1);  // r, z, n from the input
      auto gh = chunk(F::linear(h[d], *w.w_hh, optional_ref(w.b_hh)), 3, 1);
      Tensor r = sigmoid(add(gi[0], gh[0]));
      Tensor z = sigmoid(add(gi[1], gh[1]));
      Tensor n = tanh(add(gi[2], mul(r, gh[2])));
      // h' = (1 - z) * n + z * h, written as n + z * (h - n).
      h[d] = add(n, mul(z, sub(h[d], n)));
      return h[d];
    });
    for (int64_t d = 0; d < dirs; ++d) h_n[static_cast<size_t>(layer * dirs + d)] = h[static_cast<size_t>(d)];
    if (options.dropout > 0 && is_training() && layer + 1 < options.num_layers)
      out = F::dropout(out, options.dropout, true);
    input = out;
  }
  Tensor hn = stack(h_n, 0);
  if (unbatched) hn = hn.squeeze(1);
  return {restore_layout(input, unbatched), hn};
}

}  // namespace tessera::nn
