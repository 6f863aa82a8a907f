// compile(Module&): graph mode for a module's forward. Lives in the nn layer, which knows
// modules; the graph layer below only sees a function.
#include "tessera/graph.h"
#include "tessera/nn/module.h"

namespace tessera {

CompiledFunction compile(nn::Module& module, CompileOptions options) {
  nn::Module* m = &module;
  return CompiledFunction([m](const std::vector<Tensor>& inputs) { return m->forward_multi(inputs); },
                          options);
}

}  // namespace tessera
