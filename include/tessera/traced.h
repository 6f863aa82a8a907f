#pragma once
// What graph capture (tessera::compile, include/tessera/graph.h) must see besides op calls.
// A trace records the ops a function calls; two things a trace cannot record it must at
// least notice:
//   - a tensor's value read as a C++ number (item, to_vector) while tracing: the code then
//     branches on data, which one graph can't hold. The tracer turns it into an error naming
//     the op that produced the tensor.
//   - a C++ value the traced code depends on (a module's train/eval mode, a user's flag):
//     read through traced_flag/traced_value, it becomes a guard of the captured graph, so a
//     later call where it differs traces a new graph instead of reusing a stale one.
// Outside a trace both cost one thread-local load.
#include <cstdint>

#include "tessera/export.h"

namespace tessera {

class Tensor;

namespace detail {
// Reads the current value of a guarded C++ variable (bool, int64, ...) as an int64.
using GuardReader = int64_t (*)(const void* where);

// Implemented by the tracer of src/graph/ and installed for the tracing thread only.
class TraceObserver {
 public:
  virtual ~TraceObserver() = default;
  virtual void on_value_read(const Tensor& t) = 0;
  virtual void on_guard(const void* where, GuardReader read) = 0;
};
// The observer of the calling thread (nullptr when it is not tracing).
TESSERA_API TraceObserver* trace_observer();
TESSERA_API void set_trace_observer(TraceObserver* observer);
}  // namespace detail

// Returns `flag`; when called while tracing, the graph is guarded on its value.
TESSERA_API bool traced_flag(const bool& flag);
TESSERA_API int64_t traced_value(const int64_t& value);
TESSERA_API double traced_value(const double& value);  // guarded on its exact bits

// Ops run in this scope are not recorded by a trace: what they make becomes a captured
// tensor of the graph, made once. For state created lazily on first use (an optimizer's
// buffers), which a graph must update in place rather than create again on every run.
class TESSERA_API UntracedScope {
 public:
  UntracedScope();
  ~UntracedScope();
  UntracedScope(const UntracedScope&) = delete;
  UntracedScope& operator=(const UntracedScope&) = delete;
};
// A check of values the eager code makes before computing (class labels in range,
// probabilities in [0, 1]): while tracing, its ops are not recorded and its reads are
// allowed, since they only decide whether to raise an error. A compiled graph does not
// repeat it on later runs (kernels' own checks, such as gather's index bounds, still do).
class TESSERA_API ValueCheckScope {
 public:
  ValueCheckScope();
  ~ValueCheckScope();
  ValueCheckScope(const ValueCheckScope&) = delete;
  ValueCheckScope& operator=(const ValueCheckScope&) = delete;

 private:
  UntracedScope untraced_;
  detail::TraceObserver* observer_;
};

namespace detail {
TESSERA_API bool in_untraced_scope();
}

}  // namespace tessera
