#!/usr/bin/python3
"""PyTorch's results on special values, for tests/reference/special_values_test.cc.

usage: /usr/bin/python3 special_values_ref.py OUTDIR OPLIST

OPLIST comes from the test, which writes it from Tessera's op table: one op per line,
"NAME KIND ARITY" with KIND elementwise, reduction or ordering. Every op listed gets cases
in float32 and float64. An elementwise op gets them from ELEMENTWISE_SPEC when it has an
entry there (attributes, a torch function other than torch.NAME, more variants), else
generically: torch.NAME on every value (one input) or on every pair of values (two). A
reduction gets them from REDUCTIONS. An op that can be swept neither way gets a line
"NAME why" in missing.txt, and the test fails naming it. So a new elementwise op is swept
without touching this file when PyTorch has a function of that name, and reported otherwise.

Inputs and PyTorch's outputs are .npy files in OUTDIR; manifest.txt has the format
torch_cases.h describes (CASE OP in=FILE... out=FILE... KEY=VALUE...), the OP being a key of the op table in
torch_cases.h (or the OpDef's name, which the test then calls directly). Extra keys:
    def=NAME    the op of Tessera's op table the case covers (coverage is counted on it)
    dtype=f32|f64
    kind=       how the inputs are laid out, which decides the layouts the test runs them in:
                elementwise (every input 1-D, one element per output element), binary (as
                elementwise, and a[i*N + j] = V[i], b[i*N + j] = V[j] with pairs=N), or
                reduce (one input, rows of scenarios named by rows=NAME,NAME,...)
    ulps=N      tolerance for finite non-zero results, in units in the last place of the
                dtype (absent: 0, the result must be exact)
    alt=FILE,.. PyTorch's results on its other path, where they differ from out= (its
                scalar loop for elementwise ops, a column-major input for reductions)
    exact=FILE,.. the exact results (mpmath; extended precision for reductions), for the
                ops where Tessera is deliberately more accurate than PyTorch
    zero_ties=1 the extremum of a row holding both +0 and -0 may be a zero of either sign
    indices=consistent  (topk) output 1 is checked by what it points at, not against
                PyTorch's indices: PyTorch leaves the order of equal values unspecified
mpmath comes with python3-torch (through python3-sympy).
"""
import math
import os
import sys

import mpmath
import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

INF, NAN = math.inf, math.nan
DTYPES = {"f32": np.float32, "f64": np.float64}


def special_values(dt):
    """The swept values: signed zeros, infinities, NaN, denormals, the smallest normal,
    small and large normals, the largest finite, and ordinary values around the thresholds
    of Tessera's float32 kernels (exp over/underflow, the expm1 and softplus cut-offs)."""
    common = [0.0, -0.0, INF, -INF, NAN, 1e-5, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 2.5, -3.75,
              30.0, -30.0, 100.0, -100.0]
    fi = np.finfo(dt)
    if dt == np.float32:
        # 1e-40 and 1.4e-45 are float32 denormals; 88.75 and -103.5 bracket exp's range.
        extra = [1e-40, -1e-40, 1.4e-45, float(fi.tiny), 1e-30, -1e-30, 88.75, -103.5, 1e30,
                 -1e30, float(fi.max), -float(fi.max)]
    else:
        extra = [5e-324, -5e-324, 1e-310, float(fi.tiny), 1e-300, -1e-300, 709.5, -745.0,
                 1e300, -1e300, float(fi.max), -float(fi.max)]
    return np.array(common + extra, dtype=dt)


# Bounds for clamp with tensor bounds (x takes every value, the bounds these).
BOUNDS = [NAN, -INF, -1.0, -0.0, 0.0, 0.5, 2.0, INF]

