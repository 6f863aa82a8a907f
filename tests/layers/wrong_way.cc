// Deliberately wrong: code linked as if it were in the ops layer (with core and ops only)
// that calls up into autograd. The LayerChecks.catches_wrong_way test builds it and
// expects the link to fail naming the symbol, proving the layer checks would catch such
// a dependency. Never part of the default build.
#include "tessera/export.h"
#include "tessera/tensor.h"

TESSERA_API void tessera_layercheck_wrong_way(const tessera::Tensor& loss) { loss.backward(); }
