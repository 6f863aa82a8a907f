#include "opdb/opdb.h"

#include <functional>

namespace tessera::opdb {

const std::vector<OpEntry>& entries() {
  static const std::vector<OpEntry> all = [] {
    std::vector<OpEntry> out;
    add_copy(out);
    add_view(out);
    add_factory(out);
    add_random(out);
    add_elementwise(out);
    add_reduce(out);
    add_shape(out);
    add_index(out);
    add_linalg(out);
    add_conv(out);
    add_pool(out);
    add_conv_blocked(out);
    add_nn(out);
    add_optim(out);
    add_collective(out);
    return out;
  }();
  return all;
}

const OpEntry* find_entry(const std::string& op) {
  for (const OpEntry& e : entries())
    if (e.op == op) return &e;
  return nullptr;
}

bool is_differentiable(const OpEntry& e) {
  ops::ensure_registered();
  const ops::OpDef* op = ops::find_op(e.op);
  return e.differentiable_composite || (op && (op->flags & ops::kDifferentiable) != 0);
}

bool writes_inputs(const OpEntry& e, const Sample& s) {
  ops::ensure_registered();
  const ops::OpDef* op = ops::find_op(e.op);
  if (op && op->mutates != 0) return true;
  // The in-place forms (x.add_(y), scatter_, ...) and batch_norm's running statistics.
  if (attr_b(s.attrs, "inplace")) return true;
  return e.op == "batch_norm" && attr_b(s.attrs, "training") && attr_b(s.attrs, "running_stats");
}

Maker::Maker(const std::string& op, DType dtype, Domain domain)
    : dtype_(dtype), domain_(domain),
      gen_(std::hash<std::string>{}(op) ^ (static_cast<uint64_t>(dtype) * 0x9e3779b97f4a7c15ull)) {}

Tensor Maker::values(IntArrayRef shape, Domain d, DType dtype) {
  NoGradGuard no_grad;
  if (dtype == kBool) return gt(rand(shape, kFloat64, &gen_), 0.5);
  Tensor u = rand(shape, kFloat64, &gen_);
  Tensor v;
  if (d.away_from_zero > 0) {
    const Tensor sign = sub(mul(gt(rand(shape, kFloat64, &gen_), 0.5).to(kFloat64), 2.0), 1.0);
    v = mul(add(mul(u, d.hi - d.away_from_zero), d.away_from_zero), sign);
  } else if (d.away_from_int > 0) {
    const Tensor k = floor(add(mul(rand(shape, kFloat64, &gen_), d.hi - d.lo), d.lo));
    v = add(k, add(mul(u, 1 - 2 * d.away_from_int), d.away_from_int));
  } else {
    v = add(mul(u, d.hi - d.lo), d.lo);
  }
  if (is_floating(dtype)) return v.to(dtype);
  // Integers: rounded, and kept non-zero when the domain excludes zero (divisors).
  Tensor r = round(mul(v, 2.0));
  if (d.away_from_zero > 0) r = where(eq(r, 0.0), full_like(r, 1.0), r);
  if (d.lo >= 0) r = abs(r);
  return r.to(dtype);
}

Tensor Maker::index(IntArrayRef shape, int64_t lo, int64_t hi) { return randint(lo, hi, shape, kInt64, &gen_); }

Tensor Maker::mask(IntArrayRef shape, double p) { return lt(rand(shape, kFloat64, &gen_), p); }

Tensor noncontiguous(const Tensor& t) {
  if (t.dim() == 0 || t.numel() == 0) return t;
  if (t.dim() >= 2) return t.transpose(-1, -2).contiguous().transpose(-1, -2);
  // Every other element of a buffer; the skipped ones hold a value a kernel that ignored
  // the stride would show.
  return stack({t, full_like(t.detach(), 7)}, 1).select(1, 0);
}

Tensor same_layout(const Tensor& values, const Tensor& like) {
  return like.is_contiguous() ? values.contiguous() : noncontiguous(values.contiguous());
}

std::vector<Sample> unary_samples(Maker& m, Attrs attrs) {
  std::vector<Sample> s;
  s.push_back({"contiguous", {m({3, 4})}, attrs});
  s.push_back({"noncontiguous", {noncontiguous(m({3, 4}))}, attrs});
  s.push_back({"scalar", {m({})}, attrs});
  s.push_back({"empty", {m({0, 3})}, attrs});
  s.push_back({"large", {m({65, 67})}, attrs, false});
  return s;
}

std::vector<Sample> binary_samples(Maker& m, Attrs attrs, PairFn make) {
  if (!make) make = [](Maker& mk, IntArrayRef a, IntArrayRef b) { return Tensors{mk(a), mk(b)}; };
  auto nc = [](Tensors t) {
    for (Tensor& x : t) x = noncontiguous(x);
    return t;
  };
  std::vector<Sample> s;
  s.push_back({"contiguous", make(m, {3, 4}, {3, 4}), attrs});
  s.push_back({"broadcast", make(m, {3, 4}, {4}), attrs});
  s.push_back({"broadcast_both", make(m, {3, 1}, {1, 4}), attrs});
  s.push_back({"noncontiguous", nc(make(m, {3, 4}, {4})), attrs});
  s.push_back({"scalar_operand", make(m, {2, 3}, {}), attrs});
  s.push_back({"empty", make(m, {0, 4}, {4}), attrs});
  s.push_back({"large", make(m, {65, 67}, {67}), attrs, false});
  return s;
}

Tensors one(const Tensor& t) { return {t}; }

namespace {
template <typename T>
const T* find_attr(const Attrs& a, std::string_view name) {
  for (const ops::Attr& x : a.items())
    if (x.name == name) return std::get_if<T>(&x.value);
  return nullptr;
}
}  // namespace

int64_t attr_i(const Attrs& a, std::string_view name, int64_t def) {
  const int64_t* v = find_attr<int64_t>(a, name);
  return v ? *v : def;
}
double attr_f(const Attrs& a, std::string_view name, double def) {
  if (const double* v = find_attr<double>(a, name)) return *v;
  if (const int64_t* v = find_attr<int64_t>(a, name)) return static_cast<double>(*v);
  return def;
}
bool attr_b(const Attrs& a, std::string_view name, bool def) {
  const bool* v = find_attr<bool>(a, name);
  return v ? *v : def;
}
std::vector<int64_t> attr_ints(const Attrs& a, std::string_view name, std::vector<int64_t> def) {
  const auto* v = find_attr<std::vector<int64_t>>(a, name);
  return v ? *v : def;
}
std::string attr_s(const Attrs& a, std::string_view name, std::string def) {
  const std::string* v = find_attr<std::string>(a, name);
  return v ? *v : def;
}

}  // namespace tessera::opdb
