#include "ops/op.h"

#include <array>
#include <atomic>
#include <mutex>
#include <new>
#include <sstream>

#include "ops/copy.h"
#include "ops/op_writes.h"
#include "ops/registration.h"
#include "tessera/ops.h"

namespace tessera::ops {
namespace {

// Filled only by register_all(), inside ensure_registered()'s one-time initializer (as are
// the OpDefs' `index` fields), and read-only afterwards: lookups from any number of threads
// need no lock, since every caller passes through ensure_registered() first.
struct Registry {
  std::vector<OpDef*> ops;
  // kernels[op.index][device]
  std::vector<std::array<Kernel, 1>> kernels;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_op(OpDef& op) {
  Registry& r = registry();
  TESSERA_INTERNAL_ASSERT(op.index < 0, "op '", op.name, "' registered twice");
  for (const OpDef* other : r.ops)
    TESSERA_INTERNAL_ASSERT(std::string_view(other->name) != op.name, "duplicate op name ", op.name);
  op.index = static_cast<int>(r.ops.size());
  r.ops.push_back(&op);
  r.kernels.emplace_back();
}

void register_kernel(const OpDef& op, Device device, KernelFn fn, uint32_t dtype_mask) {
  TESSERA_INTERNAL_ASSERT(op.index >= 0, "kernel for unregistered op ", op.name);
  registry().kernels[static_cast<size_t>(op.index)][static_cast<size_t>(device)] = {fn, dtype_mask};
}

const Kernel* find_kernel(const OpDef& op, Device device) {
  const Kernel& k = registry().kernels[static_cast<size_t>(op.index)][static_cast<size_t>(device)];
  return k.fn ? &k : nullptr;
}

const OpDef* find_op(std::string_view name) {
  ensure_registered();
  for (const OpDef* op : registry().ops)
    if (name == op->name) return op;
  return nullptr;
}

std::vector<const OpDef*> all_ops() {
  ensure_registered();
  return {registry().ops.begin(), registry().ops.end()};
}

void ensure_registered() {
  // A function-local static: thread-safe once, and a single load on the hot path.
  static const bool done = [] {
    register_all();
    return true;
  }();
  (void)done;
}

namespace {
// "conv2d" or "conv2d at model.cc:42": the user's call site when there is one.
std::string op_heading(const OpDef& op) {
  const std::string site = describe_call_site(current_call_site());
  return site.empty() ? std::string(op.name) : std::string(op.name) + " at " + site;
}
}  // namespace

std::string op_context(const OpDef& op, const std::vector<Tensor>& inputs) {
  std::ostringstream os;
  os << op_heading(op) << ":";
  for (size_t i = 0; i < inputs.size(); ++i) {
    os << (i ? ", " : " ");
    if (!inputs[i].defined()) {
      os << "<undefined>";
    } else if (inputs[i].impl()->wrapped_number) {
      os << "scalar " << read_as_double(inputs[i], 0);
    } else {
      os << inputs[i].describe();
    }
  }
  if (!inputs.empty()) os << ":";  // a factory has no inputs: "full: ...", not "full:: ..."
  os << " ";
  return os.str();
}

const char* attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::Int: return "int";
    case AttrType::Float: return "float";
    case AttrType::Bool: return "bool";
    case AttrType::Scalar: return "scalar";
    case AttrType::DType: return "dtype";
    case AttrType::Ints: return "ints";
    case AttrType::String: return "string";
  }
  return "?";
}

namespace {

// "int 3", "ints [1, 2]", "string 'mean'": what a call gave, for the error message.
std::string describe_attr(const AttrValue& v) {
  std::ostringstream os;
  os << attr_type_name(attr_type_of(v)) << " ";
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::vector<int64_t>>) os << shape_str(x);
        else if constexpr (std::is_same_v<T, std::string>) os << "'" << x << "'";
        else if constexpr (std::is_same_v<T, DType>) os << dtype_name(x);
        else if constexpr (std::is_same_v<T, Scalar>) os << x.to_double();
        else if constexpr (std::is_same_v<T, bool>) os << (x ? "true" : "false");
        else os << x;
      },
      v);
  return os.str();
}