# Tolerances in ulps for results that are not exact by definition (everything else must
# match exactly: arithmetic, comparisons, rounding, sqrt are correctly rounded in both).
# Tessera's float32 functions are within 2-3 ulp of the exact value (vec_test.cc) and
# PyTorch's (Sleef) within 1; float64 runs glibc (< 1 ulp) against Sleef's 1 ulp.
TRANSCENDENTAL = 4
ULPS = {
    "exp": TRANSCENDENTAL, "expm1": TRANSCENDENTAL, "log": TRANSCENDENTAL,
    "log1p": TRANSCENDENTAL, "log2": TRANSCENDENTAL, "sin": TRANSCENDENTAL,
    "cos": TRANSCENDENTAL, "tan": TRANSCENDENTAL, "tanh": TRANSCENDENTAL,
    "sigmoid": TRANSCENDENTAL, "erf": TRANSCENDENTAL, "rsqrt": 2, "atan2": TRANSCENDENTAL,
    "pow": TRANSCENDENTAL,
    # Composites: a few roundings more (vec_test.cc: gelu 12 ulp against the exact value).
    "gelu": 16, "silu": 8, "softplus": 8,
    # Reductions: the order of summation differs from PyTorch's.
    "sum": 2, "mean": 2, "prod": 8, "var": 8, "std": 8, "norm": 8, "norm_l1": 2,
    "norm_l2": 4, "logsumexp": 8, "cumsum": 2, "softmax": 8, "log_softmax": 8,
}


mpmath.mp.prec = 200


def to_float(x):
    """An mpmath number rounded to the nearest double (float() truncates)."""
    return mpmath.libmp.to_float(mpmath.mpf(x)._mpf_, rnd="n")


def fmt_attr(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, str) for x in v):
            return ",".join(v)
        return ",".join(str(int(x)) for x in v)
    if isinstance(v, float):
        s = repr(v)
        return s if any(c in s for c in ".einf") else s + ".0"
    return str(v)


def same(a, b):
    """Bitwise equal, every NaN equal to every NaN."""
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    u = np.uint32 if a.dtype == np.float32 else np.uint64
    return bool(np.all((np.isnan(a) & np.isnan(b)) | (a.view(u) == b.view(u))))


def outputs(res):
    if isinstance(res, torch.Tensor):
        res = [res]
    return [r.detach().contiguous().numpy() for r in res]


def torch_vectorized(fn, arrays):
    """fn on every element inside PyTorch's vectorized loop: the inputs are padded to a
    multiple of 64 elements (its loops take 2 vectors at a time and leave the rest to a
    scalar loop)."""
    n = len(arrays[0])
    pad = (-n) % 64
    padded = [np.concatenate([a, np.repeat(a[:1], pad)]) for a in arrays]
    return [o[:n] for o in outputs(fn(*[torch.from_numpy(a) for a in padded]))]


def torch_scalar(fn, arrays):
    """fn on each element alone: PyTorch's scalar loop (a 1-element tensor never reaches
    its vectorized one)."""
    tensors = [torch.from_numpy(np.array(a)) for a in arrays]
    per = [outputs(fn(*[t[i:i + 1] for t in tensors])) for i in range(len(arrays[0]))]
    return [np.concatenate([p[k] for p in per]) for k in range(len(per[0]))]


