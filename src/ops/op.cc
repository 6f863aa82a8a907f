#include "ops/op.h"

#include <array>
#include <mutex>
#include <sstream>

#include "autograd/record.h"
#include "ops/registration.h"
#include "tessera/autograd.h"
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

std::string op_context(const OpDef& op, const std::vector<Tensor>& inputs) {
  std::ostringstream os;
  os << op.name << ":";
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
  os << ": ";
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

// Runs fn; a user error from it is re-thrown with the op and its inputs named first.
template <typename F>
auto with_context(const OpDef& op, const std::vector<Tensor>& inputs, F&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    std::string msg = e.what();
    const std::string ctx = op_context(op, inputs);
    if (msg.rfind(ctx, 0) == 0) throw;  // already in context
    // Shared helpers name the op themselves ("view: ..."): say it once, with the inputs.
    const std::string own = std::string(op.name) + ": ";
    if (msg.rfind(own, 0) == 0) msg.erase(0, own.size());
    throw Error(ctx + msg);
  }
}

}  // namespace

std::vector<Tensor> call(const OpDef& op, std::vector<Tensor> inputs, const Attrs& attrs) {
  ensure_registered();
  TESSERA_INTERNAL_ASSERT(op.index >= 0, "op ", op.name, " is not registered");
  if (op.num_inputs >= 0 && static_cast<int>(inputs.size()) != op.num_inputs) {
    throw Error(detail::concat(op_context(op, inputs), "expected ", op.num_inputs,
                               " inputs, got ", inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      throw Error(detail::concat(op_context(op, inputs), "input ", i, " is an undefined tensor"));

  if (op.flags & kIsView) {
    std::vector<Tensor> out =
        with_context(op, inputs, [&] { return std::vector<Tensor>{op.view(inputs[0], attrs)}; });
    if (autograd::should_record(inputs)) autograd::record(op, inputs, out, attrs);
    return out;
  }
  InferResult meta = with_context(op, inputs, [&] { return op.infer(inputs, attrs); });

  const Kernel* kernel = find_kernel(op, inputs.empty() ? Device::CPU : inputs[0].device());
  if (kernel == nullptr)
    throw Error(detail::concat(op_context(op, inputs), "no kernel for the CPU device"));

  // The dtype the kernel computes in: the converted inputs' or, for ops without tensor
  // inputs of that kind, the first output's.
  DType compute = meta.input_dtype ? *meta.input_dtype
                  : !inputs.empty() ? inputs[0].dtype()
                                    : meta.outputs[0].dtype;
  bool upcast = false;  // reduced floats run on the float32 kernel, results converted back
  if (!kernel->supports(compute)) {
    if (is_reduced_float(compute) && kernel->supports(DType::Float32)) {
      upcast = true;
    } else {
      throw Error(detail::concat(op_context(op, inputs), "no CPU kernel for dtype ",
                                 dtype_name(compute), " (supported: ", dtype_list(kernel->dtype_mask),
                                 ")"));
    }
  }
  if (meta.input_dtype || upcast) {
    for (Tensor& t : inputs) {
      DType want = meta.input_dtype ? *meta.input_dtype : t.dtype();
      if (upcast && is_reduced_float(want)) want = DType::Float32;
      if (t.dtype() != want && (meta.input_dtype || is_reduced_float(t.dtype()))) t = t.to(want);
    }
  }
  std::vector<Tensor> outputs;
  outputs.reserve(meta.outputs.size());
  for (const TensorMeta& m : meta.outputs)
    outputs.push_back(make_tensor(m.sizes, upcast && is_reduced_float(m.dtype) ? DType::Float32 : m.dtype));

  with_context(op, inputs, [&] {
    kernel->fn(KernelCall{op, inputs, outputs, attrs});
    return 0;
  });
  if (autograd::should_record(inputs)) autograd::record(op, inputs, outputs, attrs);
  if (upcast)
    for (size_t i = 0; i < outputs.size(); ++i)
      if (outputs[i].dtype() != meta.outputs[i].dtype) outputs[i] = outputs[i].to(meta.outputs[i].dtype);
  return outputs;
}

namespace {

// Whether `t` reads memory that `self` writes, other than element for element.
bool overlaps_partially(const Tensor& self, const Tensor& t) {
  if (!t.shares_storage(self)) return false;
  return !(t.data_ptr() == self.data_ptr() && t.sizes().equals(self.sizes()) &&
           t.strides().equals(self.strides()));
}

// The errors an in-place op gives for a result self cannot take.
void check_inplace_result(const OpDef& op, const std::vector<Tensor>& inputs, const Tensor& r,
                          const Tensor& self) {
  if (!r.sizes().equals(self.sizes()))
    throw Error(detail::concat(op_context(op, inputs), "in-place result has shape ",
                               shape_str(r.sizes()), " but the tensor written to has shape ",
                               shape_str(self.sizes())));
  if (!can_cast(r.dtype(), self.dtype()))
    throw Error(detail::concat(op_context(op, inputs), "result type ", dtype_name(r.dtype()),
                               " can't be cast to the tensor's dtype ", dtype_name(self.dtype())));
}

}  // namespace

Tensor& call_inplace(const OpDef& op, Tensor& self, std::vector<Tensor> inputs, const Attrs& attrs) {
  ensure_registered();
  TESSERA_CHECK(self.defined(), op.name, "_: the tensor is undefined");
  if (autograd::should_record(inputs) || (autograd::is_grad_enabled() && self.requires_grad())) {
    // With history, the op is recorded out of place and self takes over its history.
    Tensor before = autograd::prepare_inplace(op, self);
    for (Tensor& t : inputs)
      if (t.is_same(self)) t = before;
    Tensor r = call(op, inputs, attrs)[0];
    check_inplace_result(op, inputs, r, self);
    if (r.dtype() != self.dtype()) r = r.to(self.dtype());
    {
      autograd::NoGradGuard no_grad;
      self.copy_(r);
    }
    autograd::rebase_history(self, r);
    return self;
  }
  InferResult meta = with_context(op, inputs, [&] { return op.infer(inputs, attrs); });
  const Kernel* kernel = find_kernel(op, self.device());
  bool direct = (op.flags & kElementwise) && kernel != nullptr && meta.outputs.size() == 1 &&
                meta.outputs[0].dtype == self.dtype() &&
                IntArrayRef(meta.outputs[0].sizes).equals(self.sizes()) &&
                kernel->supports(meta.input_dtype ? *meta.input_dtype : inputs[0].dtype());
  for (const Tensor& t : inputs) direct = direct && !overlaps_partially(self, t);
  if (direct) {
    if (meta.input_dtype)
      for (Tensor& t : inputs)
        if (t.dtype() != *meta.input_dtype) t = t.to(*meta.input_dtype);
    std::vector<Tensor> outputs{self};
    with_context(op, inputs, [&] {
      kernel->fn(KernelCall{op, inputs, outputs, attrs});
      return 0;
    });
    self.storage()->bump_version();
    return self;
  }
  std::vector<Tensor> result = call(op, inputs, attrs);
  check_inplace_result(op, inputs, result[0], self);
  self.copy_(result[0]);  // bumps the version
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

DType result_type(const std::vector<Tensor>& tensors) {
  std::optional<DType> dimmed, zero_dim, wrapped;
  auto fold = [](std::optional<DType>& acc, DType t) { acc = acc ? promote_types(*acc, t) : t; };
  for (const Tensor& t : tensors) {
    if (!t.defined()) continue;
    if (t.impl()->wrapped_number) {
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

}  // namespace tessera::ops
