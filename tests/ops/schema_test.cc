// The typed attribute schema (OpDef::attrs): a call with an attribute the op does not
// declare, without a required one, or with one of the wrong type is a user error naming the
// op, the attribute, the type expected and what came (an ONNX file or a hand-built graph
// brings such mistakes); missing defaulted attributes are filled in before any rule or
// kernel reads them. The calls go through ops::call directly, as an importer would.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "ops/op.h"
#include "tessera/ops.h"
#include "test_util.h"

namespace tessera {
namespace {

using ops::Attrs;
using ops::AttrType;

// The message of the InvalidArgumentError `fn` throws; fails the test on anything else
// (an internal error would mean the schema let a bad attribute through to a rule).
template <typename F>
std::string user_error(F&& fn) {
  try {
    fn();
  } catch (const InvalidArgumentError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected an InvalidArgumentError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected an InvalidArgumentError, nothing was thrown";
  return "";
}

// Ops by name, as an importer finds them.
const ops::OpDef& op(const char* name) {
  const ops::OpDef* def = ops::find_op(name);
  if (def == nullptr) throw std::runtime_error(std::string("no op ") + name);
  return *def;
}

Tensor mat23() { return arange(0, 6, 1, kFloat32).view({2, 3}); }

TEST(Schema, MissingRequiredAttributeNamesOpAttributeAndType) {
  const std::string msg = user_error([] { ops::call(op("cumsum"), {mat23()}, {}); });
  EXPECT_NE(msg.find("cumsum: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing attribute 'dim' (int)"), std::string::npos) << msg;
}

TEST(Schema, WrongTypeNamesExpectedAndGiven) {
  const std::string msg =
      user_error([] { ops::call(op("sum"), {mat23()}, {{"keepdim", int64_t{1}}}); });
  EXPECT_NE(msg.find("sum: attribute 'keepdim' expects bool, got int 1"), std::string::npos) << msg;
  // A float is never truncated to an int.
  const std::string f = user_error([] { ops::call(op("cumsum"), {mat23()}, {{"dim", 0.0}}); });
  EXPECT_NE(f.find("cumsum: attribute 'dim' expects int, got float 0"), std::string::npos) << f;
  const std::string s =
      user_error([] { ops::call(op("gelu"), {mat23()}, {{"approximate", int64_t{0}}}); });
  EXPECT_NE(s.find("gelu: attribute 'approximate' expects string, got int 0"), std::string::npos) << s;
}

TEST(Schema, UnknownAttributeListsWhatTheOpTakes) {
  const std::string msg =
      user_error([] { ops::call(op("sum"), {mat23()}, {{"axis", std::vector<int64_t>{0}}}); });
  EXPECT_NE(msg.find("sum: unknown attribute 'axis'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dims (ints), keepdim (bool), dtype (dtype)"), std::string::npos) << msg;
  const std::string none = user_error([] { ops::call(op("add"), {mat23(), mat23()}, {{"alpha", 2.0}}); });
  EXPECT_NE(none.find("add: unknown attribute 'alpha' (it takes none)"), std::string::npos) << none;
}

TEST(Schema, RepeatedAttributeIsRefused) {
  const std::string msg = user_error(
      [] { ops::call(op("cumsum"), {mat23()}, {{"dim", int64_t{0}}, {"dim", int64_t{1}}}); });
  EXPECT_NE(msg.find("cumsum: attribute 'dim' given twice"), std::string::npos) << msg;
}

TEST(Schema, InPlaceCallsAreCheckedToo) {
  Tensor x = mat23();
  const std::string msg = user_error([&] { ops::call_inplace(op("clamp"), x, {x}, {{"min", Scalar(1)}}); });
  EXPECT_NE(msg.find("clamp: missing attribute 'max' (scalar)"), std::string::npos) << msg;
}

TEST(Schema, DefaultsAreFilledInBeforeTheRuleRuns) {
  // check_attrs itself: nothing to add when every attribute is given...
  EXPECT_FALSE(ops::check_attrs(op("cumsum"), {{"dim", int64_t{0}}}).has_value());
  // ...and the defaults, in schema order, when some are missing; optional ones stay absent.
  const std::optional<Attrs> sum = ops::check_attrs(op("sum"), {});
  ASSERT_TRUE(sum.has_value());
  EXPECT_FALSE(sum->has("dims"));
  EXPECT_FALSE(sum->has("dtype"));
  EXPECT_FALSE(sum->b("keepdim"));
  const std::optional<Attrs> conv = ops::check_attrs(op("conv2d"), {{"groups", int64_t{1}}});
  ASSERT_TRUE(conv.has_value());
  EXPECT_EQ(conv->ints("stride"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(conv->ints("padding"), (std::vector<int64_t>{0, 0, 0, 0}));

  // Through dispatch: kernels and rules read the defaults (sum over everything, keepdim
  // false; sort along the last dim, ascending; conv2d with stride 1 and no padding).
  EXPECT_EQ(ops::call1(op("sum"), {mat23()}).item<float>(), 15.0f);
  const Tensor sorted = ops::call(op("sort"), {tensor<float>({3, 1, 2}, {3})})[0];
  EXPECT_EQ(sorted.to_vector<float>(), (std::vector<float>{1, 2, 3}));
  const Tensor y = ops::call1(op("conv2d"), {ones({1, 1, 4, 4}), ones({1, 1, 3, 3})});
  EXPECT_EQ(Shape(y.sizes()), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{9, 9, 9, 9}));
}

TEST(Schema, IntIsAcceptedForFloatAndScalar) {
  // ONNX stores some float attributes as ints and C++ callers write {"p", 2}: converted,
  // never the other way round (see WrongTypeNamesExpectedAndGiven).
  const Tensor x = tensor<float>({3, -4}, {2});
  EXPECT_FLOAT_EQ(ops::call1(op("norm"), {x}, {{"p", int64_t{1}}}).item<float>(), 7.0f);
  const std::optional<Attrs> a = ops::check_attrs(op("fill_"), {{"value", int64_t{3}}});
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->scalar("value").to_int(), 3);
}

// Every op declares its attributes (the field is positional, before `infer`, so an OpDef
// without it does not compile; an empty list is a declaration), no name twice, and every
// default of its declared type (an optional attribute has none: its absence is its meaning).
TEST(Schema, EveryOpDeclaresAConsistentSchema) {
  size_t ops_with = 0, attrs = 0, defaults = 0, optionals = 0;
  const std::vector<const ops::OpDef*> all = ops::all_ops();
  for (const ops::OpDef* op : all) {
    std::set<std::string_view> names;
    for (const ops::AttrSpec& s : op->attrs) {
      EXPECT_TRUE(names.insert(s.name).second) << op->name << ": attribute " << s.name << " twice";
      EXPECT_FALSE(s.name.empty()) << op->name;
      if (s.default_value) {
        ++defaults;
        EXPECT_EQ(ops::attr_type_of(*s.default_value), s.type)
            << op->name << ": the default of " << s.name << " is a "
            << ops::attr_type_name(ops::attr_type_of(*s.default_value)) << ", declared "
            << ops::attr_type_name(s.type);
        EXPECT_FALSE(s.optional) << op->name << ": " << s.name << " is optional with a default";
      }
      optionals += s.optional ? 1 : 0;
    }
    // A complete set of attributes passes unchanged: the defaults alone satisfy every op
    // whose attributes all have defaults or are optional.
    bool all_defaulted = true;
    for (const ops::AttrSpec& s : op->attrs) all_defaulted = all_defaulted && (s.default_value || s.optional);
    if (all_defaulted) {
      EXPECT_NO_THROW(ops::check_attrs(*op, {})) << op->name;
    }
    ops_with += op->attrs.empty() ? 0 : 1;
    attrs += op->attrs.size();
  }
  std::printf("schema: %zu ops, %zu with attributes, %zu attributes (%zu with a default, %zu optional)\n",
              all.size(), ops_with, attrs, defaults, optionals);
  EXPECT_GT(ops_with, 50u);
}


// ---- shape inference on metadata alone (ops::infer_shapes) ----

Shape meta_shape(const ops::InferResult& r, size_t i = 0) { return r.outputs.at(i).sizes; }

// The metadata rule gives what the eager call gives, with no tensor data anywhere.
TEST(InferShapes, MatchesEagerShapesWithoutData) {
  using ops::InputMeta;
  int checked = 0;
  auto expect_same = [&](const char* name, const std::vector<InputMeta>& metas, const Attrs& attrs,
                         const Tensor& eager) {
    const ops::InferResult r = ops::infer_shapes(op(name), metas, attrs);
    EXPECT_EQ(meta_shape(r), Shape(eager.sizes())) << name;
    EXPECT_EQ(r.outputs[0].dtype, eager.dtype()) << name;
    ++checked;
  };
  // matmul: batch dims broadcast, int64 x float32 promotes.
  expect_same("matmul", {InputMeta({5, 1, 2, 3}, kFloat32), InputMeta({4, 3, 7}, kInt64)}, {},
              matmul(zeros({5, 1, 2, 3}), zeros({4, 3, 7}, kInt64)));
  // conv2d with stride 2, padding 1 (top, left, bottom, right) and the other defaults.
  const Attrs conv{{"stride", std::vector<int64_t>{2, 2}}, {"padding", std::vector<int64_t>{1, 1, 1, 1}}};
  expect_same("conv2d", {InputMeta({2, 3, 9, 8}, kFloat32), InputMeta({6, 3, 3, 3}, kFloat32)}, conv,
              ops::call1(op("conv2d"), {zeros({2, 3, 9, 8}), zeros({6, 3, 3, 3})}, conv));
  // cat along dim 1, promoting int32 with float64.
  expect_same("cat", {InputMeta({2, 3}, kInt32), InputMeta({2, 5}, kFloat64)}, {{"dim", int64_t{1}}},
              cat({zeros({2, 3}, kInt32), zeros({2, 5}, kFloat64)}, 1));
  // sum over dims (0, 2), keepdim, of an int tensor (sums to int64).
  const Attrs dims{{"dims", std::vector<int64_t>{0, -1}}, {"keepdim", true}};
  expect_same("sum", {InputMeta({3, 4, 5}, kInt32)}, dims, sum(zeros({3, 4, 5}, kInt32), {0, -1}, true));
  // A wrapped scalar keeps its rank: int tensor + 2.5 is float32, not float64.
  expect_same("add", {InputMeta({4}, kInt64), InputMeta::wrapped_scalar(Scalar(2.5))}, {},
              add(zeros({4}, kInt64), Scalar(2.5)));
  std::printf("infer_shapes: %d ops agree with eager\n", checked);
}

TEST(InferShapes, ErrorsAreTheEagerOnesAndAttributesAreChecked) {
  using ops::InputMeta;
  const std::string msg = user_error(
      [] { ops::infer_shapes(op("matmul"), {InputMeta({2, 3}, kFloat32), InputMeta({4, 5}, kFloat32)}); });
  EXPECT_NE(msg.find("matmul: [2, 3] f32, [4, 5] f32: "), std::string::npos) << msg;
  const std::string attr = user_error(
      [] { ops::infer_shapes(op("sum"), {InputMeta({2}, kFloat32)}, {{"keepdim", int64_t{1}}}); });
  EXPECT_NE(attr.find("sum: attribute 'keepdim' expects bool, got int 1"), std::string::npos) << attr;
  const std::string count = user_error([] { ops::infer_shapes(op("add"), {InputMeta({2}, kFloat32)}); });
  EXPECT_NE(count.find("expected 2 inputs, got 1"), std::string::npos) << count;
}

TEST(InferShapes, DataDependentShapesAreReportedNotGuessed) {
  using ops::InputMeta;
  const ops::OpDef& one_hot_op = op("one_hot");
  EXPECT_TRUE(one_hot_op.flags & ops::kDataDependentShape);
  // With num_classes the shape is known from metadata...
  const ops::InferResult known = ops::infer_shapes(one_hot_op, {InputMeta({3}, kInt64)}, {{"num_classes", int64_t{5}}});
  EXPECT_EQ(meta_shape(known), (Shape{3, 5}));
  EXPECT_FALSE(ops::has_unknown_dims(known));
  // ...without it the class count is the values' business: unknown, not guessed.
  const ops::InferResult unknown = ops::infer_shapes(one_hot_op, {InputMeta({3}, kInt64)}, {});
  EXPECT_EQ(meta_shape(unknown), (Shape{3, ops::kUnknownDim}));
  EXPECT_TRUE(ops::has_unknown_dims(unknown));
  // Eager resolves it from the data, and checks the labels in the kernel.
  EXPECT_EQ(Shape(one_hot(tensor<int64_t>({0, 3, 1}, {3})).sizes()), (Shape{3, 4}));
  // No other op leaves a dim unknown (or carries the flag) today.
  int flagged = 0;
  for (const ops::OpDef* def : ops::all_ops()) flagged += (def->flags & ops::kDataDependentShape) ? 1 : 0;
  EXPECT_EQ(flagged, 1);
}

// ---- view ops: a metadata rule that agrees with the view function ----

using Ints = std::vector<int64_t>;

// A sample input of `sizes` and `dtype` (contiguous, so every view below exists eagerly).
Tensor sample(Shape sizes, DType dtype) { return zeros(sizes, dtype); }

// Every view op, on metadata alone, gives exactly the sizes and dtype of the eager view:
// -1 in view, negative dims, slices with a step and out-of-range bounds, negative indices.
TEST(InferShapes, ViewOpsMatchTheEagerViews) {
  struct Case {
    const char* op;
    Tensor input;
    Attrs attrs;
  };
  const std::vector<Case> cases = {
      {"view", sample({2, 3, 4}, kFloat32), {{"shape", Ints{4, -1}}}},
      {"view", sample({2, 3, 4}, kInt64), {{"shape", Ints{-1}}}},
      {"view", sample({0, 3}, kFloat32), {{"shape", Ints{-1, 3}}}},
      {"view", sample({}, kBool), {{"shape", Ints{1, 1}}}},
      {"permute", sample({2, 3, 4}, kInt32), {{"dims", Ints{2, 0, 1}}}},
      {"permute", sample({2, 3, 4}, kFloat64), {{"dims", Ints{-1, 0, -2}}}},
      {"permute", sample({}, kFloat32), {{"dims", Ints{}}}},
      // step 2 with an end past the size: clamps to 6, [1, 6) by 2 = 3 elements.
      {"slice", sample({5, 6}, kFloat32), {{"dim", int64_t{1}}, {"start", int64_t{1}}, {"end", int64_t{100}}, {"step", int64_t{2}}}},
      // negative dim and bounds; step defaults to 1.
      {"slice", sample({5, 6}, kFloat16), {{"dim", int64_t{-2}}, {"start", int64_t{-3}}, {"end", int64_t{-1}}}},
      // start before the beginning clamps to 0; end before start is empty.
      {"slice", sample({5, 6}, kInt8), {{"dim", int64_t{0}}, {"start", int64_t{-100}}, {"end", int64_t{3}}, {"step", int64_t{3}}}},
      {"slice", sample({5, 6}, kFloat32), {{"dim", int64_t{1}}, {"start", int64_t{4}}, {"end", int64_t{2}}}},
      {"select", sample({3, 4, 5}, kFloat32), {{"dim", int64_t{1}}, {"index", int64_t{-1}}}},
      {"select", sample({3, 4, 5}, kUInt8), {{"dim", int64_t{-1}}, {"index", int64_t{0}}}},
      {"select", sample({3}, kFloat32), {{"dim", int64_t{0}}, {"index", int64_t{-3}}}},
      {"expand", sample({3, 1}, kFloat32), {{"shape", Ints{2, 3, 4}}}},
      {"expand", sample({3, 1}, kBFloat16), {{"shape", Ints{-1, 5}}}},
      {"expand", sample({}, kInt64), {{"shape", Ints{2, 2}}}},
      {"squeeze", sample({1, 3, 1}, kFloat32), {}},  // dims defaults to every size-1 dim
      {"squeeze", sample({1, 3, 1}, kFloat32), {{"dims", Ints{-1}}}},
      {"squeeze", sample({1, 3, 1}, kInt32), {{"dims", Ints{1}}}},  // size 3: a no-op
      {"squeeze", sample({}, kFloat32), {{"dims", Ints{0}}}},
      {"unsqueeze", sample({2, 3}, kFloat32), {{"dim", int64_t{-1}}}},
      {"unsqueeze", sample({2, 3}, kFloat64), {{"dim", int64_t{0}}}},
      {"unsqueeze", sample({}, kFloat32), {{"dim", int64_t{0}}}},
      {"diagonal", sample({3, 4}, kFloat32), {{"offset", int64_t{1}}}},
      {"diagonal", sample({3, 4}, kFloat32), {{"offset", int64_t{-2}}}},
      {"diagonal", sample({3, 4}, kFloat32), {{"offset", int64_t{10}}}},
      {"diagonal", sample({2, 3, 4}, kInt64), {{"dim1", int64_t{-1}}, {"dim2", int64_t{0}}}},
      {"as_strided", sample({6}, kFloat32), {{"sizes", Ints{2, 2}}, {"strides", Ints{1, 2}}}},
      {"as_strided", sample({6}, kInt32), {{"sizes", Ints{3}}, {"strides", Ints{1}}, {"offset", int64_t{2}}}},
  };
  std::set<std::string> covered;
  for (const Case& c : cases) {
    const Tensor eager = ops::call1(op(c.op), {c.input}, c.attrs);
    ASSERT_TRUE(eager.shares_storage(c.input)) << c.op << ": not a view";
    const ops::InputMeta meta(c.input.sizes(), c.input.dtype());  // sizes and dtype, no data
    const ops::InferResult r = ops::infer_shapes(op(c.op), {meta}, c.attrs);
    ASSERT_EQ(r.outputs.size(), 1u) << c.op;
    EXPECT_EQ(meta_shape(r), Shape(eager.sizes())) << c.op << " of " << c.input.describe();
    EXPECT_EQ(r.outputs[0].dtype, eager.dtype()) << c.op << " of " << c.input.describe();
    EXPECT_FALSE(r.input_dtype.has_value()) << c.op;
    covered.insert(c.op);
  }
  // Every view op the table holds has a case here.
  int view_ops = 0;
  for (const ops::OpDef* def : ops::all_ops()) {
    if (!(def->flags & ops::kIsView)) continue;
    ++view_ops;
    EXPECT_TRUE(covered.count(def->name)) << def->name << " has no case";
  }
  EXPECT_EQ(view_ops, 9);
  std::printf("infer_shapes: %zu view cases over %d view ops agree with eager\n", cases.size(), view_ops);
}

// A bad argument gives, on metadata alone, exactly the error the eager view gives, op named.
TEST(InferShapes, ViewOpErrorsAreTheEagerOnes) {
  struct Case {
    const char* op;
    Shape sizes;
    Attrs attrs;
    const char* says;  // a part of the message
  };
  const std::vector<Case> cases = {
      {"view", {2, 3}, {{"shape", Ints{4, -1}}}, "shape [4, -1] is invalid for 6 elements"},
      {"view", {2, 3}, {{"shape", Ints{5}}}, "shape [5] is invalid for 6 elements"},
      {"view", {2, 3}, {{"shape", Ints{-1, -1}}}, "only one dimension can be -1"},
      {"view", {2, 3}, {{"shape", Ints{-2, 3}}}, "invalid size -2"},
      {"permute", {2, 3}, {{"dims", Ints{0}}}, "expected 2 dims, got [0]"},
      {"permute", {2, 3}, {{"dims", Ints{0, -2}}}, "dim 0 repeats in [0, -2]"},
      {"permute", {2, 3}, {{"dims", Ints{0, 2}}}, "dim 2 is out of range"},
      {"slice", {5}, {{"dim", int64_t{0}}, {"start", int64_t{0}}, {"end", int64_t{5}}, {"step", int64_t{0}}}, "step must be positive, got 0"},
      {"slice", {}, {{"dim", int64_t{0}}, {"start", int64_t{0}}, {"end", int64_t{1}}}, "cannot slice a 0-d tensor"},
      {"slice", {5}, {{"dim", int64_t{1}}, {"start", int64_t{0}}, {"end", int64_t{1}}}, "dim 1 is out of range"},
      {"select", {3, 4}, {{"dim", int64_t{0}}, {"index", int64_t{3}}}, "index 3 is out of range for dim 0 of size 3"},
      {"select", {3, 4}, {{"dim", int64_t{-1}}, {"index", int64_t{-5}}}, "index -5 is out of range for dim 1 of size 4"},
      {"select", {}, {{"dim", int64_t{0}}, {"index", int64_t{0}}}, "cannot select from a 0-d tensor"},
      {"expand", {3, 2}, {{"shape", Ints{3, 4}}}, "cannot expand [3, 2] to [3, 4] (dim 1: 2 -> 4)"},
      {"expand", {3, 1}, {{"shape", Ints{4}}}, "has fewer dims than the input"},
      {"expand", {3, 1}, {{"shape", Ints{-1, 3, 1}}}, "new leading dim 0 must be given, got -1"},
      {"squeeze", {1, 3}, {{"dims", Ints{2}}}, "dim 2 is out of range"},
      {"squeeze", {}, {{"dims", Ints{1}}}, "dim 1 is out of range"},
      {"unsqueeze", {2, 3}, {{"dim", int64_t{3}}}, "dim 3 is out of range"},
      {"unsqueeze", {2, 3}, {{"dim", int64_t{-4}}}, "dim -4 is out of range"},
      {"diagonal", {4}, {}, "expected a tensor of rank >= 2, got rank 1"},
      {"diagonal", {3, 4}, {{"dim1", int64_t{0}}, {"dim2", int64_t{-2}}}, "dim1 and dim2 must differ, both are 0"},
      {"diagonal", {3, 4}, {{"dim2", int64_t{2}}}, "dim 2 is out of range"},
      {"as_strided", {6}, {{"sizes", Ints{2, 2}}, {"strides", Ints{1}}}, "2 sizes but 1 strides"},
      {"as_strided", {6}, {{"sizes", Ints{-1}}, {"strides", Ints{1}}}, "sizes and strides must be >= 0"},
  };
  std::set<std::string> covered;
  for (const Case& c : cases) {
    const std::string meta = user_error([&] { ops::infer_shapes(op(c.op), {ops::InputMeta(c.sizes, kFloat32)}, c.attrs); });
    const std::string eager = user_error([&] { ops::call1(op(c.op), {sample(c.sizes, kFloat32)}, c.attrs); });
    EXPECT_EQ(meta, eager) << c.op;
    const std::string context = std::string(c.op) + ": " + shape_str(c.sizes) + " f32: ";
    EXPECT_EQ(meta.rfind(context, 0), 0u) << meta;
    EXPECT_NE(meta.find(c.says), std::string::npos) << meta;
    covered.insert(c.op);
  }
  EXPECT_EQ(covered.size(), 9u);
  std::printf("infer_shapes: %zu view error cases give the eager message\n", cases.size());
}

// What only a layout knows stays with the view function: a view whose strides cannot
// express the shape, an as_strided view past the end of its storage. The metadata rule
// checks sizes, and passes both.
TEST(InferShapes, ViewChecksOnlyALayoutCanMakeStayEager) {
  const Tensor t = sample({2, 3}, kFloat32).t();  // [3, 2], not contiguous
  const Attrs flat{{"shape", Ints{6}}};
  EXPECT_EQ(meta_shape(ops::infer_shapes(op("view"), {ops::InputMeta(t)}, flat)), (Shape{6}));
  const std::string strides = user_error([&] { ops::call1(op("view"), {t}, flat); });
  EXPECT_NE(strides.find("is incompatible with the input's strides"), std::string::npos) << strides;

  const Attrs past{{"sizes", Ints{10}}, {"strides", Ints{1}}};
  EXPECT_EQ(meta_shape(ops::infer_shapes(op("as_strided"), {ops::InputMeta({6}, kFloat32)}, past)), (Shape{10}));
  const std::string storage = user_error([&] { ops::call1(op("as_strided"), {sample({6}, kFloat32)}, past); });
  EXPECT_NE(storage.find("but the storage holds 6"), std::string::npos) << storage;
}

}  // namespace
}  // namespace tessera