std::string declared_list(const OpDef& op) {
  if (op.attrs.empty()) return "it takes none";
  std::string s = "it takes ";
  for (size_t i = 0; i < op.attrs.size(); ++i) {
    if (i) s += ", ";
    s += op.attrs[i].name;
    s += " (";
    s += attr_type_name(op.attrs[i].type);
    s += ")";
  }
  return s;
}

// The one implicit conversion: an int where a float or a scalar is declared (ONNX stores
// alpha=1 as it likes, and C++ callers write {"p", 2}). Nothing lossy: a float never
// becomes an int, and a bool is never a number (ONNX's 0/1 flags are its importer's job).
std::optional<AttrValue> convert_attr(const AttrValue& v, AttrType want) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) {
    if (want == AttrType::Float) return AttrValue(static_cast<double>(*i));
    if (want == AttrType::Scalar) return AttrValue(Scalar(*i));
  }
  return std::nullopt;
}

}  // namespace

std::optional<Attrs> check_attrs(const OpDef& op, const Attrs& attrs) {
  auto fail = [&](auto&&... parts) {
    throw_error(ErrorKind::InvalidArgument, detail::concat(op.name, ": ", parts...));
  };
  const std::vector<Attr>& given = attrs.items();
  bool complete = true;  // false: a default to fill in or a value to convert
  for (size_t i = 0; i < given.size(); ++i) {
    const AttrSpec* spec = nullptr;
    for (const AttrSpec& s : op.attrs)
      if (s.name == given[i].name) spec = &s;
    if (spec == nullptr) fail("unknown attribute '", given[i].name, "' (", declared_list(op), ")");
    for (size_t j = 0; j < i; ++j)
      if (given[j].name == given[i].name) fail("attribute '", given[i].name, "' given twice");
    if (attr_type_of(given[i].value) != spec->type) {
      if (!convert_attr(given[i].value, spec->type))
        fail("attribute '", spec->name, "' expects ", attr_type_name(spec->type), ", got ",
             describe_attr(given[i].value));
      complete = false;
    }
  }
  for (const AttrSpec& s : op.attrs) {
    if (attrs.has(s.name)) continue;
    if (s.default_value) complete = false;
    else if (!s.optional) fail("missing attribute '", s.name, "' (", attr_type_name(s.type), ")");
  }
  if (complete) return std::nullopt;
  Attrs out;
  for (const AttrSpec& s : op.attrs) {
    for (const Attr& a : given)
      if (a.name == s.name) {
        std::optional<AttrValue> converted = convert_attr(a.value, s.type);
        out.add({s.name, converted ? std::move(*converted) : a.value});
      }
    if (!attrs.has(s.name) && s.default_value) out.add({s.name, *s.default_value});
  }
  return out;
}

std::string op_context(const OpDef& op, const std::vector<InputMeta>& inputs) {
  std::ostringstream os;
  os << op_heading(op) << ":";
  for (size_t i = 0; i < inputs.size(); ++i) os << (i ? ", " : " ") << inputs[i].describe();
  if (!inputs.empty()) os << ":";  // a factory has no inputs: "rand: ...", not "rand:: ..."
  os << " ";
  return os.str();
}

