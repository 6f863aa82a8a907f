#pragma once
// Helpers shared by the per-family gradient tests (tests/autograd/*_grad_test.cc): float64
// input makers and the table case for ops of several tensors with fixed shapes.
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tessera/tessera.h"

namespace tessera::grad_test {

// A leaf that requires grad, holding `t`'s values.
inline Tensor leaf(const Tensor& t) { return t.detach().requires_grad_(); }

// Uniform float64 values in [lo, hi).
inline Tensor uniform_values(IntArrayRef shape, double lo, double hi, Generator& g) {
  return add(mul(rand(shape, kFloat64, &g), hi - lo), lo);
}

// |x| in [lo, hi] with a random sign: keeps clear of a kink at 0.
inline Tensor signed_away(IntArrayRef shape, double lo, double hi, Generator& g) {
  const Tensor sign = sub(mul(gt(rand(shape, kFloat64, &g), 0.5).to(kFloat64), 2.0), 1.0);
  return mul(uniform_values(shape, lo, hi, g), sign);
}

// A case of an op table: normal float64 inputs of `shapes`, seeded by the case's name.
struct ShapedGradCase {
  std::string name;  // the test's name
  std::string op;    // the op it exercises (coverage is counted per op)
  std::vector<Shape> shapes;
  autograd::TensorFn fn;
};
// gtest prints a failing parameter with this: the case's name, not its bytes.
inline void PrintTo(const ShapedGradCase& c, std::ostream* os) { *os << c.name; }

inline std::vector<Tensor> random_inputs(const ShapedGradCase& c) {
  Generator gen(std::hash<std::string>{}(c.name));
  std::vector<Tensor> in;
  for (const Shape& s : c.shapes) in.push_back(randn(s, kFloat64, &gen).requires_grad_());
  return in;
}

}  // namespace tessera::grad_test
