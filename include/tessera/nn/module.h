#pragma once
// Module: the base of every layer and model (torch.nn.Module). A module owns named
// parameters (trainable leaves), buffers (state such as BatchNorm's running statistics)
// and submodules; names are dotted paths ("features.0.weight") in registration order, so
// a state_dict lines up key for key, in the same order, with PyTorch's for the same
// architecture.
//
// Modules live in std::shared_ptr. Parameters sit in stable slots owned by the module:
// register_parameter() returns a reference to the slot, layers bind their public
// `Tensor& weight` to it, and parameter(name) hands the same slot out for replacement
// (to(), functional calls in tests), so every view of the module stays consistent.
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tessera/autograd.h"
#include "tessera/ops.h"
#include "tessera/state_dict.h"
#include "tessera/traced.h"

namespace tessera::nn {

// The one state-dict type (tessera/state_dict.h); a module's is described at
// Module::state_dict() below.
using StateDict = tessera::StateDict;

// What a non-strict load_state_dict left unmatched (both empty after a strict load).
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

class Module;
using ModulePtr = std::shared_ptr<Module>;

class TESSERA_API Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name = "Module");
  virtual ~Module();
  Module(const Module&) = delete;  // layers bind references to their own slots
  Module& operator=(const Module&) = delete;

  // The layer's computation, one tensor in and one out (most layers) ...
  virtual Tensor forward(const Tensor& x);
  // ... or any number of each (attention's query/key/value, a model with two heads, a
  // Sequential of such modules). A module overrides the one that fits; each base version
  // runs the other when the call has one input and one output, and a module that
  // overrides neither fails naming itself.
  virtual std::vector<Tensor> forward_multi(const std::vector<Tensor>& inputs);
  // Run forward() / forward_multi() and then the forward hooks (summary() uses them to see
  // shapes). `m({a, b})` is the several-input call; `m(x)` and `m({x})` the one-input one.
  // `at` is where the caller is (include/tessera/call_site.h): ops of a forward built from
  // library layers name it in their errors and graph nodes.
  Tensor operator()(const Tensor& x, CallSite at = CallSite::current());
  std::vector<Tensor> operator()(const std::vector<Tensor>& inputs,
                                 CallSite at = CallSite::current());

  // "Linear", "Conv2d", ... (PyTorch's class name, used by repr and summary).
  const std::string& type_name() const { return type_name_; }

  // ---- registration ----
  // An undefined tensor registers an absent parameter (PyTorch's `bias=None`): the slot
  // exists, but it is listed nowhere. Names are unique across parameters, buffers and
  // submodules and may not contain '.'.
  Tensor& register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  // A non-persistent buffer stays out of state_dict().
  Tensor& register_buffer(const std::string& name, Tensor value, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- access (recursive, dotted names, registration order) ----
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, ModulePtr>> named_children() const;
  std::vector<ModulePtr> children() const;
  // This module first (name ""), then every descendant, depth first.
  std::vector<std::pair<std::string, ModulePtr>> named_modules();
  // The slot of a (dotted) parameter or buffer: read it, or assign to replace it.
  Tensor& parameter(const std::string& dotted_name);
  Tensor& buffer(const std::string& dotted_name);
  ModulePtr submodule(const std::string& dotted_name) const;
  // Calls fn on every module (children first, then this one), like PyTorch's apply().
  void apply(const std::function<void(Module&)>& fn);

  // ---- modes ----
  virtual void train(bool on = true);  // sets this module and every descendant
  void eval() { train(false); }
  // Read through traced_flag: a compiled model is guarded on it, so eval() after a
  // compiled call in train mode traces a new graph (include/tessera/traced.h).
  bool is_training() const { return traced_flag(training_); }

  // Clears every parameter's gradient (undefined, as PyTorch's set_to_none=True).
  void zero_grad();

  // ---- state ----
  // Parameters and persistent buffers, detached (they share storage with the module), in
  // PyTorch's order: each module's parameters, then its persistent buffers, then its
  // children's entries (so "1.running_mean" follows "1.bias", as in torch).
  StateDict state_dict() const;
  // Copies values into the module's tensors (converting dtype). Strict mode fails on any
  // missing or unexpected key; a shape mismatch fails in both modes. The error lists
  // every problem at once, e.g.
  //   load_state_dict (Sequential): missing keys: 1.bias; unexpected keys: foo;
  //   1.weight: expected [10, 128] got [10, 64]
  // Nothing is written unless every check passes.
  LoadStateDictResult load_state_dict(const StateDict& state, bool strict = true);
  // Converts floating parameters and buffers (integer buffers such as
  // num_batches_tracked keep their dtype). Gradients are dropped.
  Module& to(DType dtype);

  int64_t num_parameters(bool trainable_only = false) const;

  // ---- printing ----
  // PyTorch's repr: "Linear(in_features=4, out_features=2, bias=True)", with children
  // indented one per line.
  std::string repr() const;
  // The text inside this module's parentheses (PyTorch's extra_repr); "" by default.
  virtual std::string extra_repr() const;
  // A Keras-style table: one row per top-level child with its output shape for an input
  // of `input_shape` (batch included) and its parameter count, then totals. It runs one
  // forward on zeros in eval mode without recording, and restores the modes afterwards.
  std::string summary(IntArrayRef input_shape);

  // ---- hooks ----
  // Called after every forward with its inputs and outputs. The one-tensor form sees the
  // calls with one input and one output; the multi form sees every call.
  using ForwardHook = std::function<void(Module&, const Tensor& input, const Tensor& output)>;
  using MultiForwardHook = std::function<void(Module&, const std::vector<Tensor>& inputs,
                                              const std::vector<Tensor>& outputs)>;
  int64_t register_forward_hook(ForwardHook hook);  // returns an id for removal
  int64_t register_forward_hook(MultiForwardHook hook);
  void remove_forward_hook(int64_t id);

 protected:
  // register_module()'s untyped half (containers append children through it).
  void add_child(const std::string& name, ModulePtr module);

 private:
  struct Slot {
    std::string name;
    std::unique_ptr<Tensor> value;  // stable address: layers hold references to it
    bool flag;                      // parameter: requires_grad; buffer: persistent
  };
  void check_new_name(const std::string& name, const char* what) const;
  void collect_parameters(const std::string& prefix, bool recurse,
                          std::vector<std::pair<std::string, Tensor>>& out) const;
  void collect_buffers(const std::string& prefix, bool recurse, bool persistent_only,
                       std::vector<std::pair<std::string, Tensor>>& out) const;
  // PyTorch's state_dict order: this module's parameters, its persistent buffers, then
  // each child's entries in turn.
  void collect_state(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  void collect_modules(const std::string& prefix,
                       std::vector<std::pair<std::string, ModulePtr>>& out);
  Tensor& find_slot(const std::string& dotted_name, bool want_parameter);
  void repr_into(std::ostream& os, int indent) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<Slot> parameters_;
  std::vector<Slot> buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
  void run_hooks(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs);
  std::vector<std::pair<int64_t, MultiForwardHook>> hooks_;
  int64_t next_hook_id_ = 0;
};

TESSERA_API std::ostream& operator<<(std::ostream& os, const Module& m);

// Python-style formatting used by extra_repr(): 1e-05, 0.1, True, (3, 3).
namespace repr {
TESSERA_API std::string py_float(double v);
TESSERA_API std::string py_bool(bool v);
TESSERA_API std::string py_tuple(IntArrayRef v);  // "(3,)" for one element
}  // namespace repr

}  // namespace tessera::nn
