#!/usr/bin/python3
"""PyTorch's outputs for the op database (tests/opdb/opdb_test.cc).

usage: /usr/bin/python3 torch_ref.py DIR

DIR/cases.txt holds one case per line, tab-separated:
    ID  INPUTS  EXPRESSION  ATTRIBUTES
INPUTS is "DTYPE:SHAPE:OFFSET;..." (numpy dtype name, comma-separated sizes, byte offset of
the C-contiguous values in DIR/inputs.bin). EXPRESSION is a Python expression over `x` (the
inputs as torch tensors) and `A` (ATTRIBUTES, a Python dict literal) giving a tensor or a
sequence of tensors. Their values go to DIR/outputs.bin, indexed by DIR/outputs.txt:
    ID  out  DTYPE  SHAPE  OFFSET        (one line per output, in order)
    ID  err  MESSAGE                     (the case raised; the others still run)
One process and two files for all cases: importing torch, or creating thousands of small
files, costs more than every case together.
"""
import math
import os
import sys
import traceback
import warnings

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the test skips its PyTorch comparisons, saying why
    print("opdb torch_ref.py: %s" % e)
    sys.exit(3)

torch.set_num_threads(1)
warnings.filterwarnings("ignore")  # e.g. padding="same" with an even kernel  # deterministic summation order from run to run


# ---- helpers the expressions use ----

