import gc
import pickle
import sys
import threading
import weakref

import numpy as np
import pytest

import tessera as ts


# ---------------------------------------------------------------- creation, dtypes

def test_tensor_from_lists_defaults_like_pytorch():
    assert ts.tensor([1.5, 2.0]).dtype == ts.float32
    assert ts.tensor([1, 2]).dtype == ts.int64
    assert ts.tensor([True, False]).dtype == ts.bool
    assert ts.tensor(3.0).shape == ()
    assert ts.tensor([[1, 2], [3, 4]]).shape == (2, 2)
    assert ts.tensor([1, 2], dtype=ts.float64).dtype == ts.float64
    assert ts.tensor(np.zeros(3, np.float64)).dtype == ts.float64  # an ndarray keeps its dtype


def test_dtype_names_and_aliases():
    assert repr(ts.float32) == "tessera.float32"
    assert ts.float is ts.float32 and ts.double is ts.float64 and ts.long is ts.int64
    assert ts.float16.itemsize == 2 and ts.float64.is_floating_point
    assert not ts.int32.is_floating_point
    assert ts.promote_types(ts.int64, ts.float32) == ts.float32


@pytest.mark.parametrize("np_dtype,dtype", [
    (np.bool_, ts.bool), (np.uint8, ts.uint8), (np.int8, ts.int8), (np.int32, ts.int32),
    (np.int64, ts.int64), (np.float16, ts.float16), (np.float32, ts.float32),
    (np.float64, ts.float64)])
def test_numpy_dtypes_round_trip(np_dtype, dtype):
    a = (np.arange(6) % 2).astype(np_dtype).reshape(2, 3)
    t = ts.from_numpy(a)
    assert t.dtype == dtype
    assert t.numpy().dtype == np.dtype(np_dtype)
    np.testing.assert_array_equal(t.numpy(), a)


def test_factories():
    assert ts.zeros(2, 3).shape == (2, 3)
    assert ts.zeros((2, 3)).shape == (2, 3)
    assert ts.ones([4], dtype=ts.int32).tolist() == [1, 1, 1, 1]
    assert ts.full((2,), 7).tolist() == [7, 7] and ts.full((2,), 7).dtype == ts.int64
    assert ts.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert ts.arange(1, 2, 0.5).tolist() == [1.0, 1.5]
    assert ts.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
    assert ts.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert ts.empty(3).shape == (3,)
    assert ts.zeros_like(ts.ones(2, dtype=ts.float64)).dtype == ts.float64
    assert ts.randint(0, 10, (100,)).dtype == ts.int64
    r = ts.randint(3, 5, (1000,)).numpy()
    assert r.min() == 3 and r.max() == 4
    assert sorted(ts.randperm(5).tolist()) == [0, 1, 2, 3, 4]
    assert ts.zeros(2, requires_grad=True).requires_grad


def test_random_is_seeded():
    ts.manual_seed(7)
    a = ts.randn(5)
    ts.manual_seed(7)
    b = ts.randn(5)
    assert ts.equal(a, b)
    g1, g2 = ts.Generator(3), ts.Generator(3)
    assert ts.equal(ts.rand(4, generator=g1), ts.rand(4, generator=g2))
    x = ts.rand(10000).numpy()
    assert 0 <= x.min() and x.max() < 1 and abs(x.mean() - 0.5) < 0.02


# ---------------------------------------------------------------- NumPy without copies

def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ts.from_numpy(a)
    a[0, 0] = 100
    assert t[0, 0].item() == 100
    t[1, 2] = -1
    assert a[1, 2] == -1
    assert t.data_ptr() == a.ctypes.data


def test_numpy_of_tensor_shares_memory():
    t = ts.zeros(2, 3)
    a = t.numpy()
    a[1, 1] = 5
    assert t[1, 1].item() == 5
    assert np.shares_memory(a, t.numpy())
    b = np.asarray(t)  # buffer protocol / __array__
    b[0, 0] = 3
    assert t[0, 0].item() == 3


def test_non_contiguous_views_keep_strides():
    a = np.arange(24, dtype=np.float64).reshape(4, 6)[:, ::2]
    t = ts.from_numpy(a)
    assert not t.is_contiguous()
    assert t.stride() == (6, 2)
    np.testing.assert_array_equal(t.numpy(), a)
    tt = ts.arange(12).reshape(3, 4).t()
    np.testing.assert_array_equal(tt.numpy(), np.arange(12).reshape(3, 4).T)
    assert tt.numpy().strides == (8, 32)


