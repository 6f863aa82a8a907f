"""tessera.compile from Python: graphs traced from Python code, eager-identical results."""
import os
import threading

import numpy as np
import pytest

import tessera as ts
from tessera import nn
from tessera.nn import functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(ts.flatten(x, 1))


def test_function_traces_once_and_matches_eager():
    def f(x, y):
        return ts.relu(x @ y) + 1.0, x.sum()

    g = ts.compile(f)
    x, y = ts.randn(4, 5), ts.randn(5, 3)
    for _ in range(3):
        got = g(x, y)
        want = f(x, y)
        assert isinstance(got, tuple) and len(got) == 2
        np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-6)
        np.testing.assert_allclose(got[1].numpy(), want[1].numpy(), rtol=1e-6)
    assert g.stats["traces"] == 1 and g.stats["graph_runs"] == 2
    g(ts.randn(2, 5), ts.randn(5, 3))  # a new shape traces again
    assert g.stats["traces"] == 2
    assert "relu" in g.last_graph()


def test_python_module_frozen_and_dynamic_batch():
    ts.manual_seed(0)
    net = Net()
    net.eval()
    fast = ts.compile(net, freeze=True, dynamic_batch=True)
    with ts.no_grad():
        fast(ts.randn(2, 1, 14, 14))
        for batch in (2, 5, 1):
            x = ts.randn(batch, 1, 14, 14)
            got = fast(x)
            assert isinstance(got, ts.Tensor)
            np.testing.assert_allclose(got.numpy(), net(x).numpy(), rtol=1e-5, atol=1e-6)
    assert fast.stats["traces"] == 1
    assert fast.stats["batch_respecializations"] == 2


def test_train_step_matches_eager():
    ts.manual_seed(1)
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    opt_a = ts.optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    opt_b = ts.optim.SGD(b.parameters(), lr=0.1, momentum=0.9)

    def step_of(net, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    eager, compiled = step_of(a, opt_a), ts.compile(step_of(b, opt_b))
    for _ in range(5):
        x, y = ts.randn(8, 1, 14, 14), ts.randint(0, 3, (8,))
        le, lc = eager(x, y), compiled(x, y)
        np.testing.assert_allclose(lc.item(), le.item(), rtol=1e-5)
    assert compiled.stats["traces"] == 1
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_allclose(pb.detach().numpy(), pa.detach().numpy(), rtol=1e-4, atol=1e-6, err_msg=na)


def test_save_and_load(tmp_path):
    ts.manual_seed(2)
    net = Net()
    net.eval()
    fast = ts.compile(net)
    x = ts.randn(3, 1, 14, 14)
    fast(x)
    want = fast(x)
    path = os.path.join(tmp_path, "net.safetensors")
    fast.save(path)
    loaded = ts.load_compiled(path)
    np.testing.assert_array_equal(loaded(x).numpy(), want.numpy())
    with pytest.raises(ValueError, match="got \\[4, 1, 14, 14\\]"):
        loaded(ts.randn(4, 1, 14, 14))
    anybatch = ts.load_compiled(path, dynamic_batch=True)
    x4 = ts.randn(4, 1, 14, 14)
    np.testing.assert_allclose(anybatch(x4).numpy(), net(x4).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_errors():
    with pytest.raises(TypeError, match="expected a function or an nn.Module"):
        ts.compile(3)
    with pytest.raises(TypeError, match="must return a Tensor"):
        ts.compile(lambda x: 3)(ts.ones(2))
    with pytest.raises(TypeError, match="every argument must be a Tensor"):
        ts.compile(lambda x: x)(3)

    def boom(x):
        raise KeyError("from user code")

    f = ts.compile(boom)
    with pytest.raises(KeyError, match="from user code"):
        f(ts.ones(2))
    ok = ts.compile(lambda x: x * 2)  # tracing still works after a failed trace
    np.testing.assert_array_equal(ok(ts.ones(2)).numpy(), [2.0, 2.0])


def test_threads_share_a_compiled_function():
    g = ts.compile(lambda x: ts.tanh(x) * 3.0)
    xs = [ts.randn(64, 64) for _ in range(4)]
    g(xs[0])
    want = [np.tanh(x.numpy()) * 3.0 for x in xs]
    errors = []

    def work(i):
        for _ in range(20):
            if not np.allclose(g(xs[i]).numpy(), want[i], rtol=1e-5, atol=1e-6):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
