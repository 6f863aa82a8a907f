// The operator table: one entry per ONNX operator, its import function (the node's inputs
// and attributes -> Tessera ops, by composition where Tessera has no single op), the
// opsets it covers, and a slot for its export function (a later milestone). The rows live
// beside their functions (import_math.cc, import_nn.cc, import_shape.cc,
// import_resample.cc, import_rnn.cc); this file joins
// them into one table sorted by operator name.
//
// Opset differences are handled inside each function (NodeContext::opset()): attributes
// that became inputs (Clip's min/max at 11, Squeeze/Unsqueeze/ReduceSum axes at 13, the
// other reductions' axes at 18, Split's split at 13, Slice's starts/ends at 10, Pad's pads
// at 11, TopK's k at 10), Softmax's 2-D coercion before 13, and so on.
#include <algorithm>

#include "onnx/import_util.h"
#include "tessera/error.h"
#include "tessera/onnx.h"

namespace tessera::onnx::detail {

const std::vector<OpEntry>& op_table() {
  static const std::vector<OpEntry> table = [] {
    std::vector<OpEntry> t;
    for (auto* family : {math_ops, nn_ops, shape_ops, resample_ops, rnn_ops}) {
      std::vector<OpEntry> rows = family();
      t.insert(t.end(), rows.begin(), rows.end());
    }
    std::sort(t.begin(), t.end(),
              [](const OpEntry& a, const OpEntry& b) { return std::string_view(a.onnx_op) < std::string_view(b.onnx_op); });
    for (size_t i = 1; i < t.size(); ++i)
      TESSERA_INTERNAL_ASSERT(std::string_view(t[i - 1].onnx_op) != t[i].onnx_op, "ONNX operator ", t[i].onnx_op,
                              " has two rows in the import table");
    return t;
  }();
  return table;
}

const OpEntry* find_op_entry(const std::string& op_type) {
  const std::vector<OpEntry>& t = op_table();
  auto it = std::lower_bound(t.begin(), t.end(), op_type,
                             [](const OpEntry& e, const std::string& name) { return e.onnx_op < std::string_view(name); });
  return it != t.end() && op_type == it->onnx_op ? &*it : nullptr;
}

}  // namespace tessera::onnx::detail

namespace tessera::onnx {

std::vector<OpSupport> supported_ops() {
  std::vector<OpSupport> out;
  for (const detail::OpEntry& e : detail::op_table())
    out.push_back({e.onnx_op, e.since_opset, e.tessera, e.export_fn != nullptr});
  return out;
}

std::string unsupported_reason(const std::string& op_type, int64_t opset) {
  const detail::OpEntry* e = detail::find_op_entry(op_type);
  if (e == nullptr) return tessera::detail::concat("operator '", op_type, "' is not supported");
  if (opset < e->since_opset || opset > e->until_opset)
    return tessera::detail::concat("operator '", op_type, "' is supported at opsets ", e->since_opset, " to ",
                                   e->until_opset, ", not ", opset);
  return "";
}

}  // namespace tessera::onnx
