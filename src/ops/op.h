#pragma once
// The op table: one OpDef per op, the single truth that eager execution, autograd, graph
// capture and ONNX export all read. An op is added in three places:
//   1. src/ops/<family>.cc: its OpDef (attribute schema, shape/dtype rule on metadata)
//      and public function(s);
//   2. src/backends/cpu/<family>.cc: its kernel, registered with register_kernel();
//   3. tests/opdb/<family>.cc: its entry in the op database (how to call it, sample
//      inputs, dtypes, PyTorch reference, gradient domain, error inputs, tolerance), from
//      which the forward, gradcheck, error and compiled-vs-eager tests are generated;
//      OpDb.EveryRegisteredOpHasAnEntry fails for an op without one. Known values at
//      special points stay in tests/ops/<family>_test.cc.
// Registration is explicit (register_all_ops), never by static initialisers, because a
// static link would silently drop them.
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tessera/tensor.h"

namespace tessera::ops {

// ---- attributes: the non-tensor arguments of an op, in a form a graph can store ----
using AttrValue = std::variant<int64_t, double, bool, Scalar, DType, std::vector<int64_t>, std::string>;
struct Attr {
  std::string_view name;  // always a string literal
  AttrValue value;
};

// Read by rules and kernels after the dispatcher checked them against the op's schema
// (OpDef::attrs): a missing or ill-typed attribute here is a bug (an attribute the schema
// does not declare, or a call that bypassed dispatch), hence the internal asserts.
class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<Attr> list) : items_(list) {}
  template <typename T>
  const T& get(std::string_view name) const {
    for (const Attr& a : items_)
      if (a.name == name) {
        const T* v = std::get_if<T>(&a.value);
        TESSERA_INTERNAL_ASSERT(v != nullptr, "attribute '", name, "' has another type");
        return *v;
      }
    TESSERA_INTERNAL_ASSERT(false, "missing attribute '", name, "'");
    __builtin_unreachable();
  }
  bool has(std::string_view name) const {
    for (const Attr& a : items_)
      if (a.name == name) return true;
    return false;
  }
  int64_t i(std::string_view name) const { return get<int64_t>(name); }
  double f(std::string_view name) const { return get<double>(name); }
  bool b(std::string_view name) const { return get<bool>(name); }
  const Scalar& scalar(std::string_view name) const { return get<Scalar>(name); }
  const std::vector<int64_t>& ints(std::string_view name) const {
    return get<std::vector<int64_t>>(name);
  }
  const std::vector<Attr>& items() const { return items_; }
  void add(Attr attr) { items_.push_back(std::move(attr)); }

 private:
  std::vector<Attr> items_;
};

// ---- the attribute schema: what an op's Attrs must hold, declared once per OpDef ----
// The alternatives of AttrValue, in the same order (attr_type_of relies on it).
enum class AttrType : uint8_t { Int, Float, Bool, Scalar, DType, Ints, String };
const char* attr_type_name(AttrType t);  // "int", "float", ... (for error messages)
inline AttrType attr_type_of(const AttrValue& v) { return static_cast<AttrType>(v.index()); }

// One declared attribute. Three kinds, by `default_value` and `optional`:
//   required:            no default, not optional: a call without it is an error;
//   with a default:      filled in before any layer runs, so rules and kernels may read it;
//   optional (no value): may be absent, and its absence means something (sum without
//                        "dims" reduces everything); rules test it with Attrs::has().
struct AttrSpec {
  std::string_view name;  // a string literal
  AttrType type;
  std::optional<AttrValue> default_value = std::nullopt;
  bool optional = false;
};
inline AttrSpec attr(std::string_view name, AttrType type) { return {name, type}; }
inline AttrSpec attr(std::string_view name, AttrType type, AttrValue default_value) {
  return {name, type, std::move(default_value)};
}
inline AttrSpec attr_optional(std::string_view name, AttrType type) { return {name, type, std::nullopt, true}; }
using AttrSchema = std::vector<AttrSpec>;

struct OpDef;

// What a shape/dtype rule sees of an input: its metadata, never its values, so a graph (or
// an imported ONNX file) is shape-checked before anything runs. A wrapped scalar (add(t,
// 2.5)) keeps its mark, which promotion reads, and its value, which error messages print.
class InputMeta {
 public:
  InputMeta(IntArrayRef sizes, DType dtype) : sizes_(sizes), dtype_(dtype) {}
  InputMeta(const Tensor& t);  // NOLINT: the eager path converts its inputs implicitly
  // The metadata of wrap_scalar(s).
  static InputMeta wrapped_scalar(const Scalar& s);

