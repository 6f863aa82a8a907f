// Metrics: counters updated from each batch's output and target (no graph recorded).
#include <sstream>

#include "tessera/autograd.h"
#include "tessera/ops.h"
#include "tessera/train.h"

namespace tessera::train {

namespace {

// Class indices [N] from a target that is indices [N] or scores / one-hot [N, C].
Tensor target_classes(const char* who, const Tensor& output, const Tensor& target) {
  if (target.dim() == output.dim() && target.is_floating_point()) return argmax(target, -1);
  TESSERA_CHECK(target.dim() == output.dim() - 1 && output.dim() >= 1 &&
                    target.sizes().equals(IntArrayRef(output.sizes().data(), static_cast<size_t>(output.dim() - 1))),
                who, ": expected target class indices of shape [N] for output [N, C], got output ",
                output.describe(), ", target ", target.describe());
  return target.to(kInt64);
}

bool single_score(const Tensor& output) {
  return output.dim() == 1 || (output.dim() == 2 && output.size(1) == 1);
}

}  // namespace

Metric::~Metric() = default;

void Accuracy::update(const Tensor& output, const Tensor& target) {
  NoGradGuard no_grad;
  Tensor hit;
  if (single_score(output) && target.numel() == output.numel()) {
    // One score per example: a binary decision against a 0/1 target.
    Tensor pred = gt(output.reshape({-1}), threshold_);
    hit = eq(pred, gt(target.reshape({-1}).to(kFloat64), 0.5));
  } else {
    TESSERA_CHECK(output.dim() >= 1, "Accuracy: output must have a class dim, got ",
                  output.describe());
    hit = eq(argmax(output, -1), target_classes("Accuracy", output, target));
  }
  correct_ += sum(hit).item<int64_t>();
  total_ += hit.numel();
}

void TopKAccuracy::update(const Tensor& output, const Tensor& target) {
  NoGradGuard no_grad;
  TESSERA_CHECK(output.dim() == 2, "TopKAccuracy: expected output [N, C], got ",
                output.describe());
  TESSERA_CHECK(k_ >= 1 && k_ <= output.size(1), "TopKAccuracy: k must be in [1, ",
                output.size(1), "] for output ", output.describe(), ", got ", k_);
  Tensor t = target_classes("TopKAccuracy", output, target);
  Tensor top = topk(output, k_, -1).second;             // [N, k]
  Tensor hit = any(eq(top, t.unsqueeze(1)), {1});       // [N]
  correct_ += sum(hit).item<int64_t>();
  total_ += hit.numel();
}

void MeanLoss::update(const Tensor& output, const Tensor& target) {
  NoGradGuard no_grad;
  const int64_t n = output.dim() > 0 ? output.size(0) : 1;
  sum_ += loss_(output, target).item<double>() * static_cast<double>(n);
  count_ += n;
}

ConfusionMatrix::ConfusionMatrix(int64_t num_classes)
    : n_(num_classes), counts_(static_cast<size_t>(num_classes * num_classes), 0) {
  TESSERA_CHECK(num_classes > 0, "ConfusionMatrix: num_classes must be > 0, got ", num_classes);
}

void ConfusionMatrix::update(const Tensor& output, const Tensor& target) {
  NoGradGuard no_grad;
  TESSERA_CHECK(output.dim() >= 1 && output.size(-1) == n_, "ConfusionMatrix: expected output",
                " [N, ", n_, "], got ", output.describe());
  const std::vector<int64_t> pred = argmax(output, -1).reshape({-1}).to_vector<int64_t>();
  const std::vector<int64_t> truth =
      target_classes("ConfusionMatrix", output, target).reshape({-1}).to_vector<int64_t>();
  for (size_t i = 0; i < pred.size(); ++i) {
    TESSERA_CHECK(truth[i] >= 0 && truth[i] < n_, "ConfusionMatrix: target class ", truth[i],
                  " is outside [0, ", n_, ")");
    ++counts_[static_cast<size_t>(truth[i] * n_ + pred[i])];
  }
}

double ConfusionMatrix::result() const {
  int64_t total = 0, diag = 0;
  for (int64_t i = 0; i < n_; ++i) {
    for (int64_t j = 0; j < n_; ++j) total += counts_[static_cast<size_t>(i * n_ + j)];
    diag += counts_[static_cast<size_t>(i * n_ + i)];
  }
  return total ? static_cast<double>(diag) / static_cast<double>(total) : 0.0;
}

void ConfusionMatrix::reset() { std::fill(counts_.begin(), counts_.end(), 0); }

// ---- states for distributed reduction: counts as doubles (exact below 2^53)

namespace {
void check_state(const char* who, const std::vector<double>& state, size_t want) {
  TESSERA_CHECK(state.size() == want, who, "::load_state: expected ", want, " numbers, got ",
                state.size());
}
}  // namespace

std::vector<double> Accuracy::state() const {
  return {static_cast<double>(correct_), static_cast<double>(total_)};
}
void Accuracy::load_state(const std::vector<double>& s) {
  check_state("Accuracy", s, 2);
  correct_ = static_cast<int64_t>(s[0]);
  total_ = static_cast<int64_t>(s[1]);
}
std::vector<double> TopKAccuracy::state() const {
  return {static_cast<double>(correct_), static_cast<double>(total_)};
}
void TopKAccuracy::load_state(const std::vector<double>& s) {
  check_state("TopKAccuracy", s, 2);
  correct_ = static_cast<int64_t>(s[0]);
  total_ = static_cast<int64_t>(s[1]);
}
std::vector<double> MeanLoss::state() const { return {sum_, static_cast<double>(count_)}; }
void MeanLoss::load_state(const std::vector<double>& s) {
  check_state("MeanLoss", s, 2);
  sum_ = s[0];
  count_ = static_cast<int64_t>(s[1]);
}
std::vector<double> ConfusionMatrix::state() const {
  return std::vector<double>(counts_.begin(), counts_.end());
}
void ConfusionMatrix::load_state(const std::vector<double>& s) {
  check_state("ConfusionMatrix", s, counts_.size());
  for (size_t i = 0; i < s.size(); ++i) counts_[i] = static_cast<int64_t>(s[i]);
}

Tensor ConfusionMatrix::matrix() const { return tensor<int64_t>(counts_, {n_, n_}); }

int64_t ConfusionMatrix::count(int64_t truth, int64_t predicted) const {
  TESSERA_CHECK(truth >= 0 && truth < n_ && predicted >= 0 && predicted < n_,
                "ConfusionMatrix::count: classes must be in [0, ", n_, "), got (", truth, ", ",
                predicted, ")");
  return counts_[static_cast<size_t>(truth * n_ + predicted)];
}

std::string ConfusionMatrix::to_string() const {
  std::ostringstream os;
  for (int64_t i = 0; i < n_; ++i) {
    for (int64_t j = 0; j < n_; ++j) os << (j ? " " : "") << counts_[static_cast<size_t>(i * n_ + j)];
    os << "\n";
  }
  return os.str();
}

}  // namespace tessera::train
