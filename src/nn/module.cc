// Module bookkeeping: registration, dotted-name traversal, state_dict, printing, summary.
#include "tessera/nn/module.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>
#include <unordered_set>

namespace tessera::nn {

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}
Module::~Module() = default;

namespace {
// The module whose base forward / forward_multi is running on this thread: if the other
// base version comes back to it, the module overrides neither.
thread_local const Module* g_in_base_forward = nullptr;

class BaseForwardScope {
 public:
  explicit BaseForwardScope(const Module* m) : previous_(g_in_base_forward) { g_in_base_forward = m; }
  ~BaseForwardScope() { g_in_base_forward = previous_; }
  BaseForwardScope(const BaseForwardScope&) = delete;
  BaseForwardScope& operator=(const BaseForwardScope&) = delete;

 private:
  const Module* previous_;
};
}  // namespace

Tensor Module::forward(const Tensor& x) {
  TESSERA_CHECK(g_in_base_forward != this, type_name_,
                ": defines neither forward(x) nor forward_multi(inputs)");
  BaseForwardScope scope(this);
  std::vector<Tensor> out = forward_multi({x});
  TESSERA_CHECK(out.size() == 1, type_name_, ": called with one tensor, its forward_multi returned ",
                out.size(), " outputs; call it as module({x}) to get them all");
  return out[0];
}

std::vector<Tensor> Module::forward_multi(const std::vector<Tensor>& inputs) {
  TESSERA_CHECK(g_in_base_forward != this, type_name_,
                ": defines neither forward(x) nor forward_multi(inputs)");
  TESSERA_CHECK(inputs.size() == 1, type_name_, ": takes one input (it defines forward(x)), got ",
                inputs.size());
  BaseForwardScope scope(this);
  return {forward(inputs[0])};
}

namespace {

// A layer's own checks say "Linear: ..."; this adds where the user called it
// ("Linear at model.cc:42: ..."), as the dispatcher does for ops. Nothing is added to
// messages that already name a site or come from elsewhere.
[[noreturn]] void rethrow_at_site(const Error& e, const std::string& type_name) {
  const std::string site = describe_call_site(current_call_site());
  const std::string msg = e.what();
  const std::string own = type_name + ": ";
  if (site.empty() || msg.rfind(own, 0) != 0) throw;
  throw_error(e.kind(), type_name + " at " + site + ": " + msg.substr(own.size()));
}

}  // namespace

Tensor Module::operator()(const Tensor& x, CallSite at) {
  detail::UserCallScope scope(at);
  try {
    Tensor y = forward(x);
    if (!hooks_.empty()) run_hooks({x}, {y});
    return y;
  } catch (const Error& e) {
    rethrow_at_site(e, type_name_);
  }
}

std::vector<Tensor> Module::operator()(const std::vector<Tensor>& inputs, CallSite at) {
  detail::UserCallScope scope(at);
  try {
    std::vector<Tensor> outputs = forward_multi(inputs);
    if (!hooks_.empty()) run_hooks(inputs, outputs);
    return outputs;
  } catch (const Error& e) {
    rethrow_at_site(e, type_name_);
  }
}

void Module::run_hooks(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  // Copy first: a hook may remove itself (or others) while running.
  auto hooks = hooks_;
  for (auto& [id, hook] : hooks) hook(*this, inputs, outputs);
}

void Module::check_new_name(const std::string& name, const char* what) const {
  TESSERA_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name_, ": ", what,
                " name '", name, "' must be non-empty and contain no '.'");
  auto taken = [&](const std::vector<Slot>& v) {
    return std::any_of(v.begin(), v.end(), [&](const Slot& s) { return s.name == name; });
  };
  bool child = std::any_of(children_.begin(), children_.end(),
                           [&](const auto& c) { return c.first == name; });
  TESSERA_CHECK(!taken(parameters_) && !taken(buffers_) && !child, type_name_, ": cannot register ",
                what, " '", name, "': the name is already taken");
}

