// opdb entries of the composite ops (src/ops/nn.cc): linear, layer_norm, batch_norm,
// cross_entropy, nll_loss, scaled_dot_product_attention. Their attributes are the OpDefs'
// own (optional tensors are trailing inputs announced by boolean attributes); invoke goes
// through nn::functional. They have no backward rule (autograd records the decomposition)
// and are gradchecked as differentiable composites.
#include "opdb/opdb.h"
#include "tessera/nn/functional.h"

namespace tessera::opdb {
namespace {

namespace F = nn::functional;
using Ints = std::vector<int64_t>;

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::string torch) {
  OpEntry e;
  e.op = op;
  e.family = "nn";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  e.differentiable_composite = true;
  e.tol.rtol32 = 1e-4;
  e.tol.atol32 = 1e-5;
  e.tol.rtol64 = 1e-9;
  return e;
}

F::Reduction reduction(const Attrs& a) {
  const std::string r = attr_s(a, "reduction", "mean");
  return r == "none" ? F::Reduction::None : r == "sum" ? F::Reduction::Sum : F::Reduction::Mean;
}

Attrs loss(const char* reduction, int64_t ignore_index = -100, double smoothing = 0, bool weight = false) {
  return {{"reduction", std::string(reduction)}, {"ignore_index", ignore_index}, {"label_smoothing", smoothing}, {"weight", weight}};
}

}  // namespace

