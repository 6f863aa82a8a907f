// Training agreement with PyTorch (issue 3, acceptance point 3).
//
// At test time torch_train_ref.py (Debian's /usr/bin/python3 with python3-torch) writes
// safetensors files into the build directory; nothing generated is committed. See the
// script's docstring for what each file holds. This test:
//   * CNN28: loads PyTorch's initial weights into models::cnn28() (strict), runs the same
//     20 steps on the same batches with SGD(lr 0.01, momentum 0.9) and, separately,
//     Adam(lr 1e-3), and compares every parameter with PyTorch's after the last step.
//   * TransformerEncoderLayer(32, 4, ff 64, dropout 0, batch_first) and a 2-layer LSTM
//     (8 -> 16, batch_first): loads PyTorch's parameters, compares the forward output and
//     the gradients of loss = sum(out^2) for every parameter and the input.
// Both models run deterministically: CNN28 in eval mode (it has no batch norm, so eval
// differs from training only in dropout being the identity), the others with dropout 0.
//
// Every case runs twice, in float64 and in float32 (the script writes both).
//
// Error measures (a = Tessera, b = PyTorch), all relative and all printed:
//   elementwise, per element:  |a - b| / (|b| + 1e-6), maximised over the tensor
//   maxnorm, per tensor:       max|a - b| / (max|b| + 1e-6)
//   l2, per tensor:            ||a - b||_2 / (||b||_2 + 1e-6)
// Acceptance point 3 asks for 1e-4 relative. float64 is gated elementwise at 1e-4, the
// strictest reading (measured: <= 7e-11 after 20 training steps, ~1e-9 for gradients).
// float32 is gated on the tensor's l2 relative error at 1e-4 (measured: <= 1.4e-5, Adam).
// Elementwise it cannot hold in float32, for PyTorch either: elements that cancel to near
// zero (a weight crossing zero, a gradient summing +/- terms) have |a - b| at the ulp of the
// terms, and 20 steps of SGD momentum / Adam amplify step-1 rounding (Adam divides tiny
// gradients by sqrt(v)). PyTorch float32 against PyTorch float64 on this very run differs by
// up to 0.33 elementwise and 1.5e-2 maxnorm (Adam, 7.weight), more than Tessera float32
// against PyTorch float32 (0.036 and 1.3e-3).
// On a CNN28 disagreement the test also compares the per-layer activations and first-step
// gradients, which tells a forward or backward problem (naming the layer) from an optimizer
// one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "tessera/models.h"
#include "tessera/nn.h"
#include "tessera/optim.h"
#include "tessera/serialize.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

constexpr double kAbsFloor = 1e-6;
constexpr double kRelTol = 1e-4;
constexpr double kF32L2Tol = 1e-4;
constexpr int kSteps = 20;
const char* const kPython = "/usr/bin/python3";

struct Reference {
  std::string skip_reason;  // non-empty: PyTorch is unavailable
  std::string setup_error;  // non-empty: the script failed
  std::string dir;
};

// Runs the script once per process (CTest runs each test in its own process, possibly in
// parallel, hence one directory per pid).
const Reference& reference() {
  static const Reference r = [] {
    Reference r;
    if (!fs::exists(kPython) ||
        std::system((std::string(kPython) + " -c 'import torch, numpy' >/dev/null 2>&1").c_str()) !=
            0) {
      r.skip_reason = std::string(kPython) +
                      " with torch and numpy is missing (install python3-torch: scripts/deps)";
      std::cerr << "\n***** WARNING: torch TRAINING agreement NOT CHECKED: " << r.skip_reason
                << " *****\n\n";
      return r;
    }
    r.dir = std::string(TESSERA_TEST_BINARY_DIR) + "/torch_train_ref/" +
            std::to_string(::getpid());
    std::error_code ec;
    fs::remove_all(r.dir, ec);
    const std::string cmd = std::string(kPython) + " " + TESSERA_TEST_DIR +
                            "/reference/torch_train_ref.py " + r.dir;
    if (std::system(cmd.c_str()) != 0) r.setup_error = "reference script failed: " + cmd;
    return r;
  }();
  // The data (~150 MB) goes at exit unless a test failed, when it is kept for inspection.
  static const struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      if (!dir.empty() && !::testing::UnitTest::GetInstance()->Failed()) fs::remove_all(dir, ec);
    }
  } cleanup{r.dir};
  return r;
}