Tensor& Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_new_name(name, "parameter");
  if (value.defined()) {
    TESSERA_CHECK(value.is_floating_point() || !requires_grad, type_name_, ": parameter '", name,
                  "' is ", value.describe(), "; only floating tensors can require grad");
    // A parameter is a leaf of its own, whatever produced the value.
    value = value.detach();
    if (requires_grad) value.requires_grad_(true);
  }
  parameters_.push_back({name, std::make_unique<Tensor>(std::move(value)), requires_grad});
  return *parameters_.back().value;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value, bool persistent) {
  check_new_name(name, "buffer");
  if (value.defined()) value = value.detach();
  buffers_.push_back({name, std::make_unique<Tensor>(std::move(value)), persistent});
  return *buffers_.back().value;
}

void Module::add_child(const std::string& name, ModulePtr module) {
  check_new_name(name, "submodule");
  TESSERA_CHECK(module != nullptr, type_name_, ": submodule '", name, "' is null");
  TESSERA_CHECK(module.get() != this, type_name_, ": a module cannot contain itself");
  children_.emplace_back(name, std::move(module));
}

// ---------------------------------------------------------------- traversal

void Module::collect_parameters(const std::string& prefix, bool recurse,
                                std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const Slot& s : parameters_)
    if (s.value->defined()) out.emplace_back(prefix + s.name, *s.value);
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect_parameters(prefix + name + ".", true, out);
}

void Module::collect_buffers(const std::string& prefix, bool recurse, bool persistent_only,
                             std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const Slot& s : buffers_)
    if (s.value->defined() && (s.flag || !persistent_only)) out.emplace_back(prefix + s.name, *s.value);
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect_buffers(prefix + name + ".", true, persistent_only, out);
}

void Module::collect_state(const std::string& prefix,
                           std::vector<std::pair<std::string, Tensor>>& out) const {
  collect_parameters(prefix, false, out);
  collect_buffers(prefix, false, true, out);
  for (const auto& [name, child] : children_) child->collect_state(prefix + name + ".", out);
}

void Module::collect_modules(const std::string& prefix,
                             std::vector<std::pair<std::string, ModulePtr>>& out) {
  for (auto& [name, child] : children_) {
    std::string full = prefix.empty() ? name : prefix + "." + name;
    out.emplace_back(full, child);
    child->collect_modules(full, out);
  }
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_parameters("", recurse, out);
  // A module shared at two places holds one set of tensors: list each once (as PyTorch).
  std::vector<std::pair<std::string, Tensor>> unique;
  for (auto& p : out)
    if (std::none_of(unique.begin(), unique.end(),
                     [&](const auto& u) { return u.second.is_same(p.second); }))
      unique.push_back(std::move(p));
  return unique;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_buffers("", recurse, false, out);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, ModulePtr>> Module::named_children() const { return children_; }

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> out;
  for (const auto& c : children_) out.push_back(c.second);
  return out;
}

std::vector<std::pair<std::string, ModulePtr>> Module::named_modules() {
  std::vector<std::pair<std::string, ModulePtr>> out;
  // A module not owned by a shared_ptr (e.g. on the stack) is listed through a
  // non-owning pointer rather than failing.
  ModulePtr self = weak_from_this().lock();
  if (!self) self = ModulePtr(ModulePtr(), this);
  out.emplace_back("", self);
  collect_modules("", out);
  return out;
}

ModulePtr Module::submodule(const std::string& dotted_name) const {
  const Module* m = this;
  ModulePtr found;
  size_t start = 0;
  while (start <= dotted_name.size()) {
    size_t dot = dotted_name.find('.', start);
    std::string part = dotted_name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    auto it = std::find_if(m->children_.begin(), m->children_.end(),
                           [&](const auto& c) { return c.first == part; });
    TESSERA_CHECK(it != m->children_.end(), type_name_, ": no submodule '", dotted_name, "'");
    found = it->second;
    m = found.get();
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return found;
}

Tensor& Module::find_slot(const std::string& dotted_name, bool want_parameter) {
  const char* what = want_parameter ? "parameter" : "buffer";
  Module* owner = this;
  std::string leaf = dotted_name;
  size_t dot = dotted_name.rfind('.');
  if (dot != std::string::npos) {
    owner = submodule(dotted_name.substr(0, dot)).get();
    leaf = dotted_name.substr(dot + 1);
  }
  auto& slots = want_parameter ? owner->parameters_ : owner->buffers_;
  auto it = std::find_if(slots.begin(), slots.end(), [&](const Slot& s) { return s.name == leaf; });
  TESSERA_CHECK(it != slots.end(), type_name_, ": no ", what, " '", dotted_name, "'");
  return *it->value;
}

Tensor& Module::parameter(const std::string& dotted_name) { return find_slot(dotted_name, true); }
Tensor& Module::buffer(const std::string& dotted_name) { return find_slot(dotted_name, false); }

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& c : children_) c.second->apply(fn);
  fn(*this);
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::zero_grad() {
  for (auto& [name, p] : named_parameters()) p.set_grad(Tensor());
}

