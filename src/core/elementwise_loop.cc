#include "core/elementwise_loop.h"

namespace tessera {

ElementwiseLoop::ElementwiseLoop(std::initializer_list<const Tensor*> outputs,
                                 std::initializer_list<const Tensor*> inputs) {
  nops_ = static_cast<int>(outputs.size() + inputs.size());
  TESSERA_INTERNAL_ASSERT(nops_ <= kMaxOperands && outputs.size() >= 1);
  const Tensor& out0 = **outputs.begin();
  const IntArrayRef shape = out0.sizes();
  const int rank = static_cast<int>(shape.size());
  numel_ = out0.numel();

  // Byte strides per operand, right-aligned to the output shape; broadcast dims get 0.
  int k = 0;
  auto add_operand = [&](const Tensor* t) {
    const int r = static_cast<int>(t->dim());
    TESSERA_INTERNAL_ASSERT(r <= rank, "operand rank exceeds output rank");
    const int64_t isz = static_cast<int64_t>(t->itemsize());
    Shape st(static_cast<size_t>(rank), 0);
    for (int d = 0; d < r; ++d) {
      const int od = rank - r + d;
      const int64_t sz = t->sizes()[d];
      TESSERA_INTERNAL_ASSERT(sz == shape[od] || sz == 1, "operand not broadcastable");
      st[od] = (sz == 1 && shape[od] != 1) ? 0 : t->strides()[d] * isz;
    }
    base_[k] = static_cast<char*>(t->data_ptr());
    strides_[k] = std::move(st);
    ++k;
  };
  for (const Tensor* t : outputs) add_operand(t);
  for (const Tensor* t : inputs) add_operand(t);

  // Drop size-1 dims, then merge dim d into d+1 when every operand allows it.
  Shape sizes;
  Shape strides[kMaxOperands];
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    sizes.push_back(shape[d]);
    for (int j = 0; j < nops_; ++j) strides[j].push_back(strides_[j][d]);
  }
  Shape merged;
  Shape merged_strides[kMaxOperands];
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (!merged.empty()) {
      bool can_merge = true;
      for (int j = 0; j < nops_; ++j)
        if (merged_strides[j].back() != strides[j][d] * sizes[d]) can_merge = false;
      if (can_merge) {
        merged.back() *= sizes[d];
        for (int j = 0; j < nops_; ++j) merged_strides[j].back() = strides[j][d];
        continue;
      }
    }
    merged.push_back(sizes[d]);
    for (int j = 0; j < nops_; ++j) merged_strides[j].push_back(strides[j][d]);
  }
  sizes_ = std::move(merged);
  for (int j = 0; j < nops_; ++j) strides_[j] = std::move(merged_strides[j]);
  if (sizes_.empty() && numel_ == 1) return;  // 0-d: one element, nd == 0
}

}  // namespace tessera
