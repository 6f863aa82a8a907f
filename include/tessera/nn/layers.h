#pragma once
// Layers (torch.nn): each owns its parameters and calls nn::functional. Constructors take
// PyTorch's arguments with PyTorch's defaults, parameters carry PyTorch's names and
// default initialisation, and printing follows PyTorch's repr, so a model written here
// reads, counts and exchanges weights like its PyTorch twin.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/nn/functional.h"
#include "tessera/nn/module.h"

namespace tessera::nn {

// ============================== linear ==============================

class TESSERA_API Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// y = x W^T + b, weight [out, in].
class TESSERA_API Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();

  const int64_t in_features, out_features;
  Tensor& weight;
  Tensor& bias;  // undefined without bias
};

// y_k = x1^T W_k x2 + b_k, weight [out, in1, in2].
class TESSERA_API Bilinear : public Module {
 public:
  Bilinear(int64_t in1_features, int64_t in2_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;  // fails: Bilinear takes two inputs
  Tensor forward(const Tensor& x1, const Tensor& x2);
  std::string extra_repr() const override;
  void reset_parameters();

  const int64_t in1_features, in2_features, out_features;
  Tensor& weight;
  Tensor& bias;
};

// ============================== convolution ==============================

// A padding argument: a number, one number per spatial dim, or "same" / "valid".
struct TESSERA_API Padding {
  Padding(int64_t p) : sizes{p} {}  // NOLINT: implicit, as PyTorch's padding=1
  Padding(int p) : sizes{p} {}      // NOLINT: a literal 0 would otherwise also match const char*
  Padding(std::initializer_list<int64_t> p) : sizes(p) {}
  Padding(const char* m) : mode(m) {}  // NOLINT
  Padding(std::string m) : mode(std::move(m)) {}  // NOLINT
  std::vector<int64_t> sizes;  // empty when `mode` is set
  std::string mode;            // "", "same" or "valid"
};

// Options shared by the convolutions; a single number applies to every spatial dim.
// Conv2d(1, 32, 3, {.stride = {2}, .padding = 1})
struct ConvOptions {
  std::vector<int64_t> stride = {1};
  Padding padding = 0;
  std::vector<int64_t> dilation = {1};
  int64_t groups = 1;
  bool bias = true;
  std::vector<int64_t> output_padding = {0};  // ConvTranspose2d only
};

// Shared by Conv1d, Conv2d and ConvTranspose2d: kernel bookkeeping, init and repr.
class TESSERA_API ConvNd : public Module {
 public:
  std::string extra_repr() const override;
  void reset_parameters();

  const int64_t in_channels, out_channels;
  const std::vector<int64_t> kernel_size, stride, dilation, output_padding;
  const std::vector<int64_t> padding;  // per dim; empty when padding_mode is set
  const std::string padding_mode;      // "", "same" or "valid"
  const int64_t groups;
  const bool transposed;
  Tensor& weight;  // [out, in/groups, k...] (transposed: [in, out/groups, k...])
  Tensor& bias;

 protected:
  ConvNd(const char* type, int64_t spatial, int64_t in_channels, int64_t out_channels,
         std::vector<int64_t> kernel_size, const ConvOptions& options, bool transposed);
};

class TESSERA_API Conv1d : public ConvNd {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
         const ConvOptions& options = {});
  Tensor forward(const Tensor& x) override;  // [N, C, L] or [C, L]
};

class TESSERA_API Conv2d : public ConvNd {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel_size,
         const ConvOptions& options = {});
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
         const ConvOptions& options = {})
      : Conv2d(in_channels, out_channels, std::vector<int64_t>{kernel_size}, options) {}
  Tensor forward(const Tensor& x) override;  // [N, C, H, W] or [C, H, W]
};

class TESSERA_API ConvTranspose2d : public ConvNd {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, std::vector<int64_t> kernel_size,
                  const ConvOptions& options = {});
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                  const ConvOptions& options = {})
      : ConvTranspose2d(in_channels, out_channels, std::vector<int64_t>{kernel_size}, options) {}
  Tensor forward(const Tensor& x) override;
};

