// The feed-forward layers: parameters, PyTorch's default initialisation and repr, and a
// forward that hands the work to nn::functional.
#include <cmath>

#include "tessera/nn/init.h"
#include "tessera/nn/layers.h"

namespace tessera::nn {

namespace F = functional;
using repr::py_bool;
using repr::py_float;
using repr::py_tuple;

namespace {

// One value per spatial dim: a single value is repeated, as PyTorch's _pair/_single.
std::vector<int64_t> per_dim(const std::vector<int64_t>& v, int64_t spatial, const char* layer,
                             const char* what) {
  if (v.size() == 1) return std::vector<int64_t>(static_cast<size_t>(spatial), v[0]);
  TESSERA_CHECK(static_cast<int64_t>(v.size()) == spatial, layer, ": ", what, " ",
                shape_str(v), " must have 1 or ", spatial, " values");
  return v;
}

bool all_equal_to(const std::vector<int64_t>& v, int64_t value) {
  for (int64_t x : v)
    if (x != value) return false;
  return true;
}

// PyTorch prints a pooling argument as the user gave it: 2 or (2, 3).
std::string int_or_tuple(const std::vector<int64_t>& v) {
  if (v.size() == 1) return std::to_string(v[0]);
  return py_tuple(v);
}

// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default bias initialisation.
void init_bias_from_fan_in(const Tensor& bias, const Tensor& weight) {
  if (!bias.defined()) return;
  const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  init::uniform_(bias, -bound, bound);
}

// Checked in the member initializers, before any parameter is allocated: otherwise the
// factory refuses the shape first, with a message that does not name the layer.
int64_t checked_features(const char* layer, int64_t in_features, int64_t out_features) {
  TESSERA_CHECK(in_features >= 0 && out_features >= 0, layer, ": in_features ", in_features,
                " and out_features ", out_features, " must be non-negative");
  return in_features;
}

}  // namespace

// ============================== Linear / Bilinear ==============================

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : Module("Linear"),
      in_features(checked_features("Linear", in_features, out_features)),
      out_features(out_features),
      weight(register_parameter("weight", empty({out_features, in_features}))),
      bias(register_parameter("bias", bias ? empty({out_features}) : Tensor())) {
  reset_parameters();
}

void Linear::reset_parameters() {
  // kaiming_uniform(a=sqrt(5)) works out to U(-1/sqrt(in), 1/sqrt(in)).
  if (in_features > 0) init::kaiming_uniform_(weight, std::sqrt(5.0));
  init_bias_from_fan_in(bias, weight);
}

Tensor Linear::forward(const Tensor& x) {
  TESSERA_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear: input ", x.describe(),
                ": expected last dimension ", in_features);
  return F::linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" +
         std::to_string(out_features) + ", bias=" + py_bool(bias.defined());
}

Bilinear::Bilinear(int64_t in1_features, int64_t in2_features, int64_t out_features, bool bias)
    : Module("Bilinear"),
      in1_features(in1_features),
      in2_features(in2_features),
      out_features(out_features),
      weight(register_parameter("weight", empty({out_features, in1_features, in2_features}))),
      bias(register_parameter("bias", bias ? empty({out_features}) : Tensor())) {
  reset_parameters();
}

void Bilinear::reset_parameters() {
  // PyTorch: both from U(-1/sqrt(in1), 1/sqrt(in1)).
  const double bound = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(in1_features, 1)));
  init::uniform_(weight, -bound, bound);
  if (bias.defined()) init::uniform_(bias, -bound, bound);
}

Tensor Bilinear::forward(const Tensor&) {
  TESSERA_CHECK(false, "Bilinear: takes two inputs; call forward(x1, x2)");
  return Tensor();
}

Tensor Bilinear::forward(const Tensor& x1, const Tensor& x2) {
  TESSERA_CHECK(x1.dim() >= 1 && x2.dim() >= 1 && x1.size(-1) == in1_features &&
                    x2.size(-1) == in2_features,
                "Bilinear: inputs ", x1.describe(), " and ", x2.describe(),
                ": expected last dimensions ", in1_features, " and ", in2_features);
  return F::bilinear(x1, x2, weight, bias);
}

