// opdb entries of the pooling family (src/ops/pool.cc): max, average, adaptive and global
// average pooling, and the gradient ops their backward rules call.
#include "opdb/opdb.h"
#include "tessera/nn/functional.h"

namespace tessera::opdb {
namespace {

namespace F = nn::functional;
using Ints = std::vector<int64_t>;

InvokeFn dispatch(const char* op) {
  return [op](const Tensors& x, const Attrs& a) {
    ops::ensure_registered();
    return ops::call(*ops::find_op(op), x, a);
  };
}

OpEntry entry(const char* op, InvokeFn invoke, SamplesFn samples, std::string torch) {
  OpEntry e;
  e.op = op;
  e.family = "pool";
  e.invoke = std::move(invoke);
  e.samples = std::move(samples);
  e.torch = std::move(torch);
  e.tol.rtol64 = 1e-9;
  return e;
}

Attrs max_attrs(Ints k, Ints s, Ints p, Ints d, bool ceil) {
  return {{"kernel", std::move(k)}, {"stride", std::move(s)}, {"padding", std::move(p)}, {"dilation", std::move(d)}, {"ceil_mode", ceil}};
}
Attrs avg_attrs(Ints k, Ints s, Ints p, bool ceil, bool include_pad) {
  return {{"kernel", std::move(k)}, {"stride", std::move(s)}, {"padding", std::move(p)}, {"ceil_mode", ceil},
          {"count_include_pad", include_pad}};
}
Attrs plus(Attrs a, const ops::Attr& extra) {
  a.add(extra);
  return a;
}

}  // namespace

void add_pool(std::vector<OpEntry>& out) {
  {
    OpEntry e = entry(
        "max_pool2d",
        [](const Tensors& x, const Attrs& a) {
          return one(F::max_pool2d(x[0], a.ints("kernel"), a.ints("stride"), a.ints("padding"), a.ints("dilation"), a.b("ceil_mode")));
        },
        [](DType t) {
          Maker m("max_pool2d", t);
          std::vector<Sample> s;
          s.push_back({"plain", {m({1, 2, 4, 4})}, max_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)});
          s.push_back({"overlap_padding", {noncontiguous(m({2, 2, 5, 5}))}, max_attrs({3, 3}, {2, 1}, {1, 1}, {1, 1}, false)});
          s.push_back({"ceil_dilation", {m({1, 1, 7, 6})}, max_attrs({2, 2}, {2, 2}, {0, 1}, {2, 1}, true)});
          s.push_back({"rectangular", {m({2, 3, 7, 6})}, max_attrs({3, 2}, {2, 1}, {1, 1}, {1, 2}, true)});
          s.push_back({"unbatched", {m({2, 4, 4})}, max_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)});
          s.push_back({"empty", {m({0, 2, 4, 4})}, max_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)});
          s.push_back({"large", {m({4, 8, 32, 32})}, max_attrs({3, 3}, {2, 2}, {1, 1}, {1, 1}, false), false});
          return s;
        },
        "F.max_pool2d(x[0], A['kernel'], A['stride'], A['padding'], A['dilation'], A['ceil_mode'])");
    e.grad_domain = "distinct values";
    e.errors = [] {
      return std::vector<ErrorCase>{
          {"big_padding", {ones({1, 1, 4, 4})}, max_attrs({2, 2}, {2, 2}, {2, 2}, {1, 1}, false), "padding"},
          {"int", {ones({1, 1, 4, 4}, kInt64)}, max_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false), "expected a floating-point input"},
          {"rank", {ones({4, 4})}, max_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false), "expected a 3-D [C, H, W] or 4-D"}};
    };
    out.push_back(std::move(e));
  }
  {
    // (grad_output, indices) -> grad_input; indices from a max_pool2d of random values.
    OpEntry e = entry(
        "max_pool2d_backward", dispatch("max_pool2d_backward"),
        [](DType t) {
          Maker m("max_pool2d_backward", t);
          ops::ensure_registered();
          auto sample = [&](const char* name, Ints size, Attrs pool, bool grad = true) {
            const Tensor idx = ops::call(*ops::find_op("max_pool2d"), {m(size)}, pool)[1];
            return Sample(name, {m(idx.sizes()), idx}, {{"input_size", size}}, grad);
          };
          std::vector<Sample> s;
          s.push_back(sample("plain", {1, 2, 4, 4}, max_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)));
          // Overlapping windows: one input may be the maximum of several (the gradients add).
          s.push_back(sample("overlap", {1, 2, 5, 5}, max_attrs({3, 3}, {1, 1}, {1, 1}, {1, 1}, false)));
          s.push_back(sample("empty", {0, 2, 4, 4}, max_attrs({2, 2}, {2, 2}, {0, 0}, {1, 1}, false)));
          s.push_back(sample("large", {4, 8, 32, 32}, max_attrs({3, 3}, {2, 2}, {1, 1}, {1, 1}, false), false));
          s[1].inputs[0] = noncontiguous(s[1].inputs[0]);
          return s;
        },
        "torch.zeros(A['input_size'], dtype=x[0].dtype).flatten(2).scatter_add(2, x[1].flatten(2), x[0].flatten(2))"
        ".view(A['input_size'])");
    e.grad_inputs = 0b1;
    e.errors = [] {
      return std::vector<ErrorCase>{{"float_indices", {ones({1, 1, 2, 2}), ones({1, 1, 2, 2})}, {{"input_size", Ints{1, 1, 4, 4}}},
                                     "expected int64 indices of the gradient's shape"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "avg_pool2d",
        [](const Tensors& x, const Attrs& a) {
          return one(F::avg_pool2d(x[0], a.ints("kernel"), a.ints("stride"), a.ints("padding"), a.b("ceil_mode"), a.b("count_include_pad")));
        },
        [](DType t) {
          Maker m("avg_pool2d", t);
          std::vector<Sample> s;
          s.push_back({"plain", {m({1, 2, 4, 4})}, avg_attrs({2, 2}, {2, 2}, {0, 0}, false, true)});
          s.push_back({"padding_included", {noncontiguous(m({2, 2, 5, 5}))}, avg_attrs({3, 3}, {2, 1}, {1, 1}, false, true)});
          s.push_back({"padding_excluded_ceil", {m({1, 1, 6, 7})}, avg_attrs({3, 2}, {2, 2}, {1, 1}, true, false)});
          s.push_back({"excluded_ceil_batch", {m({2, 2, 7, 6})}, avg_attrs({3, 2}, {2, 2}, {1, 1}, true, false)});
          s.push_back({"included_rectangular", {m({1, 2, 5, 6})}, avg_attrs({2, 3}, {1, 2}, {1, 1}, false, true)});
          s.push_back({"empty", {m({0, 2, 4, 4})}, avg_attrs({2, 2}, {2, 2}, {0, 0}, false, true)});
          s.push_back({"large", {m({4, 8, 32, 32})}, avg_attrs({3, 3}, {2, 2}, {1, 1}, false, true), false});
          return s;
        },
        "F.avg_pool2d(x[0], A['kernel'], A['stride'], A['padding'], A['ceil_mode'], A['count_include_pad'])");
    e.errors = [] {
      return std::vector<ErrorCase>{{"kernel", {ones({1, 1, 4, 4})}, avg_attrs({0, 2}, {1, 1}, {0, 0}, false, true),
                                     "kernel size must be two positive values"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "avg_pool2d_backward", dispatch("avg_pool2d_backward"),
        [](DType t) {
          Maker m("avg_pool2d_backward", t);
          std::vector<Sample> s;
          s.push_back({"plain", {m({1, 2, 2, 2})}, plus(avg_attrs({2, 2}, {2, 2}, {0, 0}, false, true), {"input_size", Ints{1, 2, 4, 4}})});
          s.push_back({"padding_excluded", {noncontiguous(m({2, 2, 3, 5}))},
                       plus(avg_attrs({3, 3}, {2, 1}, {1, 1}, false, false), {"input_size", Ints{2, 2, 5, 5}})});
          s.push_back({"empty", {m({0, 2, 2, 2})}, plus(avg_attrs({2, 2}, {2, 2}, {0, 0}, false, true), {"input_size", Ints{0, 2, 4, 4}})});
          s.push_back({"large", {m({4, 8, 16, 16})},
                       plus(avg_attrs({3, 3}, {2, 2}, {1, 1}, false, true), {"input_size", Ints{4, 8, 32, 32}}), false});
          return s;
        },
        "vjp(lambda t: F.avg_pool2d(t, A['kernel'], A['stride'], A['padding'], A['ceil_mode'], A['count_include_pad']), "
        "[torch.zeros(A['input_size'], dtype=x[0].dtype)], x[0])[0]");
    out.push_back(std::move(e));
  }
  for (const char* op : {"adaptive_avg_pool2d", "global_avg_pool2d"}) {
    const bool global = std::string(op) == "global_avg_pool2d";
    OpEntry e = entry(
        op,
        // F::adaptive_avg_pool2d runs global_avg_pool2d for output_size [1, 1].
        [](const Tensors& x, const Attrs& a) { return one(F::adaptive_avg_pool2d(x[0], a.ints("output_size"))); },
        [op, global](DType t) {
          Maker m(op, t);
          const Attrs os{{"output_size", global ? Ints{1, 1} : Ints{3, 2}}};
          std::vector<Sample> s;
          s.push_back({"plain", {m({1, 2, 5, 7})}, os});
          s.push_back({"noncontiguous", {noncontiguous(m({2, 2, 4, 3}))}, os});
          if (global) s.push_back({"batch", {m({2, 3, 4, 5})}, os});
          else s.push_back({"uneven", {m({2, 2, 7, 5})}, {{"output_size", Ints{3, 4}}}});
          if (!global) s.push_back({"upsample", {m({1, 1, 2, 1})}, os});
          s.push_back({"empty", {m({0, 2, 4, 4})}, os});
          s.push_back({"large", {m({4, 8, 32, 32})}, os, false});
          return s;
        },
        "F.adaptive_avg_pool2d(x[0], A['output_size'])");
    e.errors = [] {
      return std::vector<ErrorCase>{{"rank", {ones({4, 4})}, {{"output_size", Ints{1, 1}}}, "expected a 3-D [C, H, W] or 4-D"}};
    };
    out.push_back(std::move(e));
  }
  {
    OpEntry e = entry(
        "adaptive_avg_pool2d_backward", dispatch("adaptive_avg_pool2d_backward"),
        [](DType t) {
          Maker m("adaptive_avg_pool2d_backward", t);
          auto a = [](Ints os, Ints size) { return Attrs{{"output_size", std::move(os)}, {"input_size", std::move(size)}}; };
          std::vector<Sample> s;
          s.push_back({"plain", {m({1, 2, 3, 2})}, a({3, 2}, {1, 2, 5, 7})});
          s.push_back({"global", {noncontiguous(m({2, 3, 1, 1}))}, a({1, 1}, {2, 3, 4, 4})});
          s.push_back({"empty", {m({0, 2, 3, 2})}, a({3, 2}, {0, 2, 5, 7})});
          s.push_back({"large", {m({4, 8, 5, 5})}, a({5, 5}, {4, 8, 32, 32}), false});
          return s;
        },
        "vjp(lambda t: F.adaptive_avg_pool2d(t, A['output_size']), [torch.zeros(A['input_size'], dtype=x[0].dtype)], x[0])[0]");
    e.errors = [] {
      return std::vector<ErrorCase>{{"size", {ones({1, 2, 3, 2})}, {{"output_size", Ints{3, 2}}, {"input_size", Ints{1, 3, 5, 7}}},
                                     "does not match the gradient"}};
    };
    out.push_back(std::move(e));
  }
}

}  // namespace tessera::opdb