// ============================== pooling ==============================

class TESSERA_API MaxPool2d : public Module {
 public:
  // stride defaults to the kernel size (empty).
  explicit MaxPool2d(std::vector<int64_t> kernel_size, std::vector<int64_t> stride = {},
                     std::vector<int64_t> padding = {0}, std::vector<int64_t> dilation = {1},
                     bool ceil_mode = false);
  explicit MaxPool2d(int64_t kernel_size) : MaxPool2d(std::vector<int64_t>{kernel_size}) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const std::vector<int64_t> kernel_size, stride, padding, dilation;
  const bool ceil_mode;
};

class TESSERA_API AvgPool2d : public Module {
 public:
  explicit AvgPool2d(std::vector<int64_t> kernel_size, std::vector<int64_t> stride = {},
                     std::vector<int64_t> padding = {0}, bool ceil_mode = false,
                     bool count_include_pad = true);
  explicit AvgPool2d(int64_t kernel_size) : AvgPool2d(std::vector<int64_t>{kernel_size}) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const std::vector<int64_t> kernel_size, stride, padding;
  const bool ceil_mode, count_include_pad;
};

class TESSERA_API AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(std::vector<int64_t> output_size);
  explicit AdaptiveAvgPool2d(int64_t output_size)
      : AdaptiveAvgPool2d(std::vector<int64_t>{output_size}) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const std::vector<int64_t> output_size;
};

// ============================== normalization ==============================

// BatchNorm over dim 1. momentum nullopt means a cumulative moving average.
class TESSERA_API BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_running_stats();
  void reset_parameters();

  const int64_t num_features;
  const double eps;
  const std::optional<double> momentum;
  const bool affine, track_running_stats;
  Tensor& weight;  // [C] ones (undefined without affine)
  Tensor& bias;    // [C] zeros
  Tensor& running_mean;          // [C] zeros (undefined without tracking)
  Tensor& running_var;           // [C] ones
  Tensor& num_batches_tracked;   // 0-d int64

 protected:
  BatchNorm(const char* type, int64_t num_features, double eps, std::optional<double> momentum,
            bool affine, bool track_running_stats);
  virtual void check_input(const Tensor& x) const = 0;
};

class TESSERA_API BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true)
      : BatchNorm("BatchNorm1d", num_features, eps, momentum, affine, track_running_stats) {}

 protected:
  void check_input(const Tensor& x) const override;  // [N, C] or [N, C, L]
};

class TESSERA_API BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true)
      : BatchNorm("BatchNorm2d", num_features, eps, momentum, affine, track_running_stats) {}

 protected:
  void check_input(const Tensor& x) const override;  // [N, C, H, W]
};

class TESSERA_API LayerNorm : public Module {
 public:
  explicit LayerNorm(std::vector<int64_t> normalized_shape, double eps = 1e-5,
                     bool elementwise_affine = true, bool bias = true);
  explicit LayerNorm(int64_t normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                     bool bias = true)
      : LayerNorm(std::vector<int64_t>{normalized_shape}, eps, elementwise_affine, bias) {}
  // LayerNorm({2, 3}) would otherwise be ambiguous with LayerNorm(2, /*eps=*/3).
  explicit LayerNorm(std::initializer_list<int64_t> normalized_shape, double eps = 1e-5,
                     bool elementwise_affine = true, bool bias = true)
      : LayerNorm(std::vector<int64_t>(normalized_shape), eps, elementwise_affine, bias) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const std::vector<int64_t> normalized_shape;
  const double eps;
  const bool elementwise_affine;
  Tensor& weight;
  Tensor& bias;
};

class TESSERA_API GroupNorm : public Module {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const int64_t num_groups, num_channels;
  const double eps;
  const bool affine;
  Tensor& weight;
  Tensor& bias;
};

// ============================== dropout, embedding ==============================

class TESSERA_API Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;  // identity in eval mode
  std::string extra_repr() const override;
  const double p;
};