namespace {

std::string dtype_list(uint32_t mask) {
  std::string s;
  for (int i = 0; i < kNumDTypes; ++i)
    if ((mask >> i) & 1u) {
      if (!s.empty()) s += ", ";
      s += dtype_name(static_cast<DType>(i));
    }
  return s;
}

// Runs fn; an error from it is re-thrown with the op and its inputs named first, keeping
// its kind. A std::bad_alloc (a std::vector in a kernel, a library's scratch buffer)
// becomes an OutOfMemoryError naming the op, so callers need only catch tessera::Error.
template <typename In, typename F>
auto with_context(const OpDef& op, const std::vector<In>& inputs, F&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    std::string msg = e.what();
    const std::string ctx = op_context(op, inputs);
    if (msg.rfind(ctx, 0) == 0) throw;  // already in context
    // Shared helpers name the op themselves ("view: ..."): say it once, with the inputs.
    const std::string own = std::string(op.name) + ": ";
    if (msg.rfind(own, 0) == 0) msg.erase(0, own.size());
    throw_error(e.kind(), ctx + msg);
  } catch (const std::bad_alloc&) {
    throw_error(ErrorKind::OutOfMemory,
                op_context(op, inputs) + "out of memory (std::bad_alloc) while computing it");
  }
}

}  // namespace

namespace {

// Conversions the backend makes before a kernel runs, below dispatch: no layer sees them
// as ops of their own (the op they serve is what autograd and the tracer record).
// A wrapped scalar stays marked as one: pow reads the mark (x ** 0.5 is sqrt(x) in
// PyTorch, x ** tensor(0.5) is not).
Tensor convert(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor r = make_tensor(t.sizes(), dtype);
  cpu::copy_into(r, t);
  r.impl()->wrapped_number = t.impl()->wrapped_number;
  return r;
}

// A composite op without a fused kernel: its decomposition, through dispatch. The shape
// rule already checked the arguments; the results must match what it promised.
thread_local CompositeObserver* t_composite_observer = nullptr;

std::vector<Tensor> run_decomposition(const OpDef& op, const std::vector<Tensor>& inputs,
                                      const Attrs& attrs, const InferResult& meta) {
  CompositeObserver* observer = t_composite_observer;
  const int token = observer != nullptr ? observer->begin() : 0;
  std::vector<Tensor> outputs = with_context(op, inputs, [&] { return op.decompose(inputs, attrs); });
  if (observer != nullptr && observer == t_composite_observer) observer->end(token, op, inputs, attrs, outputs);
  TESSERA_INTERNAL_ASSERT(outputs.size() == meta.outputs.size(), op.name, ": the decomposition gave ",
                          outputs.size(), " outputs, the shape rule ", meta.outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i)
    TESSERA_INTERNAL_ASSERT(outputs[i].sizes().equals(meta.outputs[i].sizes) &&
                                outputs[i].dtype() == meta.outputs[i].dtype,
                            op.name, ": output ", i, " of the decomposition is ", outputs[i].describe(),
                            ", the shape rule said ", shape_str(meta.outputs[i].sizes), " ",
                            dtype_name(meta.outputs[i].dtype));
  return outputs;
}

// The backend for an op with its own outputs (or, for mutating ops, the inputs it writes).
// The shape rule on the inputs' metadata; for an op whose output shape the values decide,
// its data_shape function fills in what the rule left unknown.
InferResult infer_eager(const OpDef& op, const std::vector<Tensor>& inputs, const Attrs& attrs) {
  return with_context(op, inputs, [&] {
    InferResult r = op.infer(std::vector<InputMeta>(inputs.begin(), inputs.end()), attrs);
    if ((op.flags & kDataDependentShape) && has_unknown_dims(r)) {
      TESSERA_INTERNAL_ASSERT(op.data_shape != nullptr, op.name,
                              ": a data-dependent shape without data_shape");
      r = op.data_shape(inputs, attrs);
    }
    TESSERA_INTERNAL_ASSERT(!has_unknown_dims(r), op.name, ": the shape rule left a dim unknown");
    return r;
  });
}

std::vector<Tensor> run_kernel(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs) {
  InferResult meta = infer_eager(op, inputs, attrs);

  const Kernel* kernel = find_kernel(op, inputs.empty() ? Device::CPU : inputs[0].device());
  if (kernel == nullptr && op.decompose != nullptr) return run_decomposition(op, inputs, attrs, meta);
  if (kernel == nullptr)
    throw_error(ErrorKind::NotImplemented,
                detail::concat(op_context(op, inputs), "no kernel for the CPU device"));

  // The dtype the kernel computes in: the converted inputs' or, for ops without tensor
  // inputs of that kind, the first output's.
  DType compute = meta.input_dtype ? *meta.input_dtype
                  : !inputs.empty() ? inputs[0].dtype()
                                    : meta.outputs[0].dtype;
  bool upcast = false;  // reduced floats run on the float32 kernel, results converted back
  if (!kernel->supports(compute)) {
    if (is_reduced_float(compute) && kernel->supports(DType::Float32) && op.mutates == 0) {
      upcast = true;
    } else {
      // A valid op and dtype the CPU backend has no loop for: not the caller's mistake.
      throw_error(ErrorKind::NotImplemented,
                  detail::concat(op_context(op, inputs), "no CPU kernel for dtype ",
                                 dtype_name(compute), " (supported: ",
                                 dtype_list(kernel->dtype_mask), ")"));
    }
  }
  if (meta.input_dtype || upcast) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (writes_input(op, i)) continue;  // written in place: must stay the caller's tensor
      Tensor& t = inputs[i];
      DType want = meta.input_dtype ? *meta.input_dtype : t.dtype();
      if (upcast && is_reduced_float(want)) want = DType::Float32;
      if (t.dtype() != want && (meta.input_dtype || is_reduced_float(t.dtype()))) t = convert(t, want);
    }
  }
  std::vector<Tensor> outputs;
  outputs.reserve(meta.outputs.size());
  if (op.mutates != 0) {
    for (size_t i = 0; i < inputs.size(); ++i)
      if (writes_input(op, i)) outputs.push_back(inputs[i]);
    TESSERA_INTERNAL_ASSERT(outputs.size() == meta.outputs.size(), op.name,
                            ": a mutating op's shape rule must describe exactly the inputs it writes");
  } else {
    for (const TensorMeta& m : meta.outputs)
      outputs.push_back(make_tensor(m.sizes, upcast && is_reduced_float(m.dtype) ? DType::Float32 : m.dtype));
  }

  with_context(op, inputs, [&] {
    kernel->fn(KernelCall{op, inputs, outputs, attrs});
    return 0;
  });
  if (op.mutates != 0) {
    for (const Tensor& t : outputs) t.storage()->bump_version();
    return outputs;
  }
  if (upcast)
    for (size_t i = 0; i < outputs.size(); ++i)
      if (outputs[i].dtype() != meta.outputs[i].dtype) outputs[i] = convert(outputs[i], meta.outputs[i].dtype);
  return outputs;
}

