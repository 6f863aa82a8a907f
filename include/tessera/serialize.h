#pragma once
// Weights and checkpoints in the safetensors format (https://github.com/huggingface/safetensors):
//
//   8 bytes   N, the header length, unsigned little-endian
//   N bytes   a JSON object: {"name": {"dtype": "F32", "shape": [2, 3],
//                                      "data_offsets": [begin, end]}, ...,
//                             "__metadata__": {"key": "value", ...}}
//             padded with spaces so the data starts 8-byte aligned
//   rest      the tensors' bytes, little-endian, row-major; offsets are relative to here
//
// Files written here are readable by any safetensors reader (Python's safetensors,
// candle, ...), and files they write load here. Supported dtypes: F64 F32 F16 BF16 I64 I32
// I8 U8 BOOL.
//
// Writes are atomic: the file is written to "<path>.tessera-tmp.<pid>.<random>" beside it
// (held under an flock while written), fsync'd, renamed over `path`, and the folder
// fsync'd, so a crash or a kill leaves either the old file or the new one, never a torn
// one. A temporary left by a killed save is removed by the next save of the same path
// (only when no writer holds its lock, so a concurrent save's temporary is never touched).
// An unwritable path throws IOError naming it and the reason.
//
// Loads trust nothing: a missing or unreadable file throws IOError; a corrupt, truncated
// or hostile one InvalidArgumentError naming the file and the problem; a valid file with
// a dtype Tessera lacks (F8_E4M3, U16, ...) NotImplementedError. Nothing larger than the
// file itself is ever allocated.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tessera/export.h"
#include "tessera/state_dict.h"
#include "tessera/tensor.h"

namespace tessera {

// Tensors with names, in a meaningful order: the one state-dict type (state_dict.h).
// NamedTensors is its older name, kept so existing code compiles.
using NamedTensors = StateDict;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsContents {
  StateDict tensors;  // in the header's order (the order they were saved in)
  Metadata metadata;     // the "__metadata__" entries (string to string, as the format says)
};

// Writes `tensors` (any layout; non-contiguous views are saved in logical order) under
// their names, in the given order. Names must be unique, non-empty and not "__metadata__".
TESSERA_API void save_safetensors(const std::string& path, const NamedTensors& tensors,
                                  const Metadata& metadata = {});
TESSERA_API SafetensorsContents load_safetensors(const std::string& path);

// ---- training checkpoints: one safetensors file ----
// The model's state is stored as "model.<key>", the optimizer's as "optim.<key>", a
// scheduler's (when there is one) as "sched.<key>"; the metadata (epoch, step, anything
// string-valued) goes in "__metadata__" next to a format marker ("tessera.checkpoint": "1").
// Each part is the StateDict its owner's state_dict() returned and load_state_dict() takes.
struct Checkpoint {
  StateDict model;
  StateDict optimizer;
  StateDict scheduler;
  Metadata metadata;  // without the format marker
};

TESSERA_API void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
TESSERA_API void save_checkpoint(const std::string& path, const StateDict& model_state,
                                 const StateDict& optimizer_state = {},
                                 const Metadata& metadata = {});
// Fails when a tensor has none of the three prefixes or the marker names an unknown
// version. A file without the marker (a training backup, or one written by hand) is read
// by its prefixes alone.
TESSERA_API Checkpoint load_checkpoint(const std::string& path);
// load_checkpoint's second half, for a caller that inspected the file's metadata first
// (BackupAndRestore checks its own marker); `path` names the file in errors.
TESSERA_API Checkpoint split_checkpoint(SafetensorsContents contents, const std::string& path);

}  // namespace tessera