def test_tensor_outlives_numpy_array():
    a = np.arange(1000, dtype=np.float32)
    ref = weakref.ref(a) if hasattr(a, "__weakref__") else None
    t = ts.from_numpy(a)
    base_refs = sys.getrefcount(a)
    del a
    gc.collect()
    # The storage holds the array: its memory is still valid and unchanged.
    assert t.sum().item() == sum(range(1000))
    assert base_refs >= 3  # our name, getrefcount's argument and the tensor's reference
    del t
    gc.collect()
    if ref is not None:
        assert ref() is None  # released with the last view


def test_numpy_array_outlives_tensor():
    t = ts.arange(100, dtype=ts.float64)
    a = t.numpy()
    view = t[10:20]
    del t, view
    gc.collect()
    for _ in range(3):  # allocations that would reuse freed memory
        ts.randn(1000, dtype=ts.float64)
    assert a.sum() == sum(range(100))


def test_refcounts_do_not_leak():
    a = np.ones(10, dtype=np.float32)
    before = sys.getrefcount(a)
    for _ in range(100):
        t = ts.from_numpy(a)
        (t + 1).numpy()
        del t
    gc.collect()
    assert sys.getrefcount(a) == before


def test_views_of_numpy_backed_tensor_keep_it_alive():
    a = np.arange(10, dtype=np.float32)
    v = ts.from_numpy(a)[2:5]
    del a
    gc.collect()
    assert v.tolist() == [2.0, 3.0, 4.0]


def test_bad_numpy_input_raises_not_crashes():
    with pytest.raises(TypeError):
        ts.from_numpy(np.zeros(3, dtype=np.complex64))
    with pytest.raises(TypeError):
        ts.from_numpy(np.zeros(3, dtype=np.uint32))
    with pytest.raises(ValueError):
        ts.from_numpy(np.arange(5.0)[::-1])  # negative stride
    assert ts.tensor(np.arange(5.0)[::-1]).tolist() == [4.0, 3.0, 2.0, 1.0, 0.0]  # copies fine
    with pytest.raises(TypeError):
        ts.tensor([[1, 2], [3]])  # ragged
    with pytest.raises(TypeError):
        ts.tensor("abc")
    with pytest.raises(TypeError):
        ts.ones(2).bfloat16().numpy()


def test_numpy_refuses_requires_grad():
    t = ts.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="requires grad"):
        t.numpy()
    assert t.detach().numpy().tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- values, repr

def test_item_tolist_conversions():
    assert ts.tensor(2.5).item() == 2.5
    assert isinstance(ts.tensor(3).item(), int)
    assert ts.tensor(True).item() is True
    assert ts.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert float(ts.tensor([1.5])) == 1.5
    assert int(ts.tensor(4)) == 4
    assert [10, 20, 30][ts.tensor(1)] == 20
    assert bool(ts.tensor(1.0))
    with pytest.raises(ValueError):
        ts.ones(2).item()
    with pytest.raises(ValueError):
        bool(ts.ones(2))
    assert len(ts.ones(4, 2)) == 4
    assert [r.tolist() for r in ts.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]


