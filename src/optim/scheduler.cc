// Learning-rate schedulers. Each computes the lr of step `last_epoch` in closed form from
// the base lrs (PyTorch's chainable forms give the same values up to rounding), which
// also makes load_state_dict exact: restoring last_epoch restores the schedule.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "tessera/ops.h"
#include "tessera/optim.h"

namespace tessera::optim {

namespace {
constexpr double kPi = std::numbers::pi;
}  // namespace

LRScheduler::LRScheduler(Optimizer& opt) : opt_(opt) {
  // Like PyTorch, the first scheduler records each group's starting lr as "initial_lr" so a
  // second scheduler (or a resumed one) starts from the same base.
  for (auto& g : opt_.param_groups()) {
    if (!g.has("initial_lr")) g.set("initial_lr", g.lr());
    base_lrs_.push_back(g.get("initial_lr"));
  }
}

LRScheduler::~LRScheduler() = default;

void LRScheduler::initial_step() { step(); }

void LRScheduler::step() {
  ++last_epoch_;
  last_lr_ = compute_lr();
  auto& groups = opt_.param_groups();
  // A param group added to the optimizer after the scheduler was built is the caller's
  // mistake, not a broken invariant.
  TESSERA_CHECK(last_lr_.size() == groups.size(), "LRScheduler.step: the optimizer has ",
                groups.size(), " param groups but the scheduler was built for ", last_lr_.size(),
                " (add param groups before creating the scheduler)");
  for (size_t i = 0; i < groups.size(); ++i) groups[i].set("lr", last_lr_[i]);
}

StateDict LRScheduler::state_dict() const {
  StateDict sd;
  sd.set_scalar("last_epoch", static_cast<double>(last_epoch_));
  sd.insert("base_lrs", tensor<double>(base_lrs_, {static_cast<int64_t>(base_lrs_.size())}));
  save_extra(sd);
  return sd;
}

void LRScheduler::load_state_dict(const StateDict& sd) {
  const char* who = "LRScheduler.load_state_dict: ";
  std::vector<std::string> keys{"last_epoch", "base_lrs"};
  for (const auto& key : keys)
    TESSERA_CHECK(sd.contains(key), who, "missing key '", key, "' (has: ", describe_keys(sd.keys()), ")");
  const Tensor& b = sd.at("base_lrs");
  TESSERA_CHECK(b.defined() && b.dim() == 1 && b.numel() == static_cast<int64_t>(base_lrs_.size()),
                who, "'base_lrs' is ", b.defined() ? b.describe() : "undefined", ", expected [",
                base_lrs_.size(), "] (one value per param group of the optimizer)");
  const double last = sd.scalar("last_epoch");
  // A saved scheduler of another kind (or a stray tensor) would otherwise load silently.
  const std::vector<std::string> extra = extra_keys();
  keys.insert(keys.end(), extra.begin(), extra.end());
  std::vector<std::string> unexpected;
  for (const auto& [k, v] : sd)
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) unexpected.push_back("'" + k + "'");
  TESSERA_CHECK(unexpected.empty(), who, "unexpected key", unexpected.size() > 1 ? "s " : " ",
                describe_keys(unexpected), " (the state of another kind of scheduler?)");
  load_extra(sd);
  base_lrs_ = b.to_vector<double>();
  // Re-evaluate the schedule at the restored step, so the optimizer's lr matches it.
  last_epoch_ = static_cast<int64_t>(last) - 1;
  step();
}

// ---------------------------------------------------------------- StepLR etc.

StepLR::StepLR(Optimizer& opt, int64_t step_size, double gamma)
    : LRScheduler(opt), step_size_(step_size), gamma_(gamma) {
  TESSERA_CHECK(step_size > 0, "StepLR: step_size must be > 0, got ", step_size);
  initial_step();
}

std::vector<double> StepLR::compute_lr() {
  std::vector<double> out;
  for (double b : base_lrs_) {
    out.push_back(b * std::pow(gamma_, static_cast<double>(last_epoch_ / step_size_)));
  }
  return out;
}

MultiStepLR::MultiStepLR(Optimizer& opt, std::vector<int64_t> milestones, double gamma)
    : LRScheduler(opt), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
  initial_step();
}

std::vector<double> MultiStepLR::compute_lr() {
  // Milestones may repeat: each occurrence multiplies by gamma again (as in PyTorch).
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) -
                      milestones_.begin();
  std::vector<double> out;
  for (double b : base_lrs_) out.push_back(b * std::pow(gamma_, static_cast<double>(passed)));
  return out;
}

ExponentialLR::ExponentialLR(Optimizer& opt, double gamma) : LRScheduler(opt), gamma_(gamma) {
  initial_step();
}

std::vector<double> ExponentialLR::compute_lr() {
  std::vector<double> out;
  for (double b : base_lrs_) out.push_back(b * std::pow(gamma_, static_cast<double>(last_epoch_)));
  return out;
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& opt, int64_t t_max, double eta_min)
    : LRScheduler(opt), t_max_(t_max), eta_min_(eta_min) {
  TESSERA_CHECK(t_max > 0, "CosineAnnealingLR: T_max must be > 0, got ", t_max);
  initial_step();
}

