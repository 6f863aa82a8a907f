// Agreement with PyTorch on random inputs (issue 2, acceptance point 2).
//
// At test time, torch_ref.py (run with Debian's /usr/bin/python3 and python3-torch) writes
// inputs, PyTorch's outputs and a manifest into the build directory; nothing generated is
// committed. Each manifest case names an op, its input files (with the view that makes an
// input non-contiguous), attributes and output files. This test applies the same views,
// calls Tessera through the table below and compares.
//
// Error measure for floating outputs, per element (a = Tessera, b = PyTorch):
//     err = max(0, |a - b| - kAbsFloor) / |b|        (0 when |a - b| <= kAbsFloor)
// i.e. the smallest rtol for which numpy.isclose(a, b, rtol, atol=kAbsFloor) holds. The
// absolute floor (1e-6) keeps values near zero, where PyTorch's own result has a large
// relative error (e.g. 1 + erf(x) in gelu's tail), from dominating. NaN matches NaN and an
// infinity matches the same infinity. A case agrees when its max err <= 1e-5, or <= 1e-4
// when each output element reduces more than 10,000 inputs (manifest key reduce_n).
// Integer and bool outputs (indices included) must match exactly, as must shapes and dtypes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "tessera/io.h"
#include "tessera/ops.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

constexpr double kAbsFloor = 1e-6;
constexpr double kRelTol = 1e-5;
constexpr double kRelTolLargeReduction = 1e-4;
constexpr int64_t kLargeReduction = 10000;
constexpr size_t kMinAgreeingOps = 80;
const char* const kPython = "/usr/bin/python3";

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
  double f(const std::string& k) const { return std::stod(s(k)); }
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
    if (v.find_first_of(".eEn") != std::string::npos) return Scalar(std::stod(v));
    return Scalar(static_cast<int64_t>(std::stoll(v)));
  }
  std::optional<Scalar> opt_scalar(const std::string& k) const {
    return has(k) ? std::optional<Scalar>(scalar(k)) : std::nullopt;
  }

 private:
  std::map<std::string, std::string> kv_;
};

using Inputs = std::vector<Tensor>;
using OpFn = std::function<std::vector<Tensor>(Inputs& in, const CaseAttrs& a)>;

std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }
template <typename A, typename B>
std::vector<Tensor> two(std::pair<A, B> p) {
  return {std::move(p.first), std::move(p.second)};
}

// A binary op that takes either a second tensor or a scalar attribute.
template <typename FT, typename FS>
OpFn binary(FT ft, FS fs) {
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

const std::map<std::string, OpFn>& op_table() {
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
  };
  return table;
}

struct Case {
  std::string name, op;
  std::vector<std::string> inputs;  // file[@view...]
  std::vector<std::string> outputs;
  CaseAttrs attrs;
  int64_t reduce_n = 0;
};