// Looks up rows of weight [num_embeddings, embedding_dim] ~ N(0, 1); the padding_idx row
// starts at zero and gets no gradient.
class TESSERA_API Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim,
            std::optional<int64_t> padding_idx = std::nullopt);
  Tensor forward(const Tensor& indices) override;
  std::string extra_repr() const override;
  const int64_t num_embeddings, embedding_dim;
  const std::optional<int64_t> padding_idx;  // stored non-negative
  Tensor& weight;
};

// ============================== activations and reshaping ==============================

class TESSERA_API ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

class TESSERA_API LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01)
      : Module("LeakyReLU"), negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const double negative_slope;
};

class TESSERA_API GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none");  // "none" or "tanh"
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const std::string approximate;
};

class TESSERA_API SiLU : public Module {
 public:
  SiLU() : Module("SiLU") {}
  Tensor forward(const Tensor& x) override;
};

class TESSERA_API Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override;
};

class TESSERA_API Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override;
};

class TESSERA_API Softmax : public Module {
 public:
  explicit Softmax(int64_t dim = -1) : Module("Softmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const int64_t dim;
};

class TESSERA_API LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int64_t dim = -1) : Module("LogSoftmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const int64_t dim;
};

class TESSERA_API Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : Module("Flatten"), start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  const int64_t start_dim, end_dim;
};

// ============================== containers ==============================

// Calls its children in order, each on the previous output. Children are named 0, 1, ...
//   auto net = std::make_shared<Sequential>(std::make_shared<Linear>(4, 8),
//                                           std::make_shared<ReLU>());
// Layers built as arguments of this constructor draw their initial weights in the order the
// compiler evaluates the arguments (unspecified in C++; GCC goes last to first). To draw
// them first to last, as the same PyTorch code does, build them in statements first or
// use the braced form Sequential{...}, whose elements are evaluated left to right.
class TESSERA_API Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<ModulePtr> modules);
  template <typename... M>
  explicit Sequential(std::shared_ptr<M>... modules) : Module("Sequential") {
    (push_back(std::move(modules)), ...);
  }
  // Named children, as PyTorch's Sequential(OrderedDict(...)).
  explicit Sequential(std::vector<std::pair<std::string, ModulePtr>> named);
  Tensor forward(const Tensor& x) override;
  // Each stage's outputs are the next stage's inputs (stages may take and give several).
  std::vector<Tensor> forward_multi(const std::vector<Tensor>& inputs) override;
  void push_back(ModulePtr module);
  void push_back(const std::string& name, ModulePtr module);
  size_t size() const { return modules_.size(); }
  ModulePtr operator[](size_t i) const;
  template <typename M>
  std::shared_ptr<M> at(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    TESSERA_CHECK(m != nullptr, "Sequential: element ", i, " is a ", (*this)[i]->type_name());
    return m;
  }

 private:
  std::vector<ModulePtr> modules_;
};

// Holds submodules (named 0, 1, ...) without defining a forward.
class TESSERA_API ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<ModulePtr> modules);
  void push_back(ModulePtr module);
  size_t size() const { return modules_.size(); }
  ModulePtr operator[](size_t i) const;
  std::vector<ModulePtr>::const_iterator begin() const { return modules_.begin(); }
  std::vector<ModulePtr>::const_iterator end() const { return modules_.end(); }

 private:
  std::vector<ModulePtr> modules_;
};

// Holds submodules by name, in insertion order.
class TESSERA_API ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  explicit ModuleDict(std::vector<std::pair<std::string, ModulePtr>> modules);
  void insert(const std::string& name, ModulePtr module);
  bool contains(const std::string& name) const;
  ModulePtr operator[](const std::string& name) const;
  size_t size() const { return named_children().size(); }
  std::vector<std::string> keys() const;
};

// ============================== attention ==============================