std::vector<double> CosineAnnealingLR::compute_lr() {
  std::vector<double> out;
  const double c = std::cos(kPi * static_cast<double>(last_epoch_) / static_cast<double>(t_max_));
  for (double b : base_lrs_) out.push_back(eta_min_ + (b - eta_min_) * (1 + c) / 2);
  return out;
}

// ---------------------------------------------------------------- warm restarts

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& opt, int64_t t_0,
                                                         int64_t t_mult, double eta_min)
    : LRScheduler(opt), t_mult_(t_mult), eta_min_(eta_min), t_i_(t_0) {
  TESSERA_CHECK(t_0 > 0, "CosineAnnealingWarmRestarts: T_0 must be > 0, got ", t_0);
  TESSERA_CHECK(t_mult >= 1, "CosineAnnealingWarmRestarts: T_mult must be >= 1, got ", t_mult);
  initial_step();
}

std::vector<double> CosineAnnealingWarmRestarts::compute_lr() {
  // Advances T_cur by one step per call (the counters are the state), restarting at T_i.
  ++t_cur_;
  if (t_cur_ >= t_i_) {
    t_cur_ -= t_i_;
    t_i_ *= t_mult_;
  }
  std::vector<double> out;
  const double c = std::cos(kPi * static_cast<double>(t_cur_) / static_cast<double>(t_i_));
  for (double b : base_lrs_) out.push_back(eta_min_ + (b - eta_min_) * (1 + c) / 2);
  return out;
}

void CosineAnnealingWarmRestarts::save_extra(StateDict& sd) const {
  sd.set_scalar("T_i", static_cast<double>(t_i_));
  sd.set_scalar("T_cur", static_cast<double>(t_cur_));
}

void CosineAnnealingWarmRestarts::load_extra(const StateDict& sd) {
  for (const char* key : {"T_i", "T_cur"}) {
    TESSERA_CHECK(sd.contains(key), "CosineAnnealingWarmRestarts.load_state_dict: missing key '",
                  key, "'");
  }
  const double t_i = sd.scalar("T_i");
  TESSERA_CHECK(t_i >= 1, "CosineAnnealingWarmRestarts.load_state_dict: 'T_i' must be >= 1, got ",
                t_i);
  const double t_cur = sd.scalar("T_cur");
  t_i_ = static_cast<int64_t>(t_i);
  // load_state_dict re-runs the current step, which advances T_cur once.
  t_cur_ = static_cast<int64_t>(t_cur) - 1;
}

// ---------------------------------------------------------------- one-cycle

OneCycleLR::OneCycleLR(Optimizer& opt, double max_lr, int64_t total_steps, OneCycleOptions o)
    : LRScheduler(opt), total_steps_(total_steps), o_(o) {
  TESSERA_CHECK(total_steps > 0, "OneCycleLR: total_steps must be > 0, got ", total_steps);
  TESSERA_CHECK(o.pct_start >= 0 && o.pct_start <= 1,
                "OneCycleLR: pct_start must be in [0, 1], got ", o.pct_start);
  const double initial = max_lr / o.div_factor;
  const double min_lr = initial / o.final_div_factor;
  const double total = static_cast<double>(total_steps);
  // The schedule's own start replaces the optimizer's lr as the base.
  for (size_t i = 0; i < base_lrs_.size(); ++i) {
    base_lrs_[i] = initial;
    opt.param_groups()[i].set("initial_lr", initial);
  }
  if (o.three_phase) {
    phases_ = {{o.pct_start * total - 1, initial, max_lr, o.max_momentum, o.base_momentum},
               {2 * o.pct_start * total - 2, max_lr, initial, o.base_momentum, o.max_momentum},
               {total - 1, initial, min_lr, o.max_momentum, o.max_momentum}};
  } else {
    phases_ = {{o.pct_start * total - 1, initial, max_lr, o.max_momentum, o.base_momentum},
               {total - 1, max_lr, min_lr, o.base_momentum, o.max_momentum}};
  }
  if (o.cycle_momentum) {
    const ParamGroup& g = opt.param_groups().at(0);
    momentum_key_ = g.has("beta1") ? "beta1" : g.has("momentum") ? "momentum" : "";
    TESSERA_CHECK(!momentum_key_.empty(), "OneCycleLR: cycle_momentum needs an optimizer with ",
                  "'momentum' or 'beta1', ", opt.name(), " has neither (set cycle_momentum=false)");
  }
  initial_step();
}