// A file's tensors by name.
std::map<std::string, Tensor> load_map(const std::string& path) {
  std::map<std::string, Tensor> m;
  for (auto& [name, t] : load_safetensors(path).tensors) m.emplace(name, t);
  return m;
}

const Tensor& at(const std::map<std::string, Tensor>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) throw std::runtime_error("reference file lacks '" + key + "'");
  return it->second;
}

// The entries "<prefix><name>" as a state dict keyed by <name> (sorted by name: loading
// matches keys, not positions).
nn::StateDict with_prefix(const std::map<std::string, Tensor>& m, const std::string& prefix) {
  nn::StateDict out;
  for (const auto& [k, t] : m)
    if (k.rfind(prefix, 0) == 0) out.emplace_back(k.substr(prefix.size()), t);
  return out;
}

// Max err (see the top of the file) of `got` against `want`; a shape mismatch or a
// non-finite value is reported as infinity with the reason in `why`.
double max_rel_err(const Tensor& got, const Tensor& want, std::string& why,
                   double* maxnorm = nullptr, double* l2 = nullptr) {
  if (!got.defined()) {
    why = "undefined (no gradient?)";
    return INFINITY;
  }
  if (got.sizes().vec() != want.sizes().vec()) {
    why = "shape " + tessera::shape_str(got.sizes()) + " vs PyTorch " +
          tessera::shape_str(want.sizes());
    return INFINITY;
  }
  const std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  double worst = 0, max_diff = 0, max_b = 0, diff_sq = 0, b_sq = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff_sq += (a[i] - b[i]) * (a[i] - b[i]);
    b_sq += b[i] * b[i];
    max_diff = std::max(max_diff, std::isnan(a[i] - b[i]) ? INFINITY : std::fabs(a[i] - b[i]));
    max_b = std::max(max_b, std::fabs(b[i]));
    double e = std::fabs(a[i] - b[i]) / (std::fabs(b[i]) + kAbsFloor);
    if (std::isnan(e)) e = INFINITY;  // a NaN on either side never agrees
    if (e > kRelTol && why.empty()) {
      std::ostringstream os;
      os << "first bad element " << i << ": " << a[i] << " vs PyTorch " << b[i];
      why = os.str();
    }
    worst = std::max(worst, e);
  }
  if (maxnorm) *maxnorm = max_diff / (max_b + kAbsFloor);
  if (l2) *l2 = std::isnan(diff_sq) ? INFINITY : std::sqrt(diff_sq) / (std::sqrt(b_sq) + kAbsFloor);
  return worst;
}

// The worst errors over a set of tensors (elementwise, maxnorm and l2, see the top).
struct Worst {
  double elem = 0, norm = 0, l2 = 0;
  std::string elem_name = "-", norm_name = "-", l2_name = "-";
  void add(const Worst& o) {
    if (o.elem >= elem) elem = o.elem, elem_name = o.elem_name;
    if (o.norm >= norm) norm = o.norm, norm_name = o.norm_name;
    if (o.l2 >= l2) l2 = o.l2, l2_name = o.l2_name;
  }
  double gated(bool f64) const { return f64 ? elem : l2; }
};
std::ostream& operator<<(std::ostream& os, const Worst& w) {
  return os << "elementwise " << w.elem << " (" << w.elem_name << "), maxnorm " << w.norm
            << " (" << w.norm_name << "), l2 " << w.l2 << " (" << w.l2_name << ")";
}

