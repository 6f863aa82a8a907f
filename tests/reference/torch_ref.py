#!/usr/bin/python3
"""Writes PyTorch reference cases for tests/reference/torch_agreement_test.cc.

usage: /usr/bin/python3 torch_ref.py OUTDIR

For each case it saves the inputs (.npy, always C-contiguous), PyTorch's outputs (.npy)
and one manifest line. An input may carry a view the consumer applies before calling the
op, so the op sees a non-contiguous tensor; PyTorch's output is computed on that same view.

manifest.txt, one case per line, whitespace-separated:
    CASE OP in=FILE[@VIEW]... out=FILE... [KEY=VALUE]...
  VIEW is one or more steps joined by '@':
    perm:1,0          x.permute(1, 0)
    slice:D:S:E:STEP  x.slice(D, S, E, STEP)
  KEY=VALUE are the op's attributes. Integer lists are comma-separated ("dims=" is the
  empty list); floats always contain '.', 'e', 'inf' or 'nan'; booleans are 0/1.
  reduce_n=N says each output element reduces N inputs (the test relaxes its tolerance
  for N > 10,000).
Lines starting with '#' are comments. Input and output files are relative to OUTDIR.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # deterministic summation order from run to run


class Inp:
    """An input: the array stored on disk and the view steps applied after loading."""

    def __init__(self, stored, views=()):
        self.stored = np.ascontiguousarray(stored)
        self.views = list(views)

    def spec(self):
        out = []
        for v in self.views:
            if v[0] == "perm":
                out.append("perm:" + ",".join(str(d) for d in v[1]))
            else:
                out.append("slice:%d:%d:%d:%d" % v[1:])
        return "".join("@" + s for s in out)

    def torch(self):
        t = torch.from_numpy(self.stored.copy())
        for v in self.views:
            if v[0] == "perm":
                t = t.permute(*v[1])
            else:
                _, d, s, e, step = v
                idx = [slice(None)] * t.dim()
                idx[d] = slice(s, e, step)
                t = t[tuple(idx)]
        return t


def C(arr):
    return Inp(arr)


def P(arr, perm):
    """A permuted view whose logical value is `arr`."""
    inv = np.argsort(perm)
    return Inp(np.transpose(arr, inv), [("perm", list(perm))])


def T(arr):
    """`arr` seen through a transpose of its last two dims (non-contiguous)."""
    perm = list(range(arr.ndim))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return P(arr, perm)


def S(arr):
    """`arr` seen as every other row of a taller array (dim 0 stride doubled)."""
    arr = np.asarray(arr)
    stored = np.empty((2 * arr.shape[0],) + arr.shape[1:], dtype=arr.dtype)
    stored[0::2] = arr
    # The rows the view skips hold values that would show up if a kernel ignored strides.
    stored[1::2] = (1000 if arr.dtype != np.bool_ else True)
    return Inp(stored, [("slice", 0, 0, stored.shape[0], 2)])


rng = np.random.default_rng(20240611)


def U(shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def pos(shape, lo=0.5, hi=2.0):
    return U(shape, lo, hi)


def ints(shape, lo, hi):
    return rng.integers(lo, hi, size=shape).astype(np.int64)


def bools(shape, p=0.5):
    return rng.uniform(size=shape) < p


def halves(shape, lo=-4, hi=4):
    """Multiples of 0.5: exercises ties (round half to even, equality)."""
    return (rng.integers(lo * 2, hi * 2 + 1, size=shape) / 2).astype(np.float32)


def specials(shape):
    a = U(shape, -3, 3)
    flat = a.reshape(-1)
    flat[::5] = np.nan
    flat[1::7] = np.inf
    flat[2::9] = -np.inf
    return a


def fmt_attr(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return ",".join(str(int(x)) for x in v)
    if isinstance(v, float):
        s = repr(v)
        return s if any(c in s for c in ".einf") else s + ".0"
    return str(v)


class Writer:
    def __init__(self, outdir):
        self.outdir = outdir
        self.lines = []
        self.names = set()

    def add(self, name, op, inputs, fn, reduce_n=0, **attrs):
        assert name not in self.names, name
        self.names.add(name)
        toks = [name, op]
        for i, inp in enumerate(inputs):
            f = "%s.in%d.npy" % (name, i)
            np.save(os.path.join(self.outdir, f), inp.stored)
            toks.append("in=" + f + inp.spec())
        res = fn(*[inp.torch() for inp in inputs])
        if isinstance(res, torch.Tensor):
            res = [res]
        for i, r in enumerate(res):
            f = "%s.out%d.npy" % (name, i)
            np.save(os.path.join(self.outdir, f), r.detach().contiguous().numpy())
            toks.append("out=" + f)
        for k, v in attrs.items():
            if v is not None:
                toks.append("%s=%s" % (k, fmt_attr(v)))
        if reduce_n:
            toks.append("reduce_n=%d" % reduce_n)
        self.lines.append(" ".join(toks))

    def finish(self):
        with open(os.path.join(self.outdir, "manifest.txt"), "w") as f:
            f.write("# generated by torch_ref.py with torch %s\n" % torch.__version__)
            f.write("\n".join(self.lines) + "\n")


def elementwise(w):
    # ---- binary, with broadcasting and non-contiguous operands ----
    w.add("add_same", "add", [C(U((3, 4))), C(U((3, 4)))], torch.add)
    w.add("add_bcast", "add", [C(U((4, 1, 5))), C(U((3, 1)))], torch.add)
    w.add("add_T", "add", [T(U((4, 5))), S(U((4, 5)))], torch.add)
    w.add("add_scalar", "add", [T(U((3, 4)))], lambda a: torch.add(a, 2.5), scalar=2.5)
    w.add("add_int_float", "add", [C(ints((3, 4), -5, 5)), C(U((4,)))], torch.add)
    w.add("add_f32_f64", "add", [C(U((3,))), C(U((2, 3)).astype(np.float64))], torch.add)
    w.add("sub_bcast", "sub", [C(U((2, 3, 1))), T(U((4, 3)).T.copy())], torch.sub)
    w.add("sub_scalar", "sub", [C(U((5,)))], lambda a: torch.sub(a, 1.25), scalar=1.25)
    w.add("mul_bcast", "mul", [C(U((5, 1))), C(U((1, 6)))], torch.mul)
    w.add("mul_T", "mul", [T(U((3, 6))), C(U((6,)))], torch.mul)
    w.add("mul_int_scalar", "mul", [C(ints((4,), -9, 9))], lambda a: torch.mul(a, 3), scalar=3)
    w.add("mul_int_fscalar", "mul", [C(ints((4,), -9, 9))], lambda a: torch.mul(a, 0.5),
          scalar=0.5)
    w.add("div_bcast", "div", [C(U((4, 1, 5))), C(pos((3, 1)))], torch.div)
    w.add("div_int", "div", [C(ints((6,), -20, 20)), C(ints((6,), 1, 7))], torch.div)
    w.add("div_scalar", "div", [S(U((3, 2)))], lambda a: torch.div(a, 4.0), scalar=4.0)
    w.add("floor_divide", "floor_divide", [C(U((3, 4), -10, 10)), C(pos((4,)))],
          torch.floor_divide)
    w.add("floor_divide_int", "floor_divide", [C(ints((8,), -20, 20)), C(ints((8,), 1, 6))],
          torch.floor_divide)
    w.add("remainder", "remainder", [C(U((3, 4), -10, 10)), C(U((3, 1), 0.5, 3))],
          torch.remainder)
    w.add("remainder_neg_div", "remainder", [C(U((6,), -10, 10))],
          lambda a: torch.remainder(a, -3.0), scalar=-3.0)
    w.add("remainder_int", "remainder", [C(ints((8,), -20, 20)), C(ints((8,), 1, 6))],
          torch.remainder)
    w.add("pow_tensor", "pow", [C(pos((3, 4))), C(U((4,), -2, 2))], torch.pow)
    w.add("pow_scalar2", "pow", [T(U((3, 4)))], lambda a: torch.pow(a, 2), scalar=2)
    w.add("pow_scalar_half", "pow", [C(pos((5,)))], lambda a: torch.pow(a, 0.5), scalar=0.5)
    w.add("pow_scalar_base", "pow.scalar_base", [C(U((5,)))], lambda a: torch.pow(2.0, a),
          scalar=2.0)
    w.add("minimum", "minimum", [C(U((4, 1))), T(U((4, 3)))], torch.minimum)
    w.add("maximum", "maximum", [S(U((2, 3))), C(U((3,)))], torch.maximum)
    w.add("atan2", "atan2", [C(U((3, 4))), C(U((1, 4)))], torch.atan2)

    # ---- unary ----
    x = T(U((5, 7), -3, 3))
    p = T(pos((5, 7), 0.05, 4))
    unary = [
        ("neg", x, torch.neg), ("abs", x, torch.abs), ("sign", C(halves((9,))), torch.sign),
        ("exp", x, torch.exp), ("expm1", C(U((20,), -1e-3, 1e-3)), torch.expm1),
        ("log", p, torch.log), ("log1p", C(U((12,), -0.5, 3)), torch.log1p),
        ("log2", p, torch.log2), ("sqrt", p, torch.sqrt), ("rsqrt", p, torch.rsqrt),
        ("sin", x, torch.sin), ("cos", x, torch.cos), ("tan", C(U((4, 5), -1.4, 1.4)), torch.tan),
        ("tanh", x, torch.tanh), ("sigmoid", x, torch.sigmoid), ("erf", x, torch.erf),
        ("relu", x, torch.relu), ("silu", x, F.silu),
        ("square", x, torch.square), ("reciprocal", p, torch.reciprocal),
        ("floor", x, torch.floor), ("ceil", x, torch.ceil), ("round", x, torch.round),
    ]
    for name, inp, fn in unary:
        w.add(name, name, [inp], fn)
    w.add("expm1_wide", "expm1", [S(U((6, 3), -3, 3))], torch.expm1)
    w.add("round_halves", "round", [C(halves((17,)))], torch.round)
    w.add("abs_int", "abs", [C(ints((7,), -9, 9))], torch.abs)
    w.add("neg_S", "neg", [S(U((3, 4)))], torch.neg)
    w.add("gelu", "gelu", [x], F.gelu, approximate="none")
    w.add("gelu_tanh", "gelu", [x], lambda a: F.gelu(a, approximate="tanh"),
          approximate="tanh")
    w.add("softplus", "softplus", [x], F.softplus, beta=1.0, threshold=20.0)
    w.add("softplus_beta", "softplus", [C(U((10,), -10, 10))],
          lambda a: F.softplus(a, beta=2.0, threshold=5.0), beta=2.0, threshold=5.0)

    w.add("clamp", "clamp", [x], lambda a: torch.clamp(a, -0.5, 0.75), min=-0.5, max=0.75)
    w.add("clamp_min", "clamp", [x], lambda a: torch.clamp(a, min=0.25), min=0.25)
    w.add("clamp_max", "clamp", [C(U((6,)))], lambda a: torch.clamp(a, max=-0.1), max=-0.1)
    w.add("clamp_tensor", "clamp.tensor", [C(U((3, 4))), C(U((4,), -1, 0)), C(U((3, 1), 0, 1))],
          lambda a, lo, hi: torch.clamp(a, lo, hi))

    # ---- comparisons and logic (halves make ties, so eq/le/ge see both outcomes) ----
    a, b = halves((4, 5), -2, 2), halves((5,), -2, 2)
    for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
        w.add(op, op, [T(a), C(b)], getattr(torch, op))
        w.add(op + "_scalar", op, [C(a)], lambda t, op=op: getattr(torch, op)(t, 0.5), scalar=0.5)
    m, n = bools((3, 4)), bools((4,))
    w.add("logical_and", "logical_and", [C(m), C(n)], torch.logical_and)
    w.add("logical_or", "logical_or", [T(bools((4, 3)).T.copy()), C(n)], torch.logical_or)
    w.add("logical_xor", "logical_xor", [C(m), C(n)], torch.logical_xor)
    w.add("logical_not", "logical_not", [C(m)], torch.logical_not)
    w.add("logical_and_float", "logical_and", [C(halves((6,), -1, 1)), C(halves((6,), -1, 1))],
          torch.logical_and)
    w.add("where", "where", [C(bools((4, 1))), T(U((4, 5))), C(U((5,)))], torch.where)
    w.add("where_scalar", "where", [C(bools((3, 4))), C(U((3, 4)))],
          lambda c, t: torch.where(c, t, torch.tensor(-1.5)), scalar=-1.5)
    sp = C(specials((4, 6)))
    w.add("isnan", "isnan", [sp], torch.isnan)
    w.add("isinf", "isinf", [sp], torch.isinf)
    w.add("isfinite", "isfinite", [sp], torch.isfinite)
    w.add("nan_to_num", "nan_to_num", [sp], torch.nan_to_num)
    w.add("nan_to_num_args", "nan_to_num", [sp],
          lambda t: torch.nan_to_num(t, nan=0.5, posinf=10.0, neginf=-10.0),
          nan=0.5, posinf=10.0, neginf=-10.0)

    # ---- in-place forms, applied to non-contiguous views ----
    w.add("add_", "add_", [T(U((3, 4))), C(U((4,)))], lambda a, b: a.add_(b))
    w.add("sub_", "sub_", [T(U((3, 4))), C(U((3, 1)))], lambda a, b: a.sub_(b))
    w.add("mul_", "mul_", [S(U((3, 4))), C(U((4,)))], lambda a, b: a.mul_(b))
    w.add("div_", "div_", [T(U((3, 4))), C(pos((4,)))], lambda a, b: a.div_(b))
    w.add("pow_", "pow_", [T(pos((3, 4)))], lambda a: a.pow_(3), scalar=3)
    for op in ["neg_", "abs_", "exp_", "relu_", "sigmoid_", "tanh_"]:
        w.add(op, op, [T(U((3, 4)))], lambda a, op=op: getattr(a, op)())
    for op in ["log_", "sqrt_"]:
        w.add(op, op, [T(pos((3, 4)))], lambda a, op=op: getattr(a, op)())
    w.add("clamp_", "clamp_", [T(U((3, 4)))], lambda a: a.clamp_(-1.0, 1.0), min=-1.0, max=1.0)
    w.add("masked_fill_", "masked_fill_", [T(U((3, 4))), C(bools((4,)))],
          lambda a, m: a.masked_fill_(m, 7.5), value=7.5)


def reductions(w):
    x = U((3, 4, 5))
    w.add("sum_all", "sum", [C(x)], torch.sum, dims=[], reduce_n=60)
    w.add("sum_dims", "sum", [P(pos((3, 4, 5)), [2, 0, 1])],
          lambda t: torch.sum(t, (0, 2), keepdim=True), dims=[0, 2], keepdim=True)
    w.add("sum_neg_dim", "sum", [T(x)], lambda t: torch.sum(t, -1), dims=[-1])
    big = pos((200, 300), 0, 1)
    w.add("sum_big", "sum", [C(big)], torch.sum, dims=[], reduce_n=60000)
    w.add("sum_big_T", "sum", [T(pos((300, 120), 0, 1))], lambda t: torch.sum(t, 1), dims=[1])
    w.add("sum_int", "sum", [C(ints((4, 6), -100, 100))], lambda t: torch.sum(t, 1), dims=[1])
    w.add("sum_bool", "sum", [C(bools((5, 6)))], lambda t: torch.sum(t, 0), dims=[0])
    w.add("mean", "mean", [C(x)], lambda t: torch.mean(t, (1,)), dims=[1])
    w.add("mean_keep", "mean", [T(pos((4, 6)))], lambda t: torch.mean(t, (0, 1), keepdim=True),
          dims=[0, 1], keepdim=True)
    w.add("mean_big", "mean", [S(pos((20000, 3), 0, 1))], lambda t: torch.mean(t, (0,)),
          dims=[0], reduce_n=20000)
    w.add("prod", "prod", [C(pos((4, 6), 0.5, 1.5))], lambda t: torch.prod(t, 1), dims=[1])
    w.add("prod_all", "prod", [C(pos((3, 5), 0.7, 1.3))], torch.prod, dims=[])
    w.add("amax", "amax", [T(x)], lambda t: torch.amax(t, (0, 2)), dims=[0, 2])
    w.add("amin", "amin", [C(x)], lambda t: torch.amin(t, 1, keepdim=True), dims=[1],
          keepdim=True)
    w.add("amax_big", "amax", [C(U((110, 100)))], torch.amax, dims=[], reduce_n=11000)
    w.add("max_all", "max", [T(U((4, 6)))], torch.max)
    w.add("min_all", "min", [C(U((7,)))], torch.min)
    w.add("max_dim", "max.dim", [T(U((5, 6)))], lambda t: tuple(torch.max(t, 1)), dim=1)
    w.add("min_dim", "min.dim", [C(x)], lambda t: tuple(torch.min(t, 0, keepdim=True)),
          dim=0, keepdim=True)
    w.add("argmax_all", "argmax", [T(U((4, 6)))], torch.argmax)
    w.add("argmax_dim", "argmax", [C(x)], lambda t: torch.argmax(t, 2), dim=2)
    w.add("argmin_dim", "argmin", [T(U((4, 6)))], lambda t: torch.argmin(t, 0, keepdim=True),
          dim=0, keepdim=True)
    w.add("argmin_all", "argmin", [C(U((9,)))], torch.argmin)
    w.add("var", "var", [C(x)], lambda t: torch.var(t, (1,)), dims=[1], correction=1)
    w.add("var_pop", "var", [T(U((5, 6)))], lambda t: torch.var(t, (0,), unbiased=False,
          keepdim=True), dims=[0], correction=0, keepdim=True)
    w.add("var_big", "var", [C(U((150, 100)))], torch.var, dims=[], correction=1,
          reduce_n=15000)
    w.add("std", "std", [C(x)], lambda t: torch.std(t, (0, 2)), dims=[0, 2], correction=1)
    w.add("std_big", "std", [C(U((120, 100)))], torch.std, dims=[], correction=1,
          reduce_n=12000)
    w.add("norm", "norm", [C(x)], torch.norm, p=2.0, dims=[])
    w.add("norm_p1_dim", "norm", [T(U((4, 6)))], lambda t: torch.norm(t, 1, (1,)),
          p=1.0, dims=[1])
    w.add("norm_p3_keep", "norm", [C(x)], lambda t: torch.norm(t, 3, (0, 1), keepdim=True),
          p=3.0, dims=[0, 1], keepdim=True)
    w.add("norm_big", "norm", [C(U((100, 110)))], torch.norm, p=2.0, dims=[], reduce_n=11000)
    w.add("logsumexp", "logsumexp", [T(U((4, 6), -5, 5))], lambda t: torch.logsumexp(t, (1,)),
          dims=[1])
    w.add("logsumexp_keep", "logsumexp", [C(x)],
          lambda t: torch.logsumexp(t, (0, 2), keepdim=True), dims=[0, 2], keepdim=True)
    w.add("logsumexp_big", "logsumexp", [C(U((100, 120), -10, 10))],
          lambda t: torch.logsumexp(t, (0, 1)), dims=[0, 1], reduce_n=12000)
    bl = bools((4, 5), 0.8)
    w.add("all", "all", [C(bl)], lambda t: torch.all(t, 1), dims=[1])
    w.add("all_all", "all", [C(bools((3,), 1.0))], torch.all, dims=[])
    w.add("any", "any", [T(bools((5, 4), 0.15))], lambda t: torch.any(t, 0, keepdim=True),
          dims=[0], keepdim=True)
    w.add("any_all", "any", [C(bools((6,), 0.0))], torch.any, dims=[])
    w.add("cumsum", "cumsum", [T(pos((4, 6)))], lambda t: torch.cumsum(t, 1), dim=1)
    w.add("cumsum_dim0", "cumsum", [C(pos((5, 3)))], lambda t: torch.cumsum(t, 0), dim=0)
    w.add("cumsum_int", "cumsum", [C(ints((7,), -5, 5))], lambda t: torch.cumsum(t, 0), dim=0)
    w.add("cumsum_big", "cumsum", [C(pos((12000,), 0, 1))], lambda t: torch.cumsum(t, 0),
          dim=0, reduce_n=12000)
    w.add("softmax", "softmax", [T(U((4, 7), -5, 5))], lambda t: torch.softmax(t, -1), dim=-1)
    w.add("softmax_dim0", "softmax", [C(x)], lambda t: torch.softmax(t, 0), dim=0)
    w.add("softmax_big", "softmax", [C(U((2, 12000), -5, 5))], lambda t: torch.softmax(t, 1),
          dim=1, reduce_n=12000)
    w.add("log_softmax", "log_softmax", [T(U((4, 7), -5, 5))],
          lambda t: torch.log_softmax(t, -1), dim=-1)
    w.add("log_softmax_dim1", "log_softmax", [S(x)], lambda t: torch.log_softmax(t, 1), dim=1)


def linalg(w):
    # Signed inputs with short inner dims, or positive inputs with long ones: a dot product
    # that cancels is ill-conditioned, and its summation order (which legitimately differs
    # between libraries) would dominate the comparison.
    w.add("matmul_2d", "matmul", [C(U((4, 6))), C(U((6, 5)))], torch.matmul)
    w.add("matmul_T", "matmul", [T(pos((30, 64), 0, 1)), T(pos((64, 20), 0, 1))], torch.matmul)
    w.add("matmul_1d_2d", "matmul", [C(U((6,))), C(U((6, 3)))], torch.matmul)
    w.add("matmul_2d_1d", "matmul", [S(U((3, 6))), C(U((6,)))], torch.matmul)
    w.add("matmul_1d_1d", "matmul", [C(U((7,))), C(U((7,)))], torch.matmul)
    w.add("matmul_batched_bcast", "matmul", [C(U((2, 1, 3, 4))), C(U((5, 4, 6)))], torch.matmul)
    w.add("matmul_3d_1d", "matmul", [T(U((2, 3, 4))), C(U((4,)))], torch.matmul)
    w.add("matmul_1d_3d", "matmul", [C(U((4,))), C(U((2, 4, 3)))], torch.matmul)
    w.add("matmul_big", "matmul", [C(pos((33, 200), 0, 1)), C(pos((200, 17), 0, 1))],
          torch.matmul)
    w.add("mm", "mm", [C(U((5, 4))), T(U((4, 3)))], torch.mm)
    w.add("bmm", "bmm", [C(U((3, 4, 5))), P(U((3, 5, 2)), [1, 0, 2])], torch.bmm)
    w.add("addmm", "addmm", [C(U((3,))), C(U((2, 4))), C(U((4, 3)))],
          lambda i, a, b: torch.addmm(i, a, b, beta=0.5, alpha=2.0), beta=0.5, alpha=2.0)
    w.add("addmm_default", "addmm", [C(U((2, 3))), T(U((2, 5))), C(U((5, 3)))], torch.addmm,
          beta=1.0, alpha=1.0)
    w.add("outer", "outer", [C(U((4,))), S(U((5,)))], torch.outer)
    w.add("dot", "dot", [C(U((9,))), C(U((9,)))], torch.dot)
    w.add("dot_big", "dot", [C(pos((12000,), 0, 1)), C(pos((12000,), 0, 1))], torch.dot,
          reduce_n=12000)


def shape_index(w):
    w.add("cat_dim0", "cat", [C(U((2, 3))), C(U((4, 3)))], lambda *t: torch.cat(t, 0), dim=0)
    w.add("cat_dim1_T", "cat", [T(U((3, 2))), C(U((3, 4))), S(U((3, 1)))],
          lambda *t: torch.cat(t, 1), dim=1)
    w.add("cat_int", "cat", [C(ints((2,), 0, 9)), C(ints((3,), 0, 9))],
          lambda *t: torch.cat(t, 0), dim=0)
    w.add("stack", "stack", [C(U((3, 4))), T(U((3, 4))), C(U((3, 4)))],
          lambda *t: torch.stack(t, 1), dim=1)
    w.add("stack_dim0", "stack", [C(U((5,))), C(U((5,)))], lambda *t: torch.stack(t, 0), dim=0)
    w.add("split", "split", [T(U((3, 7)))], lambda t: torch.split(t, 2, 1), split_size=2, dim=1)
    w.add("split_sizes", "split", [C(U((6, 2)))], lambda t: torch.split(t, [1, 2, 3], 0),
          sizes=[1, 2, 3], dim=0)
    w.add("chunk", "chunk", [C(U((7, 3)))], lambda t: torch.chunk(t, 3, 0), chunks=3, dim=0)
    w.add("repeat", "repeat", [T(U((2, 3)))], lambda t: t.repeat(2, 1, 3), repeats=[2, 1, 3])
    w.add("tile", "tile", [C(U((2, 3)))], lambda t: torch.tile(t, (2,)), reps=[2])
    w.add("tile_more", "tile", [S(U((2, 3)))], lambda t: torch.tile(t, (3, 1, 2)),
          reps=[3, 1, 2])
    w.add("flip", "flip", [C(U((3, 4, 5)))], lambda t: torch.flip(t, (0, 2)), dims=[0, 2])
    w.add("flip_T", "flip", [T(U((3, 4)))], lambda t: torch.flip(t, (-1,)), dims=[-1])
    w.add("roll", "roll", [C(U((4, 5)))], lambda t: torch.roll(t, (1, -2), (0, 1)),
          shifts=[1, -2], dims=[0, 1])
    w.add("roll_flat", "roll", [T(U((3, 4)))], lambda t: torch.roll(t, 5), shifts=[5], dims=[])
    w.add("tril", "tril", [C(U((4, 5)))], torch.tril, diagonal=0)
    w.add("tril_neg", "tril", [T(U((5, 4)))], lambda t: torch.tril(t, -1), diagonal=-1)
    w.add("triu", "triu", [C(U((2, 4, 5)))], lambda t: torch.triu(t, 1), diagonal=1)
    w.add("gather", "gather", [C(U((3, 5))), C(ints((3, 4), 0, 5))],
          lambda t, i: torch.gather(t, 1, i), dim=1)
    w.add("gather_T", "gather", [T(U((4, 3))), C(ints((2, 3), 0, 4))],
          lambda t, i: torch.gather(t, 0, i), dim=0)
    # scatter without accumulation: distinct targets per column, so the result is defined.
    idx = np.stack([rng.permutation(4)[:2] for _ in range(5)], axis=1).astype(np.int64)
    w.add("scatter", "scatter", [C(U((4, 5))), C(idx), C(U((2, 5)))],
          lambda t, i, s: torch.scatter(t, 0, i, s), dim=0)
    w.add("scatter_value", "scatter", [T(U((4, 5))), C(idx)],
          lambda t, i: torch.scatter(t, 0, i, 9.25), dim=0, value=9.25)
    w.add("scatter_add", "scatter_add", [C(U((3, 4))), C(ints((3, 6), 0, 4)), C(U((3, 6)))],
          lambda t, i, s: torch.scatter_add(t, 1, i, s), dim=1)
    w.add("scatter_", "scatter_", [T(U((4, 5))), C(idx), C(U((2, 5)))],
          lambda t, i, s: t.scatter_(0, i, s), dim=0)
    w.add("scatter_add_", "scatter_add_", [T(U((3, 4))), C(ints((3, 2), 0, 4)), C(U((3, 2)))],
          lambda t, i, s: t.scatter_add_(1, i, s), dim=1)
    w.add("index_select", "index_select", [C(U((3, 5))), C(np.array([4, 0, 0, 2], np.int64))],
          lambda t, i: torch.index_select(t, 1, i), dim=1)
    w.add("index_select_T", "index_select", [T(U((4, 3))), C(np.array([3, 1], np.int64))],
          lambda t, i: torch.index_select(t, 0, i), dim=0)
    w.add("masked_fill", "masked_fill", [C(U((4, 5))), C(bools((4, 1)))],
          lambda t, m: torch.masked_fill(t, m, 3.5), value=3.5)
    w.add("masked_fill_T", "masked_fill", [T(U((3, 4))), C(bools((3, 4)))],
          lambda t, m: torch.masked_fill(t, m, -1.0), value=-1.0)
    # index_put inputs: x, values, then one index tensor per leading dim.
    w.add("index_put", "index_put",
          [C(U((5, 4))), C(U((3,))), C(np.array([0, 2, 4], np.int64)),
           C(np.array([1, 3, 0], np.int64))],
          lambda t, v, i0, i1: torch.index_put(t, (i0, i1), v), accumulate=False)
    w.add("index_put_acc", "index_put",
          [T(U((5, 4))), C(U((4, 4))), C(np.array([1, 3, 1, 1], np.int64))],
          lambda t, v, i0: torch.index_put(t, (i0,), v, accumulate=True), accumulate=True)
    w.add("index_put_mask", "index_put",
          [C(U((5, 4))), C(U((4,))), C(np.array([True, False, True, True, False]))],
          lambda t, v, m: torch.index_put(t, (m,), v), accumulate=False)
    w.add("index_put_", "index_put_",
          [T(U((4, 3))), C(U((2, 3))), C(np.array([3, 0], np.int64))],
          lambda t, v, i0: t.index_put_((i0,), v), accumulate=False)
    labels = np.array([0, 3, 1, 4, 4, 2], np.int64)
    w.add("one_hot", "one_hot", [C(labels)], lambda t: F.one_hot(t, 6), num_classes=6)
    w.add("one_hot_infer", "one_hot", [C(labels.reshape(2, 3))], lambda t: F.one_hot(t),
          num_classes=-1)
    s = U((4, 7))
    w.add("sort", "sort", [T(s)], lambda t: tuple(torch.sort(t, -1)), dim=-1, descending=False)
    w.add("sort_desc_dim0", "sort", [C(s)], lambda t: tuple(torch.sort(t, 0, descending=True)),
          dim=0, descending=True)
    w.add("sort_stable_ties", "sort", [C(np.array([2, 1, 2, 0, 1, 2, 0], np.float32))],
          lambda t: tuple(torch.sort(t, stable=True, dim=0)), dim=0, descending=False)
    w.add("topk", "topk", [C(s)], lambda t: tuple(torch.topk(t, 3)), k=3, dim=-1,
          largest=True, sorted=True)
    w.add("topk_smallest_dim0", "topk", [T(U((6, 4)))],
          lambda t: tuple(torch.topk(t, 2, 0, largest=False)), k=2, dim=0, largest=False,
          sorted=True)

    # ---- views built by Tensor methods (strided inputs; the result is compared by value) ----
    v = U((3, 4, 5))
    w.add("view.permute", "Tensor::permute", [S(v)], lambda t: t.permute(2, 0, 1), dims=[2, 0, 1])
    w.add("view.transpose", "Tensor::transpose", [C(v)], lambda t: t.transpose(0, 2), dim0=0, dim1=2)
    w.add("view.slice", "Tensor::slice", [T(U((6, 8)))], lambda t: t[:, 1:7:3], dim=1, start=1, end=7,
          step=3)
    w.add("view.narrow", "Tensor::narrow", [C(v)], lambda t: t.narrow(1, 1, 2), dim=1, start=1, length=2)
    w.add("view.select", "Tensor::select", [T(U((4, 5)))], lambda t: t.select(1, 2), dim=1, index=2)
    w.add("view.expand", "Tensor::expand", [C(U((3, 1)))], lambda t: t.expand(2, 3, 4), sizes=[2, 3, 4])
    w.add("view.squeeze", "Tensor::squeeze", [C(U((3, 1, 4, 1)))], lambda t: t.squeeze(1), dim=1)
    w.add("view.unsqueeze", "Tensor::unsqueeze", [T(U((3, 4)))], lambda t: t.unsqueeze(1), dim=1)
    w.add("view.flatten", "Tensor::flatten", [C(v)], lambda t: t.flatten(1), start_dim=1, end_dim=-1)
    w.add("view.reshape", "Tensor::reshape", [T(U((4, 6)))], lambda t: t.reshape(3, 8), sizes=[3, 8])
    w.add("view.diagonal", "Tensor::diagonal", [C(U((4, 5)))], lambda t: t.diagonal(1), offset=1)
    w.add("view.contiguous", "Tensor::contiguous", [P(v, [1, 2, 0])], lambda t: t.contiguous())


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_ref.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    w = Writer(outdir)
    elementwise(w)
    reductions(w)
    linalg(w)
    shape_index(w)
    w.finish()
    ops = {line.split()[1].split(".")[0] for line in w.lines}
    print("torch_ref.py: %d cases, %d ops -> %s" % (len(w.lines), len(ops), outdir))


if __name__ == "__main__":
    main()
