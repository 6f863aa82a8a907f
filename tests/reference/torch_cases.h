#pragma once
// What the special-values test (special_values_test.cc) reads: the manifest that
// special_values_ref.py writes, the loading of its inputs, and the table that maps a
// manifest op name plus key=value attributes to a Tessera call. (Agreement with PyTorch on
// ordinary inputs is the op database's: tests/opdb.)
//
// manifest.txt, one case per line, whitespace-separated:
//     CASE OP in=FILE[@VIEW]... out=FILE... [KEY=VALUE]...
// VIEW is one or more steps joined by '@', applied after loading:
//     perm:1,0          x.permute(1, 0)
//     slice:D:S:E:STEP  x.slice(D, S, E, STEP)
// KEY=VALUE are the op's attributes. Integer lists are comma-separated ("dims=" is the
// empty list); floats always contain '.', 'e', 'inf' or 'nan'; booleans are 0/1.
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/elementwise.h"
#include "tessera/io.h"
#include "tessera/ops.h"

namespace tessera::torch_ref {

// The key=value attributes of a case, with typed accessors that fail loudly when a key is
// missing or malformed (a manifest/table mismatch is a test bug, not an op failure).
class CaseAttrs {
 public:
  void set(const std::string& k, const std::string& v) { kv_[k] = v; }
  bool has(const std::string& k) const { return kv_.count(k) != 0; }
  const std::string& s(const std::string& k) const {
    auto it = kv_.find(k);
    if (it == kv_.end()) throw std::runtime_error("manifest: missing attribute '" + k + "'");
    return it->second;
  }
  int64_t i(const std::string& k) const { return std::stoll(s(k)); }
  double f(const std::string& k) const { return to_double(s(k)); }
  bool b(const std::string& k) const { return i(k) != 0; }
  std::vector<int64_t> ints(const std::string& k) const {
    std::vector<int64_t> out;
    std::stringstream ss(s(k));
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) out.push_back(std::stoll(item));
    return out;
  }
  std::optional<int64_t> opt_i(const std::string& k) const {
    return has(k) ? std::optional<int64_t>(i(k)) : std::nullopt;
  }
  std::optional<double> opt_f(const std::string& k) const {
    return has(k) ? std::optional<double>(f(k)) : std::nullopt;
  }
  // Integers stay integers (type promotion depends on a scalar's kind).
  Scalar scalar(const std::string& k) const {
    const std::string& v = s(k);
    if (v.find_first_of(".eEn") != std::string::npos) return Scalar(to_double(v));
    return Scalar(static_cast<int64_t>(std::stoll(v)));
  }
  std::optional<Scalar> opt_scalar(const std::string& k) const {
    return has(k) ? std::optional<Scalar>(scalar(k)) : std::nullopt;
  }

 private:
  // strtod, not stod: stod throws on a denormal such as 5e-324 (ERANGE).
  static double to_double(const std::string& v) {
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0') throw std::runtime_error("manifest: bad number '" + v + "'");
    return d;
  }
  std::map<std::string, std::string> kv_;
};

using Inputs = std::vector<Tensor>;
using OpFn = std::function<std::vector<Tensor>(Inputs& in, const CaseAttrs& a)>;

inline std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }
template <typename A, typename B>
inline std::vector<Tensor> two(std::pair<A, B> p) {
  return {std::move(p.first), std::move(p.second)};
}

// A binary op that takes either a second tensor or a scalar attribute.
template <typename FT, typename FS>
inline OpFn binary(FT ft, FS fs) {
  return [ft, fs](Inputs& in, const CaseAttrs& a) {
    if (a.has("scalar")) return one(fs(in[0], a.scalar("scalar")));
    return one(ft(in[0], in[1]));
  };
}

#define TS_BINARY(name)                                                              \
  {                                                                                  \
    #name, binary([](const Tensor& x, const Tensor& y) { return tessera::name(x, y); }, \
                  [](const Tensor& x, const Scalar& y) { return tessera::name(x, y); }) \
  }
