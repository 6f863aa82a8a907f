// The operator table: one entry per ONNX operator, its import function (the node's inputs
// and attributes -> Tessera ops, by composition where Tessera has no single op), the
// opsets it covers, and its export function (export_ops.cc: Tessera ops -> this operator,
// joined in below). The import rows live
// beside their functions (import_math.cc, import_nn.cc, import_shape.cc,
// import_resample.cc, import_rnn.cc); this file joins
// them into one table sorted by operator name.
//
// Opset differences are handled inside each function (NodeContext::opset()): attributes
// that became inputs (Clip's min/max at 11, Squeeze/Unsqueeze/ReduceSum axes at 13, the
// other reductions' axes at 18, Split's split at 13, Slice's starts/ends at 10, Pad's pads
// at 11, TopK's k at 10), Softmax's 2-D coercion before 13, and so on.
#include <algorithm>

#include "onnx/exporter.h"
#include "onnx/import_util.h"
#include "tessera/error.h"
#include "tessera/onnx.h"

namespace tessera::onnx::detail {

const std::vector<OpEntry>& op_table() {
  static const std::vector<OpEntry> table = [] {
    std::vector<OpEntry> t;
    for (auto* family : {math_ops, nn_ops, shape_ops, resample_ops, rnn_ops, control_ops}) {
      std::vector<OpEntry> rows = family();
      t.insert(t.end(), rows.begin(), rows.end());
    }
    std::sort(t.begin(), t.end(),
              [](const OpEntry& a, const OpEntry& b) { return std::string_view(a.onnx_op) < std::string_view(b.onnx_op); });
    for (size_t i = 1; i < t.size(); ++i)
      TESSERA_INTERNAL_ASSERT(std::string_view(t[i - 1].onnx_op) != t[i].onnx_op, "ONNX operator ", t[i].onnx_op,
                              " has two rows in the import table");
    // The export side (export_ops.cc): each row's slot holds the function that writes the
    // Tessera op whose OpDef names this operator (else the first that writes it).
    for (OpEntry& e : t) {
      for (const ExportRow& r : export_rows()) {
        if (std::string_view(r.onnx_op) != e.onnx_op) continue;
        const ops::OpDef* def = ops::find_op(r.tessera_op);
        const bool own = def != nullptr && def->onnx_op != nullptr && std::string_view(def->onnx_op) == e.onnx_op;
        if (e.export_fn == nullptr || own) e.export_fn = r.fn;
      }
    }
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
  ops::ensure_registered();
  const std::vector<detail::ExportRow> rows = detail::export_rows();
  for (const detail::OpEntry& e : detail::op_table()) {
    std::string from;
    for (const detail::ExportRow& r : rows)
      if (std::string_view(r.onnx_op) == e.onnx_op) from += tessera::detail::concat(from.empty() ? "" : ", ", r.tessera_op);
    out.push_back({e.onnx_op, e.since_opset, e.tessera, e.export_fn != nullptr, from});
  }
  // Operators export writes that the importer does not read (newer than its opsets).
  for (const detail::ExportRow& r : rows) {
    if (detail::find_op_entry(r.onnx_op) != nullptr) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const OpSupport& s) { return s.onnx_op == r.onnx_op; });
    if (it == out.end()) {
      out.push_back({r.onnx_op, 0, "", true, r.tessera_op});
    } else {
      it->exported_from += tessera::detail::concat(", ", r.tessera_op);
    }
  }
  std::sort(out.begin(), out.end(), [](const OpSupport& a, const OpSupport& b) { return a.onnx_op < b.onnx_op; });
  return out;
}

std::string ops_markdown_row(const OpSupport& s) {
  const bool imports = s.since_opset > 0;
  return tessera::detail::concat("| ", s.onnx_op, " | ", imports ? std::to_string(s.since_opset) : std::string("-"),
                                 " | ", imports ? s.tessera : std::string("-"), " | ",
                                 s.exported_from.empty() ? std::string("-") : s.exported_from, " |");
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