def test_repr_like_pytorch():
    assert repr(ts.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(ts.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(ts.tensor([1.0], dtype=ts.float64)) == "tensor([1.], dtype=tessera.float64)"
    assert repr(ts.ones(2, requires_grad=True)) == "tensor([1., 1.], requires_grad=True)"
    x = ts.ones(2, requires_grad=True)
    assert "grad_fn=<" in repr(x * 2)
    assert repr(ts.tensor([[1.5, 2.0], [3.0, 4.0]])) == "tensor([[1.5000, 2.0000],\n        [3.0000, 4.0000]])"


def test_metadata():
    t = ts.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4) and t.size(-1) == 4
    assert t.ndim == 3 and t.dim() == 3 and t.numel() == 24
    assert t.stride() == (12, 4, 1) and t.element_size() == 4 and t.nbytes == 96
    assert t.device == "cpu" and t.is_contiguous() and t.is_floating_point()
    assert t.permute(2, 0, 1).shape == (4, 2, 3)


def test_pickle_and_copy():
    import copy
    t = ts.tensor([[1.0, 2.0]], requires_grad=True)
    u = pickle.loads(pickle.dumps(t))
    assert u.tolist() == [[1.0, 2.0]] and u.requires_grad
    c = copy.deepcopy(t)
    assert not c.shares_storage(t) and c.tolist() == t.tolist()


# ---------------------------------------------------------------- operators

def test_operators_match_numpy():
    a_np = np.array([[1.0, -2.0], [3.0, 4.5]], np.float32)
    b_np = np.array([2.0, 0.5], np.float32)
    a, b = ts.tensor(a_np), ts.tensor(b_np)
    for got, want in [(a + b, a_np + b_np), (a - b, a_np - b_np), (a * b, a_np * b_np),
                      (a / b, a_np / b_np), (a ** 2, a_np ** 2), (2 ** a, 2 ** a_np),
                      (1 - a, 1 - a_np), (3 / a, 3 / a_np), (-a, -a_np), (abs(a), abs(a_np)),
                      (a @ a, a_np @ a_np), (a // b, a_np // b_np), (a % b, a_np % b_np),
                      (a + 1, a_np + 1), (2 * a, 2 * a_np)]:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    assert (a > 1).dtype == ts.bool
    np.testing.assert_array_equal((a > 1).numpy(), a_np > 1)
    np.testing.assert_array_equal((a == b).numpy(), a_np == b_np)
    np.testing.assert_array_equal(((a > 1) & (a < 4)).numpy(), (a_np > 1) & (a_np < 4))
    np.testing.assert_array_equal((~(a > 1)).numpy(), ~(a_np > 1))


def test_type_promotion_with_python_numbers():
    i = ts.tensor([1, 2])
    assert (i + 1).dtype == ts.int64
    assert (i + 1.5).dtype == ts.float32
    assert (i / 2).dtype == ts.float32
    assert (ts.ones(2, dtype=ts.float64) * 2.0).dtype == ts.float64
    assert (ts.ones(2, dtype=ts.float16) + 1.0).dtype == ts.float16


def test_inplace_operators_keep_identity():
    t = ts.zeros(3)
    tid = id(t)
    t += 1
    t *= 3
    t -= ts.ones(3)
    t /= 2
    assert id(t) == tid and t.tolist() == [1.0, 1.0, 1.0]
    assert t.add_(1) is t and t.mul_(2) is t and t.zero_() is t and t.fill_(4) is t
    assert t.tolist() == [4.0, 4.0, 4.0]


def test_tensors_hash_by_identity():
    a, b = ts.ones(1), ts.ones(1)
    assert len({a, b}) == 2 and a in {a: 1}


# ---------------------------------------------------------------- indexing

def test_basic_indexing_returns_views():
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    t = ts.tensor(base)
    for idx in [1, -1, (1, 2), (slice(1, None), slice(None, None, 2)), (Ellipsis, 0),
                (None, 1), (slice(None), None, slice(2, 4)), (slice(-3, -1),), (0, slice(None, None, 3))]:
        got = t[idx]
        np.testing.assert_array_equal(got.numpy(), base[idx])
    v = t[1:, ::2]
    assert v.shares_storage(t) and v.shape == (3, 3)
    v[0, 0] = -5
    assert t[1, 0].item() == -5


def test_advanced_indexing_matches_numpy():
    base = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    t = ts.tensor(base)
    mask = base > 30
    cases = [([0, 2],), (ts.tensor([2, 0, 1]),), (slice(None), [1, 3]), (slice(None), [-1, 0], 2),
             (Ellipsis, [4, 0]), (np.array([[0, 1], [2, 0]]),), (1, [0, 3], slice(1, 3))]
    for idx in cases:
        np_idx = tuple(i.numpy() if isinstance(i, ts.Tensor) else i for i in idx)
        np.testing.assert_array_equal(t[idx].numpy(), base[np_idx])
    np.testing.assert_array_equal(t[ts.tensor(mask)].numpy(), base[mask])
    np.testing.assert_array_equal(t[ts.tensor(mask[0]) if False else 0][ts.tensor(mask[0])].numpy(),
                                  base[0][mask[0]])
    np.testing.assert_array_equal(t[t > 30].numpy(), base[base > 30])


def test_setitem_forms():
    base = np.zeros((3, 4), np.float32)
    t = ts.tensor(base)
    t[0] = 1
    base[0] = 1
    t[:, 1] = ts.tensor([5.0, 6.0, 7.0])
    base[:, 1] = [5, 6, 7]
    t[t > 5] = 0
    base[base > 5] = 0
    t[[1, 2], [3, 0]] = ts.tensor([8.0, 9.0])
    base[[1, 2], [3, 0]] = [8, 9]
    t[:, [0, 2]] = -1
    base[:, [0, 2]] = -1
    t[..., 3] = np.array([1.0, 2.0, 3.0], np.float32)
    base[..., 3] = [1, 2, 3]
    np.testing.assert_array_equal(t.numpy(), base)


def test_bad_indices_raise():
    t = ts.zeros(2, 3)
    with pytest.raises(IndexError):
        t[5]
    with pytest.raises(IndexError):
        t[0, 0, 0]
    with pytest.raises(IndexError):
        t[ts.tensor([0, 7])]
    with pytest.raises(IndexError):
        t[ts.tensor([0.5])]
    with pytest.raises(TypeError):
        t["a"]
    with pytest.raises(ValueError):
        t[::-1]
    with pytest.raises(IndexError):
        t[ts.tensor([True, False, True])]


# ---------------------------------------------------------------- views and conversions

def test_views_share_storage():
    t = ts.arange(12, dtype=ts.float32)
    for v in [t.view(3, 4), t.view((2, 6)), t.reshape(4, 3), t.view(3, 4).t(), t.view(3, 4).T,
              t.view(3, 4).transpose(0, 1), t.view(3, 4)[1], t.narrow(0, 2, 3),
              t.view(3, 4).unsqueeze(0), t.view(1, 12).squeeze(0), t.view(3, 4).flatten(),
              t.view(3, 4).select(1, 2), t.view(3, 1, 4).expand(3, 2, 4), t.view(3, 4).diagonal(),
              t.as_strided((2, 2), (1, 2)), t.view(3, 4).unflatten(1, (2, 2))]:
        assert v.shares_storage(t)
    assert t.view(3, 4).permute(1, 0).contiguous().is_contiguous()
    assert t.to(ts.float64).dtype == ts.float64 and t.float() is not None
    assert t.long().dtype == ts.int64 and t.int().dtype == ts.int32 and t.bool().dtype == ts.bool
    assert t.half().dtype == ts.float16 and t.bfloat16().dtype == ts.bfloat16
    assert t.double().dtype == ts.float64 and t.byte().dtype == ts.uint8
    assert t.to("cpu") is not None and t.cpu().shape == (12,)
    c = t.clone()
    assert not c.shares_storage(t)
    with pytest.raises(ValueError):
        t.to("cuda")
    with pytest.raises(ValueError):
        t.view(5, 5)
    with pytest.raises(TypeError):
        t.view("a")


def test_errors_carry_the_cpp_message():
    with pytest.raises(ts.InvalidArgumentError) as e:
        ts.matmul(ts.ones(2, 3), ts.ones(2, 3))
    assert "matmul" in str(e.value) and "[2, 3]" in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, RuntimeError)
    assert isinstance(e.value, ts.Error)
    with pytest.raises(ts.IOError) as e2:
        ts.load("/no/such/file.safetensors")
    assert isinstance(e2.value, OSError) and "/no/such/file.safetensors" in str(e2.value)


def test_bad_argument_types_raise_type_error():
    with pytest.raises(TypeError):
        ts.add(ts.ones(2), "x")
    with pytest.raises(TypeError):
        ts.ones(2) + "x"
    with pytest.raises(TypeError):
        ts.zeros("a")
    with pytest.raises(TypeError):
        ts.sum(ts.ones(2), dim="x")
    with pytest.raises(TypeError):
        ts.cat([ts.ones(2), 3])
    with pytest.raises(TypeError):
        ts.zeros(2, dtype="float32")
    with pytest.raises(TypeError):
        ts.matmul(ts.ones(2), None)


# ---------------------------------------------------------------- GIL

def test_ops_run_in_parallel_threads():
    # Correctness under threads (the timing check is bench/python_overhead.py).
    x = ts.randn(64, 64)
    results = [None] * 4

    def work(i):
        acc = ts.zeros(64, 64)
        for _ in range(50):
            acc = acc + x @ x
        results[i] = acc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for r in results[1:]:
        assert ts.allclose(r, results[0])