def vjp(fn, inputs, grad):
    """d<grad, fn(inputs)>/d inputs: the reference of a backward op."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*leaves)
    return torch.autograd.grad(out, leaves, grad)


def red(f, t, A, **kw):
    """A reduction over A['dims'] (empty or absent: every dim) with A['keepdim']."""
    kw = {k: v for k, v in kw.items() if v is not None}
    d, keep = A.get("dims", []), A.get("keepdim", False)
    if not d and f is torch.logsumexp:  # takes no "every dim" form
        return f(t, dim=list(range(t.dim())) or 0, keepdim=keep)
    if not d:
        r = f(t, **kw)
        return r.reshape([1] * t.dim()) if keep else r
    if len(d) == 1:
        return f(t, dim=d[0], keepdim=keep, **kw)
    if f is torch.prod:  # one dim per call, the highest first
        for k in sorted((k % t.dim() for k in d), reverse=True):
            t = torch.prod(t, k, keepdim=keep, **kw)
        return t
    return f(t, dim=d, keepdim=keep, **kw)


def tslice(t, A):
    """slice and what is built from it (narrow, split, chunk), by the attributes given."""
    d = A["dim"]
    if "length" in A:
        return t.narrow(d, A["start"], A["length"])
    if "split_size" in A:
        return torch.split(t, A["split_size"], d)
    if "split_sizes" in A:
        return torch.split(t, A["split_sizes"], d)
    if "chunks" in A:
        return torch.chunk(t, A["chunks"], d)
    idx = [slice(None)] * t.dim()
    idx[d] = slice(A["start"], A["end"], A.get("step", 1))
    return t[tuple(idx)]


def view_scatter(g, A):
    """Zeros of A['base_sizes'] with the view A['view_op'] of them set to g."""
    z = torch.zeros(A["base_sizes"], dtype=g.dtype)
    op = A["view_op"]
    if op == "slice":
        v = tslice(z, A)
    elif op == "select":
        v = z.select(A["dim"], A["index"])
    elif op == "diagonal":
        v = torch.diagonal(z, A["offset"], A["dim1"], A["dim2"])
    else:
        v = torch.as_strided(z, A["sizes"], A["strides"], max(A["offset"], 0))
    v.copy_(g)
    return z


def bn(x, A):
    """batch_norm with the optional inputs the attributes announce; with return_stats, the
    updated running stats too."""
    k = 1
    rm = rv = w = b = None
    if A["running_stats"]:
        rm, rv = x[1].clone(), x[2].clone()
        k = 3
    if A["weight"]:
        w = x[k]
        k += 1
    if A["bias"]:
        b = x[k]
    y = F.batch_norm(x[0], rm, rv, w, b, A["training"], A["momentum"], A["eps"])
    return [y, rm, rv] if A.get("return_stats") else y


def to_blocked(x, b):
    """[N, C, H, W] -> [N, ceil(C/b), H, W, b], zero-padded (ops/conv_blocked.cc)."""
    n, c, h, w = x.shape
    cb = -(-c // b)
    x = F.pad(x, (0, 0, 0, 0, 0, cb * b - c))
    return x.reshape(n, cb, b, h, w).permute(0, 1, 3, 4, 2).contiguous()


def from_blocked(x, c):
    n, cb, h, w, b = x.shape
    return x.permute(0, 1, 4, 2, 3).reshape(n, cb * b, h, w)[:, :c].contiguous()


def pack_conv_weight(w, b, blocked_input):
    """[O, C, kh, kw] -> [Ob, Cb, kh, kw, b(in), b(out)] (blocked input) or [Ob, kh, kw, C, b(out)]."""
    o, c, kh, kw = w.shape
    ob, cb = -(-o // b), -(-c // b)
    if blocked_input:
        w = F.pad(w, (0, 0, 0, 0, 0, cb * b - c, 0, ob * b - o))
        return w.reshape(ob, b, cb, b, kh, kw).permute(0, 2, 4, 5, 3, 1).contiguous()
    w = F.pad(w, (0, 0, 0, 0, 0, 0, 0, ob * b - o))
    return w.reshape(ob, b, c, kh, kw).permute(0, 3, 4, 2, 1).contiguous()


def unpack_conv_weight(p, o, c):
    if p.dim() == 6:
        ob, cb, kh, kw, b, _ = p.shape
        return p.permute(0, 5, 1, 4, 2, 3).reshape(ob * b, cb * b, kh, kw)[:o, :c]
    ob, kh, kw, c_, b = p.shape
    return p.permute(0, 4, 3, 1, 2).reshape(ob * b, c_, kh, kw)[:o]


def conv2d_blocked(x, A):
    """act(conv(x) + bias [+ residual]), every tensor in the blocked layouts."""
    c, o = A["in_channels"], A["out_channels"]
    inp = from_blocked(x[0], c) if x[0].dim() == 5 else x[0]
    w = (x[1] if x[1].dim() == 4 else unpack_conv_weight(x[1], o, c)).contiguous()
    b = x[0].shape[-1] if x[0].dim() == 5 else x[1].shape[-1]
    p = A["padding"]
    inp = F.pad(inp, (p[1], p[3], p[0], p[2])).contiguous()
    y = F.conv2d(inp, w, x[2], A["stride"], 0, A["dilation"])
    if len(x) == 4:
        y = y + from_blocked(x[3], o)
    if A["activation"] == "relu":
        y = F.relu(y)
    return to_blocked(y, b)


def max_pool2d_blocked(x, A):
    n, cb, h, w, b = x[0].shape
    y = F.max_pool2d(from_blocked(x[0], cb * b), A["kernel"], A["stride"], A["padding"], A["dilation"], A["ceil_mode"])
    return to_blocked(y, b)


def conv2d_backward_input_blocked(x, A):
    size = A["input_size"]
    b = x[0].shape[-1]
    gy = from_blocked(x[0], x[1].shape[0])
    gx = torch.nn.grad.conv2d_input(size, x[1], gy, A["stride"], A["padding"][:2], A["dilation"], A["groups"])
    return to_blocked(gx, b)


def conv2d_backward_weight_blocked(x, A):
    size = A["weight_size"]
    inp = from_blocked(x[0], size[1]) if x[0].dim() == 5 else x[0]
    gy = from_blocked(x[1], size[0])
    return torch.nn.grad.conv2d_weight(inp, size, gy, A["stride"], A["padding"][:2], A["dilation"], A["groups"])


def max_pool2d_indices_blocked(x, A):
    n, cb, h, w, b = x[0].shape
    y, i = F.max_pool2d(from_blocked(x[0], cb * b), A["kernel"], A["stride"], A["padding"], A["dilation"],
                        A["ceil_mode"], return_indices=True)
    return [to_blocked(y, b), to_blocked(i, b)]


def conv2d_max_pool2x2_blocked(x, A):
    y = conv2d_blocked(x, A)
    pool = {"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0], "dilation": [1, 1], "ceil_mode": False}
    return max_pool2d_indices_blocked([y], pool)


def conv2d_max_pool2x2_values_blocked(x, A):
    return conv2d_max_pool2x2_blocked(x, A)[0]


def conv_output_size(h, w, kh, kw, A):
    p, st, d = A["padding"], A["stride"], A["dilation"]
    return ((h + p[0] + p[2] - d[0] * (kh - 1) - 1) // st[0] + 1,
            (w + p[1] + p[3] - d[1] * (kw - 1) - 1) // st[1] + 1)


def conv2d_backward_input_unpool_blocked(x, A):
    n, c, h, w = A["input_size"]
    o, _, kh, kw = x[2].shape
    oh, ow = conv_output_size(h, w, kh, kw, A)
    gy = max_pool2d_backward_blocked([x[0], x[1]], {"input_size": [n, o, oh, ow]})
    return conv2d_backward_input_blocked([gy, x[2]], A)


def conv2d_backward_weight_unpool_blocked(x, A):
    o, c, kh, kw = A["weight_size"]
    oh, ow = conv_output_size(x[0].shape[2], x[0].shape[3], kh, kw, A)
    gy = max_pool2d_backward_blocked([x[1], x[2]], {"input_size": [x[0].shape[0], o, oh, ow]})
    return conv2d_backward_weight_blocked([x[0], gy], A)


def max_pool2d_backward_blocked(x, A):
    size = A["input_size"]
    b = x[0].shape[-1]
    gy, idx = from_blocked(x[0], size[1]), from_blocked(x[1], size[1])
    gx = torch.zeros(size, dtype=gy.dtype).flatten(2).scatter_add(2, idx.flatten(2), gy.flatten(2)).view(size)
    return to_blocked(gx, b)


def fused(x, A):
    """fused_elementwise: runs A["program"] ("mul(%0,%1);relu($0)") step by step in float32."""
    ops = {
        "neg": torch.neg, "abs": torch.abs, "sign": torch.sign, "exp": torch.exp,
        "expm1": torch.expm1, "log": torch.log, "log1p": torch.log1p, "log2": torch.log2,
        "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "sin": torch.sin, "cos": torch.cos,
        "tan": torch.tan, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "erf": torch.erf,
        "relu": torch.relu, "silu": F.silu, "square": torch.square,
        "reciprocal": torch.reciprocal, "floor": torch.floor, "ceil": torch.ceil,
        "round": torch.round, "gelu": F.gelu, "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
        "minimum": torch.minimum, "maximum": torch.maximum,
    }
    inputs = [t if t.numel() != 1 or t.dtype == torch.float32 else t.to(torch.float32) for t in x]
    steps = []
    for text in A["program"].split(";"):
        name, rest = text.split("(", 1) if "[" not in text.split("(", 1)[0] else text.split("[", 1)
        params = []
        if rest.count("]"):
            ptext, rest = rest.split("](", 1)
            params = [float(v) for v in ptext.split(",")]
        args = [inputs[int(a[1:])] if a[0] == "%" else steps[int(a[1:])] for a in rest.rstrip(")").split(",")]
        if name == "threshold_backward":
            steps.append(torch.where(args[1] > params[0], args[0], torch.zeros_like(args[0])))
        elif name == "leaky_relu":
            steps.append(F.leaky_relu(args[0], negative_slope=params[0]))
        else:
            steps.append(ops[name](*args))
    return steps[-1]


def sdpa(x, A):
    """Scaled dot-product attention written out (torch 1.13 has no fused one)."""
    q, k, v = x[0], x[1], x[2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if A.get("is_causal"):
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        scores = scores.masked_fill(~keep, -math.inf)
    elif len(x) > 3:
        m = x[3]
        scores = scores.masked_fill(~m, -math.inf) if m.dtype == torch.bool else scores + m
    return torch.softmax(scores, -1) @ v


def inplace(t, fn):
    """Applies an in-place method to a copy, returns the copy."""
    t = t.clone()
    fn(t)
    return t


# The optimizer updates: inputs param, grad, buffers..., step (a 0-d f64 count the update
# increments before using it); outputs every written input: param, buffers..., step.
def sgd(x, A):
    p, g, step = x[0].clone(), x[1], x[-1] + 1
    first = step.item() == 1  # the momentum buffer then starts as the gradient
    bufs = [x[2].clone() if len(x) > 3 and not first else None]
    torch.optim._functional.sgd([p], [g], bufs, weight_decay=A["weight_decay"],
                                momentum=A["momentum"], lr=A["lr"], dampening=A["dampening"],
                                nesterov=A["nesterov"], maximize=False)
    return [p] + ([bufs[0]] if A["momentum"] != 0 else []) + [step]


def adam(x, A):
    p, g = x[0].clone(), x[1]
    m, v = x[2].clone(), x[3].clone()
    vmax = [x[4].clone()] if A["amsgrad"] else []
    step = x[-1].clone()  # torch's functional adam increments it
    f = torch.optim._functional.adamw if A["decoupled"] else torch.optim._functional.adam
    f([p], [g], [m], [v], vmax, [step], amsgrad=A["amsgrad"], beta1=A["beta1"], beta2=A["beta2"],
      lr=A["lr"], weight_decay=A["weight_decay"], eps=A["eps"], maximize=False)
    return [p, m, v] + vmax + [step]


def rmsprop(x, A):
    p, g = x[0].clone(), x[1]
    sq = x[2].clone()
    k = 3
    buf = []
    if A["momentum"] > 0:
        buf = [x[k].clone()]
        k += 1
    gavg = [x[k].clone()] if A["centered"] else []
    torch.optim._functional.rmsprop([p], [g], [sq], gavg, buf, lr=A["lr"], alpha=A["alpha"],
                                    eps=A["eps"], weight_decay=A["weight_decay"],
                                    momentum=A["momentum"], centered=A["centered"])
    return [p, sq] + buf + gavg + [x[-1] + 1]


def adagrad(x, A):
    p, g, s = x[0].clone(), x[1], x[2].clone()
    step = x[-1].clone()
    torch.optim._functional.adagrad([p], [g], [s], [step], lr=A["lr"],
                                    weight_decay=A["weight_decay"], lr_decay=A["lr_decay"],
                                    eps=A["eps"], maximize=False)
    return [p, s, step]


def adadelta(x, A):
    p, g, sq, acc = x[0].clone(), x[1], x[2].clone(), x[3].clone()
    torch.optim._functional.adadelta([p], [g], [sq], [acc], lr=A["lr"], rho=A["rho"],
                                     eps=A["eps"], weight_decay=A["weight_decay"], maximize=False)
    return [p, sq, acc, x[-1] + 1]


NP = {"bool": np.bool_, "uint8": np.uint8, "int8": np.int8, "int32": np.int32,
      "int64": np.int64, "float16": np.float16, "float32": np.float32, "float64": np.float64}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_ref.py DIR")
    d = sys.argv[1]
    n = failed = 0
    with open(os.path.join(d, "inputs.bin"), "rb") as f:
        blob = f.read()
    with open(os.path.join(d, "cases.txt")) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    index = []
    with open(os.path.join(d, "outputs.bin"), "wb") as out:
        for line in lines:
            cid, inputs, expr, attrs = line.split("\t")
            n += 1
            try:
                x = []
                for spec in filter(None, inputs.split(";")):
                    dt, shape, offset = spec.split(":")
                    shape = [int(s) for s in shape.split(",") if s]
                    count = int(np.prod(shape)) if shape else 1
                    a = np.frombuffer(blob, NP[dt], count, int(offset)).reshape(shape)
                    x.append(torch.from_numpy(a.copy()))
                scope = dict(globals())
                scope["x"] = x
                scope["A"] = eval(attrs, scope)
                r = eval(expr, scope)
                if isinstance(r, torch.Tensor):
                    r = [r]
                rows = []
                for t in r:
                    a = t.detach().contiguous().numpy()  # (ascontiguousarray would make 0-d 1-d)
                    rows.append("%s\tout\t%s\t%s\t%d" % (cid, str(a.dtype), ",".join(map(str, a.shape)),
                                                         out.tell()))
                    out.write(a.tobytes(order="C"))
                index.extend(rows)
            except Exception:  # reported by the test, next to the case's name
                failed += 1
                msg = (expr + " | " + traceback.format_exc()).replace("\n", " | ").replace("\t", " ")
                index.append("%s\terr\t%s" % (cid, msg))
    with open(os.path.join(d, "outputs.txt"), "w") as f:
        f.write("\n".join(index) + "\n")
    print("opdb torch_ref.py: %d cases (%d raised), torch %s" % (n, failed, torch.__version__))


if __name__ == "__main__":
    main()
