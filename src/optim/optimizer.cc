// Optimizer base (param groups, zero_grad, state_dict) and the six optimizers. Each
// update() gathers the group's hyperparameters and calls its update op (ops/optim.h),
// which writes the parameter and its state through dispatch in one fused loop.
#include <cmath>
#include <set>
#include <sstream>

#include "ops/optim.h"
#include "tessera/autograd.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/traced.h"

namespace tessera::optim {

namespace {

std::string keys_of(const std::map<std::string, double>& m) {
  std::string out;
  for (const auto& [k, v] : m) out += (out.empty() ? "" : ", ") + k;
  return out.empty() ? "(none)" : out;
}

Tensor scalar_f64(double v) { return full({}, v, kFloat64); }


// The buffer `name` of `state`, created zero-filled (or as `init`) on first use.
// The step count, created on first use like the buffers.
Tensor& step_count(Optimizer::ParamState& state) {
  if (!state.step.defined()) {
    UntracedScope untraced;
    state.step = scalar_f64(0);
  }
  return state.step;
}

Tensor& buffer(Optimizer::ParamState& state, const std::string& name, const Tensor& param) {
  Tensor& b = state.buffers[name];
  if (!b.defined()) {
    // Created once, outside any trace: a compiled step updates this very buffer.
    UntracedScope untraced;
    b = zeros_like(param);
  }
  return b;
}

bool flag(const ParamGroup& g, const char* key) { return g.get(key) != 0.0; }

}  // namespace

// ---------------------------------------------------------------- ParamGroup

double ParamGroup::get(const std::string& key) const {
  auto it = options.find(key);
  TESSERA_CHECK(it != options.end(), "param group: no option '", key, "' (has: ",
                keys_of(options), ")");
  // Read through traced_value: a compiled train step is guarded on the hyperparameters
  // it baked in, so a scheduler's new lr traces a new graph instead of reusing the old.
  return traced_value(it->second);
}

// ---------------------------------------------------------------- Optimizer

Optimizer::Optimizer(std::vector<ParamGroup> groups, std::map<std::string, double> defaults)
    : defaults_(std::move(defaults)) {
  for (auto& g : groups) add_param_group(std::move(g));
}

Optimizer::~Optimizer() = default;

void Optimizer::add_param_group(ParamGroup group) {
  for (const auto& [k, v] : group.options) {
    TESSERA_CHECK(defaults_.count(k) != 0, "add_param_group: unknown option '", k,
                  "' (options: ", keys_of(defaults_), ")");
  }
  for (const auto& [k, v] : defaults_) group.options.emplace(k, v);
  TESSERA_CHECK(group.get("lr") >= 0, "optimizer: lr must be >= 0, got ", group.get("lr"));
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    TESSERA_CHECK(p.defined(), "optimizer: parameter ", i, " of the group is undefined");
    TESSERA_CHECK(p.dtype() == kFloat32 || p.dtype() == kFloat64,
                  "optimizer: parameters must be f32 or f64, got ", p.describe());
    TESSERA_CHECK(p.is_leaf(), "optimizer: can't optimize a non-leaf tensor ", p.describe(),
                  " (detach it, or pass the leaf it was computed from)");
    for (size_t j = 0; j < i; ++j) {
      TESSERA_CHECK(!group.params[j].is_same(p), "optimizer: a parameter ", p.describe(),
                    " appears twice in one param group");
    }
    for (const auto& other : groups_) {
      for (const auto& q : other.params) {
        TESSERA_CHECK(!q.is_same(p), "optimizer: a parameter ", p.describe(),
                      " appears in more than one param group");
      }
    }
  }
  std::vector<ParamState> states(group.params.size());
  for (size_t i = 0; i < group.params.size(); ++i) init_state(group, group.params[i], states[i]);
  groups_.push_back(std::move(group));
  state_.push_back(std::move(states));
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.set("lr", lr);
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& g = groups_[gi];
    for (size_t i = 0; i < g.params.size(); ++i) {
      Tensor& p = g.params[i];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      TESSERA_CHECK(grad.sizes().equals(p.sizes()), name(), ".step: gradient ", grad.describe(),
                    " does not match its parameter ", p.describe());
      // The update op converts the gradient and handles any layout itself.
      update(g, p, grad, state_[gi][i]);
    }
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (auto& g : groups_) {
    for (auto& p : g.params) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        NoGradGuard no_grad;
        grad.zero_();
      }
    }
  }
}

const Optimizer::ParamState* Optimizer::state_of(const Tensor& param) const {
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      if (groups_[gi].params[i].is_same(param)) return &state_[gi][i];
    }
  }
  return nullptr;
}

