// The collectives' OpDefs (ops/collective.h) and the registry of communicators their nodes
// name. The kernels, which only hand the buffer to the communicator, are in
// backends/cpu/collective.cc.
#include "ops/collective.h"

#include <mutex>
#include <unordered_map>

namespace tessera::ops {
namespace {

std::mutex g_mu;
std::unordered_map<int64_t, std::weak_ptr<Communicator>> g_communicators;
int64_t g_next_id = 1;

InferResult infer_collective(const std::vector<InputMeta>& in, const Attrs& attrs) {
  TESSERA_CHECK(in[0].dtype() == DType::Float32 || in[0].dtype() == DType::Float64,
                "the buffer must be f32 or f64, got ", in[0].describe());
  TESSERA_CHECK(attrs.i("group") >= 1, "group must be a communicator id (>= 1), got ", attrs.i("group"));
  if (attrs.has("root"))
    TESSERA_CHECK(attrs.i("root") >= 0, "root must be a rank (>= 0), got ", attrs.i("root"));
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}

}  // namespace

int64_t register_communicator(std::weak_ptr<Communicator> communicator) {
  std::lock_guard<std::mutex> lock(g_mu);
  const int64_t id = g_next_id++;
  g_communicators[id] = std::move(communicator);
  return id;
}

void unregister_communicator(int64_t id) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_communicators.erase(id);
}

std::shared_ptr<Communicator> find_communicator(int64_t id, const char* op) {
  std::shared_ptr<Communicator> c;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (auto it = g_communicators.find(id); it != g_communicators.end()) c = it->second.lock();
  }
  TESSERA_CHECK(c != nullptr, op, ": communicator ", id, " no longer exists (the process group this "
                "node was traced with was destroyed; trace the function again under the current one)");
  return c;
}

OpDef kAllReduceStart{"all_reduce_start_", 1, kCollective, {attr("group", AttrType::Int)},
                      infer_collective, nullptr, nullptr, nullptr, /*mutates=*/0b1};
OpDef kAllReduceWait{"all_reduce_wait_", 1, kCollective, {attr("group", AttrType::Int)},
                     infer_collective, nullptr, nullptr, nullptr, /*mutates=*/0b1};
OpDef kBroadcastInto{"broadcast_", 1, kCollective,
                     {attr("group", AttrType::Int), attr("root", AttrType::Int, int64_t{0})},
                     infer_collective, nullptr, nullptr, nullptr, /*mutates=*/0b1};

void register_collective_ops() {
  for (OpDef* op : {&kAllReduceStart, &kAllReduceWait, &kBroadcastInto}) register_op(*op);
}

}  // namespace tessera::ops