std::string Bilinear::extra_repr() const {
  return "in1_features=" + std::to_string(in1_features) + ", in2_features=" +
         std::to_string(in2_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + py_bool(bias.defined());
}

// ============================== convolutions ==============================

namespace {
std::vector<int64_t> weight_shape(int64_t in, int64_t out, int64_t groups, bool transposed,
                                  const std::vector<int64_t>& kernel) {
  std::vector<int64_t> shape = transposed ? std::vector<int64_t>{in, out / groups}
                                          : std::vector<int64_t>{out, in / groups};
  shape.insert(shape.end(), kernel.begin(), kernel.end());
  return shape;
}
}  // namespace

ConvNd::ConvNd(const char* type, int64_t spatial, int64_t in_channels, int64_t out_channels,
               std::vector<int64_t> kernel, const ConvOptions& o, bool transposed)
    : Module(type),
      in_channels(in_channels),
      out_channels(out_channels),
      kernel_size(per_dim(kernel, spatial, type, "kernel_size")),
      stride(per_dim(o.stride, spatial, type, "stride")),
      dilation(per_dim(o.dilation, spatial, type, "dilation")),
      output_padding(per_dim(o.output_padding, spatial, type, "output_padding")),
      padding(o.padding.mode.empty() ? per_dim(o.padding.sizes, spatial, type, "padding")
                                     : std::vector<int64_t>{}),
      padding_mode(o.padding.mode),
      groups(o.groups),
      transposed(transposed),
      weight(register_parameter(
          "weight", [&] {
            // Validated before the weight's shape divides by groups.
            TESSERA_CHECK(o.groups > 0 && in_channels % o.groups == 0 && out_channels % o.groups == 0,
                          type, ": in_channels ", in_channels, " and out_channels ", out_channels,
                          " must both be divisible by groups ", o.groups);
            return tessera::empty(weight_shape(in_channels, out_channels, o.groups, transposed,
                                      per_dim(kernel, spatial, type, "kernel_size")));
          }())),
      bias(register_parameter("bias", o.bias ? empty({out_channels}) : Tensor())) {
  TESSERA_CHECK(padding_mode.empty() || padding_mode == "same" || padding_mode == "valid", type,
                ": padding '", padding_mode, "': expected a number, \"same\" or \"valid\"");
  TESSERA_CHECK(!(transposed && !padding_mode.empty()), type,
                ": padding must be numeric for a transposed convolution, got '", padding_mode, "'");
  TESSERA_CHECK(padding_mode != "same" || all_equal_to(stride, 1), type,
                ": padding='same' needs stride 1, got stride ", py_tuple(stride));
  TESSERA_CHECK(transposed || all_equal_to(output_padding, 0), type,
                ": output_padding applies to transposed convolutions only, got ",
                py_tuple(output_padding));
  for (int64_t k : kernel_size) TESSERA_CHECK(k > 0, type, ": kernel_size must be positive");
  reset_parameters();
}

void ConvNd::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  init_bias_from_fan_in(bias, weight);
}

