// TensorDataset and the default collate. Both copy bytes directly rather than calling ops:
// they run on loader worker threads, where an op's own parallel region would only
// oversubscribe the cores the training step is using.
#include <cstring>

#include "tessera/data.h"

namespace tessera::data {

TensorDataset::TensorDataset(Tensor inputs, Tensor targets) {
  TESSERA_CHECK(inputs.defined() && targets.defined(),
                "TensorDataset: inputs and targets must both be defined");
  TESSERA_CHECK(inputs.dim() >= 1 && targets.dim() >= 1,
                "TensorDataset: inputs ", inputs.describe(), ", targets ", targets.describe(),
                ": both need a leading example dim");
  TESSERA_CHECK(inputs.size(0) == targets.size(0), "TensorDataset: inputs ", inputs.describe(),
                ", targets ", targets.describe(), ": example counts differ (",
                inputs.size(0), " vs ", targets.size(0), ")");
  // Contiguous once here, so every example is a contiguous view and collating is a memcpy.
  inputs_ = inputs.detach().contiguous();
  targets_ = targets.detach().contiguous();
}

Example TensorDataset::get(int64_t index) const {
  TESSERA_CHECK(index >= 0 && index < size(), "TensorDataset: index ", index,
                " is out of range for ", size(), " examples");
  return {inputs_.select(0, index), targets_.select(0, index)};
}

namespace {

Tensor stack_field(std::vector<Example>& examples, bool input) {
  const char* field = input ? "input" : "target";
  auto get = [&](size_t i) -> const Tensor& {
    return input ? examples[i].input : examples[i].target;
  };
  const Tensor& first = get(0);
  if (!first.defined()) {
    for (size_t i = 1; i < examples.size(); ++i)
      TESSERA_CHECK(!get(i).defined(), "collate_stack: example 0 has no ", field,
                    ", example ", i, " has one");
    return Tensor();
  }
  Shape shape;
  shape.push_back(static_cast<int64_t>(examples.size()));
  for (int64_t s : first.sizes()) shape.push_back(s);
  Tensor out = make_tensor(shape, first.dtype());
  const size_t bytes = first.nbytes();
  char* dst = static_cast<char*>(out.data_ptr());
  for (size_t i = 0; i < examples.size(); ++i) {
    const Tensor& t = get(i);
    TESSERA_CHECK(t.defined() && t.dtype() == first.dtype() && t.sizes().equals(first.sizes()),
                  "collate_stack: example ", i, "'s ", field, " is ", t.describe(),
                  " but example 0's is ", first.describe(),
                  " (examples must agree to be stacked; pass a custom collate otherwise)");
    const Tensor c = t.contiguous();
    if (bytes > 0) std::memcpy(dst + i * bytes, c.data_ptr(), bytes);
  }
  return out;
}

}  // namespace

Batch collate_stack(std::vector<Example>& examples) {
  TESSERA_CHECK(!examples.empty(), "collate_stack: no examples");
  return {stack_field(examples, true), stack_field(examples, false)};
}

}  // namespace tessera::data