class Writer:
    def __init__(self, outdir):
        self.outdir = outdir
        self.lines = []
        self.names = set()
        self.inputs = {}  # (dtype, shape, bytes) -> file name
        self.missing_lines = []

    def add(self, name, op, definition, dtype, kind, inputs, fn, exact=None, **attrs):
        """Saves the inputs, PyTorch's outputs and one manifest line.

        PyTorch's answer can depend on its code path, so two are saved when they differ:
        elementwise, its vectorized loop (out=) and its scalar loop (alt=); reductions, the
        row-major input (out=) and a column-major copy (alt=). exact(arrays) gives the
        exact results (exact=), for the ops where Tessera is more accurate than PyTorch.
        """
        assert name not in self.names, name
        self.names.add(name)
        toks = [name, op]
        for arr in inputs:
            toks.append("in=" + self.input_file(arr))
        if kind == "reduce":
            x = torch.from_numpy(np.array(inputs[0]))
            main = outputs(fn(x))
            other = outputs(fn(x.t().contiguous().t()))
        else:
            main = torch_vectorized(fn, inputs)
            other = torch_scalar(fn, inputs)
        for i, r in enumerate(main):
            toks.append("out=" + self.output_file("%s.out%d" % (name, i), r))
        if not all(same(a, b) for a, b in zip(main, other)):
            toks.append("alt=" + ",".join(self.output_file("%s.alt%d" % (name, i), r)
                                          for i, r in enumerate(other)))
        if exact is not None:
            ex = exact(*inputs)
            ex = [np.where(np.isnan(e), m, e).astype(m.dtype) for e, m in zip(ex, main)]
            toks.append("exact=" + ",".join(self.output_file("%s.exact%d" % (name, i), r)
                                            for i, r in enumerate(ex)))
        toks += ["def=" + definition, "dtype=" + dtype, "kind=" + kind]
        for k, v in attrs.items():
            if v is not None:
                toks.append("%s=%s" % (k, fmt_attr(v)))
        self.lines.append(" ".join(toks))

    def output_file(self, stem, arr):
        f = stem + ".npy"
        np.save(os.path.join(self.outdir, f), np.ascontiguousarray(arr))
        return f

    def input_file(self, arr):
        """Saves an input once: many cases share the same values."""
        arr = np.ascontiguousarray(arr)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self.inputs:
            self.inputs[key] = "in%d.npy" % len(self.inputs)
            np.save(os.path.join(self.outdir, self.inputs[key]), arr)
        return self.inputs[key]

    def missing(self, name, why):
        self.missing_lines.append("%s %s" % (name, why))

    def finish(self):
        with open(os.path.join(self.outdir, "manifest.txt"), "w") as f:
            f.write("# generated by special_values_ref.py with torch %s\n" % torch.__version__)
            f.write("\n".join(self.lines) + "\n")
        with open(os.path.join(self.outdir, "missing.txt"), "w") as f:
            f.write("".join(line + "\n" for line in self.missing_lines))


# ---------------------------------------------------------------- elementwise inputs

def unary_input(v):
    """Three copies of the values: longer than 64 elements, so the whole-tensor layout runs
    the vector body of every ISA and a scalar tail."""
    return np.tile(v, 3)


def pairs(v):
    n = len(v)
    return np.repeat(v, n), np.tile(v, n)


class Sweep:
    """The elementwise cases of one dtype."""

    def __init__(self, w, dtype):
        self.w, self.dtype = w, dtype
        self.dt = DTYPES[dtype]
        self.v = special_values(self.dt)

    def add(self, definition, kind, arrays, fn, op, suffix, exact, attrs):
        name = "%s%s_%s" % (definition, "_" + suffix if suffix else "", self.dtype)
        self.w.add(name, op or definition, definition, self.dtype, kind, arrays, fn,
                   exact=exact, ulps=ULPS.get(definition), **attrs)

    def unary(self, definition, fn, op=None, suffix="", exact=None, **attrs):
        self.add(definition, "elementwise", [unary_input(self.v)], fn, op, suffix, exact, attrs)

    def binary(self, definition, fn, op=None, suffix="", **attrs):
        self.add(definition, "binary", list(pairs(self.v)), fn, op, suffix, None,
                 dict(attrs, pairs=len(self.v)))

    def inputs(self, definition, arrays, fn, op=None, suffix="", **attrs):
        self.add(definition, "elementwise", arrays, fn, op, suffix, None, attrs)

    def exact(self, f):
        """The exact results of f (an mpmath function) rounded to the dtype, for finite
        non-zero inputs; NaN elsewhere, which Writer.add replaces with PyTorch's result
        (the sign of a zero, an infinity or a NaN follows PyTorch's rules, not a formula)."""
        def run(x):
            out = np.full(len(x), NAN, self.dt)
            for i, v in enumerate(x):
                if math.isfinite(float(v)) and v != 0:
                    y = f(mpmath.mpf(float(v)))
                    if not isinstance(y, mpmath.mpc):  # outside the real domain: NaN
                        out[i] = self.dt(to_float(y))
            return [out]
        return run