std::string ConvNd::extra_repr() const {
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + py_tuple(kernel_size) + ", stride=" + py_tuple(stride);
  if (!padding_mode.empty())
    s += ", padding=" + padding_mode;
  else if (!all_equal_to(padding, 0))
    s += ", padding=" + py_tuple(padding);
  if (!all_equal_to(dilation, 1)) s += ", dilation=" + py_tuple(dilation);
  if (transposed && !all_equal_to(output_padding, 0))
    s += ", output_padding=" + py_tuple(output_padding);
  if (groups != 1) s += ", groups=" + std::to_string(groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

namespace {
// Convolutions accept an unbatched input ([C, ...]) by adding and removing a batch of one.
template <typename Fn>
Tensor maybe_unbatched(const Tensor& x, int64_t batched_rank, int64_t channels, const char* layer,
                       Fn&& fn) {
  TESSERA_CHECK((x.dim() == batched_rank || x.dim() == batched_rank - 1) &&
                    x.size(x.dim() - batched_rank + 1) == channels,
                layer, ": input ", x.describe(), ": expected ", batched_rank, "-D (batched) or ",
                batched_rank - 1, "-D input with ", channels, " channels");
  if (x.dim() == batched_rank) return fn(x);
  return fn(x.unsqueeze(0)).squeeze(0);
}
}  // namespace

Conv1d::Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, const ConvOptions& o)
    : ConvNd("Conv1d", 1, in_channels, out_channels, {kernel_size}, o, false) {}

Tensor Conv1d::forward(const Tensor& x) {
  return maybe_unbatched(x, 3, in_channels, "Conv1d", [&](const Tensor& xb) {
    if (padding_mode.empty() || padding_mode == "valid")
      return F::conv1d(xb, weight, bias, stride[0], padding.empty() ? 0 : padding[0], dilation[0],
                       groups);
    // "same" may pad unevenly (even kernels), which only the 2-D string form expresses:
    // run it as a convolution over a height of one.
    return F::conv2d(xb.unsqueeze(2), weight.unsqueeze(2), bias, {1, stride[0]}, padding_mode,
                     {1, dilation[0]}, groups)
        .squeeze(2);
  });
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel_size,
               const ConvOptions& o)
    : ConvNd("Conv2d", 2, in_channels, out_channels, std::move(kernel_size), o, false) {}

Tensor Conv2d::forward(const Tensor& x) {
  return maybe_unbatched(x, 4, in_channels, "Conv2d", [&](const Tensor& xb) {
    if (!padding_mode.empty())
      return F::conv2d(xb, weight, bias, stride, padding_mode, dilation, groups);
    return F::conv2d(xb, weight, bias, stride, padding, dilation, groups);
  });
}

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels,
                                 std::vector<int64_t> kernel_size, const ConvOptions& o)
    : ConvNd("ConvTranspose2d", 2, in_channels, out_channels, std::move(kernel_size), o, true) {}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return maybe_unbatched(x, 4, in_channels, "ConvTranspose2d", [&](const Tensor& xb) {
    return F::conv_transpose2d(xb, weight, bias, stride, padding, output_padding, groups, dilation);
  });
}

// ============================== pooling ==============================

MaxPool2d::MaxPool2d(std::vector<int64_t> kernel_size, std::vector<int64_t> stride,
                     std::vector<int64_t> padding, std::vector<int64_t> dilation, bool ceil_mode)
    : Module("MaxPool2d"),
      kernel_size(std::move(kernel_size)),
      stride(stride.empty() ? this->kernel_size : std::move(stride)),
      padding(std::move(padding)),
      dilation(std::move(dilation)),
      ceil_mode(ceil_mode) {
  for (auto* v : {&this->kernel_size, &this->stride, &this->padding, &this->dilation})
    (void)per_dim(*v, 2, "MaxPool2d", "argument");
}

Tensor MaxPool2d::forward(const Tensor& x) {
  return F::max_pool2d(x, per_dim(kernel_size, 2, "MaxPool2d", "kernel_size"),
                       per_dim(stride, 2, "MaxPool2d", "stride"),
                       per_dim(padding, 2, "MaxPool2d", "padding"),
                       per_dim(dilation, 2, "MaxPool2d", "dilation"), ceil_mode);
}

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + int_or_tuple(kernel_size) + ", stride=" + int_or_tuple(stride) +
         ", padding=" + int_or_tuple(padding) + ", dilation=" + int_or_tuple(dilation) +
         ", ceil_mode=" + py_bool(ceil_mode);
}

