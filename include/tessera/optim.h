#pragma once
// Optimizers, gradient clipping and learning-rate schedulers (torch.optim).
//
// Every optimizer follows PyTorch's update order exactly, so a trajectory started from the
// same weights and gradients matches PyTorch's to float rounding. Updates run under
// NoGradGuard, in place, as one fused loop per parameter (no temporaries per step).
//
// Hyperparameters live per parameter group in a name -> double map ("lr", "momentum",
// "beta1", ...), like PyTorch's param_group dicts: schedulers change them by name, and
// state_dict() writes them as 0-d float64 tensors.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/export.h"
#include "tessera/state_dict.h"
#include "tessera/tensor.h"

namespace tessera::optim {

// The one state-dict type (tessera/state_dict.h), shared with modules and checkpoints;
// scalars are 0-d float64 tensors, so it goes into a safetensors file as it is.
using StateDict = tessera::StateDict;

struct TESSERA_API ParamGroup {
  std::vector<Tensor> params;
  // Hyperparameters of this group; keys left out take the optimizer's defaults.
  std::map<std::string, double> options;

  ParamGroup() = default;
  ParamGroup(std::vector<Tensor> p, std::map<std::string, double> o = {})  // NOLINT
      : params(std::move(p)), options(std::move(o)) {}
  // The value of `key`; an error naming the key and the keys present when absent.
  double get(const std::string& key) const;
  double lr() const { return get("lr"); }
  void set(const std::string& key, double value) { options[key] = value; }
  bool has(const std::string& key) const { return options.count(key) != 0; }
};

class TESSERA_API Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string name() const = 0;  // "SGD", "Adam", ... (used in errors)

  // Updates every parameter that has a gradient; parameters without one are skipped.
  void step();
  // Clears gradients: undefined (set_to_none, the default, like PyTorch 2) or zero-filled.
  void zero_grad(bool set_to_none = true);
  void add_param_group(ParamGroup group);

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const std::map<std::string, double>& defaults() const { return defaults_; }

  // Sets "lr" of every group.
  void set_lr(double lr);

  // PyTorch's optimizer state_dict ({'state': {I: {...}}, 'param_groups': [{...}]})
  // flattened, in that order: "state.I.step" (0-d f64) and "state.I.<buffer>" (the buffer,
  // same shape as parameter I) for every parameter I that has state (I counts parameters
  // across all groups), then "param_groups.G.<option>" (0-d f64; flags as 0 or 1) and
  // "param_groups.G.params" (1-D i64: the group's parameter indices). The buffers are
  // copies: stepping on does not change a state_dict already taken.
  StateDict state_dict() const;
  // Validates everything before changing anything: group and parameter counts, option
  // names, buffer names and shapes. Errors name the offending key (and for a shape, both
  // shapes); unexpected keys are listed together.
  void load_state_dict(const StateDict& state);

  // Per-parameter state (a step count and named buffers such as "exp_avg").
  struct ParamState {
    // Updates done so far: a 0-d float64 tensor the update op increments (so a compiled
    // train step counts too); undefined before the first.
    Tensor step;
    std::map<std::string, Tensor> buffers;
    double steps() const { return step.defined() ? step.item<double>() : 0.0; }
  };
  const ParamState* state_of(const Tensor& param) const;

 protected:
  Optimizer(std::vector<ParamGroup> groups, std::map<std::string, double> defaults);

  // One parameter's update; `grad` is contiguous with the parameter's dtype and shape, and
  // `param` is contiguous. Runs with gradient recording off.
  virtual void update(const ParamGroup& group, Tensor& param, const Tensor& grad,
                      ParamState& state) = 0;
  // Buffers a stepped parameter carries in this group (for load_state_dict validation).
  virtual std::vector<std::string> buffer_names(const ParamGroup& group) const = 0;
  // Called once per parameter when it joins (Adagrad fills its accumulator here).
  virtual void init_state(const ParamGroup& group, const Tensor& param, ParamState& state) {}

 private:
  std::vector<ParamGroup> groups_;
  std::map<std::string, double> defaults_;
  std::vector<std::vector<ParamState>> state_;  // parallel to groups_[g].params
};