# Scalar exponents and bases of pow: the specials, and the exponents PyTorch computes with
# another function (0.5 sqrt, -0.5 rsqrt, -1 reciprocal, 2 x*x, 3 x*x*x, -2 1/(x*x), 0 and
# 1 without computing).
POW_EXPONENTS = [0.0, -0.0, 1.0, 2.0, 3.0, 0.5, -0.5, -1.0, -2.0, 1.5, -3.0, INF, -INF, NAN]
POW_BASES = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, INF, -INF, NAN]


def ew_pow(s):
    s.binary("pow", torch.pow)
    for e in POW_EXPONENTS:
        s.unary("pow", lambda x, e=e: torch.pow(x, e), suffix="scalar_%s" % fmt_attr(e),
                scalar=float(e))
    for b in POW_BASES:
        s.unary("pow", lambda x, b=b: torch.pow(b, x), op="pow.scalar_base",
                suffix="base_%s" % fmt_attr(b), scalar=float(b))


def ew_clamp(s):
    lo_hi = [(-1.0, 1.0), (None, 0.5), (-0.5, None), (0.0, 0.0), (-0.0, 0.0), (0.0, -0.0),
             (2.0, -1.0),  # min > max: every element becomes max (PyTorch)
             (-INF, INF), (1.0, INF), (NAN, 1.0), (-1.0, NAN), (NAN, None), (None, NAN)]
    for lo, hi in lo_hi:
        s.unary("clamp", lambda x, lo=lo, hi=hi: torch.clamp(x, lo, hi),
                suffix=("%s_%s" % (fmt_attr(lo), fmt_attr(hi))).replace("None", "none"),
                min=lo, max=hi)


def ew_clamp_tensor(s):
    x = np.repeat(s.v, len(BOUNDS) ** 2)
    lo = np.tile(np.repeat(np.array(BOUNDS, s.dt), len(BOUNDS)), len(s.v))
    hi = np.tile(np.array(BOUNDS, s.dt), len(s.v) * len(BOUNDS))
    s.inputs("clamp_tensor", [x, lo, hi], torch.clamp, op="clamp.tensor")


def ew_where(s):
    a, b = pairs(s.v)
    cond = np.arange(len(a)) % 2 == 0
    s.inputs("where", [cond, a, b], torch.where)


def ew_threshold_backward(s):
    # (g, y): every value as the gradient against every value as the input.
    g, y = pairs(s.v)
    for t in [0.0, -0.0, 0.5, NAN]:
        s.inputs("threshold_backward", [g, y],
                 lambda g_, y_, t=t: torch.where(y_ > t, g_, torch.zeros_like(g_)),
                 suffix=fmt_attr(t), threshold=t)


def ew_masked_fill(s):
    x = unary_input(s.v)
    mask = np.arange(len(x)) % 3 == 1
    for value in [NAN, INF, -INF, -0.0, 1e-40 if s.dt == np.float32 else 5e-324, 2.5]:
        s.inputs("masked_fill", [x, mask], lambda t, m, value=value: t.masked_fill(m, value),
                 suffix=fmt_attr(value), value=value)


def ew_nan_to_num(s):
    s.unary("nan_to_num", torch.nan_to_num)
    s.unary("nan_to_num", lambda x: torch.nan_to_num(x, nan=-0.0, posinf=INF, neginf=1e-30),
            suffix="args", nan=-0.0, posinf=INF, neginf=1e-30)