AvgPool2d::AvgPool2d(std::vector<int64_t> kernel_size, std::vector<int64_t> stride,
                     std::vector<int64_t> padding, bool ceil_mode, bool count_include_pad)
    : Module("AvgPool2d"),
      kernel_size(std::move(kernel_size)),
      stride(stride.empty() ? this->kernel_size : std::move(stride)),
      padding(std::move(padding)),
      ceil_mode(ceil_mode),
      count_include_pad(count_include_pad) {
  for (auto* v : {&this->kernel_size, &this->stride, &this->padding})
    (void)per_dim(*v, 2, "AvgPool2d", "argument");
}

Tensor AvgPool2d::forward(const Tensor& x) {
  return F::avg_pool2d(x, per_dim(kernel_size, 2, "AvgPool2d", "kernel_size"),
                       per_dim(stride, 2, "AvgPool2d", "stride"),
                       per_dim(padding, 2, "AvgPool2d", "padding"), ceil_mode, count_include_pad);
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + int_or_tuple(kernel_size) + ", stride=" + int_or_tuple(stride) +
         ", padding=" + int_or_tuple(padding);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::vector<int64_t> output_size)
    : Module("AdaptiveAvgPool2d"), output_size(std::move(output_size)) {
  (void)per_dim(this->output_size, 2, "AdaptiveAvgPool2d", "output_size");
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  return F::adaptive_avg_pool2d(x, per_dim(output_size, 2, "AdaptiveAvgPool2d", "output_size"));
}

std::string AdaptiveAvgPool2d::extra_repr() const {
  return "output_size=" + int_or_tuple(output_size);
}

// ============================== normalization ==============================

BatchNorm::BatchNorm(const char* type, int64_t num_features, double eps,
                     std::optional<double> momentum, bool affine, bool track_running_stats)
    : Module(type),
      num_features(num_features),
      eps(eps),
      momentum(momentum),
      affine(affine),
      track_running_stats(track_running_stats),
      weight(register_parameter("weight", affine ? empty({num_features}) : Tensor())),
      bias(register_parameter("bias", affine ? empty({num_features}) : Tensor())),
      running_mean(register_buffer("running_mean", track_running_stats ? zeros({num_features}) : Tensor())),
      running_var(register_buffer("running_var", track_running_stats ? ones({num_features}) : Tensor())),
      num_batches_tracked(register_buffer("num_batches_tracked",
                                          track_running_stats ? zeros({}, kInt64) : Tensor())) {
  TESSERA_CHECK(num_features > 0, type, ": num_features must be positive, got ", num_features);
  reset_parameters();
}

void BatchNorm::reset_running_stats() {
  if (!track_running_stats) return;
  init::zeros_(running_mean);
  init::ones_(running_var);
  NoGradGuard no_grad;
  num_batches_tracked.zero_();
}

void BatchNorm::reset_parameters() {
  reset_running_stats();
  if (!affine) return;
  init::ones_(weight);
  init::zeros_(bias);
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_input(x);
  TESSERA_CHECK(x.size(1) == num_features, type_name(), ": input ", x.describe(), ": expected ",
                num_features, " channels in dim 1, got ", x.size(1));
  double factor = momentum.value_or(0.0);
  if (is_training() && track_running_stats) {
    NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    // momentum=None: a cumulative average, weighting every batch equally.
    if (!momentum) factor = 1.0 / num_batches_tracked.item<double>();
  }
  const bool use_batch_stats = is_training() || !track_running_stats;
  const bool pass_stats = !is_training() || track_running_stats;
  return F::batch_norm(x, pass_stats ? running_mean : Tensor(), pass_stats ? running_var : Tensor(),
                       weight, bias, use_batch_stats, factor, eps);
}

std::string BatchNorm::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + py_float(eps) + ", momentum=" +
         (momentum ? py_float(*momentum) : std::string("None")) + ", affine=" + py_bool(affine) +
         ", track_running_stats=" + py_bool(track_running_stats);
}