// ---------------------------------------------------------------- optimizers

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};
class TESSERA_API SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options = {});
  SGD(std::vector<ParamGroup> groups, SGDOptions defaults = {});
  std::string name() const override { return "SGD"; }

 protected:
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad,
              ParamState& state) override;
  std::vector<std::string> buffer_names(const ParamGroup& group) const override;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;  // Adam: L2 added to the gradient; AdamW: decoupled decay
  bool amsgrad = false;
};
class TESSERA_API Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  Adam(std::vector<ParamGroup> groups, AdamOptions defaults = {});
  std::string name() const override { return "Adam"; }

 protected:
  Adam(std::vector<ParamGroup> groups, AdamOptions defaults, bool decoupled);
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad,
              ParamState& state) override;
  std::vector<std::string> buffer_names(const ParamGroup& group) const override;

 private:
  bool decoupled_;
};

// Adam with decoupled weight decay (Loshchilov & Hutter): param *= 1 - lr * weight_decay
// before the Adam step. PyTorch's default weight_decay for AdamW is 1e-2.
class TESSERA_API AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamOptions options = with_decay());
  AdamW(std::vector<ParamGroup> groups, AdamOptions defaults = with_decay());
  std::string name() const override { return "AdamW"; }
  static AdamOptions with_decay() {
    AdamOptions o;
    o.weight_decay = 1e-2;
    return o;
  }
};

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};
class TESSERA_API RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions defaults = {});
  std::string name() const override { return "RMSprop"; }

 protected:
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad,
              ParamState& state) override;
  std::vector<std::string> buffer_names(const ParamGroup& group) const override;
};

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
};
class TESSERA_API Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions defaults = {});
  std::string name() const override { return "Adagrad"; }

 protected:
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad,
              ParamState& state) override;
  std::vector<std::string> buffer_names(const ParamGroup& group) const override;
  void init_state(const ParamGroup& group, const Tensor& param, ParamState& state) override;
};

// Adadelta (Zeiler 2012, "ADADELTA: an adaptive learning rate method"): per-element steps
// from running averages of squared gradients (square_avg) and squared updates
// (acc_delta), scaled by lr (PyTorch's default 1.0 is the paper's method).
struct AdadeltaOptions {
  double lr = 1.0;
  double rho = 0.9;
  double eps = 1e-6;
  double weight_decay = 0;
};
class TESSERA_API Adadelta : public Optimizer {
 public:
  Adadelta(std::vector<Tensor> params, AdadeltaOptions options = {});
  Adadelta(std::vector<ParamGroup> groups, AdadeltaOptions defaults = {});
  std::string name() const override { return "Adadelta"; }

 protected:
  void update(const ParamGroup& group, Tensor& param, const Tensor& grad,
              ParamState& state) override;
  std::vector<std::string> buffer_names(const ParamGroup& group) const override;
};

// ---------------------------------------------------------------- gradient clipping

// Scales all gradients together so their joint norm is at most max_norm; returns the norm
// before clipping. norm_type may be infinity (max |g|). Parameters without grad are
// skipped. With error_if_nonfinite a nan/inf total norm is an error.
TESSERA_API double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm,
                                   double norm_type = 2.0, bool error_if_nonfinite = false);
// Clamps every gradient element into [-clip_value, clip_value].
TESSERA_API void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

// ---------------------------------------------------------------- schedulers

// Sets each group's "lr" from the epoch (or step) counter. Like PyTorch, constructing a
// scheduler applies the lr of step 0; call step() after each optimizer.step() / epoch.
class TESSERA_API LRScheduler {
 public:
  virtual ~LRScheduler();
  void step();
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() { return opt_; }
  // Keys "last_epoch" (0-d f64) and "base_lrs" (1-D f64, one per param group), then a
  // subclass's extra counters. Loading re-evaluates the schedule at the restored step, so
  // the optimizer's lrs match it.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 protected:
  explicit LRScheduler(Optimizer& opt);
  // The lr of every group at last_epoch().
  virtual std::vector<double> compute_lr() = 0;
  // Subclasses with extra counters (warm restarts) save and restore them here.
  virtual void save_extra(StateDict& state) const {}
  virtual void load_extra(const StateDict& state) {}
  virtual std::vector<std::string> extra_keys() const { return {}; }  // what save_extra writes
  void initial_step();  // each subclass constructor ends with it

