// Control flow: If, Loop and Scan, whose graph attributes (subgraphs) run through the
// SubgraphRunner model.cc hands each node (importer.h). A subgraph's nodes are ordinary
// nodes: eagerly they compute, and autograd records them like any other op, so gradients
// flow through a taken branch or every iteration of a body.
//
// Under tessera::compile a traced graph has no branches or loops, so these nodes must
// resolve while tracing: an If whose condition is static traces only the branch taken; a
// Loop whose trip count and condition are static, and a Scan (its length is a shape, fixed
// by the trace), unroll when they take at most kMaxUnrolledIterations. Anything else is a
// NotImplementedError naming the node and saying to run the model eagerly: never a graph
// that silently took the branch of the example inputs.
#include <algorithm>

#include "onnx/import_util.h"
#include "tessera/error.h"
#include "tessera/ops.h"
#include "tessera/traced.h"

namespace tessera::onnx::detail {

using tessera::detail::concat;

namespace {

bool tracing() { return tessera::detail::trace_observer() != nullptr && !tessera::detail::in_untraced_scope(); }

// Node inputs [from, num_inputs) as subgraph values.
std::vector<Value> values_from(const NodeContext& c, size_t from) {
  std::vector<Value> v;
  for (size_t i = from; i < c.num_inputs(); ++i) {
    if (!c.has(i)) c.fail(concat("input ", i, " is empty; a loop-carried or state value must be given"));
    v.push_back({c.in(i), i < c.input_static.size() && c.input_static[i]});
  }
  return v;
}

// A one-element boolean condition (If's cond, Loop's cond and the body's cond_out).
bool read_cond(const NodeContext& c, const Tensor& t, const std::string& what) {
  c.check(t.numel() == 1, concat(what, " must hold one value, got shape ", shape_str(t.sizes())));
  c.check(t.dtype() == DType::Bool || !is_floating(t.dtype()),
          concat(what, " must be bool, got ", dtype_name(t.dtype())));
  return t.to_vector<int64_t>()[0] != 0;
}

[[noreturn]] void run_eagerly(const NodeContext& c, const std::string& why) {
  c.unsupported(concat("under compile, ", why,
                       "; a traced graph has no branches or loops: run the model eagerly (Model::run)"));
}

// The empty scan output of a loop that ran no iteration: [0] followed by the slice's shape
// when the body declares it fully, else [0].
Tensor empty_scan_output(const onnxpb::GraphProto& body, int out) {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape{0};
  const auto& v = body.output(out);
  if (v.has_type() && v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    if (tt.has_elem_type()) dtype = dtype_from_onnx(tt.elem_type(), concat("scan output '", v.name(), "'"));
    bool known = tt.has_shape();
    std::vector<int64_t> dims;
    if (known)
      for (const auto& d : tt.shape().dim()) {
        known = known && d.has_dim_value();
        dims.push_back(d.dim_value());
      }
    if (known) shape.insert(shape.end(), dims.begin(), dims.end());
  }
  return zeros(shape, dtype);
}

// ---- If (opset 1+; branches may give outputs of different shapes from 11) ----
Outs op_if(NodeContext& c) {
  const bool static_cond = !c.input_static.empty() && c.input_static[0];
  if (tracing() && !static_cond) run_eagerly(c, "its condition depends on the model's inputs");
  const bool cond = read_cond(c, c.in(0), "the condition (input 0)");
  const std::vector<Value> outs = c.subgraphs->run(c.graph_attr(cond ? "then_branch" : "else_branch"), {});
  Outs r;
  c.output_static.clear();
  for (const Value& v : outs) {
    r.push_back(v.t);
    c.output_static.push_back(v.is_static);
  }
  return r;
}

// ---- Loop: for (i = 0; i < M && cond; ++i) { cond, v... , scan... = body(i, cond, v...) } ----
Outs op_loop(NodeContext& c) {
  const onnxpb::GraphProto& body = c.graph_attr("body");
  std::vector<Value> carried = values_from(c, 2);
  const size_t n_carried = carried.size();
  const size_t n_scan = static_cast<size_t>(body.output_size()) - 1 - n_carried;
  const bool is_tracing = tracing();
  // M and cond are optional (the empty name): no M loops while cond holds; no cond loops M
  // times; neither loops until the body's cond_out says stop... forever, as far as ONNX
  // goes: ImportOptions::max_loop_iterations bounds it for callers that need a bound.
  int64_t trip = INT64_MAX;
  if (c.has(0)) {
    const Tensor& m = c.in(0);
    c.check(m.dtype() == DType::Int64 || m.dtype() == DType::Int32,
            concat("the trip count M (input 0) must be int64, got ", dtype_name(m.dtype())));
    if (is_tracing && !c.input_static[0]) run_eagerly(c, "its trip count M depends on the model's inputs");
    trip = c.int_scalar(0);
    c.check(trip >= 0, concat("the trip count M (input 0) must be >= 0, got ", trip));
  }
  bool cond = true;
  if (c.has(1)) {
    if (is_tracing && !c.input_static[1]) run_eagerly(c, "its condition depends on the model's inputs");
    cond = read_cond(c, c.in(1), "the condition (input 1)");
  }
  if (is_tracing && trip > kMaxUnrolledIterations)
    run_eagerly(c, trip == INT64_MAX ? std::string("it has no static trip count to unroll")
                                     : concat("its ", trip, " iterations are more than the ",
                                              kMaxUnrolledIterations, " it unrolls"));
  std::vector<std::vector<Tensor>> scans(n_scan);
  std::vector<int64_t> scan_bytes(n_scan, 0);
  bool cond_static = c.has(1) ? bool(c.input_static[1]) : true;
  for (int64_t i = 0; i < trip && cond; ++i) {
    if (i >= c.limits().max_loop_iterations)
      c.fail(concat("more than ", c.limits().max_loop_iterations,
                    " iterations (ImportOptions::max_loop_iterations)"));
    std::vector<Value> in(2);
    {
      // Made outside the trace: constants of the graph, as the iteration number is.
      UntracedScope untraced;
      in[0] = {scalar_like(static_cast<double>(i), DType::Int64), true};
      in[1] = {scalar_like(cond ? 1 : 0, DType::Bool), cond_static};
    }
    in.insert(in.end(), carried.begin(), carried.end());
    std::vector<Value> out = c.subgraphs->run(body, in);
    if (is_tracing && !out[0].is_static)
      run_eagerly(c, "its body's condition depends on the model's inputs");
    cond = read_cond(c, out[0].t, "the body's condition (output 0)");
    cond_static = out[0].is_static;
    for (size_t k = 0; k < n_carried; ++k) carried[k] = out[1 + k];
    for (size_t k = 0; k < n_scan; ++k) {
      const Tensor& s = out[1 + n_carried + k].t;
      // Bounded memory: the concatenated output is checked as it grows.
      scan_bytes[k] += s.numel() * static_cast<int64_t>(itemsize(s.dtype()));
      c.check(scan_bytes[k] <= c.limits().max_bytes,
              concat("scan output ", k, " would exceed ", c.limits().max_bytes,
                     " bytes (ImportOptions::max_tensor_bytes) after ", i + 1, " iterations"));
      if (!scans[k].empty() && !scans[k][0].sizes().equals(s.sizes()))
        c.fail(concat("scan output ", k, " has shape ", shape_str(s.sizes()), " at iteration ", i, " but ",
                      shape_str(scans[k][0].sizes()), " before; ONNX stacks scan outputs of one shape"));
      scans[k].push_back(s);
    }
  }
  Outs r;
  c.output_static.clear();
  for (const Value& v : carried) {
    r.push_back(v.t);
    c.output_static.push_back(v.is_static);
  }
  for (size_t k = 0; k < n_scan; ++k) {
    if (scans[k].empty()) {
      UntracedScope untraced;
      r.push_back(empty_scan_output(body, static_cast<int>(1 + n_carried + k)));
      c.output_static.push_back(true);
    } else {
      r.push_back(stack(scans[k], 0));
      c.output_static.push_back(false);
    }
  }
  return r;
}

// ---- Scan: the body runs once per slice of the scan inputs along their axes ----

// The iterations of one scan: `state` updated in place; per scan output, its slices in
// output order (a direction of 1 prepends, so the last iteration's slice comes first).
std::vector<std::vector<Tensor>> scan_steps(const NodeContext& c, const onnxpb::GraphProto& body,
                                            std::vector<Value>& state, const std::vector<Value>& xs,
                                            const std::vector<int64_t>& axes, const std::vector<int64_t>& in_dirs,
                                            const std::vector<int64_t>& out_dirs) {
  int64_t length = -1;
  for (size_t j = 0; j < xs.size(); ++j) {
    const Tensor& x = xs[j].t;
    const int64_t len = x.sizes()[static_cast<size_t>(axes[j])];
    c.check(length < 0 || len == length, concat("scan input ", j, " has ", len, " slices along axis ", axes[j],
                                                "; the scan inputs before it have ", length));
    length = len;
  }
  if (tracing() && length > kMaxUnrolledIterations)
    run_eagerly(c, concat("its ", length, " iterations are more than the ", kMaxUnrolledIterations, " it unrolls"));
  if (length > c.limits().max_loop_iterations)
    c.fail(concat(length, " iterations are more than ImportOptions::max_loop_iterations (",
                  c.limits().max_loop_iterations, ")"));
  const size_t n_state = state.size();
  std::vector<std::vector<Tensor>> scans(out_dirs.size());
  for (int64_t t = 0; t < length; ++t) {
    std::vector<Value> in = state;
    for (size_t j = 0; j < xs.size(); ++j) {
      const int64_t idx = in_dirs[j] == 1 ? length - 1 - t : t;
      in.push_back({xs[j].t.select(axes[j], idx), xs[j].is_static});
    }
    std::vector<Value> out = c.subgraphs->run(body, in);
    for (size_t k = 0; k < n_state; ++k) state[k] = out[k];
    for (size_t k = 0; k < scans.size(); ++k) {
      const Tensor& s = out[n_state + k].t;
      if (!scans[k].empty() && !scans[k][0].sizes().equals(s.sizes()))
        c.fail(concat("scan output ", k, " has shape ", shape_str(s.sizes()), " at iteration ", t, " but ",
                      shape_str(scans[k][0].sizes()), " before; Scan stacks outputs of one shape"));
      scans[k].push_back(s);
    }
  }
  for (size_t k = 0; k < scans.size(); ++k)
    if (out_dirs[k] == 1) std::reverse(scans[k].begin(), scans[k].end());
  return scans;
}

std::vector<int64_t> int_list(const NodeContext& c, const char* name, size_t n) {
  std::vector<int64_t> v = c.ints_attr_opt(name).value_or(std::vector<int64_t>(n, 0));
  c.check(v.size() == n, concat("attribute '", name, "' has ", v.size(), " values; expected ", n));
  return v;
}
void check_directions(const NodeContext& c, const char* name, const std::vector<int64_t>& dirs) {
  for (int64_t d : dirs) c.check(d == 0 || d == 1, concat("a '", name, "' value must be 0 or 1, got ", d));
}

// Opset 9+: [states..., scan inputs...], each scan input along its own axis and direction.
Outs op_scan9(NodeContext& c) {
  const onnxpb::GraphProto& body = c.graph_attr("body");
  const size_t n_scan_in = static_cast<size_t>(c.i("num_scan_inputs"));
  const size_t n_state = c.num_inputs() - n_scan_in;
  const size_t n_scan_out = static_cast<size_t>(body.output_size()) - n_state;
  const std::vector<int64_t> in_axes = int_list(c, "scan_input_axes", n_scan_in);
  const std::vector<int64_t> in_dirs = int_list(c, "scan_input_directions", n_scan_in);
  const std::vector<int64_t> out_axes = int_list(c, "scan_output_axes", n_scan_out);
  const std::vector<int64_t> out_dirs = int_list(c, "scan_output_directions", n_scan_out);
  check_directions(c, "scan_input_directions", in_dirs);
  check_directions(c, "scan_output_directions", out_dirs);
  std::vector<Value> all = values_from(c, 0);
  std::vector<Value> state(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n_state));
  std::vector<Value> xs(all.begin() + static_cast<std::ptrdiff_t>(n_state), all.end());
  std::vector<int64_t> axes;
  for (size_t j = 0; j < xs.size(); ++j) {
    c.check(xs[j].t.dim() >= 1, concat("scan input ", j, " must have at least 1 dim, got a scalar"));
    axes.push_back(c.axis(in_axes[j], xs[j].t.dim()));
  }
  std::vector<std::vector<Tensor>> scans = scan_steps(c, body, state, xs, axes, in_dirs, out_dirs);
  Outs r;
  c.output_static.clear();
  for (const Value& v : state) {
    r.push_back(v.t);
    c.output_static.push_back(v.is_static);
  }
  for (size_t k = 0; k < n_scan_out; ++k) {
    if (scans[k].empty()) {
      UntracedScope untraced;
      r.push_back(empty_scan_output(body, static_cast<int>(n_state + k)));
      c.output_static.push_back(true);
      continue;
    }
    const int64_t rank = scans[k][0].dim() + 1;
    r.push_back(stack(scans[k], c.axis(out_axes[k], rank)));
    c.output_static.push_back(false);
  }
  return r;
}

// Opset 8: [sequence_lens, states..., scan inputs...] with a leading batch axis on all of
// them; each batch entry is one scan along axis 1 (`directions` per scan input). Only
// full-length sequences: sequence_lens, when given, must equal the scan inputs' length.
Outs op_scan8(NodeContext& c) {
  const onnxpb::GraphProto& body = c.graph_attr("body");
  const size_t n_scan_in = static_cast<size_t>(c.i("num_scan_inputs"));
  const size_t n_state = c.num_inputs() - 1 - n_scan_in;
  const size_t n_scan_out = static_cast<size_t>(body.output_size()) - n_state;
  const std::vector<int64_t> in_dirs = int_list(c, "directions", n_scan_in);
  check_directions(c, "directions", in_dirs);
  const std::vector<int64_t> out_dirs(n_scan_out, 0);
  std::vector<Value> all = values_from(c, 1);
  int64_t batch = -1, length = -1;
  for (size_t j = 0; j < all.size(); ++j) {
    const Tensor& t = all[j].t;
    const bool scanned = j >= n_state;
    c.check(t.dim() >= (scanned ? 2 : 1), concat(scanned ? "scan input " : "state ", scanned ? j - n_state : j,
                                                  " must have a batch axis", scanned ? " and a sequence axis" : "",
                                                  ", got shape ", shape_str(t.sizes())));
    c.check(batch < 0 || t.sizes()[0] == batch, concat("input ", j + 1, " has a batch of ", t.sizes()[0],
                                                       "; the inputs before it have ", batch));
    batch = t.sizes()[0];
    if (scanned) length = t.sizes()[1];
  }
  if (c.has(0)) {
    if (tracing() && !c.input_static[0]) run_eagerly(c, "its sequence_lens depend on the model's inputs");
    for (int64_t len : c.ints(0))
      if (len != length)
        c.unsupported(concat("sequence_lens of ", len, " shorter than the scan inputs' ", length,
                             " (only full-length sequences are supported)"));
  }
  std::vector<std::vector<Tensor>> states(n_state), scans(n_scan_out);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<Value> state, xs;
    for (size_t j = 0; j < all.size(); ++j) (j < n_state ? state : xs).push_back({all[j].t.select(0, b), all[j].is_static});
    std::vector<std::vector<Tensor>> slices =
        scan_steps(c, body, state, xs, std::vector<int64_t>(n_scan_in, 0), in_dirs, out_dirs);
    for (size_t k = 0; k < n_state; ++k) states[k].push_back(state[k].t);
    for (size_t k = 0; k < n_scan_out; ++k) {
      c.check(!slices[k].empty(), "an empty sequence axis (Scan of opset 8 needs at least one step)");
      scans[k].push_back(stack(slices[k], 0));
    }
  }
  c.check(batch > 0, "an empty batch axis (Scan of opset 8 needs at least one entry)");
  Outs r;
  for (auto* group : {&states, &scans})
    for (const auto& per_batch : *group) r.push_back(stack(per_batch, 0));
  return r;
}

