// Training checkpoints as one safetensors file: prefixes keep the model's, optimizer's and
// scheduler's keys apart, so any safetensors tool can still inspect (or surgically edit) a
// checkpoint.
#include <string_view>

#include "tessera/serialize.h"

namespace tessera {
namespace {

constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimPrefix = "optim.";
constexpr const char* kSchedPrefix = "sched.";
constexpr const char* kMarkerKey = "tessera.checkpoint";
constexpr const char* kVersion = "1";

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  TESSERA_CHECK(c.metadata.count(kMarkerKey) == 0, "save_checkpoint: '", path,
                "': the metadata key '", kMarkerKey, "' is reserved");
  StateDict all;
  all.reserve(c.model.size() + c.optimizer.size() + c.scheduler.size());
  all.update(c.model.with_prefix(kModelPrefix));
  all.update(c.optimizer.with_prefix(kOptimPrefix));
  all.update(c.scheduler.with_prefix(kSchedPrefix));
  Metadata meta = c.metadata;
  // emplace, not operator[] and assignment: the latter trips GCC 12's -Wrestrict false
  // positive (GCC bug 105329) in std::string::assign.
  meta.emplace(kMarkerKey, kVersion);
  save_safetensors(path, all, meta);
}

void save_checkpoint(const std::string& path, const StateDict& model_state,
                     const StateDict& optimizer_state, const Metadata& metadata) {
  save_checkpoint(path, Checkpoint{model_state, optimizer_state, {}, metadata});
}

Checkpoint load_checkpoint(const std::string& path) {
  return split_checkpoint(load_safetensors(path), path);
}

Checkpoint split_checkpoint(SafetensorsContents contents, const std::string& path) {
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
  for (const auto& [name, t] : contents.tensors) {
    const std::string_view n = name;
    if (n.starts_with(kModelPrefix)) {
      out.model.insert(name.substr(n.find('.') + 1), t);
    } else if (n.starts_with(kOptimPrefix)) {
      out.optimizer.insert(name.substr(n.find('.') + 1), t);
    } else if (n.starts_with(kSchedPrefix)) {
      out.scheduler.insert(name.substr(n.find('.') + 1), t);
    } else {
      TESSERA_CHECK(false, "load_checkpoint: '", path, "': tensor '", name,
                    "' has none of the prefixes 'model.', 'optim.', 'sched.' (a plain "
                    "safetensors file? load it with load_safetensors)");
    }
  }
  return out;
}

}  // namespace tessera