void BatchNorm1d::check_input(const Tensor& x) const {
  TESSERA_CHECK(x.dim() == 2 || x.dim() == 3, "BatchNorm1d: input ", x.describe(),
                ": expected 2-D or 3-D input");
}

void BatchNorm2d::check_input(const Tensor& x) const {
  TESSERA_CHECK(x.dim() == 4, "BatchNorm2d: input ", x.describe(), ": expected 4-D input");
}

LayerNorm::LayerNorm(std::vector<int64_t> normalized_shape, double eps, bool elementwise_affine,
                     bool bias)
    : Module("LayerNorm"),
      normalized_shape(std::move(normalized_shape)),
      eps(eps),
      elementwise_affine(elementwise_affine),
      weight(register_parameter("weight", elementwise_affine ? ones(this->normalized_shape) : Tensor())),
      bias(register_parameter("bias", elementwise_affine && bias ? zeros(this->normalized_shape)
                                                                 : Tensor())) {}

Tensor LayerNorm::forward(const Tensor& x) {
  const auto n = static_cast<int64_t>(normalized_shape.size());
  bool ok = x.dim() >= n;
  for (int64_t i = 0; ok && i < n; ++i) ok = x.size(x.dim() - n + i) == normalized_shape[static_cast<size_t>(i)];
  TESSERA_CHECK(ok, "LayerNorm: input ", x.describe(), ": expected trailing dimensions ",
                shape_str(normalized_shape));
  return F::layer_norm(x, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return py_tuple(normalized_shape) + ", eps=" + py_float(eps) +
         ", elementwise_affine=" + py_bool(elementwise_affine);
}

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine)
    : Module("GroupNorm"),
      num_groups(num_groups),
      num_channels(num_channels),
      eps(eps),
      affine(affine),
      weight(register_parameter("weight", affine ? ones({num_channels}) : Tensor())),
      bias(register_parameter("bias", affine ? zeros({num_channels}) : Tensor())) {
  TESSERA_CHECK(num_groups > 0 && num_channels % num_groups == 0, "GroupNorm: num_channels ",
                num_channels, " must be divisible by num_groups ", num_groups);
}

Tensor GroupNorm::forward(const Tensor& x) {
  TESSERA_CHECK(x.dim() >= 2 && x.size(1) == num_channels, "GroupNorm: input ", x.describe(),
                ": expected ", num_channels, " channels in dim 1");
  return F::group_norm(x, num_groups, weight, bias, eps);
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(num_groups) + ", " + std::to_string(num_channels) + ", eps=" +
         py_float(eps) + ", affine=" + py_bool(affine);
}

// ============================== dropout, embedding ==============================

Dropout::Dropout(double p) : Module("Dropout"), p(p) {
  TESSERA_CHECK(p >= 0 && p <= 1, "Dropout: probability ", p, " must be in [0, 1]");
}

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p == 0) return x;
  return F::dropout(x, p, true);
}

std::string Dropout::extra_repr() const { return "p=" + py_float(p) + ", inplace=False"; }

namespace {
std::optional<int64_t> wrap_padding_idx(std::optional<int64_t> idx, int64_t n) {
  if (!idx) return idx;
  TESSERA_CHECK(*idx >= -n && *idx < n, "Embedding: padding_idx ", *idx,
                " must be within num_embeddings ", n);
  return *idx < 0 ? *idx + n : *idx;
}
}  // namespace

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx)
    : Module("Embedding"),
      num_embeddings(num_embeddings),
      embedding_dim(embedding_dim),
      padding_idx(wrap_padding_idx(padding_idx, num_embeddings)),
      weight(register_parameter("weight", empty({num_embeddings, embedding_dim}))) {
  init::normal_(weight);
  if (this->padding_idx) init::zeros_(weight[*this->padding_idx]);
}

Tensor Embedding::forward(const Tensor& indices) {
  TESSERA_CHECK(indices.dtype() == kInt64 || indices.dtype() == kInt32, "Embedding: indices ",
                indices.describe(), ": expected an integer (i64 or i32) tensor");
  return F::embedding(indices, weight, padding_idx.value_or(-1));
}