Outs op_scan(NodeContext& c) { return c.opset() >= 9 ? op_scan9(c) : op_scan8(c); }

}  // namespace

void check_control_node(const onnxpb::NodeProto& node, const std::string& label, int64_t opset) {
  const std::string& op = node.op_type();
  if (op != "If" && op != "Loop" && op != "Scan") return;
  auto graph = [&](const char* name) -> const onnxpb::GraphProto& {
    for (const auto& a : node.attribute())
      if (a.name() == name) {
        TESSERA_CHECK((a.has_type() ? a.type() == onnxpb::AttributeProto::GRAPH : a.has_g()) && a.has_g(), "onnx: ",
                      label, ": attribute '", name, "' must be a graph");
        return a.g();
      }
    throw_error(ErrorKind::InvalidArgument, concat("onnx: ", label, ": the required attribute '", name,
                                                   "' (a graph) is missing"));
  };
  const int n_in = node.input_size(), n_out = node.output_size();
  if (op == "If") {
    TESSERA_CHECK(n_in == 1, "onnx: ", label, ": takes 1 input (the condition), got ", n_in);
    for (const char* b : {"then_branch", "else_branch"}) {
      const int outs = graph(b).output_size();
      TESSERA_CHECK(outs == n_out, "onnx: ", label, ": its ", b, " has ", outs, " output(s); the node has ", n_out);
      TESSERA_CHECK(graph(b).input_size() == 0, "onnx: ", label, ": its ", b, " declares ", graph(b).input_size(),
                    " input(s); a branch takes none (it reads the enclosing graph's values by name)");
    }
  } else if (op == "Loop") {
    TESSERA_CHECK(n_in >= 2, "onnx: ", label, ": takes M, cond and the loop-carried values (at least 2 inputs), got ",
                  n_in);
    const int carried = n_in - 2;
    const auto& body = graph("body");
    TESSERA_CHECK(body.input_size() == 2 + carried, "onnx: ", label, ": its body has ", body.input_size(),
                  " input(s); expected ", 2 + carried, " (iteration number, condition and ", carried,
                  " loop-carried value(s))");
    TESSERA_CHECK(body.output_size() >= 1 + carried, "onnx: ", label, ": its body has ", body.output_size(),
                  " output(s); expected at least ", 1 + carried, " (condition and ", carried,
                  " loop-carried value(s))");
    TESSERA_CHECK(n_out == body.output_size() - 1, "onnx: ", label, ": has ", n_out, " output(s); its body gives ",
                  carried, " loop-carried value(s) and ", body.output_size() - 1 - carried, " scan output(s)");
  } else {
    // Opset 8's first input is sequence_lens (optional, the empty name), not the body's.
    const int lead = opset >= 9 ? 0 : 1;
    const int body_in = n_in - lead;
    int64_t m = -1;
    for (const auto& a : node.attribute())
      if (a.name() == "num_scan_inputs") m = a.i();
    TESSERA_CHECK(m >= 1 && m <= body_in, "onnx: ", label, ": attribute 'num_scan_inputs' must be 1 to ", body_in,
                  " (the node's ", lead ? "inputs after sequence_lens" : "inputs", "), got ", m);
    const auto& body = graph("body");
    TESSERA_CHECK(body.input_size() == body_in, "onnx: ", label, ": its body has ", body.input_size(),
                  " input(s); expected ", body_in, " (one per state and scan input)");
    const int64_t states = body_in - m;
    TESSERA_CHECK(body.output_size() >= states && n_out == body.output_size(), "onnx: ", label, ": has ", n_out,
                  " output(s) and its body ", body.output_size(), "; expected the same count, at least ", states,
                  " (the state values)");
  }
}

std::vector<OpEntry> control_ops() {
  return {
      {"If", 1, op_if, "the taken branch's ops (compile: a static condition only)"},
      {"Loop", 1, op_loop, "the body's ops per iteration; stack (compile: unrolled, static trip count <= 64)"},
      {"Scan", 8, op_scan, "the body's ops per slice; select, stack (compile: unrolled, <= 64; opset 8: full-length sequences)"},
  };
}

}  // namespace tessera::onnx::detail
