#!/usr/bin/python3
"""Writes PyTorch training references for tests/reference/torch_train_agreement_test.cc.

usage: /usr/bin/python3 torch_train_ref.py OUTDIR

Everything is float32 (labels int64) and saved as safetensors by a writer built on json
and struct alone: Debian packages torch but not the safetensors package.

OUTDIR/cnn.safetensors (float32) and OUTDIR/cnn_f64.safetensors (float64)
    init.<param>        CNN28's initial parameters (torch.nn.Sequential names: 0.weight, ...)
    x.<k>, y.<k>        the fixed batches k = 0..STEPS-1: inputs [B,1,28,28], labels [B]
    act.<i>             the output of Sequential child i for batch 0 at the initial weights
    grad.<param>        the gradients of the first step's loss (batch 0, initial weights)
    sgd.<param>         the parameters after STEPS steps of SGD(lr 0.01, momentum 0.9)
    adam.<param>        the parameters after STEPS steps of Adam(lr 1e-3)
    sgd_loss, adam_loss the loss of each step [STEPS]
  The dropout layers are present (so parameter indices match CNN28) but the model runs in
  eval mode: CNN28 has no batch norm, so eval mode differs from training mode only in
  dropout being the identity, which makes both frameworks deterministic.

OUTDIR/{encoder,lstm}.safetensors (float32) and OUTDIR/{encoder,lstm}_f64.safetensors
    param.<name>        the module's parameters (biases and LayerNorm affine randomised)
    x, target           the input and a random target; out, the forward output
    grad.<name>         gradients of loss = ((out - target) ** 2).sum() for every parameter
    grad.input          ... and for the input
"""
import copy
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)  # the same summation order on every run

STEPS = 20
BATCH = 8

_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64"}


def save(path, named):
    """named: list of (name, numpy array); written in order, data 8-byte aligned."""
    header, blobs, offset = {}, [], 0
    for name, arr in named:
        arr = np.ascontiguousarray(arr)
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def npy(t):
    return t.detach().cpu().numpy().copy()


def cnn28():
    # ../shared/bench/WORKLOADS.md's CNN28, child for child like tessera's models::cnn28().
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10))


def cnn_case(out, dtype, suffix):
    torch.manual_seed(0)
    model = cnn28().to(dtype)
    model.eval()
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn(BATCH, 1, 28, 28, generator=gen).to(dtype) for _ in range(STEPS)]
    ys = [torch.randint(0, 10, (BATCH,), generator=gen) for _ in range(STEPS)]

    named = [("init." + k, npy(v)) for k, v in init.items()]
    named += [("x.%d" % k, npy(xs[k])) for k in range(STEPS)]
    named += [("y.%d" % k, ys[k].numpy().astype(np.int64)) for k in range(STEPS)]

    # Per-layer activations and first-step gradients: they localise a disagreement.
    h = xs[0]
    for i, child in enumerate(model):
        h = child(h)
        named.append(("act.%d" % i, npy(h)))
    model.zero_grad()
    F.cross_entropy(model(xs[0]), ys[0]).backward()
    named += [("grad." + k, npy(p.grad)) for k, p in model.named_parameters()]

    for prefix, make in (("sgd", lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9)),
                         ("adam", lambda ps: torch.optim.Adam(ps, lr=1e-3))):
        model.load_state_dict(init)
        opt = make(model.parameters())
        losses = []
        for k in range(STEPS):
            opt.zero_grad()
            loss = F.cross_entropy(model(xs[k]), ys[k])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        named += [(prefix + "." + k, npy(p)) for k, p in model.named_parameters()]
        named.append((prefix + "_loss", np.array(losses, dtype=npy(xs[0]).dtype)))
    save(os.path.join(out, "cnn" + suffix + ".safetensors"), named)


def grad_case(out, name, module, x, target):
    # PyTorch's defaults leave biases at 0 and LayerNorm at (1, 0), which would hide a
    # mishandled bias; and sum(out^2) of a LayerNorm output is nearly constant (its gradient
    # is pure cancellation noise), hence the random target.
    with torch.no_grad():
        for k, p in module.named_parameters():
            if "norm" in k and k.endswith("weight"):
                p.uniform_(0.5, 1.5)
            elif k.endswith("bias") or "bias_" in k:
                p.normal_(0.0, 0.1)
    for dtype, suffix in ((torch.float32, ""), (torch.float64, "_f64")):
        grad_case_dtype(out, name + suffix, copy.deepcopy(module).to(dtype), x.to(dtype),
                        target.to(dtype))


def grad_case_dtype(out, name, module, x, target):
    module.train()  # dropout is 0 in both cases, so training mode is deterministic
    x = x.clone().requires_grad_(True)
    named = [("param." + k, npy(p)) for k, p in module.named_parameters()]
    y = module(x)
    if isinstance(y, tuple):  # LSTM: (output, (h_n, c_n))
        y = y[0]
    ((y - target) ** 2).sum().backward()
    named += [("x", npy(x)), ("target", npy(target)), ("out", npy(y))]
    named += [("grad." + k, npy(p.grad)) for k, p in module.named_parameters()]
    named.append(("grad.input", npy(x.grad)))
    save(os.path.join(out, name + ".safetensors"), named)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cnn_case(out, torch.float32, "")
    cnn_case(out, torch.float64, "_f64")

    torch.manual_seed(2)
    enc = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, batch_first=True)
    grad_case(out, "encoder", enc, torch.randn(3, 5, 32), torch.randn(3, 5, 32))

    torch.manual_seed(3)
    lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
    grad_case(out, "lstm", lstm, torch.randn(3, 6, 8), torch.randn(3, 6, 16))


if __name__ == "__main__":
    main()