// Compares name-by-name, adding a failure for each tensor whose gated measure (elementwise
// for float64, l2 for float32) is over its tolerance.
Worst compare_all(const std::string& what, const std::vector<std::pair<std::string, Tensor>>& got,
                  const std::map<std::string, Tensor>& ref, const std::string& ref_prefix,
                  bool f64) {
  Worst w;
  const double tol = f64 ? kRelTol : kF32L2Tol;
  for (const auto& [name, t] : got) {
    std::string why;
    double norm = 0, l2 = 0;
    const double elem = max_rel_err(t, at(ref, ref_prefix + name), why, &norm, &l2);
    const double e = f64 ? elem : l2;
    if (e > tol)
      ADD_FAILURE() << what << ": " << name << (f64 ? " elementwise" : " l2")
                    << " rel err " << e << " > " << tol << (why.empty() ? "" : " (" + why + ")");
    Worst one;
    one.elem = elem, one.norm = norm, one.l2 = l2;
    one.elem_name = one.norm_name = one.l2_name = name;
    w.add(one);
  }
  return w;
}

// Locates a CNN28 disagreement: per-layer activations for batch 0 at the initial weights,
// then the first step's gradients.
void diagnose_cnn(nn::Sequential& net, const std::map<std::string, Tensor>& ref) {
  net.load_state_dict(with_prefix(ref, "init."));
  NoGradGuard no_grad;
  Tensor h = at(ref, "x.0");
  int64_t i = 0;
  for (const auto& [name, child] : net.named_children()) {
    h = (*child)(h);
    std::string why;
    const double e = max_rel_err(h, at(ref, "act." + std::to_string(i++)), why);
    std::cerr << "  CNN28 layer " << name << " (" << child->type_name() << ") output: max rel err "
              << e << (why.empty() ? "" : " (" + why + ")") << "\n";
  }
}

void first_step_grads(nn::Sequential& net, const std::map<std::string, Tensor>& ref) {
  net.load_state_dict(with_prefix(ref, "init."));
  net.zero_grad();
  nn::functional::cross_entropy(net(at(ref, "x.0")), at(ref, "y.0")).backward();
  std::vector<std::pair<std::string, Tensor>> grads;
  for (const auto& [name, p] : net.named_parameters()) grads.emplace_back(name, p.grad());
  for (const auto& [name, g] : grads) {
    std::string why;
    const double e = max_rel_err(g, at(ref, "grad." + name), why);
    std::cerr << "  CNN28 first-step grad " << name << ": max rel err " << e
              << (why.empty() ? "" : " (" + why + ")") << "\n";
  }
}

// Trains CNN28 for kSteps on the reference batches with `make`'s optimizer; compares every
// parameter with "<prefix>.<name>" and prints the worst errors.
template <typename MakeOpt>
void train_and_compare(const std::string& prefix, bool f64, MakeOpt make) {
  const Reference& r = reference();
  if (!r.skip_reason.empty()) GTEST_SKIP() << r.skip_reason;
  ASSERT_TRUE(r.setup_error.empty()) << r.setup_error;
  const std::string file = f64 ? "cnn_f64" : "cnn";
  const auto ref = load_map(r.dir + "/" + file + ".safetensors");
  const DType dtype = f64 ? DType::Float64 : DType::Float32;

  auto net = models::cnn28();
  net->to(dtype);
  net->eval();  // dropout off, as in the script
  const nn::LoadStateDictResult loaded = net->load_state_dict(with_prefix(ref, "init."), true);
  ASSERT_TRUE(loaded.missing_keys.empty() && loaded.unexpected_keys.empty());

  auto opt = make(net->parameters());
  const std::vector<double> ref_loss = at(ref, prefix + "_loss").to_vector<double>();
  double worst_loss = 0;
  for (int k = 0; k < kSteps; ++k) {
    opt->zero_grad();
    Tensor loss = nn::functional::cross_entropy((*net)(at(ref, "x." + std::to_string(k))),
                                                at(ref, "y." + std::to_string(k)));
    loss.backward();
    opt->step();
    worst_loss = std::max(worst_loss, std::fabs(loss.item<double>() - ref_loss[k]) /
                                          (std::fabs(ref_loss[k]) + kAbsFloor));
  }
  const Worst w = compare_all(file + " " + prefix, net->named_parameters(), ref, prefix + ".", f64);
  std::cout << "torch train agreement: CNN28 " << (f64 ? "float64 " : "float32 ") << prefix
            << ", " << kSteps << " steps: parameters " << w << "; loss rel err " << worst_loss
            << std::endl;
  if (w.gated(f64) > (f64 ? kRelTol : kF32L2Tol)) {
    std::cerr << "CNN28 " << prefix << " disagrees; localising (data kept in " << r.dir << "):\n";
    auto fresh = models::cnn28();
    fresh->to(dtype);
    fresh->eval();
    diagnose_cnn(*fresh, ref);
    first_step_grads(*fresh, ref);
  }
}