#define TS_UNARY(name) \
  { #name, [](Inputs& in, const CaseAttrs&) { return one(tessera::name(in[0])); } }
#define TS_INPLACE_UNARY(name) \
  { #name, [](Inputs& in, const CaseAttrs&) { return one(tessera::name(in[0])); } }
#define TS_INPLACE_BINARY(name) \
  { #name, [](Inputs& in, const CaseAttrs&) { return one(tessera::name(in[0], in[1])); } }

inline const std::map<std::string, OpFn>& op_table() {
  static const std::map<std::string, OpFn> table = {
      // ---- elementwise binary ----
      TS_BINARY(add), TS_BINARY(sub), TS_BINARY(mul), TS_BINARY(div), TS_BINARY(floor_divide),
      TS_BINARY(remainder), TS_BINARY(pow),
      TS_BINARY(eq), TS_BINARY(ne), TS_BINARY(lt), TS_BINARY(le), TS_BINARY(gt), TS_BINARY(ge),
      {"pow.scalar_base",
       [](Inputs& in, const CaseAttrs& a) { return one(pow(a.scalar("scalar"), in[0])); }},
      {"minimum", [](Inputs& in, const CaseAttrs&) { return one(minimum(in[0], in[1])); }},
      {"maximum", [](Inputs& in, const CaseAttrs&) { return one(maximum(in[0], in[1])); }},
      {"atan2", [](Inputs& in, const CaseAttrs&) { return one(atan2(in[0], in[1])); }},
      {"logical_and",
       [](Inputs& in, const CaseAttrs&) { return one(logical_and(in[0], in[1])); }},
      {"logical_or", [](Inputs& in, const CaseAttrs&) { return one(logical_or(in[0], in[1])); }},
      {"logical_xor",
       [](Inputs& in, const CaseAttrs&) { return one(logical_xor(in[0], in[1])); }},
      // ---- elementwise unary ----
      TS_UNARY(neg), TS_UNARY(abs), TS_UNARY(sign), TS_UNARY(exp), TS_UNARY(expm1),
      TS_UNARY(log), TS_UNARY(log1p), TS_UNARY(log2), TS_UNARY(sqrt), TS_UNARY(rsqrt),
      TS_UNARY(sin), TS_UNARY(cos), TS_UNARY(tan), TS_UNARY(tanh), TS_UNARY(sigmoid),
      TS_UNARY(erf), TS_UNARY(relu), TS_UNARY(silu), TS_UNARY(square), TS_UNARY(reciprocal),
      TS_UNARY(floor), TS_UNARY(ceil), TS_UNARY(round), TS_UNARY(logical_not),
      TS_UNARY(isnan), TS_UNARY(isinf), TS_UNARY(isfinite),
      {"gelu", [](Inputs& in, const CaseAttrs& a) { return one(gelu(in[0], a.s("approximate"))); }},
      {"softplus",
       [](Inputs& in, const CaseAttrs& a) {
         return one(softplus(in[0], a.f("beta"), a.f("threshold")));
       }},
      {"leaky_relu",
       [](Inputs& in, const CaseAttrs& a) {
         return ops::call(ops::kLeakyRelu, {in[0]}, {{"negative_slope", a.f("negative_slope")}});
       }},
      {"clamp",
       [](Inputs& in, const CaseAttrs& a) {
         return one(clamp(in[0], a.opt_scalar("min"), a.opt_scalar("max")));
       }},
      {"clamp.tensor",
       [](Inputs& in, const CaseAttrs&) { return one(clamp(in[0], in[1], in[2])); }},
      {"where",
       [](Inputs& in, const CaseAttrs& a) {
         if (a.has("scalar")) return one(where(in[0], in[1], a.scalar("scalar")));
         return one(where(in[0], in[1], in[2]));
       }},
      {"nan_to_num",
       [](Inputs& in, const CaseAttrs& a) {
         return one(nan_to_num(in[0], a.has("nan") ? a.f("nan") : 0.0, a.opt_f("posinf"),
                               a.opt_f("neginf")));
       }},
      // ---- in-place forms: the result is the mutated (non-contiguous) input view ----
      TS_INPLACE_BINARY(add_), TS_INPLACE_BINARY(sub_), TS_INPLACE_BINARY(mul_),
      TS_INPLACE_BINARY(div_),
      TS_INPLACE_UNARY(neg_), TS_INPLACE_UNARY(abs_), TS_INPLACE_UNARY(exp_),
      TS_INPLACE_UNARY(log_), TS_INPLACE_UNARY(sqrt_), TS_INPLACE_UNARY(relu_),
      TS_INPLACE_UNARY(sigmoid_), TS_INPLACE_UNARY(tanh_),
      {"pow_", [](Inputs& in, const CaseAttrs& a) { return one(pow_(in[0], a.scalar("scalar"))); }},
      {"clamp_",
       [](Inputs& in, const CaseAttrs& a) {
         return one(clamp_(in[0], a.opt_scalar("min"), a.opt_scalar("max")));
       }},
      {"masked_fill_",
       [](Inputs& in, const CaseAttrs& a) {
         return one(masked_fill_(in[0], in[1], a.scalar("value")));
       }},
      // ---- reductions ----
      {"sum",
       [](Inputs& in, const CaseAttrs& a) {
         return one(sum(in[0], a.ints("dims"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"mean",
       [](Inputs& in, const CaseAttrs& a) {
         return one(mean(in[0], a.ints("dims"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"prod",
       [](Inputs& in, const CaseAttrs& a) {
         return one(prod(in[0], a.ints("dims"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"amax",
       [](Inputs& in, const CaseAttrs& a) {
         return one(amax(in[0], a.ints("dims"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"amin",
       [](Inputs& in, const CaseAttrs& a) {
         return one(amin(in[0], a.ints("dims"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"max", [](Inputs& in, const CaseAttrs&) { return one(max(in[0])); }},
      {"min", [](Inputs& in, const CaseAttrs&) { return one(min(in[0])); }},
      {"max.dim",
       [](Inputs& in, const CaseAttrs& a) {
         return two(max(in[0], a.i("dim"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"min.dim",
       [](Inputs& in, const CaseAttrs& a) {
         return two(min(in[0], a.i("dim"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"argmax",
       [](Inputs& in, const CaseAttrs& a) {
         return one(argmax(in[0], a.opt_i("dim"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"argmin",
       [](Inputs& in, const CaseAttrs& a) {
         return one(argmin(in[0], a.opt_i("dim"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"var",
       [](Inputs& in, const CaseAttrs& a) {
         return one(var(in[0], a.ints("dims"), a.i("correction"),
                        a.has("keepdim") && a.b("keepdim")));
       }},
      {"std",
       [](Inputs& in, const CaseAttrs& a) {
         return one(tessera::std(in[0], a.ints("dims"), a.i("correction"),
                                 a.has("keepdim") && a.b("keepdim")));
       }},
      {"norm",
       [](Inputs& in, const CaseAttrs& a) {
         return one(norm(in[0], a.f("p"), a.ints("dims"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"logsumexp",
       [](Inputs& in, const CaseAttrs& a) {
         return one(logsumexp(in[0], a.ints("dims"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"all",
       [](Inputs& in, const CaseAttrs& a) {
         return one(all(in[0], a.ints("dims"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"any",
       [](Inputs& in, const CaseAttrs& a) {
         return one(any(in[0], a.ints("dims"), a.has("keepdim") && a.b("keepdim")));
       }},
      {"cumsum", [](Inputs& in, const CaseAttrs& a) { return one(cumsum(in[0], a.i("dim"))); }},
      {"softmax", [](Inputs& in, const CaseAttrs& a) { return one(softmax(in[0], a.i("dim"))); }},
      {"log_softmax",
       [](Inputs& in, const CaseAttrs& a) { return one(log_softmax(in[0], a.i("dim"))); }},
      // ---- linear algebra ----
      {"matmul", [](Inputs& in, const CaseAttrs&) { return one(matmul(in[0], in[1])); }},
      {"mm", [](Inputs& in, const CaseAttrs&) { return one(mm(in[0], in[1])); }},
      {"bmm", [](Inputs& in, const CaseAttrs&) { return one(bmm(in[0], in[1])); }},
      {"addmm",
       [](Inputs& in, const CaseAttrs& a) {
         return one(addmm(in[0], in[1], in[2], a.scalar("beta"), a.scalar("alpha")));
       }},
      {"outer", [](Inputs& in, const CaseAttrs&) { return one(outer(in[0], in[1])); }},
      {"dot", [](Inputs& in, const CaseAttrs&) { return one(dot(in[0], in[1])); }},
      // ---- shape and indexing ----
      {"cat", [](Inputs& in, const CaseAttrs& a) { return one(cat(in, a.i("dim"))); }},
      {"stack", [](Inputs& in, const CaseAttrs& a) { return one(stack(in, a.i("dim"))); }},
      {"split",
       [](Inputs& in, const CaseAttrs& a) {
         if (a.has("sizes")) return split(in[0], a.ints("sizes"), a.i("dim"));
         return split(in[0], a.i("split_size"), a.i("dim"));
       }},
      {"chunk",
       [](Inputs& in, const CaseAttrs& a) { return chunk(in[0], a.i("chunks"), a.i("dim")); }},
      {"repeat", [](Inputs& in, const CaseAttrs& a) { return one(repeat(in[0], a.ints("repeats"))); }},
      {"tile", [](Inputs& in, const CaseAttrs& a) { return one(tile(in[0], a.ints("reps"))); }},
      {"flip", [](Inputs& in, const CaseAttrs& a) { return one(flip(in[0], a.ints("dims"))); }},
      {"roll",
       [](Inputs& in, const CaseAttrs& a) {
         return one(roll(in[0], a.ints("shifts"), a.ints("dims")));
       }},
      {"tril", [](Inputs& in, const CaseAttrs& a) { return one(tril(in[0], a.i("diagonal"))); }},
      {"triu", [](Inputs& in, const CaseAttrs& a) { return one(triu(in[0], a.i("diagonal"))); }},
      {"gather",
       [](Inputs& in, const CaseAttrs& a) { return one(gather(in[0], a.i("dim"), in[1])); }},
      {"scatter",
       [](Inputs& in, const CaseAttrs& a) {
         if (a.has("value")) return one(scatter(in[0], a.i("dim"), in[1], a.scalar("value")));
         return one(scatter(in[0], a.i("dim"), in[1], in[2]));
       }},
      {"scatter_add",
       [](Inputs& in, const CaseAttrs& a) {
         return one(scatter_add(in[0], a.i("dim"), in[1], in[2]));
       }},
      {"scatter_",
       [](Inputs& in, const CaseAttrs& a) {
         return one(scatter_(in[0], a.i("dim"), in[1], in[2]));
       }},
      {"scatter_add_",
       [](Inputs& in, const CaseAttrs& a) {
         return one(scatter_add_(in[0], a.i("dim"), in[1], in[2]));
       }},
      {"index_select",
       [](Inputs& in, const CaseAttrs& a) {
         return one(index_select(in[0], a.i("dim"), in[1]));
       }},
      {"masked_fill",
       [](Inputs& in, const CaseAttrs& a) {
         return one(masked_fill(in[0], in[1], a.scalar("value")));
       }},
      {"threshold_backward",  // an op of graphs, through dispatch
       [](Inputs& in, const CaseAttrs& a) {
         ops::ensure_registered();
         return ops::call(ops::kThresholdBackward, {in[0], in[1]}, {{"threshold", a.f("threshold")}});
       }},
      {"index_put",
       [](Inputs& in, const CaseAttrs& a) {
         std::vector<Tensor> idx(in.begin() + 2, in.end());
         return one(index_put(in[0], idx, in[1], a.b("accumulate")));
       }},
      {"index_put_",
       [](Inputs& in, const CaseAttrs& a) {
         std::vector<Tensor> idx(in.begin() + 2, in.end());
         return one(index_put_(in[0], idx, in[1], a.b("accumulate")));
       }},
      {"one_hot",
       [](Inputs& in, const CaseAttrs& a) { return one(one_hot(in[0], a.i("num_classes"))); }},
      {"sort",
       [](Inputs& in, const CaseAttrs& a) {
         return two(sort(in[0], a.i("dim"), a.b("descending")));
       }},
      {"topk",
       [](Inputs& in, const CaseAttrs& a) {
         return two(topk(in[0], a.i("k"), a.i("dim"), a.b("largest"), a.b("sorted")));
       }},
      // ---- views made by Tensor methods ----
      {"Tensor::permute", [](Inputs& in, const CaseAttrs& a) { return one(in[0].permute(a.ints("dims"))); }},
      {"Tensor::transpose",
       [](Inputs& in, const CaseAttrs& a) {
         return one(in[0].transpose(a.i("dim0"), a.i("dim1")));
       }},
      {"Tensor::slice",
       [](Inputs& in, const CaseAttrs& a) {
         return one(in[0].slice(a.i("dim"), a.i("start"), a.i("end"), a.i("step")));
       }},
      {"Tensor::narrow",
       [](Inputs& in, const CaseAttrs& a) {
         return one(in[0].narrow(a.i("dim"), a.i("start"), a.i("length")));
       }},
      {"Tensor::select",
       [](Inputs& in, const CaseAttrs& a) { return one(in[0].select(a.i("dim"), a.i("index"))); }},
      {"Tensor::expand", [](Inputs& in, const CaseAttrs& a) { return one(in[0].expand(a.ints("sizes"))); }},
      {"Tensor::squeeze", [](Inputs& in, const CaseAttrs& a) { return one(in[0].squeeze(a.i("dim"))); }},
      {"Tensor::unsqueeze",
       [](Inputs& in, const CaseAttrs& a) { return one(in[0].unsqueeze(a.i("dim"))); }},
      {"Tensor::flatten",
       [](Inputs& in, const CaseAttrs& a) {
         return one(in[0].flatten(a.i("start_dim"), a.i("end_dim")));
       }},
      {"Tensor::reshape", [](Inputs& in, const CaseAttrs& a) { return one(in[0].reshape(a.ints("sizes"))); }},
      {"Tensor::diagonal", [](Inputs& in, const CaseAttrs& a) { return one(in[0].diagonal(a.i("offset"))); }},
      {"Tensor::contiguous", [](Inputs& in, const CaseAttrs&) { return one(in[0].contiguous()); }},
      {"Tensor::to",  // to=f32, f64, bool, ...: dtype_name's short names
       [](Inputs& in, const CaseAttrs& a) {
         for (int i = 0; i < kNumDTypes; ++i)
           if (a.s("to") == dtype_name(static_cast<DType>(i))) return one(in[0].to(static_cast<DType>(i)));
         throw std::runtime_error("manifest: unknown dtype '" + a.s("to") + "'");
       }},
  };
  return table;
}

#undef TS_BINARY
#undef TS_UNARY
#undef TS_INPLACE_UNARY
#undef TS_INPLACE_BINARY

struct Case {
  std::string name, op;
  std::vector<std::string> inputs;  // file[@view...]
  std::vector<std::string> outputs;
  CaseAttrs attrs;
  int64_t reduce_n = 0;
};

inline std::vector<Case> read_manifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    Case c;
    ss >> c.name >> c.op;
    std::string tok;
    while (ss >> tok) {
      size_t eq = tok.find('=');
      if (eq == std::string::npos) throw std::runtime_error("manifest: bad token " + tok);
      std::string k = tok.substr(0, eq), v = tok.substr(eq + 1);
      if (k == "in") c.inputs.push_back(v);
      else if (k == "out") c.outputs.push_back(v);
      else if (k == "reduce_n") c.reduce_n = std::stoll(v);
      else c.attrs.set(k, v);
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

// "file@perm:1,0@slice:0:0:8:2": loads the file and applies each view step in order.
inline Tensor load_input(const std::string& dir, const std::string& spec) {
  std::vector<std::string> parts;
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, '@')) parts.push_back(part);
  Tensor t = load_npy(dir + "/" + parts.at(0));
  for (size_t i = 1; i < parts.size(); ++i) {
    std::vector<std::string> f;
    std::stringstream ps(parts[i]);
    while (std::getline(ps, part, ':')) f.push_back(part);
    if (f.at(0) == "perm") {
      CaseAttrs tmp;
      tmp.set("p", f.at(1));
      t = t.permute(tmp.ints("p"));
    } else if (f.at(0) == "slice") {
      t = t.slice(std::stoll(f.at(1)), std::stoll(f.at(2)), std::stoll(f.at(3)),
                  std::stoll(f.at(4)));
    } else {
      throw std::runtime_error("manifest: unknown view step " + parts[i]);
    }
  }
  return t;
}

}  // namespace tessera::torch_ref