  IntArrayRef sizes() const { return sizes_; }
  DType dtype() const { return dtype_; }
  int64_t dim() const { return static_cast<int64_t>(sizes_.size()); }
  int64_t size(int64_t d) const;  // negative dims count from the end
  int64_t numel() const { return numel_of(sizes_); }
  bool is_floating_point() const { return is_floating(dtype_); }
  bool is_wrapped_number() const { return wrapped_; }
  double wrapped_value() const { return wrapped_value_; }
  std::string describe() const;  // "[2, 3] f32", or "scalar 2.5" for a wrapped one

 private:
  Shape sizes_;
  DType dtype_;
  bool wrapped_ = false;
  double wrapped_value_ = 0;
};

// An output's metadata, as a rule returns it. A dim of kUnknownDim is one only the values
// decide (one_hot without num_classes); only kDataDependentShape ops return it.
inline constexpr int64_t kUnknownDim = -1;
struct TensorMeta {
  Shape sizes;
  DType dtype;
};

// What a shape/dtype rule returns: output metas, and the dtype inputs are converted to
// before the kernel runs (kernels then see one dtype; none = leave inputs as they are).
struct InferResult {
  std::vector<TensorMeta> outputs;
  std::optional<DType> input_dtype;
};

struct KernelCall {
  const OpDef& op;
  const std::vector<Tensor>& inputs;
  std::vector<Tensor>& outputs;  // allocated (or given, for in-place) before the call
  const Attrs& attrs;
};

// What a backward rule sees. Saved inputs/outputs are checked against later in-place
// writes only when read, so a rule that does not need a value never trips the check.
class BackwardCall {
 public:
  virtual ~BackwardCall() = default;
  virtual const OpDef& op() const = 0;
  virtual const Attrs& attrs() const = 0;
  virtual size_t num_inputs() const = 0;
  virtual const Tensor& input(size_t i) const = 0;
  virtual const Tensor& output(size_t i) const = 0;
  // Gradient of output i (zeros when none flowed to it; undefined for non-float outputs).
  virtual const Tensor& grad(size_t i) const = 0;
  // Whether input i needs a gradient (a rule may skip the work otherwise).
  virtual bool needs(size_t i) const = 0;
  virtual IntArrayRef input_sizes(size_t i) const = 0;
  virtual DType input_dtype(size_t i) const = 0;
};

// The shape and dtype rule: validates the arguments and gives the outputs' metadata from
// the inputs' metadata alone (see InputMeta). A check that needs values (class labels in
// range) belongs in the kernel or the decomposition.
using InferFn = InferResult (*)(const std::vector<InputMeta>& inputs, const Attrs& attrs);
// For a kDataDependentShape op: the outputs' metadata once the values are there (the eager
// backend calls it when the rule left a dim unknown).
using DataShapeFn = InferResult (*)(const std::vector<Tensor>& inputs, const Attrs& attrs);
// Returns one gradient per input (undefined where not needed), written with ops so it is
// differentiable itself (higher-order gradients).
using BackwardFn = std::vector<Tensor> (*)(const BackwardCall& call);
using KernelFn = void (*)(const KernelCall& call);
using ViewFn = Tensor (*)(const Tensor& input, const Attrs& attrs);
// A composite op's definition in other ops (called through dispatch, so it is recorded by
// autograd and differentiable without a backward rule of its own).
using DecomposeFn = std::vector<Tensor> (*)(const std::vector<Tensor>& inputs, const Attrs& attrs);

enum OpFlags : uint32_t {
  kElementwise = 1u << 0,    // output[i] depends on input[i] only (fusable)
  kIsView = 1u << 1,         // output aliases input storage; `view` builds it
  kDifferentiable = 1u << 2,
  kReduction = 1u << 3,
  kRandom = 1u << 4,         // consumes the generator (never constant-folded)
  // The output shape depends on input values (nonzero, masked_select): a graph cannot
  // plan its memory before running it, and infer_shapes says so instead of guessing.
  kDataDependentShape = 1u << 5,
  // Talks to other processes (the collectives of ops/collective.h): a graph keeps the node
  // where the trace put it, never folded, merged or dropped, and is not saved to a file.
  kCollective = 1u << 6,
};

struct OpDef {
  const char* name;
  int num_inputs;  // -1: variadic
  uint32_t flags;
  // Every attribute the op takes (an empty list: none). The dispatcher checks each call's
  // Attrs against it before any layer runs (check_attrs), so rules and kernels may assume
  // declared attributes are there with their declared type.
  AttrSchema attrs;
  InferFn infer;            // shape and dtype rule on metadata (and argument validation)
  ViewFn view = nullptr;    // for kIsView ops instead of a kernel
  const char* onnx_op = nullptr;  // the ONNX operator it maps to, if one does
  BackwardFn backward = nullptr;  // for kDifferentiable ops
  // Bit i: the op writes input i in place (copy_, fill_, the optimizers' updates). Such an
  // op's outputs are exactly those inputs, in order; the dispatcher hands them to the
  // kernel as its outputs and bumps their storage versions.
  uint32_t mutates = 0;
  // Composite ops (src/ops/nn.h): run when no kernel is registered for the device.
  DecomposeFn decompose = nullptr;
  DataShapeFn data_shape = nullptr;  // for kDataDependentShape ops
  int index = -1;           // slot in the registry, set by register_op
};

