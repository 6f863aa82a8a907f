"""The op functions against NumPy (the PyTorch agreement tests cover more when torch is
importable); every module-level function of tessera._C is called at least once."""
import numpy as np
import pytest

import tessera as ts

A = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)


def t(a=A):
    return ts.tensor(a)


def test_shape_ops():
    x = t()
    assert [p.shape for p in ts.split(x, 2, 1)] == [(2, 2), (2, 1)]
    assert [p.shape for p in ts.split(x, [1, 2], 1)] == [(2, 1), (2, 2)]
    assert [p.shape for p in ts.chunk(x, 3, 1)] == [(2, 1)] * 3
    np.testing.assert_array_equal(x.repeat(2, 1).numpy(), np.tile(A, (2, 1)))
    np.testing.assert_array_equal(ts.tile(x, (1, 2)).numpy(), np.tile(A, (1, 2)))
    np.testing.assert_array_equal(ts.flip(x, [1]).numpy(), A[:, ::-1])
    np.testing.assert_array_equal(ts.roll(x, 1, 1).numpy(), np.roll(A, 1, 1))
    np.testing.assert_array_equal(ts.triu(x).numpy(), np.triu(A))
    np.testing.assert_array_equal(ts.cat([x, x]).numpy(), np.concatenate([A, A]))
    np.testing.assert_array_equal(ts.concat([x, x], 1).numpy(), np.concatenate([A, A], 1))
    np.testing.assert_array_equal(ts.stack([x, x], 1).numpy(), np.stack([A, A], 1))
    np.testing.assert_array_equal(ts.reshape(x, (3, 2)).numpy(), A.reshape(3, 2))
    np.testing.assert_array_equal(ts.transpose(x, 0, 1).numpy(), A.T)
    np.testing.assert_array_equal(ts.permute(x, (1, 0)).numpy(), A.T)
    np.testing.assert_array_equal(ts.t(x).numpy(), A.T)
    np.testing.assert_array_equal(ts.squeeze(ts.unsqueeze(x, 0)).numpy(), A)
    np.testing.assert_array_equal(ts.narrow(x, 1, 1, 2).numpy(), A[:, 1:3])
    np.testing.assert_array_equal(ts.flatten(x).numpy(), A.ravel())
    np.testing.assert_array_equal(ts.diagonal(x).numpy(), np.diagonal(A))
    assert ts.numel(x) == 6 and ts.is_tensor(x) and not ts.is_tensor(A)
    assert ts.clone(x).tolist() == A.tolist() and not ts.detach(x).requires_grad