  Optimizer& opt_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  std::vector<double> last_lr_;
};

class TESSERA_API StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> compute_lr() override;

 private:
  int64_t step_size_;
  double gamma_;
};

class TESSERA_API MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma = 0.1);

 protected:
  std::vector<double> compute_lr() override;

 private:
  std::vector<int64_t> milestones_;
  double gamma_;
};

class TESSERA_API ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& opt, double gamma);

 protected:
  std::vector<double> compute_lr() override;

 private:
  double gamma_;
};

class TESSERA_API CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min = 0);

 protected:
  std::vector<double> compute_lr() override;

 private:
  int64_t t_max_;
  double eta_min_;
};

// SGDR: cosine annealing restarted every T_i steps, T_0 first, then T_i *= t_mult.
class TESSERA_API CosineAnnealingWarmRestarts : public LRScheduler {
 public:
  CosineAnnealingWarmRestarts(Optimizer& opt, int64_t t_0, int64_t t_mult = 1,
                              double eta_min = 0);

 protected:
  std::vector<double> compute_lr() override;
  void save_extra(StateDict& state) const override;
  void load_extra(const StateDict& state) override;
  std::vector<std::string> extra_keys() const override { return {"T_i", "T_cur"}; }

 private:
  int64_t t_mult_;
  double eta_min_;
  int64_t t_i_, t_cur_ = -1;
};

struct OneCycleOptions {
  double pct_start = 0.3;
  bool cos_anneal = true;  // false: linear
  double div_factor = 25;         // initial lr = max_lr / div_factor
  double final_div_factor = 1e4;  // final lr = initial lr / final_div_factor
  bool three_phase = false;
  // Cycles "momentum" (SGD, RMSprop) or "beta1" (Adam) inversely to the lr.
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;
};
// Stepped once per batch; stepping past total_steps is an error (as in PyTorch).
class TESSERA_API OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& opt, double max_lr, int64_t total_steps, OneCycleOptions options = {});

 protected:
  std::vector<double> compute_lr() override;

 private:
  struct Phase {
    double end_step, start_lr, end_lr, start_m, end_m;
  };
  int64_t total_steps_;
  OneCycleOptions o_;
  std::vector<Phase> phases_;
  std::string momentum_key_;  // "momentum", "beta1" or "" (not cycled)
};

// Scales the base lr linearly from start_factor to end_factor over total_iters steps.
class TESSERA_API LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& opt, double start_factor = 1.0 / 3, double end_factor = 1.0,
           int64_t total_iters = 5);

 protected:
  std::vector<double> compute_lr() override;

 private:
  double start_, end_;
  int64_t total_;
};
using LinearWarmup = LinearLR;

struct PlateauOptions {
  std::string mode = "min";  // "min": lower is better; "max": higher is better
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  std::string threshold_mode = "rel";  // "rel" or "abs"
  int64_t cooldown = 0;
  double min_lr = 0;
  double eps = 1e-8;  // smaller lr changes are ignored
};
// Multiplies the lr by `factor` when the monitored metric stops improving.
class TESSERA_API ReduceLROnPlateau {
 public:
  ReduceLROnPlateau(Optimizer& opt, PlateauOptions options = {});
  void step(double metric);
  std::vector<double> get_last_lr() const;
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_; }
  // "best", "num_bad_epochs", "cooldown_counter", "last_epoch" (0-d f64). The lrs it
  // lowered live in the optimizer's param groups, so they travel with its state_dict.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 private:
  bool is_better(double a) const;
  Optimizer& opt_;
  PlateauOptions o_;
  double best_;
  int64_t num_bad_ = 0, cooldown_counter_ = 0, last_epoch_ = 0;
};

}  // namespace tessera::optim