// Whether `t` reads memory that `self` writes, other than element for element.
bool overlaps_partially(const Tensor& self, const Tensor& t) {
  if (!t.shares_storage(self)) return false;
  return !(t.data_ptr() == self.data_ptr() && t.sizes().equals(self.sizes()) &&
           t.strides().equals(self.strides()));
}

// The backend of an in-place form (OpCall::out). Elementwise ops whose result matches
// `out` write straight into it; anything else is computed out of place and copied in.
Tensor run_into(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs, const Tensor& out) {
  InferResult meta = infer_eager(op, inputs, attrs);
  const Kernel* kernel = find_kernel(op, out.device());
  bool direct = (op.flags & kElementwise) && kernel != nullptr && meta.outputs.size() == 1 &&
                meta.outputs[0].dtype == out.dtype() &&
                IntArrayRef(meta.outputs[0].sizes).equals(out.sizes()) &&
                kernel->supports(meta.input_dtype ? *meta.input_dtype : inputs[0].dtype());
  for (const Tensor& t : inputs) direct = direct && !overlaps_partially(out, t);
  if (direct) {
    if (meta.input_dtype)
      for (Tensor& t : inputs) t = convert(t, *meta.input_dtype);
    std::vector<Tensor> outputs{out};
    with_context(op, inputs, [&] {
      kernel->fn(KernelCall{op, inputs, outputs, attrs});
      return 0;
    });
  } else {
    const std::vector<Tensor> result = run_kernel(op, inputs, attrs);
    check_inplace_result(op, inputs, result[0], out);
    cpu::copy_into(out, result[0]);
  }
  out.storage()->bump_version();
  return out;
}