def test_indexing_ops():
    x = t()
    idx = ts.tensor([[2, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(ts.gather(x, 1, idx).numpy(), np.take_along_axis(A, idx.numpy(), 1))
    s = ts.scatter(ts.zeros(2, 3), 1, idx[:, :1], ts.ones(2, 1))
    assert s.tolist() == [[0, 0, 1], [0, 1, 0]]
    assert ts.scatter(ts.zeros(2, 3), 1, idx[:, :1], 5.0).sum().item() == 10
    assert ts.scatter_add(ts.zeros(2, 3), 1, idx, ts.ones(2, 3)).tolist() == [[1, 1, 1], [1, 2, 0]]
    z = ts.zeros(2, 3)
    assert z.scatter_(1, idx[:, :1], ts.ones(2, 1)) is z and z.sum().item() == 2
    assert z.scatter_add_(1, idx[:, :1], ts.ones(2, 1)) is z and z.sum().item() == 4
    np.testing.assert_array_equal(ts.index_select(x, 1, ts.tensor([2, 0])).numpy(), A[:, [2, 0]])
    np.testing.assert_array_equal(ts.masked_fill(x, x > 1, 0.0).numpy(), np.where(A > 1, 0, A))
    y = ts.index_put(ts.zeros(3), [ts.tensor([0, 2])], ts.tensor([1.0, 2.0]))
    assert y.tolist() == [1.0, 0.0, 2.0]
    y.index_put_([ts.tensor([0, 0])], ts.tensor([1.0, 1.0]), accumulate=True)
    assert y.tolist() == [3.0, 0.0, 2.0]
    v, i = ts.sort(x, 1, descending=True)
    np.testing.assert_array_equal(v.numpy(), -np.sort(-A, 1))
    np.testing.assert_array_equal(ts.argsort(x, 1).numpy(), np.argsort(A, 1, kind="stable"))
    v, i = ts.topk(x, 2)
    assert v.shape == (2, 2) and i.dtype == ts.int64
    v, i = x.max(1)
    assert v.tolist() == [3.0, 4.0] and i.tolist() == [2, 1]
    assert ts.max(x).item() == 4.0 and ts.min(x, 0).values.tolist() == [0.5, -2.0, -1.0]
    assert ts.max(x, ts.zeros(2, 3)).tolist() == np.maximum(A, 0).tolist()


def test_elementwise_and_reductions():
    x = t()
    np.testing.assert_allclose(ts.clamp(x, min=0).numpy(), np.clip(A, 0, None))
    np.testing.assert_allclose(ts.clip(x, -1, 1).numpy(), np.clip(A, -1, 1))
    np.testing.assert_allclose(ts.clamp(x, ts.zeros(2, 3), ts.ones(2, 3)).numpy(), np.clip(A, 0, 1))
    np.testing.assert_allclose(ts.where(x > 0, x, 0.0).numpy(), np.where(A > 0, A, 0))
    np.testing.assert_allclose(x.where(x > 0, ts.zeros(2, 3)).numpy(), np.where(A > 0, A, 0))
    nan = ts.tensor([float("nan"), float("inf"), 1.0])
    assert ts.isnan(nan).tolist() == [True, False, False]
    assert ts.isinf(nan).tolist() == [False, True, False]
    assert ts.isfinite(nan).tolist() == [False, False, True]
    assert ts.nan_to_num(nan, posinf=9.0).tolist() == [0.0, 9.0, 1.0]
    assert ts.allclose(x, x + 1e-9) and ts.equal(x, x.clone()) and not ts.equal(x, x + 1)
    np.testing.assert_allclose(ts.addmm(ts.ones(2, 2), x, x.t(), beta=2, alpha=0.5).numpy(),
                               2 + 0.5 * A @ A.T, rtol=1e-6)
    np.testing.assert_allclose(ts.outer(x[0], x[1]).numpy(), np.outer(A[0], A[1]))
    assert ts.dot(x[0], x[1]).item() == pytest.approx(float(A[0] @ A[1]))
    np.testing.assert_allclose(ts.mm(x, x.t()).numpy(), A @ A.T, rtol=1e-6)
    np.testing.assert_allclose(ts.bmm(x[None], x.t()[None]).numpy(), (A @ A.T)[None], rtol=1e-6)
    assert ts.all(x > -5).item() and ts.any(x > 3.5).item() and not ts.all(x > 0).item()
    assert ts.argmax(x).item() == 4 and ts.argmin(x, 1).tolist() == [1, 2]
    assert ts.sum(x > 0).item() == 4 and ts.sum(x, dtype=ts.float64).dtype == ts.float64
    np.testing.assert_allclose(ts.var(x, 1, unbiased=False).numpy(), A.var(1), rtol=1e-6)
    np.testing.assert_allclose(ts.std(x, correction=0).item(), A.std(), rtol=1e-6)
    assert ts.logical_and(x > 0, x < 2).tolist() == ((A > 0) & (A < 2)).tolist()
    assert ts.logical_or(x > 3, x < -1).tolist() == ((A > 3) | (A < -1)).tolist()
    assert ts.logical_xor(x > 0, x > 1).tolist() == ((A > 0) ^ (A > 1)).tolist()
    assert ts.logical_not(x > 0).tolist() == (~(A > 0)).tolist()
    assert ts.floor_divide(ts.tensor([7, -7]), 2).tolist() == [3, -4]
    assert ts.remainder(ts.tensor([7, -7]), 3).tolist() == [1, 2]
    assert ts.pow(2, ts.tensor([1.0, 3.0])).tolist() == [2.0, 8.0]
    for name in ["gelu", "silu", "softplus", "log2", "tan", "negative"]:
        assert getattr(ts, name)(x).shape == (2, 3)
    for name in ["subtract", "multiply", "divide", "eq", "ne", "lt", "le", "gt", "ge"]:
        assert getattr(ts, name)(x, 2.0).shape == (2, 3)
        assert getattr(ts, name)(x, x).shape == (2, 3)


def test_inplace_methods_return_self():
    x = ts.tensor([-1.0, 0.25, 4.0])
    for name, args in [("abs_", ()), ("sqrt_", ()), ("exp_", ()), ("log_", ()), ("neg_", ()),
                       ("relu_", ()), ("sigmoid_", ()), ("tanh_", ()), ("pow_", (2,)),
                       ("clamp_", (0.1, 0.5)), ("masked_fill_", (ts.tensor([True, False, False]), 9.0)),
                       ("uniform_", ()), ("normal_", ()), ("copy_", (ts.ones(3),))]:
        assert getattr(x, name)(*args) is x
    assert x.tolist() == [1.0, 1.0, 1.0]


def test_random_functions():
    g = ts.Generator(1)
    assert g.initial_seed() == 1 and g.manual_seed(2) is g and g.seed() == 2
    g.offset = 5
    assert g.offset == 5
    ts.default_generator().manual_seed(0)
    assert ts.normal(0.0, 1.0, (100,)).shape == (100,)
    assert ts.rand_like(ts.ones(3)).shape == (3,) and ts.randn_like(ts.ones(3)).shape == (3,)
    assert set(ts.bernoulli(ts.full((100,), 0.5)).tolist()) <= {0.0, 1.0}
    assert ts.full_like(ts.ones(2), 3).tolist() == [3.0, 3.0]
    assert ts.empty_like(ts.ones(2)).shape == (2,) and ts.ones_like(ts.ones(2)).tolist() == [1, 1]
    assert ts.get_num_threads() >= 1
    ts.set_num_threads(ts.get_num_threads())
    assert ts.can_cast(ts.int64, ts.float32) and not ts.can_cast(ts.float32, ts.int64)


def test_as_tensor():
    a = np.arange(4.0)
    v = ts.as_tensor(a)
    assert v.shares_storage(ts.from_numpy(a)) or v.data_ptr() == a.ctypes.data
    assert ts.as_tensor([1, 2]).tolist() == [1, 2]
    x = ts.ones(2)
    assert ts.as_tensor(x) is x
    with pytest.raises(ValueError):
        ts.zeros(2, device="cuda")


def test_type_stubs_are_shipped():
    import ast
    import pathlib
    root = pathlib.Path(ts.__file__).parent
    stub = root / "_C" / "__init__.pyi"
    assert (root / "py.typed").exists() and stub.exists()
    tree = ast.parse(stub.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert {"Tensor", "add", "matmul", "from_numpy"} <= names
