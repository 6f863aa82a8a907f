// opdb entries of the collectives (src/ops/collective.h). They talk to other processes
// through a communicator; here a loopback one stands in for kRanks ranks, where rank r holds
// (r + 1) times this process's buffer (this process being rank 0). So an all-reduce must
// give x * (1 + 2 + ... + kRanks) and a broadcast from root r gives x * (r + 1): enough to
// check that each op writes its buffer, that a graph replays it, and the error inputs. The
// real exchange between processes is tests/distributed's (DistributedCompiled.*).
#include <map>
#include <mutex>

#include "opdb/opdb.h"
#include "ops/collective.h"

namespace tessera::opdb {
namespace {

constexpr int kRanks = 4;

class Loopback final : public ops::Communicator {
 public:
  std::string describe() const override { return "loopback communicator"; }
  // The sum is computed at the wait, so a missing wait shows as an unchanged buffer.
  void all_reduce_start(const Tensor& buffer) override {
    std::lock_guard<std::mutex> lock(mu_);
    TESSERA_CHECK(!pending_.count(buffer.data_ptr()), "already in flight");
    pending_[buffer.data_ptr()] = buffer;
  }
  void all_reduce_wait(const Tensor& buffer) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      TESSERA_CHECK(pending_.erase(buffer.data_ptr()) == 1, "no all-reduce of ", buffer.describe(),
                    " was started");
    }
    scale(buffer, kRanks * (kRanks + 1) / 2.0);
  }
  void broadcast(const Tensor& buffer, int64_t root) override {
    TESSERA_CHECK(root < kRanks, "root ", root, " is not a rank of ", kRanks);
    scale(buffer, static_cast<double>(root + 1));
  }

 private:
  // Below dispatch, as a real communicator writes the memory (the op bumps the version).
  static void scale(const Tensor& t, double by) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (t.dtype() == kFloat64) static_cast<double*>(t.data_ptr())[i] *= by;
      else static_cast<float*>(t.data_ptr())[i] = static_cast<float>(static_cast<float*>(t.data_ptr())[i] * by);
    }
  }
  std::mutex mu_;
  std::map<const void*, Tensor> pending_;
};

// Registered once, for the life of the test program.
int64_t loopback_id() {
  static const std::shared_ptr<Loopback> comm = std::make_shared<Loopback>();
  static const int64_t id = ops::register_communicator(comm);
  return id;
}

const ops::OpDef& op(const char* name) {
  ops::ensure_registered();
  return *ops::find_op(name);
}

// Both all-reduce entries run the pair (a start alone leaves the buffer in flight).
Tensors all_reduce(const Tensors& x, const Attrs& a) {
  const int64_t group = attr_i(a, "group");
  ops::call(op("all_reduce_start_"), {x[0]}, {{"group", group}});
  return ops::call(op("all_reduce_wait_"), {x[0]}, {{"group", group}});
}

std::vector<Sample> buffers(DType t, const char* name, Attrs attrs) {
  Maker m(name, t);
  std::vector<Sample> s;
  s.push_back({"contiguous", {m({3, 4})}, attrs});
  s.push_back({"scalar", {m({})}, attrs});
  s.push_back({"empty", {m({0, 3})}, attrs});
  s.push_back({"large", {m({300, 400})}, attrs, false});
  return s;
}

OpEntry all_reduce_entry(const char* name) {
  OpEntry e;
  e.op = name;
  e.family = "collective";
  e.invoke = all_reduce;
  e.samples = [name](DType t) { return buffers(t, name, Attrs{{"group", loopback_id()}}); };
  e.reference = [](const Tensors& x, const Attrs&) { return Tensors{mul(x[0], kRanks * (kRanks + 1) / 2.0)}; };
  e.errors = [] {
    const int64_t id = loopback_id();
    return std::vector<ErrorCase>{
        {"int_buffer", {zeros({2}, kInt64)}, {{"group", id}}, "the buffer must be f32 or f64, got [2] i64"},
        {"group_zero", {ones({2})}, {{"group", int64_t{0}}}, "group must be a communicator id (>= 1), got 0"},
        {"gone_group", {ones({2})}, {{"group", int64_t{1} << 40}}, "no longer exists"},
        {"noncontiguous", {ones({3, 4}).transpose(0, 1)}, {{"group", id}}, "must be contiguous"}};
  };
  return e;
}

}  // namespace

void add_collective(std::vector<OpEntry>& out) {
  out.push_back(all_reduce_entry("all_reduce_start_"));
  out.push_back(all_reduce_entry("all_reduce_wait_"));
  OpEntry b;
  b.op = "broadcast_";
  b.family = "collective";
  b.invoke = [](const Tensors& x, const Attrs& a) { return ops::call(op("broadcast_"), {x[0]}, a); };
  b.samples = [](DType t) {
    std::vector<Sample> s = buffers(t, "broadcast_", Attrs{{"group", loopback_id()}, {"root", int64_t{2}}});
    s.push_back({"root_1", {Maker("broadcast_", t)({5})}, Attrs{{"group", loopback_id()}, {"root", int64_t{1}}}});
    return s;
  };
  b.reference = [](const Tensors& x, const Attrs& a) {
    return Tensors{mul(x[0], static_cast<double>(attr_i(a, "root") + 1))};
  };
  b.errors = [] {
    return std::vector<ErrorCase>{
        {"negative_root", {ones({2})}, {{"group", loopback_id()}, {"root", int64_t{-1}}}, "root must be a rank (>= 0), got -1"}};
  };
  out.push_back(std::move(b));
}

}  // namespace tessera::opdb