StateDict Optimizer::state_dict() const {
  // PyTorch's order: every parameter's state, then the groups.
  StateDict state, groups;
  int64_t index = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const std::string prefix = "param_groups." + std::to_string(gi) + ".";
    for (const auto& [k, v] : groups_[gi].options) groups.set_scalar(prefix + k, v);
    std::vector<int64_t> ids;
    for (size_t i = 0; i < groups_[gi].params.size(); ++i) {
      const ParamState& st = state_[gi][i];
      const std::string sp = "state." + std::to_string(index) + ".";
      if (st.steps() > 0 || !st.buffers.empty()) {
        state.set_scalar(sp + "step", st.steps());
        for (const auto& [name, buf] : st.buffers) state.insert(sp + name, buf.clone());
      }
      ids.push_back(index++);
    }
    groups.insert(prefix + "params", tensor<int64_t>(ids, {static_cast<int64_t>(ids.size())}));
  }
  state.update(groups);
  return state;
}

void Optimizer::load_state_dict(const StateDict& sd) {
  const std::string who = name() + ".load_state_dict: ";
  std::set<std::string> used;
  auto need = [&](const std::string& key) -> const Tensor& {
    const Tensor* t = sd.find(key);
    TESSERA_CHECK(t != nullptr, who, "missing key '", key, "'");
    used.insert(key);
    return *t;
  };
  auto scalar = [&](const std::string& key) {
    const Tensor& t = need(key);
    TESSERA_CHECK(t.defined() && t.numel() == 1, who, "'", key, "' should hold one value, got ",
                  t.defined() ? t.describe() : "an undefined tensor");
    return read_as_double(t, 0);
  };
  // Count the groups in the state so a mismatch is named up front.
  size_t file_groups = 0;
  while (sd.contains("param_groups." + std::to_string(file_groups) + ".params")) ++file_groups;
  TESSERA_CHECK(file_groups == groups_.size(), who, "the state has ", file_groups,
                " param groups, this optimizer has ", groups_.size());

  // Validate everything into new values first, then commit.
  std::vector<std::map<std::string, double>> new_options(groups_.size());
  std::vector<std::vector<ParamState>> new_state(groups_.size());
  int64_t index = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& g = groups_[gi];
    const std::string prefix = "param_groups." + std::to_string(gi) + ".";
    const Tensor& ids = need(prefix + "params");
    TESSERA_CHECK(ids.numel() == static_cast<int64_t>(g.params.size()), who, "group ", gi,
                  " has ", ids.numel(), " parameters in the state, ", g.params.size(),
                  " in this optimizer");
    for (const auto& [k, v] : defaults_) new_options[gi][k] = scalar(prefix + k);
    // A scheduler's record of the starting lr travels with the group when present.
    if (sd.contains(prefix + "initial_lr")) {
      new_options[gi]["initial_lr"] = scalar(prefix + "initial_lr");
    } else if (g.has("initial_lr")) {
      new_options[gi]["initial_lr"] = g.get("initial_lr");
    }
    ParamGroup probe = g;
    probe.options = new_options[gi];
    const std::vector<std::string> names = buffer_names(probe);
    new_state[gi].resize(g.params.size());
    for (size_t i = 0; i < g.params.size(); ++i, ++index) {
      const Tensor& p = g.params[i];
      const std::string sp = "state." + std::to_string(index) + ".";
      ParamState& st = new_state[gi][i];
      if (!sd.contains(sp + "step")) {
        // Never stepped: fresh state (Adagrad's accumulator is re-initialised).
        init_state(probe, p, st);
        continue;
      }
      st.step = scalar_f64(scalar(sp + "step"));
      for (const auto& n : names) {
        const Tensor& b = need(sp + n);
        TESSERA_CHECK(b.defined() && b.sizes().equals(p.sizes()), who, "'", sp + n, "' is ",
                      b.defined() ? b.describe() : "undefined", ", its parameter is ",
                      p.describe());
        st.buffers[n] = b.to(p.dtype()).clone();
      }
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [k, v] : sd)
    if (used.count(k) == 0) unexpected.push_back("'" + k + "'");
  TESSERA_CHECK(unexpected.empty(), who, "unexpected key", unexpected.size() > 1 ? "s " : " ",
                describe_keys(unexpected), " (a state from another optimizer or other settings? this ",
                name(), " has no such option or buffer)");
  for (size_t gi = 0; gi < groups_.size(); ++gi) groups_[gi].options = std::move(new_options[gi]);
  state_ = std::move(new_state);
}

// ---------------------------------------------------------------- SGD

namespace {
std::vector<ParamGroup> one_group(std::vector<Tensor> params) {
  std::vector<ParamGroup> g(1);
  g[0].params = std::move(params);
  return g;
}
}  // namespace

