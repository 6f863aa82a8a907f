#include "tessera/traced.h"

#include <cstring>

namespace tessera {
namespace detail {
namespace {
thread_local TraceObserver* t_observer = nullptr;
thread_local int t_untraced = 0;
}  // namespace

bool in_untraced_scope() { return t_untraced > 0; }

TraceObserver* trace_observer() { return t_observer; }
void set_trace_observer(TraceObserver* observer) { t_observer = observer; }
}  // namespace detail

bool traced_flag(const bool& flag) {
  if (detail::TraceObserver* o = detail::t_observer)
    o->on_guard(&flag, [](const void* p) { return static_cast<int64_t>(*static_cast<const bool*>(p)); });
  return flag;
}

int64_t traced_value(const int64_t& value) {
  if (detail::TraceObserver* o = detail::t_observer)
    o->on_guard(&value, [](const void* p) { return *static_cast<const int64_t*>(p); });
  return value;
}

double traced_value(const double& value) {
  if (detail::TraceObserver* o = detail::t_observer)
    o->on_guard(&value, [](const void* p) {
      int64_t bits;
      std::memcpy(&bits, p, sizeof bits);
      return bits;
    });
  return value;
}

ValueCheckScope::ValueCheckScope() : observer_(detail::t_observer) { detail::t_observer = nullptr; }
ValueCheckScope::~ValueCheckScope() { detail::t_observer = observer_; }

UntracedScope::UntracedScope() { ++detail::t_untraced; }
UntracedScope::~UntracedScope() { --detail::t_untraced; }

}  // namespace tessera