std::vector<double> OneCycleLR::compute_lr() {
  const double s = static_cast<double>(last_epoch_);
  // Like PyTorch, step total_steps itself is allowed (the final lr); beyond it is an error.
  TESSERA_CHECK(last_epoch_ <= total_steps_, "OneCycleLR: step ", last_epoch_,
                " is past total_steps ", total_steps_);
  auto anneal = [&](double start, double end, double pct) {
    if (o_.cos_anneal) return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1);
    return (end - start) * pct + start;
  };
  double lr = 0, mom = 0, start_step = 0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& ph = phases_[i];
    if (s <= ph.end_step || i + 1 == phases_.size()) {
      const double pct = (s - start_step) / (ph.end_step - start_step);
      lr = anneal(ph.start_lr, ph.end_lr, pct);
      mom = anneal(ph.start_m, ph.end_m, pct);
      break;
    }
    start_step = ph.end_step;
  }
  if (!momentum_key_.empty()) {
    for (auto& g : opt_.param_groups()) g.set(momentum_key_, mom);
  }
  return std::vector<double>(base_lrs_.size(), lr);
}

// ---------------------------------------------------------------- linear

LinearLR::LinearLR(Optimizer& opt, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(opt), start_(start_factor), end_(end_factor), total_(total_iters) {
  TESSERA_CHECK(start_factor > 0 && start_factor <= 1,
                "LinearLR: start_factor must be in (0, 1], got ", start_factor);
  TESSERA_CHECK(end_factor >= 0 && end_factor <= 1,
                "LinearLR: end_factor must be in [0, 1], got ", end_factor);
  TESSERA_CHECK(total_iters > 0, "LinearLR: total_iters must be > 0, got ", total_iters);
  initial_step();
}

std::vector<double> LinearLR::compute_lr() {
  const double t = static_cast<double>(std::min(total_, last_epoch_));
  const double f = start_ + (end_ - start_) * t / static_cast<double>(total_);
  std::vector<double> out;
  for (double b : base_lrs_) out.push_back(b * f);
  return out;
}

// ---------------------------------------------------------------- plateau

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& opt, PlateauOptions o) : opt_(opt), o_(o) {
  TESSERA_CHECK(o.mode == "min" || o.mode == "max",
                "ReduceLROnPlateau: mode must be 'min' or 'max', got '", o.mode, "'");
  TESSERA_CHECK(o.threshold_mode == "rel" || o.threshold_mode == "abs",
                "ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got '",
                o.threshold_mode, "'");
  TESSERA_CHECK(o.factor < 1.0, "ReduceLROnPlateau: factor must be < 1, got ", o.factor);
  best_ = o.mode == "min" ? INFINITY : -INFINITY;
}

bool ReduceLROnPlateau::is_better(double a) const {
  const bool rel = o_.threshold_mode == "rel";
  if (o_.mode == "min") return rel ? a < best_ * (1 - o_.threshold) : a < best_ - o_.threshold;
  return rel ? a > best_ * (1 + o_.threshold) : a > best_ + o_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_ = 0;
  } else {
    ++num_bad_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_ = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_ > o_.patience) {
    for (auto& g : opt_.param_groups()) {
      const double old_lr = g.lr();
      const double new_lr = std::max(old_lr * o_.factor, o_.min_lr);
      if (old_lr - new_lr > o_.eps) g.set("lr", new_lr);
    }
    cooldown_counter_ = o_.cooldown;
    num_bad_ = 0;
  }
}

StateDict ReduceLROnPlateau::state_dict() const {
  StateDict sd;
  sd.set_scalar("best", best_);
  sd.set_scalar("num_bad_epochs", static_cast<double>(num_bad_));
  sd.set_scalar("cooldown_counter", static_cast<double>(cooldown_counter_));
  sd.set_scalar("last_epoch", static_cast<double>(last_epoch_));
  return sd;
}

void ReduceLROnPlateau::load_state_dict(const StateDict& sd) {
  const char* who = "ReduceLROnPlateau.load_state_dict: ";
  const std::vector<std::string> keys{"best", "num_bad_epochs", "cooldown_counter", "last_epoch"};
  for (const auto& key : keys)
    TESSERA_CHECK(sd.contains(key), who, "missing key '", key, "' (has: ", describe_keys(sd.keys()), ")");
  std::vector<std::string> unexpected;
  for (const auto& [k, v] : sd)
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) unexpected.push_back("'" + k + "'");
  TESSERA_CHECK(unexpected.empty(), who, "unexpected key", unexpected.size() > 1 ? "s " : " ",
                describe_keys(unexpected));
  // Read every value before assigning any, so a malformed state changes nothing.
  const double best = sd.scalar("best");
  const double bad = sd.scalar("num_bad_epochs"), cooldown = sd.scalar("cooldown_counter");
  const double last = sd.scalar("last_epoch");
  best_ = best;
  num_bad_ = static_cast<int64_t>(bad);
  cooldown_counter_ = static_cast<int64_t>(cooldown);
  last_epoch_ = static_cast<int64_t>(last);
}

std::vector<double> ReduceLROnPlateau::get_last_lr() const {
  std::vector<double> out;
  for (const auto& g : opt_.param_groups()) out.push_back(g.lr());
  return out;
}

}  // namespace tessera::optim
