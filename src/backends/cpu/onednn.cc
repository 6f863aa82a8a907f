#include "backends/cpu/onednn.h"

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include <atomic>

#include "tessera/autocast.h"
#include "tessera/grad_mode.h"
#include "tessera/tensor.h"

namespace tessera::cpu::onednn {

dnnl::engine& engine() {
  // A function-local static: built once, thread-safe; an engine is immutable after that.
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

dnnl::primitive_attr attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

Tensor add_scratchpad(const dnnl::memory::desc& desc, std::unordered_map<int, dnnl::memory>& args) {
  const size_t bytes = desc.get_size();
  if (bytes == 0) return Tensor();
  // Bytes from the caching allocator: a training step asks for the same sizes every time,
  // so after the first step this is a bin pop, not a malloc. 64-byte aligned, as oneDNN
  // wants for its vector loads. make_tensor, not empty(): kernels stay below the dispatcher.
  Tensor buf = make_tensor({static_cast<int64_t>(bytes)}, DType::UInt8);
  args.insert_or_assign(DNNL_ARG_SCRATCHPAD, dnnl::memory(desc, engine(), buf.data_ptr()));
  return buf;
}

Reorder::Reorder(const dnnl::memory::desc& from_, const dnnl::memory::desc& to_) : from(from_), to(to_) {
  const dnnl::reorder::primitive_desc pd(engine(), from, engine(), to, attr());
  reorder = dnnl::reorder(pd);
  scratchpad = pd.scratchpad_desc();
}

void run_reorder(const Reorder& r, void* from, void* to) {
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, dnnl::memory(r.from, engine(), from)},
                                             {DNNL_ARG_TO, dnnl::memory(r.to, engine(), to)}};
  const Tensor scratch = add_scratchpad(r.scratchpad, args);
  r.reorder.execute(stream(), args);
  stream().wait();
}

namespace {

struct KeptCopy {
  std::weak_ptr<Storage> storage;
  const Storage* key = nullptr;
  uint64_t version = 0;
  const void* data = nullptr;
  dnnl::memory::desc from, to;
  Tensor copy;
};
constexpr size_t kKeptCopies = 6;
thread_local std::vector<KeptCopy> t_kept;
std::atomic<int64_t> g_reorders_reused{0};

}  // namespace

Tensor reordered(const Reorder& r, const Tensor& t, Reuse reuse) {
  const std::shared_ptr<Storage>& st = t.storage();
  TESSERA_INTERNAL_ASSERT(st != nullptr, "oneDNN input without storage");
  const Storage& storage = *st;  // (a reference: GCC 12 misreads atomics through shared_ptr)
  if (reuse == Reuse::kReuse)
    for (const KeptCopy& e : t_kept)
      if (e.key == &storage && e.data == t.data_ptr() && e.version == storage.version() && !e.storage.expired() &&
          e.from == r.from && e.to == r.to) {
        g_reorders_reused.fetch_add(1, std::memory_order_relaxed);
        return e.copy;
      }
  Tensor out = make_tensor({static_cast<int64_t>(r.to.get_size())}, DType::UInt8);
  run_reorder(r, t.data_ptr(), out.data_ptr());
  if (reuse == Reuse::kReuse || (reuse == Reuse::kRemember && autograd::is_grad_enabled())) {
    std::erase_if(t_kept, [](const KeptCopy& e) { return e.storage.expired(); });
    if (t_kept.size() >= kKeptCopies) t_kept.pop_back();
    t_kept.insert(t_kept.begin(), KeptCopy{st, &storage, storage.version(), t.data_ptr(), r.from, r.to, out});
  }
  return out;
}

int64_t reorders_reused() { return g_reorders_reused.load(std::memory_order_relaxed); }

Tensor prepared_weights(const void* key_of, const Tensor& w, size_t bytes, const std::function<void(void* out)>& fill) {
  struct Entry {
    std::weak_ptr<Storage> storage;
    uint64_t version = 0;
    Tensor packed;
  };
  static std::mutex mu;
  static std::map<std::tuple<const Storage*, int64_t, const void*>, Entry> cache;
  const std::shared_ptr<Storage>& st = w.storage();
  TESSERA_INTERNAL_ASSERT(st != nullptr, "oneDNN weights without storage");
  const Storage& storage = *st;  // (a reference: GCC 12 misreads atomics through shared_ptr)
  const uint64_t version = storage.version();
  const auto key = std::make_tuple(&storage, w.storage_offset(), key_of);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end() && it->second.storage.lock() == st && it->second.version == version)
      return it->second.packed;
  }
  Tensor packed = make_tensor({static_cast<int64_t>(bytes)}, DType::UInt8);
  fill(packed.data_ptr());
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = cache.begin(); it != cache.end();) it = it->second.storage.expired() ? cache.erase(it) : std::next(it);
  cache[key] = Entry{st, version, packed};
  return packed;
}

Tensor prepared_weights(const Reorder& r, const Tensor& w) {
  return prepared_weights(&r, w, r.to.get_size(), [&](void* out) { run_reorder(r, w.data_ptr(), out); });
}

}  // namespace tessera::cpu::onednn

// ---- bfloat16 support (tessera/autocast.h)
namespace tessera {
namespace {
std::atomic<bool> g_bf16_disabled_for_testing{false};
}  // namespace

bool bf16_supported() {
  // oneDNN's own dispatch decides which kernels run: bf16 convolutions and matrix products
  // have native kernels from AVX512-BF16 (avx512_core_bf16) up, AMX included. Below that
  // oneDNN would emulate them, slower than float32: autocast then stays off.
  static const bool native = [] {
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  }();
  return native && !g_bf16_disabled_for_testing.load(std::memory_order_relaxed);
}

bool autocast_bf16_active() { return is_autocast_enabled() && bf16_supported(); }

namespace detail {
void set_bf16_disabled_for_testing(bool disabled) { g_bf16_disabled_for_testing.store(disabled); }
}  // namespace detail

}  // namespace tessera