// Forward output and gradients of sum((out - target)^2) for a module whose parameters come
// from "<file>.safetensors".
void forward_backward_case(const std::string& file, bool f64, nn::Module& module,
                           const std::function<Tensor(const Tensor&)>& forward) {
  const Reference& r = reference();
  if (!r.skip_reason.empty()) GTEST_SKIP() << r.skip_reason;
  ASSERT_TRUE(r.setup_error.empty()) << r.setup_error;
  const auto ref = load_map(r.dir + "/" + file + ".safetensors");
  module.to(f64 ? DType::Float64 : DType::Float32);
  const nn::LoadStateDictResult loaded = module.load_state_dict(with_prefix(ref, "param."), true);
  ASSERT_TRUE(loaded.missing_keys.empty() && loaded.unexpected_keys.empty());
  module.train();  // dropout is 0, so training mode is deterministic

  Tensor x = at(ref, "x").clone().requires_grad_(true);
  Tensor out = forward(x);
  Tensor diff = out - at(ref, "target");
  (diff * diff).sum().backward();

  const Worst w_out = compare_all(file, {{"out", out.detach()}}, ref, "", f64);
  std::vector<std::pair<std::string, Tensor>> got;
  for (const auto& [name, p] : module.named_parameters()) got.emplace_back(name, p.grad());
  got.emplace_back("input", x.grad());
  const Worst w_grad = compare_all(file + " grad", got, ref, "grad.", f64);
  std::cout << "torch train agreement: " << file << ": output " << w_out << "; gradients "
            << w_grad << std::endl;
}

}  // namespace

TEST(TorchTrainAgreement, Cnn28SgdMomentum20Steps) {
  for (bool f64 : {true, false})
    train_and_compare("sgd", f64, [](std::vector<Tensor> params) {
      optim::SGDOptions o;
      o.lr = 0.01;
      o.momentum = 0.9;
      return std::make_unique<optim::SGD>(std::move(params), o);
    });
}

TEST(TorchTrainAgreement, Cnn28Adam20Steps) {
  for (bool f64 : {true, false})
    train_and_compare("adam", f64, [](std::vector<Tensor> params) {
      optim::AdamOptions o;
      o.lr = 1e-3;
      return std::make_unique<optim::Adam>(std::move(params), o);
    });
}

TEST(TorchTrainAgreement, TransformerEncoderLayerForwardBackward) {
  for (bool f64 : {true, false}) {
    nn::TransformerEncoderLayerOptions o;
    o.dim_feedforward = 64;
    o.dropout = 0.0;
    o.batch_first = true;
    auto layer = std::make_shared<nn::TransformerEncoderLayer>(32, 4, o);
    forward_backward_case(f64 ? "encoder_f64" : "encoder", f64, *layer,
                          [&](const Tensor& x) { return (*layer)(x); });
  }
}

TEST(TorchTrainAgreement, LstmTwoLayersForwardBackward) {
  for (bool f64 : {true, false}) {
    nn::RNNOptions o;
    o.num_layers = 2;
    o.batch_first = true;
    auto lstm = std::make_shared<nn::LSTM>(8, 16, o);
    forward_backward_case(f64 ? "lstm_f64" : "lstm", f64, *lstm,
                          [&](const Tensor& x) { return (*lstm)(x); });
  }
}
