// Training checkpoints as one safetensors file: prefixes keep the model's and optimizer's
// names apart, so any safetensors tool can still inspect (or surgically edit) a checkpoint.
#include <string_view>

#include "tessera/serialize.h"

namespace tessera {
namespace {

constexpr std::string_view kModelPrefix = "model.";
constexpr std::string_view kOptimPrefix = "optim.";
constexpr const char* kMarkerKey = "tessera.checkpoint";
constexpr const char* kVersion = "1";

}  // namespace

void save_checkpoint(const std::string& path, const NamedTensors& model_state,
                     const NamedTensors& optimizer_state, const Metadata& metadata) {
  TESSERA_CHECK(metadata.count(kMarkerKey) == 0, "save_checkpoint: '", path,
                "': the metadata key '", kMarkerKey, "' is reserved");
  NamedTensors all;
  all.reserve(model_state.size() + optimizer_state.size());
  for (const auto& [name, t] : model_state) all.emplace_back(std::string(kModelPrefix) + name, t);
  for (const auto& [name, t] : optimizer_state) all.emplace_back(std::string(kOptimPrefix) + name, t);
  Metadata meta = metadata;
  // emplace, not operator[] and assignment: the latter trips GCC 12's -Wrestrict false
  // positive (GCC bug 105329) in std::string::assign.
  meta.emplace(kMarkerKey, kVersion);
  save_safetensors(path, all, meta);
}

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsContents contents = load_safetensors(path);
  Checkpoint out;
  out.metadata = std::move(contents.metadata);
  auto marker = out.metadata.find(kMarkerKey);
  if (marker != out.metadata.end()) {
    // A later format version is valid, just newer than this build: not implemented here.
    TESSERA_CHECK_IMPLEMENTED(marker->second == kVersion, "load_checkpoint: '", path,
                              "': checkpoint format version '", marker->second,
                              "' is not supported (this build reads version ", kVersion, ")");
    out.metadata.erase(marker);
  }
  for (auto& [name, t] : contents.tensors) {
    const std::string_view n = name;
    if (n.starts_with(kModelPrefix)) {
      out.model.emplace_back(name.substr(kModelPrefix.size()), std::move(t));
    } else if (n.starts_with(kOptimPrefix)) {
      out.optimizer.emplace_back(name.substr(kOptimPrefix.size()), std::move(t));
    } else {
      TESSERA_CHECK(false, "load_checkpoint: '", path, "': tensor '", name,
                    "' has neither the 'model.' nor the 'optim.' prefix (a plain safetensors "
                    "file? load it with load_safetensors)");
    }
  }
  return out;
}

}  // namespace tessera
