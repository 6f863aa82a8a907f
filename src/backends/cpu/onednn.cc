#include "backends/cpu/onednn.h"

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

}  // namespace tessera::cpu::onednn