std::vector<Tensor> backend(OpCall& c) {
  if (c.op.flags & kIsView)
    return with_context(c.op, c.inputs, [&] { return std::vector<Tensor>{c.op.view(c.inputs[0], c.attrs)}; });
  if (c.out.defined()) return {run_into(c.op, std::move(c.inputs), c.attrs, c.out)};
  return run_kernel(c.op, std::move(c.inputs), c.attrs);
}

std::atomic<DispatchLayer*> g_layers[kNumLayerSlots] = {};

std::vector<Tensor> dispatch_from(int level, OpCall& c) {
  for (int l = level; l < kNumLayerSlots; ++l) {
    DispatchLayer* layer = g_layers[l].load(std::memory_order_acquire);
    if (layer != nullptr && layer->wants(c)) return layer->handle(c, DispatchLayer::Below(l + 1));
  }
  return backend(c);
}

// The checks every call gets before any layer sees it.
void check_call(const OpDef& op, const std::vector<Tensor>& inputs) {
  TESSERA_INTERNAL_ASSERT(op.index >= 0, "op ", op.name, " is not registered");
  if (op.num_inputs >= 0 && static_cast<int>(inputs.size()) != op.num_inputs) {
    throw_error(ErrorKind::InvalidArgument,
                detail::concat(op_context(op, inputs), "expected ", op.num_inputs,
                               " inputs, got ", inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      throw_error(ErrorKind::InvalidArgument,
                  detail::concat(op_context(op, inputs), "input ", i, " is an undefined tensor"));
}

}  // namespace

void check_precision(const Attrs& attrs) {
  if (!attrs.has("precision")) return;
  const std::string& p = attrs.get<std::string>("precision");
  TESSERA_CHECK(p == "float32" || p == "bf16", "precision must be \"float32\" or \"bf16\" (autocast), got \"", p,
                "\"");
}

bool wants_bf16(const Attrs& attrs) {
  return attrs.has("precision") && attrs.get<std::string>("precision") == "bf16";
}

CompositeObserver* set_composite_observer(CompositeObserver* observer) {
  CompositeObserver* previous = t_composite_observer;
  t_composite_observer = observer;
  return previous;
}

std::vector<Tensor> call_decomposition(const OpDef& op, const std::vector<Tensor>& inputs, const Attrs& attrs) {
  TESSERA_INTERNAL_ASSERT(op.decompose != nullptr, op.name, " has no decomposition");
  return run_decomposition(op, inputs, attrs, infer_eager(op, inputs, attrs));
}

std::vector<Tensor> DispatchLayer::Below::operator()(OpCall& call) const {
  return dispatch_from(level_, call);
}

void install_layer(LayerSlot slot, DispatchLayer* layer) {
  g_layers[static_cast<int>(slot)].store(layer, std::memory_order_release);
}

DispatchLayer* installed_layer(LayerSlot slot) {
  return g_layers[static_cast<int>(slot)].load(std::memory_order_acquire);
}

std::vector<Tensor> call(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs) {
  ensure_registered();
  check_call(op, inputs);
  const std::optional<Attrs> completed = check_attrs(op, attrs);
  OpCall c{op, std::move(inputs), completed ? *completed : attrs, Tensor()};
  return dispatch_from(0, c);
}

std::vector<Tensor> call_backend(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs,
                                 const Tensor& out) {
  ensure_registered();
  check_call(op, inputs);
  const std::optional<Attrs> completed = check_attrs(op, attrs);
  OpCall c{op, std::move(inputs), completed ? *completed : attrs, out};
  return dispatch_from(kNumLayerSlots, c);
}

std::optional<PreparedKernel> prepare_kernel(const OpDef& op, const std::vector<InputMeta>& inputs,
                                             const Attrs& attrs) {
  ensure_registered();
  if ((op.flags & (kIsView | kRandom | kDataDependentShape)) || op.mutates != 0) return std::nullopt;
  const Kernel* kernel = find_kernel(op, Device::CPU);
  if (kernel == nullptr) return std::nullopt;
  InferResult meta = infer_shapes(op, inputs, attrs);
  if (meta.input_dtype)
    for (const InputMeta& m : inputs)
      if (m.dtype() != *meta.input_dtype) return std::nullopt;
  const DType compute = meta.input_dtype ? *meta.input_dtype
                        : !inputs.empty() ? inputs[0].dtype()
                                          : meta.outputs[0].dtype;
  if (!kernel->supports(compute)) return std::nullopt;
  return PreparedKernel{kernel, std::move(meta.outputs)};
}

void run_prepared(const OpDef& op, const PreparedKernel& prepared, const std::vector<Tensor>& inputs,
                  std::vector<Tensor>& outputs, const Attrs& attrs) {
  with_context(op, inputs, [&] {
    prepared.kernel->fn(KernelCall{op, inputs, outputs, attrs});
    return 0;
  });
}

bool has_unknown_dims(const InferResult& r) {
  for (const TensorMeta& m : r.outputs)
    for (int64_t d : m.sizes)
      if (d == kUnknownDim) return true;
  return false;
}

InferResult infer_shapes(const OpDef& op, const std::vector<InputMeta>& inputs, const Attrs& attrs) {
  ensure_registered();
  TESSERA_INTERNAL_ASSERT(op.index >= 0, "op ", op.name, " is not registered");
  if (op.num_inputs >= 0 && static_cast<int>(inputs.size()) != op.num_inputs)
    throw_error(ErrorKind::InvalidArgument,
                detail::concat(op_context(op, inputs), "expected ", op.num_inputs, " inputs, got ",
                               inputs.size()));
  const std::optional<Attrs> completed = check_attrs(op, attrs);
  return with_context(op, inputs, [&] { return op.infer(inputs, completed ? *completed : attrs); });
}

void check_inplace_result(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& r,
                          const Tensor& self) {
  if (!r.sizes().equals(self.sizes()))
    throw_error(ErrorKind::InvalidArgument,
                detail::concat(op_context(op, inputs), "in-place result has shape ",
                               shape_str(r.sizes()), " but the tensor written to has shape ",
                               shape_str(self.sizes())));
  if (!can_cast(r.dtype(), self.dtype()))
    throw_error(ErrorKind::InvalidArgument,
                detail::concat(op_context(op, inputs), "result type ", dtype_name(r.dtype()),
                               " can't be cast to the tensor's dtype ", dtype_name(self.dtype())));
}

Tensor& call_inplace(const OpDef& op, Tensor& self, std::vector<Tensor> inputs, const Attrs& attrs) {
  ensure_registered();
  TESSERA_CHECK(self.defined(), op.name, "_: the tensor is undefined");
  check_call(op, inputs);
  const std::optional<Attrs> completed = check_attrs(op, attrs);
  OpCall c{op, std::move(inputs), completed ? *completed : attrs, self};
  dispatch_from(0, c);
  return self;
}

Tensor sum_to(const Tensor& grad, IntArrayRef sizes) {
  if (grad.sizes().equals(sizes)) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(sizes.size());
  TESSERA_INTERNAL_ASSERT(lead >= 0, "sum_to: ", shape_str(grad.sizes()), " to ", shape_str(sizes));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < grad.dim(); ++d)
    if (d < lead || (sizes[static_cast<size_t>(d - lead)] == 1 && grad.size(d) != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? grad : sum(grad, dims, true);
  return r.view(sizes);
}

// ---- shape and dtype helpers ----

Shape broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TESSERA_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ",
                  shape_str(b), " are not broadcastable (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {
enum class Kind { Bool, Int, Float };
Kind kind_of(DType t) {
  return t == DType::Bool ? Kind::Bool : is_floating(t) ? Kind::Float : Kind::Int;
}
// PyTorch's combine_categories: the higher-priority result wins unless the lower one
// brings a higher kind.
std::optional<DType> combine(std::optional<DType> higher, std::optional<DType> lower) {
  if (!higher) return lower;
  if (!lower) return higher;
  if (kind_of(*higher) == Kind::Float) return higher;
  if (*higher == DType::Bool || kind_of(*lower) == Kind::Float) return promote_types(*higher, *lower);
  return higher;
}
}  // namespace

DType result_type(const std::vector<InputMeta>& inputs) {
  std::optional<DType> dimmed, zero_dim, wrapped;
  auto fold = [](std::optional<DType>& acc, DType t) { acc = acc ? promote_types(*acc, t) : t; };
  for (const InputMeta& t : inputs) {
    if (t.is_wrapped_number()) {
      // A float scalar counts as the default float dtype, an int one as int64.
      fold(wrapped, is_floating(t.dtype()) ? DType::Float32 : t.dtype());
    } else if (t.dim() == 0) {
      fold(zero_dim, t.dtype());
    } else {
      fold(dimmed, t.dtype());
    }
  }
  std::optional<DType> r = combine(combine(dimmed, zero_dim), wrapped);
  TESSERA_INTERNAL_ASSERT(r.has_value(), "result_type of no tensors");
  return *r;
}

Tensor wrap_scalar(const Scalar& s) {
  DType dt = s.is_floating() ? DType::Float64 : s.is_bool() ? DType::Bool : DType::Int64;
  Tensor t = make_tensor({}, dt);
  switch (dt) {
    case DType::Float64: *t.data<double>() = s.to_double(); break;
    case DType::Bool: *t.data<bool>() = s.to<bool>(); break;
    default: *t.data<int64_t>() = s.to_int(); break;
  }
  t.impl()->wrapped_number = true;
  return t;
}

bool is_wrapped_scalar(const Tensor& t) { return t.defined() && t.impl()->wrapped_number; }

// ---- InputMeta ----

namespace {
// check_call refuses undefined inputs before any rule runs; one here is a bug.
const Tensor& defined(const Tensor& t) {
  TESSERA_INTERNAL_ASSERT(t.defined(), "the metadata of an undefined tensor");
  return t;
}
}  // namespace

InputMeta::InputMeta(const Tensor& t) : sizes_(defined(t).sizes()), dtype_(t.dtype()) {
  if (t.impl()->wrapped_number) {
    wrapped_ = true;
    wrapped_value_ = read_as_double(t, 0);
  }
}

InputMeta InputMeta::wrapped_scalar(const Scalar& s) {
  // The dtypes wrap_scalar gives: float64, bool or int64.
  InputMeta m({}, s.is_floating() ? DType::Float64 : s.is_bool() ? DType::Bool : DType::Int64);
  m.wrapped_ = true;
  m.wrapped_value_ = s.to_double();
  return m;
}

int64_t InputMeta::size(int64_t d) const {
  TESSERA_CHECK(dim() > 0, "size: dim ", d, " asked of a 0-d tensor, which has no dims");
  return sizes_[static_cast<size_t>(wrap_dim(d, dim(), "size"))];
}

std::string InputMeta::describe() const {
  if (wrapped_) {
    std::ostringstream os;
    os << "scalar " << wrapped_value_;
    return os.str();
  }
  return shape_str(sizes_) + " " + dtype_name(dtype_);
}

}  // namespace tessera::ops