std::vector<Case> read_manifest(const std::string& path) {
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
Tensor load_input(const std::string& dir, const std::string& spec) {
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

double element_error(double a, double b) {
  if (std::isnan(b)) return std::isnan(a) ? 0.0 : INFINITY;
  if (std::isinf(b)) return a == b ? 0.0 : INFINITY;
  if (!std::isfinite(a)) return INFINITY;
  double excess = std::fabs(a - b) - kAbsFloor;
  if (excess <= 0) return 0.0;
  return excess / std::fabs(b);
}

struct Outcome {
  std::string name, op;
  bool ok = false;
  double err = 0;  // max float error (0 for exact outputs)
  int strided_inputs = 0;  // inputs the recorded view made non-contiguous
  std::string message;
};

// Compares one output; returns "" on agreement, else what differs. `err` gets the max
// floating error seen.
std::string compare(const Tensor& got, const Tensor& want, double tol, double& err) {
  std::ostringstream why;
  if (!got.sizes().equals(want.sizes()) || got.dtype() != want.dtype()) {
    why << "got " << got.describe() << ", PyTorch " << want.describe();
    return why.str();
  }
  const bool exact = !is_floating(want.dtype());
  for (int64_t i = 0; i < want.numel(); ++i) {
    double a = read_as_double(got, i), b = read_as_double(want, i);
    if (exact) {
      if (a != b) {
        why << "element " << i << ": got " << a << ", PyTorch " << b << " (exact match needed)";
        return why.str();
      }
      continue;
    }
    double e = element_error(a, b);
    if (e > err) err = e;
    if (e > tol && why.tellp() == 0)
      why << "element " << i << ": got " << a << ", PyTorch " << b << ", rel err " << e
          << " > " << tol;
  }
  return why.str();
}

Outcome run_case(const std::string& dir, const Case& c) {
  Outcome o;
  o.name = c.name;
  o.op = c.op;
  const double tol = c.reduce_n > kLargeReduction ? kRelTolLargeReduction : kRelTol;
  try {
    auto it = op_table().find(c.op);
    if (it == op_table().end()) {
      o.message = "no entry in the op table for '" + c.op + "'";
      return o;
    }
    Inputs in;
    for (const std::string& spec : c.inputs) {
      in.push_back(load_input(dir, spec));
      o.strided_inputs += !in.back().is_contiguous();
    }
    std::vector<Tensor> got = it->second(in, c.attrs);
    if (got.size() != c.outputs.size()) {
      o.message = "returned " + std::to_string(got.size()) + " outputs, PyTorch " +
                  std::to_string(c.outputs.size());
      return o;
    }
    for (size_t k = 0; k < got.size(); ++k) {
      Tensor want = load_npy(dir + "/" + c.outputs[k]);
      std::string why = compare(got[k], want, tol, o.err);
      if (!why.empty()) {
        o.message = "output " + std::to_string(k) + ": " + why;
        return o;
      }
    }
    o.ok = true;
  } catch (const std::exception& e) {
    o.message = std::string("threw: ") + e.what();
  }
  return o;
}

// "max.dim" and "max" are one op; "Tensor::permute" is a Tensor method (a view), and a
// trailing '_' marks an in-place form. The acceptance count (>= 80) takes only the
// out-of-place functions of ops.h, so views and in-place twins cannot pad it.
std::string base_op(const std::string& op) { return op.substr(0, op.find('.')); }
bool is_function_op(const std::string& op) {
  return op.rfind("Tensor::", 0) != 0 && op.back() != '_';
}

struct Results {
  std::string skip_reason;  // non-empty: PyTorch is unavailable
  std::string setup_error;  // non-empty: the script or manifest failed
  std::vector<Outcome> outcomes;
  std::set<std::string> all_ops, agreeing_ops;  // an op agrees when all its cases do
  size_t agreeing_functions = 0, functions = 0;
};

const Results& results() {
  static const Results r = [] {
    Results r;
    if (!fs::exists(kPython) ||
        std::system((std::string(kPython) + " -c 'import torch, numpy' >/dev/null 2>&1").c_str()) != 0) {
      r.skip_reason = std::string(kPython) +
                      " with torch and numpy is missing (install python3-torch: scripts/deps)";
      std::cerr << "\n***** WARNING: torch agreement NOT CHECKED: " << r.skip_reason
                << " *****\n\n";
      return r;
    }
    // One directory per process: CTest runs each test of this file in its own process,
    // possibly in parallel, and each regenerates the data.
    const std::string dir =
        std::string(TESSERA_TEST_BINARY_DIR) + "/torch_ref/" + std::to_string(::getpid());
    std::error_code ec;
    fs::remove_all(dir, ec);
    const std::string cmd = std::string(kPython) + " " + TESSERA_TEST_DIR +
                            "/reference/torch_ref.py " + dir;
    if (std::system(cmd.c_str()) != 0) {
      r.setup_error = "reference script failed: " + cmd;
      return r;
    }
    std::vector<Case> cases;
    try {
      cases = read_manifest(dir + "/manifest.txt");
    } catch (const std::exception& e) {
      r.setup_error = e.what();
      return r;
    }
    std::set<std::string> failing_ops;
    for (const Case& c : cases) {
      r.outcomes.push_back(run_case(dir, c));
      r.all_ops.insert(base_op(c.op));
      if (!r.outcomes.back().ok) failing_ops.insert(base_op(c.op));
    }
    // Kept for inspection when something disagreed.
    if (failing_ops.empty()) fs::remove_all(dir, ec);
    else std::cerr << "torch agreement: inputs and PyTorch outputs kept in " << dir << "\n";
    for (const std::string& op : r.all_ops) {
      bool ok = !failing_ops.count(op);
      if (ok) r.agreeing_ops.insert(op);
      if (is_function_op(op)) {
        ++r.functions;
        r.agreeing_functions += ok;
      }
    }
    return r;
  }();
  return r;
}

}  // namespace

TEST(TorchAgreement, EveryCaseMatchesPyTorch) {
  const Results& r = results();
  if (!r.skip_reason.empty()) GTEST_SKIP() << r.skip_reason;
  ASSERT_TRUE(r.setup_error.empty()) << r.setup_error;
  ASSERT_FALSE(r.outcomes.empty());
  size_t passed = 0, strided = 0;
  const Outcome* worst = nullptr;
  for (const Outcome& o : r.outcomes) {
    strided += static_cast<size_t>(o.strided_inputs);
    if (!o.ok) {
      ADD_FAILURE() << o.name << " (" << o.op << "): " << o.message;
      continue;
    }
    ++passed;
    if (!worst || o.err > worst->err) worst = &o;
  }
  std::cout << "torch agreement: " << r.agreeing_ops.size() << " ops, " << passed
            << " cases, worst rel err " << (worst ? worst->err : 0.0) << " ("
            << (worst ? worst->name : "-") << "); " << r.agreeing_functions << " of "
            << r.functions << " out-of-place ops.h functions agree; " << r.outcomes.size()
            << " cases over " << r.all_ops.size() << " ops in all, " << strided
            << " non-contiguous inputs" << std::endl;
}

TEST(TorchAgreement, AtLeast80OpsAgree) {
  const Results& r = results();
  if (!r.skip_reason.empty()) GTEST_SKIP() << r.skip_reason;
  ASSERT_TRUE(r.setup_error.empty()) << r.setup_error;
  std::string failing;
  for (const std::string& op : r.all_ops)
    if (!r.agreeing_ops.count(op)) failing += " " + op;
  EXPECT_GE(r.agreeing_functions, kMinAgreeingOps) << "ops with a failing case:" << failing;
}
