#pragma once
// Helpers the import functions share (import_*.cc):
// integer tensors, padding by ONNX's pads lists, and the window (kernel, strides,
// dilations, pads with auto_pad resolved) of convolutions and pools.
#include <string>
#include <vector>

#include "onnx/importer.h"
#include "tessera/nn/functional.h"

namespace tessera::onnx::detail {

using Outs = std::vector<Tensor>;
namespace F = tessera::nn::functional;

Tensor i64(const std::vector<int64_t>& v);  // a 1-D int64 tensor
// A double as int64 without undefined behaviour: NaN is 0, out-of-range values saturate.
int64_t saturate_int(double v);
// Kernel sizes, strides and dilations above this are refused: real models use small ones,
// and the window arithmetic must not overflow.
inline constexpr int64_t kMaxWindowParam = int64_t{1} << 16;
Tensor scalar_like(double v, DType dtype);  // a 0-d tensor of dtype
Scalar scalar_for(double v, DType dtype);   // v as a Scalar of dtype's kind
std::vector<int64_t> sizes_of(const Tensor& t);
int64_t prod(const std::vector<int64_t>& v, size_t from, size_t to);
std::vector<int64_t> all_dims(int64_t rank);  // 0, 1, ..., rank - 1
// Wraps negative indices (ONNX allows -dim..dim-1) into range.
Tensor wrap_indices(const Tensor& idx, int64_t dim);
// Constant padding of every axis by (begin, end) (negative: crop), with `value`.
Tensor pad_constant(const Tensor& x, const std::vector<int64_t>& begin, const std::vector<int64_t>& end, double value);
// Reflect or edge padding: each padded axis gathered with computed source indices.
Tensor pad_index(const NodeContext& ctx, const Tensor& x, const std::vector<int64_t>& begin,
                 const std::vector<int64_t>& end, bool reflect);
// ONNX pads lists are [x1_begin, x2_begin, ..., x1_end, x2_end, ...].
void split_pads(const NodeContext& ctx, const std::vector<int64_t>& pads, size_t n, std::vector<int64_t>& b,
                std::vector<int64_t>& e);

struct Window {
  std::vector<int64_t> kernel, strides, dilations, pad_begin, pad_end;
};
// Kernel, strides, dilations and pads of a Conv/Pool node over `spatial` dims of `x`,
// auto_pad resolved (SAME_UPPER/SAME_LOWER: output = ceil(input / stride)); the padded
// input's size is checked against the limits.
Window window(const NodeContext& c, const Tensor& x, std::vector<int64_t> kernel, size_t spatial);
std::vector<int64_t> zero_prefix(const std::vector<int64_t>& spatial, size_t lead);
// 1-D inputs run as 2-D with a height of 1 (true when lifted); more than 2-D is refused.
bool lift_1d(const NodeContext& c, Tensor& x, const char* what);
void lift_window(Window& w);

// Each file's rows of the operator table.
std::vector<OpEntry> math_ops();
std::vector<OpEntry> nn_ops();
std::vector<OpEntry> shape_ops();
std::vector<OpEntry> resample_ops();
std::vector<OpEntry> rnn_ops();
std::vector<OpEntry> control_ops();

// Checks the structure of a control-flow node at import (import_control.cc): its graph
// attributes present and of type graph, and the counts of the subgraphs' inputs and
// outputs against the node's. `label` names the node in errors. Other operators: nothing.
void check_control_node(const onnxpb::NodeProto& node, const std::string& label, int64_t opset);
// Under tessera::compile, loops of at most this many iterations unroll into the graph.
inline constexpr int64_t kMaxUnrolledIterations = 64;

}  // namespace tessera::onnx::detail