SGD::SGD(std::vector<Tensor> params, SGDOptions o) : SGD(one_group(std::move(params)), o) {}

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions o)
    : Optimizer({}, {{"lr", o.lr},
                     {"momentum", o.momentum},
                     {"dampening", o.dampening},
                     {"weight_decay", o.weight_decay},
                     {"nesterov", o.nesterov ? 1.0 : 0.0}}) {
  TESSERA_CHECK(o.momentum >= 0, "SGD: momentum must be >= 0, got ", o.momentum);
  TESSERA_CHECK(o.weight_decay >= 0, "SGD: weight_decay must be >= 0, got ", o.weight_decay);
  TESSERA_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
                "SGD: nesterov needs momentum > 0 and dampening 0, got momentum ", o.momentum,
                ", dampening ", o.dampening);
  for (auto& g : groups) add_param_group(std::move(g));
}

std::vector<std::string> SGD::buffer_names(const ParamGroup& g) const {
  if (g.get("momentum") != 0) return {"momentum_buffer"};
  return {};
}

void SGD::update(const ParamGroup& g, Tensor& param, const Tensor& grad, ParamState& state) {
  std::vector<Tensor> inputs{param, grad};
  const bool momentum = g.get("momentum") != 0;
  if (momentum) inputs.push_back(buffer(state, "momentum_buffer", param));
  inputs.push_back(step_count(state));
  ops::call(ops::kSgdUpdate, std::move(inputs),
            {{"lr", g.get("lr")},
             {"momentum", g.get("momentum")},
             {"dampening", g.get("dampening")},
             {"weight_decay", g.get("weight_decay")},
             {"nesterov", flag(g, "nesterov")}});
}

// ---------------------------------------------------------------- Adam / AdamW

Adam::Adam(std::vector<Tensor> params, AdamOptions o) : Adam(one_group(std::move(params)), o, false) {}
Adam::Adam(std::vector<ParamGroup> groups, AdamOptions o) : Adam(std::move(groups), o, false) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions o, bool decoupled)
    : Optimizer({}, {{"lr", o.lr},
                     {"beta1", o.beta1},
                     {"beta2", o.beta2},
                     {"eps", o.eps},
                     {"weight_decay", o.weight_decay},
                     {"amsgrad", o.amsgrad ? 1.0 : 0.0}}),
      decoupled_(decoupled) {
  TESSERA_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
                decoupled ? "AdamW" : "Adam", ": betas must be in [0, 1), got (", o.beta1, ", ",
                o.beta2, ")");
  TESSERA_CHECK(o.eps >= 0, decoupled ? "AdamW" : "Adam", ": eps must be >= 0, got ", o.eps);
  TESSERA_CHECK(o.weight_decay >= 0, decoupled ? "AdamW" : "Adam",
                ": weight_decay must be >= 0, got ", o.weight_decay);
  for (auto& g : groups) add_param_group(std::move(g));
}

AdamW::AdamW(std::vector<Tensor> params, AdamOptions o)
    : Adam(one_group(std::move(params)), o, true) {}
AdamW::AdamW(std::vector<ParamGroup> groups, AdamOptions o) : Adam(std::move(groups), o, true) {}

std::vector<std::string> Adam::buffer_names(const ParamGroup& g) const {
  if (flag(g, "amsgrad")) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

void Adam::update(const ParamGroup& g, Tensor& param, const Tensor& grad, ParamState& state) {
  std::vector<Tensor> inputs{param, grad, buffer(state, "exp_avg", param),
                             buffer(state, "exp_avg_sq", param)};
  if (flag(g, "amsgrad")) inputs.push_back(buffer(state, "max_exp_avg_sq", param));
  inputs.push_back(step_count(state));
  ops::call(ops::kAdamUpdate, std::move(inputs),
            {{"lr", g.get("lr")},
             {"beta1", g.get("beta1")},
             {"beta2", g.get("beta2")},
             {"eps", g.get("eps")},
             {"weight_decay", g.get("weight_decay")},
             {"amsgrad", flag(g, "amsgrad")},
             {"decoupled", decoupled_}});
}

// ---------------------------------------------------------------- RMSprop

RMSprop::RMSprop(std::vector<Tensor> params, RMSpropOptions o)
    : RMSprop(one_group(std::move(params)), o) {}

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions o)
    : Optimizer({}, {{"lr", o.lr},
                     {"alpha", o.alpha},
                     {"eps", o.eps},
                     {"weight_decay", o.weight_decay},
                     {"momentum", o.momentum},
                     {"centered", o.centered ? 1.0 : 0.0}}) {
  TESSERA_CHECK(o.alpha >= 0, "RMSprop: alpha must be >= 0, got ", o.alpha);
  TESSERA_CHECK(o.momentum >= 0, "RMSprop: momentum must be >= 0, got ", o.momentum);
  TESSERA_CHECK(o.eps >= 0, "RMSprop: eps must be >= 0, got ", o.eps);
  for (auto& g : groups) add_param_group(std::move(g));
}