// Kernel table: (op, device) -> kernel, with the dtypes it supports.
struct Kernel {
  KernelFn fn = nullptr;
  uint32_t dtype_mask = 0;  // bit i: DType(i) supported
  bool supports(DType t) const { return (dtype_mask >> static_cast<int>(t)) & 1u; }
};
constexpr uint32_t dtype_bit(DType t) { return 1u << static_cast<int>(t); }
inline constexpr uint32_t kFloatMask = dtype_bit(DType::Float32) | dtype_bit(DType::Float64);
inline constexpr uint32_t kIntMask = dtype_bit(DType::UInt8) | dtype_bit(DType::Int8) |
                                     dtype_bit(DType::Int32) | dtype_bit(DType::Int64);
inline constexpr uint32_t kNumericMask = kFloatMask | kIntMask;
inline constexpr uint32_t kAllMask = kNumericMask | dtype_bit(DType::Bool) |
                                     dtype_bit(DType::Float16) | dtype_bit(DType::BFloat16);

void register_op(OpDef& op);
void register_kernel(const OpDef& op, Device device, KernelFn fn, uint32_t dtype_mask);
const Kernel* find_kernel(const OpDef& op, Device device);
const OpDef* find_op(std::string_view name);
std::vector<const OpDef*> all_ops();
// Registers every op and CPU kernel once; called by the first dispatch.
void ensure_registered();

// ---- dispatch: the one entry point of every op that reads or writes tensors ----
// A call walks the installed layers, outermost first (autograd, then the tracer), and
// ends in the backend, which checks the op's shape rule, converts inputs and runs the
// kernel. Kernels run only there and never call back into dispatch (they use the helpers
// of src/backends/cpu/, which sit below it), so a layer sees every op exactly once.
struct OpCall {
  const OpDef& op;
  std::vector<Tensor> inputs;
  const Attrs& attrs;
  // Defined for an in-place form of an out-of-place op (x.add_(y)): the single result is
  // written into `out` (and `out` returned). Ops that mutate by definition use `mutates`.
  Tensor out;
};

class DispatchLayer {
 public:
  virtual ~DispatchLayer() = default;
  // Whether the layer takes this call; false sends it to the layer below at the cost of
  // this one check (the hot path when autograd is installed but nothing requires grad).
  virtual bool wants(const OpCall& call) const = 0;
  // Handles the call; `below(call)` runs the layers under this one and then the kernel.
  class Below {
   public:
    explicit Below(int level) : level_(level) {}
    std::vector<Tensor> operator()(OpCall& call) const;

   private:
    int level_;
  };
  virtual std::vector<Tensor> handle(OpCall& call, const Below& below) = 0;
};

// The layer slots, outermost first. The tracer sits below autograd so that a traced
// training step records the backward pass's ops too.
enum class LayerSlot : int { Autograd = 0, Tracer = 1 };
inline constexpr int kNumLayerSlots = 2;
// Installs (or, with nullptr, removes) the process-wide layer of a slot. Layers decide per
// call and per thread in wants(); the autograd layer installs itself the first time a
// tensor is marked requires_grad, so an inference-only program never pays for it.
void install_layer(LayerSlot slot, DispatchLayer* layer);
DispatchLayer* installed_layer(LayerSlot slot);

std::vector<Tensor> call(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs = {});
inline Tensor call1(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs = {}) {
  return call(op, std::move(inputs), attrs)[0];
}
// Runs a call below every layer, straight to the backend: the graph executor's path (a
// compiled graph already holds the ops autograd would record, backward included, and must
// not be traced again). `out` as in OpCall. Attributes are checked as by call().
std::vector<Tensor> call_backend(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs,
                                 const Tensor& out = Tensor());
// The graph executor's fast path: a call whose kernel and output metas follow from its
// inputs' metadata alone, looked up once and run on every call with outputs the caller
// placed (in its memory plan's arena). nullopt for a call that needs more than its kernel
// on the inputs as they come (a view, a write, a composite without a kernel, a dtype
// conversion or a reduced-float upcast, a random draw, a data-dependent shape): the
// executor runs those through call_backend.
struct PreparedKernel {
  const Kernel* kernel = nullptr;
  std::vector<TensorMeta> outputs;
};
std::optional<PreparedKernel> prepare_kernel(const OpDef& op, const std::vector<InputMeta>& inputs,
                                             const Attrs& attrs);
