#include "backends/cpu/onednn.h"

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include <atomic>

#include "tessera/autocast.h"
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

WeightReorder::WeightReorder(const dnnl::memory::desc& from_, const dnnl::memory::desc& to_) : from(from_), to(to_) {
  const dnnl::reorder::primitive_desc pd(engine(), from, engine(), to, attr());
  reorder = dnnl::reorder(pd);
  scratchpad = pd.scratchpad_desc();
}

Tensor reordered(const WeightReorder& r, const Tensor& t) {
  Tensor out = make_tensor({static_cast<int64_t>(r.to.get_size())}, DType::UInt8);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, dnnl::memory(r.from, engine(), t.data_ptr())},
                                             {DNNL_ARG_TO, dnnl::memory(r.to, engine(), out.data_ptr())}};
  const Tensor scratch = add_scratchpad(r.scratchpad, args);
  r.reorder.execute(stream(), args);
  stream().wait();
  return out;
}

Tensor prepared_weights(const WeightReorder& r, const Tensor& w) {
  struct Entry {
    std::weak_ptr<Storage> storage;
    uint64_t version = 0;
    Tensor packed;
  };
  static std::mutex mu;
  static std::map<std::tuple<const Storage*, int64_t, const WeightReorder*>, Entry> cache;
  const std::shared_ptr<Storage>& st = w.storage();
  TESSERA_INTERNAL_ASSERT(st != nullptr, "oneDNN weights without storage");
  const Storage& storage = *st;  // (a reference: GCC 12 misreads atomics through shared_ptr)
  const uint64_t version = storage.version();
  const auto key = std::make_tuple(&storage, w.storage_offset(), &r);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end() && it->second.storage.lock() == st && it->second.version == version)
      return it->second.packed;
  }
  Tensor packed = make_tensor({static_cast<int64_t>(r.to.get_size())}, DType::UInt8);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, dnnl::memory(r.from, engine(), w.data_ptr())},
                                             {DNNL_ARG_TO, dnnl::memory(r.to, engine(), packed.data_ptr())}};
  const Tensor scratch = add_scratchpad(r.scratchpad, args);
  r.reorder.execute(stream(), args);
  stream().wait();
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = cache.begin(); it != cache.end();) it = it->second.storage.expired() ? cache.erase(it) : std::next(it);
  cache[key] = Entry{st, version, packed};
  return packed;
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