// PyTorch's packed projections: in_proj_weight [3E, E] (xavier uniform), in_proj_bias
// [3E] (zeros), out_proj (Linear E -> E, bias zeros). Sequence-first [L, N, E] unless
// batch_first; unbatched [L, E] works too.
class TESSERA_API MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool batch_first = false);
  // Self-attention, output only (the Module interface).
  Tensor forward(const Tensor& x) override;
  // Returns (output, attention weights). key_padding_mask [N, S]: true (or -inf) marks
  // keys to ignore. attn_mask [L, S] or [N*H, L, S]: bool true = not allowed, or additive
  // float. Weights are [N, L, S] averaged over heads (or [N, H, L, S]); undefined when
  // need_weights is false (then the fused attention kernel runs).
  std::pair<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& key_padding_mask = {}, bool need_weights = true,
                                    const Tensor& attn_mask = {}, bool average_attn_weights = true,
                                    bool is_causal = false);

  const int64_t embed_dim, num_heads, head_dim;
  const double dropout;
  const bool batch_first;
  Tensor& in_proj_weight;
  Tensor& in_proj_bias;
  std::shared_ptr<Linear> out_proj;
};

struct TransformerEncoderLayerOptions {
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // "relu" or "gelu"
  double layer_norm_eps = 1e-5;
  bool batch_first = false;
  bool norm_first = false;
  bool bias = true;
};

// Post-norm by default: x = norm1(x + sa(x)); x = norm2(x + ff(x)).
class TESSERA_API TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(int64_t d_model, int64_t nhead,
                          const TransformerEncoderLayerOptions& options = {});
  Tensor forward(const Tensor& src) override;
  Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask = {},
                 bool is_causal = false);

  const TransformerEncoderLayerOptions options;
  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> linear2;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Dropout> dropout1, dropout2;
};

// ============================== recurrent ==============================

struct RNNOptions {
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;  // between layers, in training mode
  bool bidirectional = false;
};

// Shared by LSTM and GRU: parameters weight_ih_l{k}[_reverse] [G*H, in],
// weight_hh_l{k} [G*H, H], bias_ih_l{k}, bias_hh_l{k} [G*H], all U(-1/sqrt(H), 1/sqrt(H)).
class TESSERA_API RNNBase : public Module {
 public:
  std::string extra_repr() const override;
  void reset_parameters();

  const int64_t input_size, hidden_size;
  const RNNOptions options;

 protected:
  RNNBase(const char* type, int64_t gates, int64_t input_size, int64_t hidden_size,
          const RNNOptions& options);
  // Input as [T, N, F] (batch_first and unbatched inputs normalised), or fails.
  Tensor time_major(const Tensor& x, bool& unbatched) const;
  Tensor restore_layout(const Tensor& y, bool unbatched) const;
  // Initial state [layers*dirs, N, H]: given (checked), or zeros.
  Tensor initial_state(const Tensor& given, const Tensor& x_tn, bool unbatched,
                       const char* what) const;
  // Per layer and direction: (w_ih, w_hh, b_ih, b_hh) slots.
  struct Weights {
    Tensor *w_ih, *w_hh, *b_ih, *b_hh;
  };
  std::vector<Weights> weights_;
  const int64_t gates_;
};

// Gates i, f, g, o (PyTorch's order).
class TESSERA_API LSTM : public RNNBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, const RNNOptions& options = {});
  // Output only.
  Tensor forward(const Tensor& x) override;
  // (output, (h_n, c_n)); hx = (h_0, c_0), each [layers*dirs, N, H], or undefined (zeros).
  std::pair<Tensor, std::pair<Tensor, Tensor>> forward(const Tensor& x,
                                                       const std::pair<Tensor, Tensor>& hx);
};

// Gates r, z, n (PyTorch's order).
class TESSERA_API GRU : public RNNBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, const RNNOptions& options = {});
  Tensor forward(const Tensor& x) override;
  // (output, h_n); h0 [layers*dirs, N, H] or undefined (zeros).
  std::pair<Tensor, Tensor> forward(const Tensor& x, const Tensor& h0);
};

}  // namespace tessera::nn