def ew_cast(s):
    # To the other float type and to bool. Not to integers: a NaN, an infinity or an
    # out-of-range value converted to an integer is undefined behaviour in C++ and gives
    # whatever the instruction gives in PyTorch.
    other = "f64" if s.dtype == "f32" else "f32"
    for target, torch_dtype in [(other, DTYPES[other]), ("bool", np.bool_)]:
        s.unary("cast", lambda x, t=torch_dtype: x.to(torch.from_numpy(np.zeros(0, t)).dtype),
                op="Tensor::to", suffix=target, to=target)


# Exact functions (mpmath) of the ops where Tessera deliberately computes more accurately
# than PyTorch (special_values_test.cc's kDeviations says where and why). Beyond |x| = 1e4
# the limits are used (mpmath's erfc cannot take 1e30); NEG_TINY stands for a negative
# result too small for any float (it rounds to -0).
BIG = 1e4
NEG_TINY = mpmath.mpf("-1e-100000")


def mp_sigmoid(x):
    return 1 / (1 + mpmath.exp(-x)) if x > -BIG else mpmath.exp(x)


def mp_silu(x):
    if x < -BIG:
        return NEG_TINY
    return x * mp_sigmoid(x)


def mp_softplus(beta, threshold):
    def f(x):
        if x * beta > threshold:
            return x
        if x * beta < -BIG:
            return mpmath.mpf("1e-100000")  # positive, below every float
        return mpmath.log1p(mpmath.exp(beta * x)) / beta
    return f


def mp_gelu(x):
    if abs(x) > BIG:
        return x if x > 0 else NEG_TINY
    return x / 2 * mpmath.erfc(-x / mpmath.sqrt(2))


def mp_gelu_tanh(x):
    if abs(x) > BIG:
        return x if x > 0 else NEG_TINY
    u = mpmath.sqrt(2 / mpmath.pi) * (x + mpmath.mpf("0.044715") * x ** 3)
    return x / 2 * (1 + mpmath.tanh(u))


def ew_exact(name, f):
    """torch.NAME, with mpmath's f as its exact values."""
    return lambda s: s.unary(name, getattr(torch, name), exact=s.exact(f))


def ew_gelu(s):
    s.unary("gelu", F.gelu, exact=s.exact(mp_gelu), approximate="none")
    s.unary("gelu", lambda x: F.gelu(x, approximate="tanh"), suffix="tanh",
            exact=s.exact(mp_gelu_tanh), approximate="tanh")


def ew_softplus(s):
    for beta, threshold in [(1.0, 20.0), (2.0, 5.0), (0.5, 30.0)]:
        s.unary("softplus", lambda x, b=beta, t=threshold: F.softplus(x, b, t),
                suffix="%s_%s" % (fmt_attr(beta), fmt_attr(threshold)),
                exact=s.exact(mp_softplus(beta, threshold)), beta=beta, threshold=threshold)


def ew_leaky_relu(s):
    # 0 and a negative slope included: -inf * 0 is NaN, as in PyTorch.
    for slope in [0.01, 0.2, 1.5, 0.0, -0.5]:
        s.unary("leaky_relu", lambda x, a=slope: F.leaky_relu(x, a), suffix=fmt_attr(slope),
                negative_slope=slope)


# Ops that need attributes, a function other than torch.NAME, more variants, or exact values.
ELEMENTWISE_SPEC = {
    "pow": ew_pow,
    "clamp": ew_clamp,
    "clamp_tensor": ew_clamp_tensor,
    "where": ew_where,
    "masked_fill": ew_masked_fill,
    "threshold_backward": ew_threshold_backward,
    "nan_to_num": ew_nan_to_num,
    "cast": ew_cast,
    "gelu": ew_gelu,
    "softplus": ew_softplus,
    "leaky_relu": ew_leaky_relu,
    "silu": lambda s: s.unary("silu", F.silu, exact=s.exact(mp_silu)),
    "sigmoid": ew_exact("sigmoid", mp_sigmoid),
    "log1p": ew_exact("log1p", mpmath.log1p),
    "tan": ew_exact("tan", mpmath.tan),
}