// ---------------------------------------------------------------- state

StateDict Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> all;
  collect_state("", all);
  StateDict out;
  out.reserve(all.size());
  for (auto& [name, t] : all) out.insert(name, t.detach());
  return out;
}

LoadStateDictResult Module::load_state_dict(const StateDict& state, bool strict) {
  std::vector<std::pair<std::string, Tensor>> own;
  collect_state("", own);

  // Keys are unique in a StateDict, so each lookup is one hash and no key can be given twice.
  LoadStateDictResult result;
  std::vector<std::string> mismatched;
  std::vector<const Tensor*> sources(own.size(), nullptr);
  std::unordered_set<std::string> known;
  known.reserve(own.size());
  for (size_t i = 0; i < own.size(); ++i) {
    const auto& [name, t] = own[i];
    known.insert(name);
    const Tensor* src = state.find(name);
    if (src == nullptr) {
      result.missing_keys.push_back(name);
      continue;
    }
    sources[i] = src;
    if (!src->defined() || !src->sizes().equals(t.sizes()))
      mismatched.push_back(name + ": expected " + shape_str(t.sizes()) + " got " +
                           (src->defined() ? shape_str(src->sizes()) : std::string("undefined")));
  }
  for (const auto& [name, t] : state)
    if (!known.count(name)) result.unexpected_keys.push_back(name);

  auto join = [](const std::vector<std::string>& v, const char* sep) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
    return s;
  };
  std::vector<std::string> problems;
  if (strict && !result.missing_keys.empty())
    problems.push_back("missing keys: " + join(result.missing_keys, ", "));
  if (strict && !result.unexpected_keys.empty())
    problems.push_back("unexpected keys: " + join(result.unexpected_keys, ", "));
  for (auto& m : mismatched) problems.push_back(m);
  TESSERA_CHECK(problems.empty(), "load_state_dict (", type_name_, "): ", join(problems, "; "));

  // All checked before anything is written, so a failed load leaves the module as it was.
  NoGradGuard no_grad;
  for (size_t i = 0; i < own.size(); ++i) {
    if (sources[i] == nullptr) continue;
    Tensor dst = own[i].second;
    dst.copy_(*sources[i]);
  }
  return result;
}