void add_nn(std::vector<OpEntry>& out) {
  {
    OpEntry e = entry(
        "linear", [](const Tensors& x, const Attrs&) { return one(F::linear(x[0], x[1], x.size() > 2 ? x[2] : Tensor())); },
        [](DType t) {
          Maker m("linear", t);
          std::vector<Sample> s;
          s.push_back({"bias", {m({3, 4}), m({2, 4}), m({2})}, {{"bias", true}}});
          s.push_back({"3d_no_bias", {m({2, 3, 4}), noncontiguous(m({2, 4}))}, {{"bias", false}}});
          s.push_back({"noncontiguous", {noncontiguous(m({3, 4})), m({2, 4}), m({2})}, {{"bias", true}}});
          s.push_back({"vector", {m({4}), m({3, 4}), m({3})}, {{"bias", true}}});
          s.push_back({"empty", {m({0, 4}), m({2, 4}), m({2})}, {{"bias", true}}});
          s.push_back({"large", {m({64, 128}), m({32, 128}), m({32})}, {{"bias", true}}, false});
          return s;
        },
        "F.linear(x[0], x[1], x[2] if len(x) > 2 else None)");
    e.errors = [] {
      return std::vector<ErrorCase>{{"features", {ones({3, 4}), ones({2, 5})}, {{"bias", false}}, "input [3, 4] f32 has"},
                                    {"weight_rank", {ones({3, 4}), ones({4})}, {{"bias", false}}, "expected a 2-D weight [out, in]"},
                                    {"bias_shape", {ones({3, 4}), ones({2, 4}), ones({3})}, {{"bias", true}}, "expected a bias of shape [2]"}};
    };
    out.push_back(std::move(e));
  }
  {
    // x[, weight, bias]: both or neither.
    OpEntry e = entry(
        "layer_norm",
        [](const Tensors& x, const Attrs& a) {
          return one(F::layer_norm(x[0], a.ints("normalized_shape"), x.size() > 1 ? x[1] : Tensor(), x.size() > 2 ? x[2] : Tensor(),
                                   attr_f(a, "eps", 1e-5)));
        },
        [](DType t) {
          Maker m("layer_norm", t);
          auto ln = [](Ints shape, bool affine) {
            return Attrs{{"normalized_shape", std::move(shape)}, {"eps", 1e-5}, {"weight", affine}, {"bias", affine}};
          };
          std::vector<Sample> s;
          s.push_back({"affine_2d", {m({2, 3, 4}), m({3, 4}), m({3, 4})}, ln({3, 4}, true)});
          s.push_back({"plain", {noncontiguous(m({3, 5}))}, ln({5}, false)});
          s.push_back({"empty", {m({0, 4}), m({4}), m({4})}, ln({4}, true)});
          s.push_back({"large", {m({64, 256}), m({256}), m({256})}, ln({256}, true), false});
          return s;
        },
        "F.layer_norm(x[0], A['normalized_shape'], x[1] if len(x) > 1 else None, x[2] if len(x) > 2 else None, A['eps'])");
    e.errors = [] {
      return std::vector<ErrorCase>{{"shape", {ones({2, 3})}, {{"normalized_shape", Ints{4}}}, "layer_norm"},
                                    {"eps", {ones({2, 3})}, {{"normalized_shape", Ints{3}}, {"eps", -1.0}}, "eps must be >= 0"}};
    };
    out.push_back(std::move(e));
  }
  {
    // x[, running_mean, running_var][, weight][, bias]. In training with running stats the
    // stats are updated in place: "return_stats" samples return them too (forward only).
    OpEntry e = entry(
        "batch_norm",
        [](const Tensors& x, const Attrs& a) {
          size_t k = 1;
          Tensor rm, rv, w, b;
          if (a.b("running_stats")) {
            rm = x[k++];
            rv = x[k++];
          }
          if (a.b("weight")) w = x[k++];
          if (a.b("bias")) b = x[k++];
          Tensor y = F::batch_norm(x[0], rm, rv, w, b, a.b("training"), attr_f(a, "momentum", 0.1), attr_f(a, "eps", 1e-5));
          if (attr_b(a, "return_stats")) return Tensors{y, rm, rv};
          return one(y);
        },
        [](DType t) {
          Maker m("batch_norm", t);
          auto bn = [](bool training, bool stats, bool affine) {
            return Attrs{{"training", training}, {"running_stats", stats}, {"weight", affine}, {"bias", affine},
                         {"momentum", 0.1}, {"eps", 1e-5}};
          };
          auto var = [&](IntArrayRef s) { return m(s, Domain::positive(0.5, 1.5)); };
          std::vector<Sample> s;
          s.push_back({"train_affine", {m({4, 3, 2}), m({3}), m({3})}, bn(true, false, true)});
          s.push_back({"eval", {noncontiguous(m({4, 3})), m({3}), var({3}), m({3}), m({3})}, bn(false, true, true)});
          Attrs stats = bn(true, true, false);
          stats.add({"return_stats", true});
          s.push_back({"train_running_stats", {m({5, 3, 2, 2}), m({3}), var({3})}, stats, false});
          s.push_back({"empty_eval", {m({0, 3}), m({3}), var({3})}, bn(false, true, false)});
          s.push_back({"large", {m({16, 8, 16, 16}), m({8}), m({8})}, bn(true, false, true), false});
          return s;
        },
        "bn(x, A)");
    // Running stats are buffers, not variables.
    e.grad_inputs = 0b1;
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"one_per_channel", {ones({1, 3})}, {{"training", true}, {"running_stats", false}, {"weight", false}, {"bias", false}},
           "expected more than 1 value per channel when training"},
          {"eval_without_stats", {ones({2, 3})}, {{"training", false}, {"running_stats", false}, {"weight", false}, {"bias", false}},
           "needs running_mean and running_var"}};
    };
    out.push_back(std::move(e));
  }
  for (const char* op : {"cross_entropy", "nll_loss"}) {
    const bool ce = std::string(op) == "cross_entropy";
    OpEntry e = entry(
        op,
        [ce](const Tensors& x, const Attrs& a) {
          const Tensor w = x.size() > 2 ? x[2] : Tensor();
          const int64_t ignore = attr_i(a, "ignore_index", -100);
          if (ce) return one(F::cross_entropy(x[0], x[1], w, ignore, reduction(a), attr_f(a, "label_smoothing")));
          return one(F::nll_loss(x[0], x[1], w, ignore, reduction(a)));
        },
        [op, ce](DType t) {
          Maker m(op, t);
          const Tensor targets = tensor<int64_t>({0, 3, 1, 1, 2});
          std::vector<Sample> s;
          s.push_back({"mean", {m({5, 4}), targets}, loss("mean")});
          s.push_back({"weight_ignore", {noncontiguous(m({5, 4})), targets, m({4}, Domain::positive(0.5, 2))},
                       loss("sum", 1, ce ? 0.1 : 0.0, true)});
          s.push_back({"nd_none", {m({2, 4, 3}), tensor<int64_t>({0, 1, 3, 2, 2, 0}, {2, 3})}, loss("none")});
          if (ce) {
            s.push_back({"probabilities_smoothing", {m({3, 4}), m({3, 4}, Domain{0, 1})}, loss("sum", -100, 0.1)});
            s.push_back({"weight_ignore_smoothing_mean", {m({5, 4}), targets, tensor<double>({0.5, 1, 2, 1.5}).to(t)}, loss("mean", 2, 0.2, true)});
          } else {
            s.push_back({"weight_ignore_mean", {m({5, 4}), targets, m({4})}, loss("mean", 3, 0, true)});
          }
          s.push_back({"empty", {m({0, 4}), zeros({0}, kInt64)}, loss("sum")});
          s.push_back({"large", {m({256, 100}), randint(0, 100, {256}, kInt64, &m.gen())}, loss("mean"), false});
          return s;
        },
        std::string("F.") + op + "(x[0], x[1], x[2] if len(x) > 2 else None, ignore_index=A['ignore_index'], "
            "reduction=A['reduction']" + (ce ? ", label_smoothing=A['label_smoothing'])" : ")"));
    e.grad_domain = "any logits; probability targets in [0, 1]";
    e.errors = [ce] {
      std::vector<ErrorCase> c{
          {"target_shape", {ones({3, 4}), zeros({2}, kInt64)}, loss("mean"), "input [3, 4] f32"},
          {"class_out_of_range", {ones({2, 4}), tensor<int64_t>({0, 4})}, loss("mean"), "target 4"}};
      if (ce) c.push_back({"smoothing", {ones({3, 4}), zeros({3}, kInt64)}, loss("mean", -100, 1.5), "label_smoothing must be in [0, 1]"});
      return c;
    };
    out.push_back(std::move(e));
  }
  {
    // q, k, v[, attn_mask]: bool (true = keep) or additive float.
    OpEntry e = entry(
        "scaled_dot_product_attention",
        [](const Tensors& x, const Attrs& a) {
          return one(F::scaled_dot_product_attention(x[0], x[1], x[2], x.size() > 3 ? x[3] : Tensor(), 0.0, attr_b(a, "is_causal")));
        },
        [](DType t) {
          Maker m("scaled_dot_product_attention", t);
          auto at = [](bool mask, bool causal) { return Attrs{{"mask", mask}, {"is_causal", causal}, {"dropout_p", 0.0}}; };
          std::vector<Sample> s;
          s.push_back({"batched", {m({2, 3, 4}), m({2, 5, 4}), m({2, 5, 2})}, at(false, false)});
          s.push_back({"causal", {noncontiguous(m({3, 4})), m({3, 4}), m({3, 2})}, at(false, true)});
          s.push_back({"float_mask", {m({3, 4}), m({5, 4}), m({5, 2}), m({3, 5})}, at(true, false)});
          s.push_back({"bool_mask", {m({3, 4}), m({5, 4}), m({5, 2}), tensor<bool>({1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1}, {3, 5})},
                       at(true, false)});
          s.push_back({"empty", {m({0, 3, 4}), m({0, 5, 4}), m({0, 5, 2})}, at(false, false)});
          s.push_back({"large", {m({4, 64, 32}), m({4, 64, 32}), m({4, 64, 32})}, at(false, true), false});
          return s;
        },
        "sdpa(x, A)");
    e.grad_inputs = 0b111;
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"shapes", {ones({3, 4}), ones({5, 3}), ones({5, 2})}, {}, "expected k [..., S, 4]"},
          {"mask_and_causal", {ones({3, 4}), ones({3, 4}), ones({3, 2}), ones({3, 3}, kBool)}, {{"is_causal", true}},
           "pass either attn_mask or is_causal, not both"},
          {"mask_grows_scores", {ones({3, 4}), ones({5, 4}), ones({5, 2}), ones({2, 3, 5})}, {{"mask", true}},
           "must broadcast to the scores' shape [3, 5]"},
          {"mask_dtype", {ones({3, 4}), ones({5, 4}), ones({5, 2}), ones({3, 5}, kInt64)}, {{"mask", true}},
           "expected bool or the query's dtype"}};
    };
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