std::vector<std::string> RMSprop::buffer_names(const ParamGroup& g) const {
  std::vector<std::string> n{"square_avg"};
  if (g.get("momentum") > 0) n.push_back("momentum_buffer");
  if (flag(g, "centered")) n.push_back("grad_avg");
  return n;
}

void RMSprop::update(const ParamGroup& g, Tensor& param, const Tensor& grad, ParamState& state) {
  std::vector<Tensor> inputs{param, grad, buffer(state, "square_avg", param)};
  if (g.get("momentum") > 0) inputs.push_back(buffer(state, "momentum_buffer", param));
  if (flag(g, "centered")) inputs.push_back(buffer(state, "grad_avg", param));
  inputs.push_back(step_count(state));
  ops::call(ops::kRmspropUpdate, std::move(inputs),
            {{"lr", g.get("lr")},
             {"alpha", g.get("alpha")},
             {"eps", g.get("eps")},
             {"weight_decay", g.get("weight_decay")},
             {"momentum", g.get("momentum")},
             {"centered", flag(g, "centered")}});
}

// ---------------------------------------------------------------- Adagrad

Adagrad::Adagrad(std::vector<Tensor> params, AdagradOptions o)
    : Adagrad(one_group(std::move(params)), o) {}

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions o)
    : Optimizer({}, {{"lr", o.lr},
                     {"lr_decay", o.lr_decay},
                     {"weight_decay", o.weight_decay},
                     {"initial_accumulator_value", o.initial_accumulator_value},
                     {"eps", o.eps}}) {
  TESSERA_CHECK(o.lr_decay >= 0, "Adagrad: lr_decay must be >= 0, got ", o.lr_decay);
  TESSERA_CHECK(o.initial_accumulator_value >= 0,
                "Adagrad: initial_accumulator_value must be >= 0, got ",
                o.initial_accumulator_value);
  for (auto& g : groups) add_param_group(std::move(g));
}

std::vector<std::string> Adagrad::buffer_names(const ParamGroup&) const { return {"sum"}; }

void Adagrad::init_state(const ParamGroup& g, const Tensor& param, ParamState& state) {
  // PyTorch creates the accumulator when the parameter joins, not at the first step.
  state.buffers["sum"] = full_like(param, g.get("initial_accumulator_value"));
}

void Adagrad::update(const ParamGroup& g, Tensor& param, const Tensor& grad, ParamState& state) {
  Tensor& sum = state.buffers["sum"];
  if (!sum.defined()) {
    UntracedScope untraced;
    sum = full_like(param, g.get("initial_accumulator_value"));
  }
  ops::call(ops::kAdagradUpdate, {param, grad, sum, step_count(state)},
            {{"lr", g.get("lr")},
             {"lr_decay", g.get("lr_decay")},
             {"eps", g.get("eps")},
             {"weight_decay", g.get("weight_decay")}});
}

// ---------------------------------------------------------------- Adadelta

Adadelta::Adadelta(std::vector<Tensor> params, AdadeltaOptions o)
    : Adadelta(one_group(std::move(params)), o) {}

Adadelta::Adadelta(std::vector<ParamGroup> groups, AdadeltaOptions o)
    : Optimizer({}, {{"lr", o.lr}, {"rho", o.rho}, {"eps", o.eps}, {"weight_decay", o.weight_decay}}) {
  // PyTorch's checks: rho is an averaging weight, so it must lie in [0, 1].
  TESSERA_CHECK(o.rho >= 0 && o.rho <= 1, "Adadelta: rho must be in [0, 1], got ", o.rho);
  TESSERA_CHECK(o.eps >= 0, "Adadelta: eps must be >= 0, got ", o.eps);
  TESSERA_CHECK(o.weight_decay >= 0, "Adadelta: weight_decay must be >= 0, got ", o.weight_decay);
  for (auto& g : groups) add_param_group(std::move(g));
}

std::vector<std::string> Adadelta::buffer_names(const ParamGroup&) const {
  return {"square_avg", "acc_delta"};
}

void Adadelta::update(const ParamGroup& g, Tensor& param, const Tensor& grad, ParamState& state) {
  ops::call(ops::kAdadeltaUpdate,
            {param, grad, buffer(state, "square_avg", param), buffer(state, "acc_delta", param),
             step_count(state)},
            {{"lr", g.get("lr")},
             {"rho", g.get("rho")},
             {"eps", g.get("eps")},
             {"weight_decay", g.get("weight_decay")}});
}

}  // namespace tessera::optim