std::string Embedding::extra_repr() const {
  std::string s = std::to_string(num_embeddings) + ", " + std::to_string(embedding_dim);
  if (padding_idx) s += ", padding_idx=" + std::to_string(*padding_idx);
  return s;
}

// ============================== activations ==============================

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor LeakyReLU::forward(const Tensor& x) { return F::leaky_relu(x, negative_slope); }
std::string LeakyReLU::extra_repr() const { return "negative_slope=" + py_float(negative_slope); }

GELU::GELU(std::string approximate) : Module("GELU"), approximate(std::move(approximate)) {
  TESSERA_CHECK(this->approximate == "none" || this->approximate == "tanh", "GELU: approximate '",
                this->approximate, "': expected 'none' or 'tanh'");
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }
std::string GELU::extra_repr() const { return "approximate='" + approximate + "'"; }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim); }
std::string Softmax::extra_repr() const { return "dim=" + std::to_string(dim); }
Tensor LogSoftmax::forward(const Tensor& x) { return log_softmax(x, dim); }
std::string LogSoftmax::extra_repr() const { return "dim=" + std::to_string(dim); }
Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_dim, end_dim); }
std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

// ============================== containers ==============================

Sequential::Sequential(std::initializer_list<ModulePtr> modules) : Module("Sequential") {
  for (auto& m : modules) push_back(m);
}

Sequential::Sequential(std::vector<std::pair<std::string, ModulePtr>> named) : Module("Sequential") {
  for (auto& [name, m] : named) push_back(name, m);
}

void Sequential::push_back(ModulePtr module) { push_back(std::to_string(modules_.size()), std::move(module)); }

void Sequential::push_back(const std::string& name, ModulePtr module) {
  add_child(name, module);
  modules_.push_back(std::move(module));
}

ModulePtr Sequential::operator[](size_t i) const {
  TESSERA_CHECK(i < modules_.size(), "Sequential: index ", i, " out of range for ", modules_.size(),
                " modules");
  return modules_[i];
}

Tensor Sequential::forward(const Tensor& x) {
  // Through the multi path: a stage in the middle may take or give several tensors.
  std::vector<Tensor> out = forward_multi({x});
  TESSERA_CHECK(out.size() == 1, "Sequential: called with one tensor, its last stage returned ",
                out.size(), " outputs; call it as seq({x}) to get them all");
  return out[0];
}

std::vector<Tensor> Sequential::forward_multi(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> values = inputs;
  for (auto& m : modules_) values = (*m)(values);
  return values;
}

ModuleList::ModuleList(std::initializer_list<ModulePtr> modules) : Module("ModuleList") {
  for (auto& m : modules) push_back(m);
}

void ModuleList::push_back(ModulePtr module) {
  add_child(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

ModulePtr ModuleList::operator[](size_t i) const {
  TESSERA_CHECK(i < modules_.size(), "ModuleList: index ", i, " out of range for ", modules_.size(),
                " modules");
  return modules_[i];
}

ModuleDict::ModuleDict(std::vector<std::pair<std::string, ModulePtr>> modules) : Module("ModuleDict") {
  for (auto& [name, m] : modules) insert(name, m);
}

void ModuleDict::insert(const std::string& name, ModulePtr module) { add_child(name, std::move(module)); }

bool ModuleDict::contains(const std::string& name) const {
  for (auto& [n, m] : named_children())
    if (n == name) return true;
  return false;
}

ModulePtr ModuleDict::operator[](const std::string& name) const {
  for (auto& [n, m] : named_children())
    if (n == name) return m;
  TESSERA_CHECK(false, "ModuleDict: no key '", name, "'");
  return nullptr;
}

std::vector<std::string> ModuleDict::keys() const {
  std::vector<std::string> out;
  for (auto& [n, m] : named_children()) out.push_back(n);
  return out;
}

}  // namespace tessera::nn