Module& Module::to(DType dtype) {
  for (Module* m : [&] {
         std::vector<Module*> all;
         for (auto& [n, p] : named_modules()) all.push_back(p.get());
         return all;
       }()) {
    for (Slot& s : m->parameters_) {
      Tensor& t = *s.value;
      if (!t.defined() || !t.is_floating_point() || t.dtype() == dtype) continue;
      Tensor converted = t.detach().to(dtype);
      if (t.requires_grad()) converted.requires_grad_(true);
      t = converted;
    }
    for (Slot& s : m->buffers_) {
      Tensor& t = *s.value;
      if (!t.defined() || !t.is_floating_point() || t.dtype() == dtype) continue;
      t = t.detach().to(dtype);
    }
  }
  return *this;
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (auto& [name, p] : named_parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

// ---------------------------------------------------------------- printing

namespace repr {

std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const double a = std::abs(v);
  // Python's repr: positional between 1e-4 and 1e16, otherwise scientific.
  const bool fixed = a == 0 || (a >= 1e-4 && a < 1e16);
  auto r = std::to_chars(buf, buf + sizeof buf, v,
                         fixed ? std::chars_format::fixed : std::chars_format::scientific);
  std::string s(buf, r.ptr);
  if (fixed && s.find('.') == std::string::npos) s += ".0";
  return s;
}

std::string py_bool(bool v) { return v ? "True" : "False"; }

std::string py_tuple(IntArrayRef v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

}  // namespace repr

std::string Module::extra_repr() const { return ""; }

void Module::repr_into(std::ostream& os, int indent) const {
  os << type_name_ << "(" << extra_repr();
  if (children_.empty()) {
    os << ")";
    return;
  }
  const std::string pad(static_cast<size_t>(indent + 2), ' ');
  os << "\n";
  for (const auto& [name, child] : children_) {
    os << pad << "(" << name << "): ";
    child->repr_into(os, indent + 2);
    os << "\n";
  }
  os << std::string(static_cast<size_t>(indent), ' ') << ")";
}

std::string Module::repr() const {
  std::ostringstream os;
  repr_into(os, 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

int64_t Module::register_forward_hook(ForwardHook hook) {
  return register_forward_hook(MultiForwardHook(
      [hook = std::move(hook)](Module& m, const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
        if (in.size() == 1 && out.size() == 1) hook(m, in[0], out[0]);
      }));
}

int64_t Module::register_forward_hook(MultiForwardHook hook) {
  hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void Module::remove_forward_hook(int64_t id) {
  hooks_.erase(std::remove_if(hooks_.begin(), hooks_.end(), [&](const auto& h) { return h.first == id; }),
               hooks_.end());
}

namespace {
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}
}  // namespace

std::string Module::summary(IntArrayRef input_shape) {
  struct Row {
    std::string layer, shape;
    int64_t params;
  };
  std::vector<Row> rows;
  std::vector<std::pair<ModulePtr, int64_t>> hooked;
  for (auto& [name, child] : children_) {
    rows.push_back({name + " (" + child->type_name() + ")", "-", child->num_parameters()});
    size_t row = rows.size() - 1;
    // A child called more than once reports its last output.
    int64_t id = child->register_forward_hook(
        [&rows, row](Module&, const Tensor&, const Tensor& out) { rows[row].shape = shape_str(out.sizes()); });
    hooked.emplace_back(child, id);
  }
  // Eval mode: a summary must not move BatchNorm's running statistics or draw dropout.
  std::vector<std::pair<Module*, bool>> modes;
  for (auto& [n, m] : named_modules()) modes.emplace_back(m.get(), m->training_);
  std::string output_shape;
  try {
    eval();
    NoGradGuard no_grad;
    DType dtype = kFloat32;
    for (auto& [n, p] : named_parameters()) {
      dtype = p.dtype();
      break;
    }
    output_shape = shape_str((*this)(zeros(input_shape, dtype)).sizes());
  } catch (...) {
    for (auto& [m, on] : modes) m->training_ = on;
    for (auto& [child, id] : hooked) child->remove_forward_hook(id);
    throw;
  }
  for (auto& [m, on] : modes) m->training_ = on;
  for (auto& [child, id] : hooked) child->remove_forward_hook(id);
  if (rows.empty()) rows.push_back({"(" + type_name_ + ")", output_shape, num_parameters()});

  size_t w0 = 12, w1 = 12;
  for (auto& r : rows) {
    w0 = std::max(w0, r.layer.size());
    w1 = std::max(w1, r.shape.size());
  }
  w0 += 2;
  w1 += 2;
  const size_t width = w0 + w1 + 12;
  std::ostringstream os;
  os << "Model: \"" << type_name_ << "\"\n" << std::string(width, '_') << "\n";
  os << std::left << std::setw(static_cast<int>(w0)) << "Layer (type)" << std::setw(static_cast<int>(w1))
     << "Output Shape" << "Param #\n";
  os << std::string(width, '=') << "\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    os << std::left << std::setw(static_cast<int>(w0)) << rows[i].layer << std::setw(static_cast<int>(w1))
       << rows[i].shape << with_commas(rows[i].params) << "\n";
    if (i + 1 < rows.size()) os << std::string(width, '_') << "\n";
  }
  const int64_t total = num_parameters(), trainable = num_parameters(true);
  os << std::string(width, '=') << "\n";
  os << "Total params: " << with_commas(total) << "\n";
  os << "Trainable params: " << with_commas(trainable) << "\n";
  os << "Non-trainable params: " << with_commas(total - trainable) << "\n";
  os << std::string(width, '_') << "\n";
  return os.str();
}

}  // namespace tessera::nn