def elementwise(w, name, arity):
    for dtype in DTYPES:
        s = Sweep(w, dtype)
        if name in ELEMENTWISE_SPEC:
            ELEMENTWISE_SPEC[name](s)
        elif not hasattr(torch, name):
            w.missing(name, "torch has no function '%s': add an entry to ELEMENTWISE_SPEC in "
                      "tests/reference/special_values_ref.py" % name)
            return
        elif arity == 1:
            s.unary(name, getattr(torch, name))
        elif arity == 2:
            s.binary(name, getattr(torch, name))
        else:
            w.missing(name, "%d inputs: add an entry to ELEMENTWISE_SPEC in "
                      "tests/reference/special_values_ref.py" % arity)
            return


# ---------------------------------------------------------------- reductions

def scenario_rows(dt, n):
    """Rows of n elements, each a situation a reduction must handle as PyTorch does."""
    # Quarters: sums of these are exact in any order, so the finite results compare tightly.
    base = ((np.arange(n) * 7 % 13) - 6).astype(dt) * dt(0.25)
    base[base == 0] = dt(0.75)
    fi = np.finfo(dt)
    sub = dt(1e-40) if dt == np.float32 else dt(5e-324)
    idx = np.arange(n)

    def with_(*at):
        r = base.copy()
        for pos, val in at:
            r[pos % n] = val
        return r

    rows = {
        "finite": base,
        "nan_first": with_((0, NAN)),
        "nan_body": with_((n // 2, NAN)),
        "nan_last": with_((n - 1, NAN)),
        "two_nans": with_((n // 3, NAN), (2 * n // 3, NAN), (3, INF)),
        "pinf": with_((n // 2 + 1, INF)),
        "ninf": with_((5, -INF)),
        "pinf_ninf": with_((10, INF), (n - 4, -INF)),
        "nan_and_infs": with_((n - 20, NAN), (3, INF), (n - 3, -INF)),
        "all_nan": np.full(n, NAN, dt),
        "all_pinf": np.full(n, INF, dt),
        "all_ninf": np.full(n, -INF, dt),
        "all_pzero": np.zeros(n, dt),
        "all_nzero": np.full(n, -0.0, dt),
        "zeros_mixed": np.where(idx % 3 == 0, dt(0.0), dt(-0.0)).astype(dt),
        "max_is_zero": np.where(idx % 5 == 2, dt(-0.0),
                                np.where(idx % 5 == 4, dt(0.0), dt(-1.0))).astype(dt),
        "denormals": (idx % 5 + 1).astype(dt) * sub,
        "denormals_signed": ((idx % 5) - 2).astype(dt) * sub,
        "tiny": np.full(n, fi.tiny, dt) * ((idx % 2) * 2 - 1).astype(dt),
        # Sums that overflow in every order, and one that overflows only in some.
        "huge": np.full(n, fi.max, dt) * dt(0.5),
        "huge_negative": np.full(n, fi.max, dt) * dt(-0.5),
        "huge_mixed": np.where(idx % 2 == 0, fi.max, -fi.max).astype(dt),
        "ties": with_((7, 9.0), (40 % n, 9.0), (n - 2, 9.0)),
        "one_finite": np.where(idx == n - 5, dt(1.5), dt(-INF)).astype(dt),
    }
    return list(rows), np.stack(list(rows.values())).astype(dt)


def long_rows(dt, n):
    """A few scenarios on rows longer than the reduction engine's chunk (16384 elements):
    the special value must survive the merge of the chunks' partial results."""
    base = ((np.arange(n) * 7 % 13) - 6).astype(dt) * dt(0.25)
    base[base == 0] = dt(0.75)
    rows = {"finite": base}
    r = base.copy(); r[n - 100] = NAN; rows["nan_late"] = r
    r = base.copy(); r[100] = INF; r[n - 50] = -INF; rows["pinf_ninf"] = r
    r = base.copy(); r[n - 10] = INF; rows["pinf_late"] = r
    rows["all_ninf"] = np.full(n, -INF, dt)
    rows["all_nzero"] = np.full(n, -0.0, dt)
    return list(rows), np.stack(list(rows.values())).astype(dt)


# Exact results of the float reductions, computed in extended precision (x87 long double:
# 64-bit significand, exponents to 1e4932, so no sum of float64 values overflows). They
# mirror PyTorch's definitions (softmax of an all -inf row is NaN, logsumexp's is -inf);
# the test accepts them where Tessera is deliberately more accurate than PyTorch.
LD = np.longdouble


def ld_var(x, correction):
    mean = np.mean(x, axis=1, keepdims=True)
    return np.sum((x - mean) ** 2, axis=1) / (x.shape[1] - correction)


def ld_norm(x, p):
    a = np.abs(x)
    if p == 0:
        return np.sum(a != 0, axis=1).astype(LD)
    if p == INF:
        return np.max(a, axis=1)
    if p == -INF:
        return np.min(a, axis=1)
    return np.sum(a ** LD(p), axis=1) ** (1 / LD(p))


def ld_logsumexp(x):
    m = np.max(x, axis=1, keepdims=True)
    m = np.where(np.isinf(m), LD(0), m)
    return (m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)))[:, 0]


def ld_softmax(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def ld_log_softmax(x):
    y = x - np.max(x, axis=1, keepdims=True)
    return y - np.log(np.sum(np.exp(y), axis=1, keepdims=True))


EXACT_REDUCTIONS = {
    "sum": lambda x, a: np.sum(x, axis=1),
    "mean": lambda x, a: np.mean(x, axis=1),
    "prod": lambda x, a: np.prod(x, axis=1),
    "var": lambda x, a: ld_var(x, a["correction"]),
    "std": lambda x, a: np.sqrt(ld_var(x, a["correction"])),
    "norm": lambda x, a: ld_norm(x, a["p"]),
    "norm_l1": lambda x, a: ld_norm(x, 1.0),
    "norm_l2": lambda x, a: ld_norm(x, 2.0),
    "logsumexp": lambda x, a: ld_logsumexp(x),
    "softmax": lambda x, a: ld_softmax(x),
    "log_softmax": lambda x, a: ld_log_softmax(x),
    "cumsum": lambda x, a: np.cumsum(x, axis=1),
}


# OpDef name -> [(suffix, table op, torch function of the [rows, n] input, attrs)].
# zero_ties=1: the extremum of a row holding both +0 and -0 is a zero of either sign: which
# one depends on the order of the scan (PyTorch's own row and column reductions differ).
REDUCTIONS = {
    "sum": [("", "sum", lambda t: torch.sum(t, 1), dict(dims=[1]))],
    "mean": [("", "mean", lambda t: torch.mean(t, 1), dict(dims=[1]))],
    "prod": [("", "prod", lambda t: torch.prod(t, 1), dict(dims=[1]))],
    "amax": [("", "amax", lambda t: torch.amax(t, 1), dict(dims=[1], zero_ties=1))],
    "amin": [("", "amin", lambda t: torch.amin(t, 1), dict(dims=[1], zero_ties=1))],
    "max": [("", "max.dim", lambda t: tuple(torch.max(t, 1)), dict(dim=1, zero_ties=1))],
    "min": [("", "min.dim", lambda t: tuple(torch.min(t, 1)), dict(dim=1, zero_ties=1))],
    "argmax": [("", "argmax", lambda t: torch.argmax(t, 1), dict(dim=1))],
    "argmin": [("", "argmin", lambda t: torch.argmin(t, 1), dict(dim=1))],
    "var": [("", "var", lambda t: torch.var(t, 1), dict(dims=[1], correction=1)),
            ("pop", "var", lambda t: torch.var(t, 1, unbiased=False),
             dict(dims=[1], correction=0))],
    "std": [("", "std", lambda t: torch.std(t, 1), dict(dims=[1], correction=1)),
            ("pop", "std", lambda t: torch.std(t, 1, unbiased=False),
             dict(dims=[1], correction=0))],
    "norm": [("p%s" % fmt_attr(p).replace("-", "neg").replace(".", "_"), "norm",
              lambda t, p=p: torch.norm(t, p, 1), dict(p=p, dims=[1]))
             for p in [0.0, 0.5, 3.0, INF, -INF]],
    "norm_l1": [("", "norm", lambda t: torch.norm(t, 1.0, 1), dict(p=1.0, dims=[1]))],
    "norm_l2": [("", "norm", lambda t: torch.norm(t, 2.0, 1), dict(p=2.0, dims=[1]))],
    "logsumexp": [("", "logsumexp", lambda t: torch.logsumexp(t, 1), dict(dims=[1]))],
    "all": [("", "all", lambda t: torch.all(t, 1), dict(dims=[1]))],
    "any": [("", "any", lambda t: torch.any(t, 1), dict(dims=[1]))],
    "cumsum": [("", "cumsum", lambda t: torch.cumsum(t, 1), dict(dim=1))],
    "softmax": [("", "softmax", lambda t: torch.softmax(t, 1), dict(dim=1))],
    "log_softmax": [("", "log_softmax", lambda t: torch.log_softmax(t, 1), dict(dim=1))],
    # Ordering ops. sort is stable in Tessera, so ties (+-0 too) keep their order.
    "sort": [("", "sort", lambda t: tuple(torch.sort(t, stable=True, dim=1)),
              dict(dim=1, descending=False)),
             ("desc", "sort", lambda t: tuple(torch.sort(t, stable=True, dim=1, descending=True)),
              dict(dim=1, descending=True))],
    # topk does not promise an order among equal values (+0 and -0 among them): its indices
    # are checked by what they point at.
    "topk": [("", "topk", lambda t: tuple(torch.topk(t, 5, 1)),
              dict(k=5, dim=1, largest=True, sorted=True, zero_ties=1, indices="consistent")),
             ("smallest", "topk", lambda t: tuple(torch.topk(t, 5, 1, largest=False)),
              dict(k=5, dim=1, largest=False, sorted=True, zero_ties=1,
                   indices="consistent"))],
}


def reduction(w, name):
    if name not in REDUCTIONS:
        w.missing(name, "no entry in REDUCTIONS in tests/reference/special_values_ref.py")
        return
    for dtype, dt in DTYPES.items():
        for tag, (rows, x) in [("", scenario_rows(dt, 70)), ("long", long_rows(dt, 16500))]:
            for suffix, op, fn, attrs in REDUCTIONS[name]:
                exact = None
                if name in EXACT_REDUCTIONS:
                    exact = (lambda x, f=EXACT_REDUCTIONS[name], a=attrs, dt=dt:
                             [f(x.astype(LD), a).astype(dt)])
                parts = [name] + [p for p in (suffix, tag) if p] + [dtype]
                # Over n elements a different order of summation can cost up to n eps (in
                # a relative error); the long rows allow n / 32 ulps on top.
                ulps = ULPS.get(name, 0) + (x.shape[1] // 32 if tag else 0)
                w.add("_".join(parts), op, name, dtype, "reduce", [x], fn, exact=exact,
                      rows=rows, ulps=ulps or None, **attrs)


def main():
    outdir, oplist = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    w = Writer(outdir)
    with open(oplist) as f:
        for line in f:
            name, kind, arity = line.split()
            if kind == "elementwise":
                elementwise(w, name, int(arity))
            else:
                reduction(w, name)
    w.finish()


if __name__ == "__main__":
    with np.errstate(all="ignore"):
        main()
