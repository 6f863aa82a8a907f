#pragma once
// Graph passes. Each keeps the graph's meaning (the same outputs and the same writes, in
// the same order) and leaves it verifiable; optimize() runs Graph::verify() after each.
#include <optional>
#include <string>
#include <vector>

#include "graph/ir.h"

namespace tessera::graph {

// Drops nodes whose outputs nothing reads. Writes, random ops and collectives stay (a
// random op left out would shift every later draw of the generator; a collective left out
// would leave the other ranks waiting).
int eliminate_dead_code(Graph& g);
// Merges a node into an earlier identical one (same op, attributes and inputs). Never
// across a write or a collective: after x.add_(1) a second view of x reads new data.
int eliminate_common_subexpressions(Graph& g);
// Runs nodes whose inputs are all constants once, now, making their outputs constants
// (never random ops or collectives).
// `freeze`: captured tensors count as constants too (an inference graph whose weights
// won't change; refused for graphs that write).
int fold_constants(Graph& g, bool freeze);

// Folds add/sub/mul/div by a per-channel or scalar constant that follows a conv2d into the
// conv's weights and bias (batch norm in eval mode is such a chain). Frozen graphs only:
// the caller passes it only with `freeze`, and graphs that write are left alone.
int fold_conv_affine(Graph& g);

// Runs the float32 convolutions of a frozen graph in the CPU backend's channel-blocked
// layout with packed weights and fused bias/ReLU/residual epilogues, max pooling between
// them blocked too, converting only where plain ops read (select_conv_layouts.cc). Frozen
// graphs only. Returns the convolutions and pools rewritten.
int select_conv_layouts(Graph& g);
// The same for a training step (any graph, writes included): forward convolutions, max
// pooling with its indices, the convolutions' gradient passes, their bias gradients and the
// elementwise ops between them run blocked, so a chain of them converts once at each end
// (select_conv_layouts.cc). Returns the nodes rewritten.
int select_training_conv_layouts(Graph& g);

// Fuses matmul/addmm by a constant 2-D weight with the bias add, residual add and ReLU
// that alone read its output into one linear_fused node (fuse_linear.cc). Frozen graphs
// only. Returns the matmuls fused.
int fuse_linear_epilogues(Graph& g);

// Asks for Winograd (attribute algorithm) in the float32 3x3 stride-1 conv2d nodes and
// their gradient ops, in any graph (select_conv_algorithms.cc). Returns the nodes changed.
int select_conv_algorithms(Graph& g);

// Rewrites ReLU's gradient, where(gt(y, t), g, 0) with literal t and 0, into one
// threshold_backward node, in any graph (fuse_threshold_backward.cc). Returns the count.
int fuse_threshold_backward(Graph& g);

// Runs max_pool2d before the ReLU that feeds it (relu(pool(x)) == pool(relu(x)), values
// and gradients exactly), and in a training step ReLU's gradient over the pooled gradient,
// in any graph (pool_before_relu.cc). Returns the pairs swapped.
int pool_before_relu(Graph& g);

// Fuses a blocked Winograd convolution (bf16, or float32 on blocks of 8; no residual) with
// the 2x2 stride-2 max pooling that alone reads it: with indices (activation "none") into
// one conv2d_max_pool2x2_blocked node, values only (float32) into one
// conv2d_max_pool2x2_values_blocked; and the pooling's gradient into the convolution's
// gradient passes (their _unpool forms), in any graph (fuse_conv_pool.cc). Returns the
// pairs fused.
int fuse_conv_max_pool(Graph& g);
// Turns a linear layer's weight gradient as autograd writes it, clone(transpose(mm(a, b)
// [* 1])), into one mm(b^T, a^T) writing the contiguous result, and
// clone(transpose(transpose(mm(a, b)))) into mm(a, b), in any graph
// (fold_transposed_gradients.cc). Returns the chains folded.
int fold_transposed_gradients(Graph& g);

// Drops x * 1, 1 * x, x / 1 and x - 0 by literals the traced code wrote,
// where the result is x's shape and dtype and is never returned or written, not even
// through a view (simplify_arithmetic.cc). Returns the nodes removed.
int simplify_arithmetic(Graph& g);

// Runs chains of float32 elementwise ops (each value inside read only by the next) as
// one fused_elementwise node, in any graph (fuse_elementwise.cc). Returns the nodes made.
int fuse_elementwise(Graph& g);

// Drops captured and constant values nothing reads any more (weights folded into new
// constants) and renumbers the values, so a saved graph does not carry them.
int drop_unused_values(Graph& g);

// The graph re-derived for inputs whose dim 0 (the batch, the same in every input) is
// `batch`: attributes that spell the batch into a shape rewritten, every shape inferred
// again (batch.cc says what is refused). nullopt when the graph does not allow it (then the
// caller traces again), with the reason in `why_not` when given.
std::optional<Graph> with_batch_size(const Graph& g, int64_t batch, std::string* why_not = nullptr);

// Who reads each value, as the fusion passes ask it: how many node inputs, the last node
// that reads it, and whether the graph returns it. Values added later read as unread.
struct ValueReaders {
  explicit ValueReaders(const Graph& g);
  // The node that alone reads `id` (and `id` is no graph output), else -1.
  int sole_reader(int id) const;
  int count(int id) const;
  bool is_output(int id) const;

 private:
  std::vector<int> count_, last_;
  std::vector<bool> is_output_;
};

// The value of a wrapped scalar the traced code wrote (gt(y, 0), x * 1), else nullopt. Only
// wrapped numbers: a captured 0-d tensor may be a user's state that changes between runs.
std::optional<double> literal_value(const Graph& g, int id);

// Replaces every use of value `from` (node inputs, in-place targets, graph outputs) by `to`.
void replace_uses(Graph& g, int from, int to);
// Removes the nodes marked in `drop` and renumbers the rest.
void remove_nodes(Graph& g, const std::vector<bool>& drop);

struct PassOptions {
  bool freeze = false;
};
// The pipeline: constant folding, (frozen) conv-affine folding, CSE, DCE, (frozen) layout
// selection and the folding of the weights it packs, (frozen) linear fusion, convolution algorithms, ReLU-gradient fusion, pooling before
// ReLU, (not frozen) training layouts and convolution-pooling fusion, unused values. Returns one line per pass that changed
// something, e.g. "dce: 3 nodes removed".
std::vector<std::string> optimize(Graph& g, const PassOptions& options);

}  // namespace tessera::graph