// Runs a prepared kernel. `outputs` holds tensors of the prepared metas (contiguous); a
// kernel may replace one, so the caller checks where each result landed. Errors name the
// op and its inputs, as eager ones do.
void run_prepared(const OpDef& op, const PreparedKernel& prepared, const std::vector<Tensor>& inputs,
                  std::vector<Tensor>& outputs, const Attrs& attrs);
// A composite's decomposition (its ops through dispatch, each recorded by the layers),
// checked against the composite's shape rule. Autograd's path for a composite that also
// has a fused kernel: the kernel has no backward rule, its decomposition's ops do.
std::vector<Tensor> call_decomposition(const OpDef& op, const std::vector<Tensor>& inputs, const Attrs& attrs);

// The attribute `precision` of the ops autocast changes (tessera/autocast.h): "float32" or
// "bf16" (float32 operands rounded to bfloat16, float32 accumulation and result). Absent
// reads as "float32". check_precision refuses any other value; wants_bf16 is the kernels'
// question.
void check_precision(const Attrs& attrs);
bool wants_bf16(const Attrs& attrs);

// Told of every composite call run as its decomposition on this thread (the backend's
// fallback and call_decomposition both): begin() before its ops run, end() after, with
// begin()'s token. Graph mode's tracer sets it while it takes a trace, to remember which
// recorded nodes make up a composite (ONNX export writes those as one operator).
class CompositeObserver {
 public:
  virtual ~CompositeObserver() = default;
  virtual int begin() = 0;
  virtual void end(int token, const OpDef& op, const std::vector<Tensor>& inputs, const Attrs& attrs,
                   const std::vector<Tensor>& outputs) = 0;
};
// The calling thread's observer (null: none); set returns the previous one.
CompositeObserver* set_composite_observer(CompositeObserver* observer);
// In-place form: runs `op` on `inputs` and writes the result into `self` (an OpCall with
// `out`). Refuses a result of another shape, or of a dtype self cannot hold (float into
// int, as PyTorch does), and bumps self's storage version. Elementwise ops whose result
// matches self write straight into it; anything else is computed out of place and copied,
// so aliasing is safe.
Tensor& call_inplace(const OpDef& op, Tensor& self, std::vector<Tensor> inputs, const Attrs& attrs = {});
// The errors an in-place form gives for a result `self` cannot take (shape, dtype).
void check_inplace_result(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& r,
                          const Tensor& self);

// Reduces a broadcast gradient back to `sizes` (sums the broadcast dims).
Tensor sum_to(const Tensor& grad, IntArrayRef sizes);

// Checks `attrs` against op.attrs: an undeclared, repeated, missing required or ill-typed
// attribute is an InvalidArgumentError naming the op, the attribute, the type expected and
// the value given. Returns the attributes completed with their defaults (and an int given
// for a float or scalar attribute converted, as ONNX files and C++ literals such as
// {"p", 2} bring them), or nullopt when `attrs` is complete as it is (the common case, no
// copy).
std::optional<Attrs> check_attrs(const OpDef& op, const Attrs& attrs);

// Shape and dtype inference on metadata alone (graph capture, ONNX import): checks the
// attributes as a call would (filling in defaults), then runs the op's rule. Errors are
// the eager call's, op and inputs named. For a kDataDependentShape op the dims the values
// decide come back as kUnknownDim. For view ops the rule checks what the metadata shows
// (sizes, dims, bounds); what only a layout shows (view's strides, as_strided's storage
// bound) is checked when the view is built.
InferResult infer_shapes(const OpDef& op, const std::vector<InputMeta>& inputs, const Attrs& attrs = {});
bool has_unknown_dims(const InferResult& r);

// "add: a [2, 3] f32, b [4] f32: " - the prefix every op error starts with.
std::string op_context(const OpDef& op, const std::vector<Tensor>& inputs);
std::string op_context(const OpDef& op, const std::vector<InputMeta>& inputs);

// ---- helpers for shape rules ----
Shape broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op);
// PyTorch's result_type over inputs: dimensioned tensors outrank 0-d ones, which outrank
// wrapped Python-style scalars, unless a lower rank brings a higher kind (int -> float).
DType result_type(const std::vector<InputMeta>& inputs);
// A 0-d tensor holding a scalar argument, marked so it does not drive promotion.
Tensor wrap_scalar(const Scalar& s);
bool is_wrapped_scalar(const Tensor& t);

}  // namespace tessera::ops
