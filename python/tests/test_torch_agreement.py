"""The same ops as the C++ agreement tests, against Debian's PyTorch (skipped without it):
forward values and gradients from the same inputs."""
import numpy as np
import pytest

import tessera as ts
from tessera import nn
from tessera.nn import functional as F

RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.normal(size=shape).astype(np.float32)


UNARY = ["exp", "log1p", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "neg", "sqrt",
         "rsqrt", "erf", "floor", "ceil", "round", "square", "reciprocal", "expm1", "sign"]


@pytest.mark.parametrize("name", UNARY)
def test_unary(torch, name):
    a = np.abs(arr(3, 4)) + 0.5 if name in ("sqrt", "rsqrt", "log1p", "reciprocal") else arr(3, 4)
    x, tx = ts.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = getattr(ts, name)(x), getattr(torch, name)(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    if name not in ("floor", "ceil", "round", "sign"):
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "minimum", "atan2", "pow"])
def test_binary_broadcast(torch, name):
    a, b = arr(3, 1, 4), np.abs(arr(5, 1)) + 0.5
    if name == "pow":
        a = np.abs(a) + 0.5
    x, y = ts.tensor(a, requires_grad=True), ts.tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, tout = getattr(ts, name)(x, y), getattr(torch, name)(tx, ty)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("call", [
    lambda m, x: m.sum(x, 1), lambda m, x: m.mean(x, (0, 2), keepdim=True),
    lambda m, x: m.amax(x, 2), lambda m, x: m.logsumexp(x, 1), lambda m, x: m.softmax(x, 1),
    lambda m, x: m.log_softmax(x, -1), lambda m, x: m.var(x, 1), lambda m, x: m.std(x, 2),
    lambda m, x: m.cumsum(x, 1), lambda m, x: m.norm(x), lambda m, x: m.prod(x, 0),
])
def test_reductions(torch, call):
    a = arr(2, 3, 4)
    x, tx = ts.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = call(ts, x), call(torch, tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_matmul_and_shape_ops(torch):
    a, b = arr(2, 3, 4), arr(4, 5)
    np.testing.assert_allclose((ts.tensor(a) @ ts.tensor(b)).numpy(),
                               (torch.tensor(a) @ torch.tensor(b)).numpy(), rtol=1e-5, atol=1e-5)
    x, tx = ts.tensor(a), torch.tensor(a)
    for f in [lambda m, t: m.cat([t, t], 1), lambda m, t: m.stack([t, t], 0),
              lambda m, t: m.flip(t, [0, 2]), lambda m, t: m.roll(t, 1, 2),
              lambda m, t: m.tril(t[0]), lambda m, t: t.permute(2, 0, 1).reshape(4, 6),
              lambda m, t: m.where(t > 0, t, m.zeros_like(t)),
              lambda m, t: m.gather(t, 2, m.tensor([[[0, 3]] * 3] * 2)),
              lambda m, t: m.sort(t, 2)[0], lambda m, t: m.topk(t, 2, 2)[1],
              lambda m, t: m.clamp(t, -0.5, 0.5), lambda m, t: t[:, 1:, ::2]]:
        np.testing.assert_allclose(f(ts, x).numpy(), f(torch, tx).numpy(), rtol=1e-6)


def test_nn_functional(torch):
    TF = torch.nn.functional
    x, w, b = arr(2, 3, 8, 8), arr(4, 3, 3, 3), arr(4)
    cases = [
        (lambda m, f: f.conv2d(m.tensor(x), m.tensor(w), m.tensor(b), stride=2, padding=1)),
        (lambda m, f: f.max_pool2d(m.tensor(x), 2)),
        (lambda m, f: f.avg_pool2d(m.tensor(x), 3, stride=2, padding=1)),
        (lambda m, f: f.adaptive_avg_pool2d(m.tensor(x), 2)),
        (lambda m, f: f.layer_norm(m.tensor(x), (8,))),
        (lambda m, f: f.gelu(m.tensor(x))),
        (lambda m, f: f.leaky_relu(m.tensor(x), 0.2)),
        (lambda m, f: f.cross_entropy(m.tensor(x[:, :, 0, 0]), m.tensor([0, 2]))),
        (lambda m, f: f.mse_loss(m.tensor(x), m.tensor(x * 0.5))),
        (lambda m, f: f.binary_cross_entropy_with_logits(m.tensor(x), m.tensor((x > 0).astype(np.float32)))),
    ]
    for c in cases:
        np.testing.assert_allclose(c(ts, F).numpy(), c(torch, TF).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_layers_load_pytorch_weights(torch):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                             torch.nn.Linear(4 * 26 * 26, 10))
    m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    m.load_state_dict({k: ts.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    assert list(m.state_dict().keys()) == list(tm.state_dict().keys())
    # Buffers too, in torch's order: each module's parameters, its buffers, then children.
    tb = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))
    b = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    assert list(b.state_dict()) == list(tb.state_dict())
    x = arr(2, 1, 28, 28)
    np.testing.assert_allclose(m(ts.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-4)


def test_adam_trajectory_matches(torch):
    a = arr(5)
    w, tw = nn.Parameter(ts.tensor(a)), torch.nn.Parameter(torch.tensor(a))
    opt, topt = ts.optim.Adam([w], lr=0.1), torch.optim.Adam([tw], lr=0.1)
    for _ in range(10):
        for o, p, m in ((opt, w, ts), (topt, tw, torch)):
            o.zero_grad()
            (m.sin(p) * p).sum().backward()
            o.step()
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
