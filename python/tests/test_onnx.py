"""tessera.onnx: export -> import round trips, dynamic axes, fine-tuning an imported model,
Python-subclassed modules traced from Python (threads included), agreement with ONNX Runtime
and PyTorch's exporter where they are installed, and the errors bad arguments give."""
import io
import pathlib
import threading

import numpy as np
import pytest

import tessera as ts
from tessera import nn
from tessera.nn import functional as F


class SmallCNN(nn.Module):
    """A Python subclass: its forward runs in Python while the C++ tracer records it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(ts.flatten(x, 1))


class TwoHeads(nn.Module):
    """Two inputs, nested outputs (flattened in the file: y, (s, m) -> three outputs)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 3)

    def forward(self, a, b):
        h = ts.tanh(self.proj(a)) * b
        return h, (h.sum(dim=1), ts.maximum(a, b))


def _warm_bn(net, shape):
    """Gives batch norm running statistics other than 0/1, so eval mode matters."""
    net.train()
    with ts.no_grad():
        for _ in range(3):
            net(ts.randn(*shape) * 2.0 + 0.5)
    net.eval()


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def test_round_trip_python_module(tmp_path):
    ts.manual_seed(0)
    net = SmallCNN()
    _warm_bn(net, (4, 1, 8, 8))
    x = ts.randn(2, 1, 8, 8)
    path = tmp_path / "cnn.onnx"
    summary = ts.onnx.export(net, (x,), path, input_names=["image"], output_names=["logits"])
    assert summary["opset"] == 17
    assert summary["op_histogram"]["Conv"] == 1 and summary["op_histogram"]["Gemm"] == 1
    assert summary["op_histogram"]["BatchNormalization"] == 1

    m = ts.onnx.load(path)
    assert m.opset == 17 and m.producer.startswith("tessera")
    assert m.input_names == ["image"] and m.output_names == ["logits"]
    (inp,), (out,) = m.inputs, m.outputs
    assert inp.dtype == ts.float32 and inp.shape == (2, 1, 8, 8)
    assert out.shape == (2, 5)
    assert m.op_histogram() == summary["op_histogram"]
    assert sum(m.op_histogram().values()) == m.num_nodes == summary["num_nodes"]

    # Initializers are named after the state_dict and hold its values.
    sd = m.state_dict()
    want = net.state_dict()
    for name in ("conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                 "fc.weight", "fc.bias"):
        np.testing.assert_array_equal(sd[name].numpy(), want[name].detach().numpy(), err_msg=name)

    with ts.no_grad():
        expected = net(x).numpy()
    got = m(x)
    assert isinstance(got, ts.Tensor)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    (listed,) = m.run(x.numpy())  # NumPy in, a list out
    np.testing.assert_allclose(listed.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m({"image": x}).numpy(), expected, rtol=1e-5, atol=1e-6)
    fast = m.compile()
    np.testing.assert_allclose(fast(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    print(f"round trip: max |onnx - module| = {_max_diff(got.numpy(), expected):.3g}")


def test_export_restores_training_mode_and_exports_eval():
    ts.manual_seed(1)
    net = SmallCNN()
    _warm_bn(net, (4, 1, 8, 8))
    net.train()
    x = ts.randn(3, 1, 8, 8)
    m = ts.onnx.load(ts.onnx.export_to_bytes(net, x))  # TrainingMode.EVAL, torch's default
    assert net.training  # put back
    net.eval()
    with ts.no_grad():
        np.testing.assert_allclose(m(x).numpy(), net(x).numpy(), rtol=1e-5, atol=1e-6)
    # Exported as it is, batch norm in training mode would update its statistics: refused,
    # and the module is left as it was.
    net.train()
    before = net.bn.running_mean.numpy().copy()
    with pytest.raises(NotImplementedError, match="no in-place updates"):
        ts.onnx.export_to_bytes(net, x, training=ts.onnx.TrainingMode.PRESERVE)
    assert net.training
    np.testing.assert_array_equal(net.bn.running_mean.numpy(), before)


def test_dynamic_axes_batch_one_export_batch_five_run(tmp_path):
    ts.manual_seed(2)
    net = SmallCNN()
    _warm_bn(net, (4, 1, 8, 8))
    path = str(tmp_path / "dyn.onnx")
    ts.onnx.export(net, ts.randn(1, 1, 8, 8), path, input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    m = ts.onnx.load(path)
    assert m.inputs[0].shape == ("batch", 1, 8, 8)
    assert m.outputs[0].shape == ("batch", 5)
    x5 = ts.randn(5, 1, 8, 8)
    with ts.no_grad():
        expected = net(x5).numpy()
    got = m(x5)
    assert got.shape == (5, 5)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    fast = m.compile(dynamic_batch=True)
    for batch in (5, 3):
        xb = ts.randn(batch, 1, 8, 8)
        with ts.no_grad():
            np.testing.assert_allclose(fast(xb).numpy(), net(xb).numpy(), rtol=1e-5, atol=1e-6)
    print(f"dynamic axes: batch-1 export, batch-5 run, max diff {_max_diff(got.numpy(), expected):.3g}")

    # torch's list form names the dims itself; dynamic_batch is the shorthand for dim 0.
    listed = ts.onnx.load(ts.onnx.export_to_bytes(net, ts.randn(1, 1, 8, 8), input_names=["x"],
                                                  dynamic_axes={"x": [0]}))
    assert listed.inputs[0].shape == ("x_dynamic_axes_1", 1, 8, 8)
    batch = ts.onnx.load(ts.onnx.export_to_bytes(net, ts.randn(1, 1, 8, 8), dynamic_batch=True))
    assert batch.inputs[0].shape[0] == "batch" and batch.outputs[0].shape[0] == "batch"
    assert batch(x5).shape == (5, 5)

    # Without them, the file's batch is fixed: another is refused, naming both shapes.
    fixed = ts.onnx.load(ts.onnx.export_to_bytes(net, ts.randn(1, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"5, 1, 8, 8"):
        fixed(x5)


def test_fine_tune_imported_model():
    ts.manual_seed(3)
    teacher = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    student = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    m = ts.onnx.load(ts.onnx.export_to_bytes(student, ts.randn(8, 6), dynamic_batch=True), trainable=True)
    params = m.parameters()
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert all(p is q for p, q in zip(params, m.parameters()))  # the same objects every call
    initial = [p.numpy().copy() for p in params]
    m.requires_grad_()
    assert all(p.requires_grad for p in params)

    x = ts.randn(32, 6)
    with ts.no_grad():
        y = teacher(x)
    opt = ts.optim.SGD(m.parameters(), lr=0.1)
    fast = m.compile()  # reads the parameters as they are at each call (trainable: nothing folded)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = F.mse_loss(m(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    for name, p, p0 in zip(["0.weight", "0.bias", "2.weight", "2.bias"], params, initial):
        assert p.grad is not None, name
        assert not np.array_equal(p.detach().numpy(), p0), name
        # state_dict() holds the same tensors: the updates show there too
        np.testing.assert_array_equal(m.state_dict()[name].detach().numpy(), p.detach().numpy())
    m.zero_grad()
    assert all(p.grad is None for p in params)
    with ts.no_grad():
        np.testing.assert_allclose(fast(x).numpy(), m(x).numpy(), rtol=1e-5, atol=1e-6)
    print(f"fine-tune: loss {losses[0]:.4f} -> {losses[-1]:.4f} in 10 SGD steps")

    # The trained model exports again (its parameters are the new weights).
    again = ts.onnx.load(ts.onnx.export_to_bytes(lambda t: m(t), x))
    with ts.no_grad():
        np.testing.assert_allclose(again(x).numpy(), m(x).numpy(), rtol=1e-5, atol=1e-6)


def test_export_function_multiple_outputs_and_compiled():
    def f(x, y):
        return ts.relu(x @ y) + 1.0, x.sum()

    x, y = ts.randn(4, 5), ts.randn(5, 3)
    m = ts.onnx.load(ts.onnx.export_to_bytes(f, (x, y), input_names=["x", "y"], output_names=["h", "total"]))
    got = m(x, y)
    assert isinstance(got, tuple) and len(got) == 2
    want = f(x, y)
    np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(got[1].numpy(), want[1].numpy(), rtol=1e-5)

    heads = TwoHeads()
    a, b = ts.randn(2, 3), ts.randn(2, 3)
    m2 = ts.onnx.load(ts.onnx.export_to_bytes(heads, (a, b)))
    assert len(m2.outputs) == 3  # (h, (s, m)) flattened
    h, (s, mx) = heads(a, b)
    for g, w in zip(m2.run(a, b), (h, s, mx)):
        np.testing.assert_allclose(g.numpy(), w.detach().numpy(), rtol=1e-5, atol=1e-6)

    ts.manual_seed(4)
    net = SmallCNN()
    net.eval()
    compiled = ts.compile(net, freeze=True)
    xc = ts.randn(2, 1, 8, 8)
    with ts.no_grad():
        compiled(xc)  # a frozen, optimized graph is cached; export traces afresh
        mc = ts.onnx.load(ts.onnx.export_to_bytes(compiled, xc))
        np.testing.assert_allclose(mc(xc).numpy(), net(xc).numpy(), rtol=1e-5, atol=1e-6)
    assert "Conv" in mc.op_histogram()


def test_python_module_export_from_threads():
    """Each thread exports its own Python module while the other runs Python and ops: the
    exporter releases the GIL, the traced forward takes it back, and each trace records
    only its own thread's ops."""
    ts.manual_seed(5)
    nets = [SmallCNN(), TwoHeads()]
    for n in nets:
        n.eval()
    inputs = [(ts.randn(2, 1, 8, 8),), (ts.randn(2, 3), ts.randn(2, 3))]
    results, errors = [None, None], []
    start = threading.Barrier(2)

    def work(i):
        try:
            start.wait()
            for _ in range(3):
                data = ts.onnx.export_to_bytes(nets[i], inputs[i])
                ts.randn(64, 64) @ ts.randn(64, 64)  # other work between exports
            results[i] = ts.onnx.load(data)
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    # Exactly each module's own operators: nothing of the other thread's trace or matmuls.
    assert results[0].op_histogram() == {"BatchNormalization": 1, "Conv": 1, "Gemm": 1, "MaxPool": 1, "Relu": 1,
                                         "Reshape": 1}
    assert results[1].op_histogram() == {"Gemm": 1, "Max": 1, "Mul": 1, "ReduceSum": 1, "Tanh": 1}
    with ts.no_grad():
        np.testing.assert_allclose(results[0](*inputs[0]).numpy(), nets[0](*inputs[0]).numpy(), rtol=1e-5,
                                   atol=1e-6)
        got = results[1].run(*inputs[1])
        np.testing.assert_allclose(got[0].numpy(), nets[1](*inputs[1])[0].numpy(), rtol=1e-5, atol=1e-6)


def test_load_sources_and_inspect(tmp_path):
    ts.manual_seed(6)
    net = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid())
    data = ts.onnx.export_to_bytes(net, ts.randn(2, 4), opset_version=13)
    path = tmp_path / "mlp.onnx"
    buf = io.BytesIO()
    ts.onnx.export(net, ts.randn(2, 4), buf, opset_version=13)
    path.write_bytes(buf.getvalue())
    x = ts.randn(2, 4)
    with ts.no_grad():
        want = net(x).numpy()
    for source in (data, bytearray(data), io.BytesIO(data), path, str(path), ts.onnx.import_model(path)):
        m = source if isinstance(source, ts.onnx.Model) else ts.onnx.load(source)
        assert m.opset == 13
        np.testing.assert_allclose(m(x).numpy(), want, rtol=1e-6)

    report = ts.onnx.inspect(path)
    assert report["format"] == "onnx" and "opset 13" in report["details"]
    assert report["op_histogram"] == {"Gemm": 1, "Sigmoid": 1}
    assert report["parameters"] == 4 * 3 + 3 and report["parameter_bytes"] == 4 * (4 * 3 + 3)
    assert report["inputs"][0].shape == (2, 4)
    assert report["flops"] is not None and report["flops"] > 0

    rows = {r["onnx_op"]: r for r in ts.onnx.supported_ops()}
    assert rows["Gemm"]["exports"] and "linear" in rows["Gemm"]["exported_from"]
    assert rows["Conv"]["since_opset"] == 7 and "conv2d" in rows["Conv"]["tessera"]


def test_bad_arguments(tmp_path):
    x = ts.randn(2, 4)
    net = nn.Linear(4, 3)
    good = ts.onnx.export_to_bytes(net, x)
    # files
    with pytest.raises(FileNotFoundError):
        ts.onnx.load(tmp_path / "missing.onnx")
    with pytest.raises(FileNotFoundError):
        ts.onnx.inspect(str(tmp_path / "missing.onnx"))
    with pytest.raises(ValueError, match="ModelProto|protobuf|parse"):
        ts.onnx.load(b"this is not an onnx file at all")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ts.InvalidArgumentError):
        ts.onnx.load(truncated)
    with pytest.raises(TypeError, match="expected a path, bytes or a binary file object"):
        ts.onnx.load(3)
    with pytest.raises(TypeError, match="opened with 'rb'|open it with 'rb'"):
        ts.onnx.load(io.StringIO("text"))
    with pytest.raises(TypeError, match="trainable must be a bool"):
        ts.onnx.load(good, trainable="yes")
    with pytest.raises(TypeError):
        ts.onnx.Model(3)
    # running
    m = ts.onnx.load(good)
    with pytest.raises(TypeError, match="input 'input_0'"):
        m("text")
    with pytest.raises(ValueError, match=r"\[2, 5\]"):
        m(ts.randn(2, 5))
    with pytest.raises(ValueError):
        m(x, x)  # one input declared
    with pytest.raises(ValueError, match="no input named 'nope'"):
        m({"nope": x})
    # export
    with pytest.raises(TypeError, match="expected an nn.Module, a function"):
        ts.onnx.export_to_bytes(3, x)
    with pytest.raises(TypeError, match="f must be a path or a binary file object"):
        ts.onnx.export(net, x, 42)
    with pytest.raises(TypeError, match="input_names must be a list of str"):
        ts.onnx.export_to_bytes(net, x, input_names="x")
    with pytest.raises(TypeError, match="dynamic_axes"):
        ts.onnx.export_to_bytes(net, x, dynamic_axes={"input_0": 0})
    with pytest.raises(TypeError, match="a dim must be an int"):
        ts.onnx.export_to_bytes(net, x, dynamic_axes={"input_0": {"0": "batch"}})
    with pytest.raises(ValueError, match="which is no input or output"):
        ts.onnx.export_to_bytes(net, x, dynamic_axes={"nope": {0: "batch"}})
    with pytest.raises(ValueError, match="opset 5 is not supported"):
        ts.onnx.export_to_bytes(net, x, opset_version=5)
    with pytest.raises(TypeError, match="opset_version must be an int"):
        ts.onnx.export_to_bytes(net, x, opset_version="17")
    with pytest.raises(ValueError, match="2 input names for 1 inputs"):
        ts.onnx.export_to_bytes(net, x, input_names=["a", "b"])
    with pytest.raises(ValueError, match="export_params=False"):
        ts.onnx.export_to_bytes(net, x, export_params=False)
    with pytest.raises(ValueError, match="TrainingMode"):
        ts.onnx.export_to_bytes(net, x, training=7)
    with pytest.raises(TypeError, match="keyword arguments"):
        ts.onnx.export_to_bytes(net, (x, {"y": x}))
    with pytest.raises(TypeError, match="args"):
        ts.onnx.export_to_bytes(net, "x")
    with pytest.raises(TypeError, match="must return a Tensor"):
        ts.onnx.export_to_bytes(lambda t: 3, x)

    def boom(t):
        raise KeyError("from user code")

    with pytest.raises(KeyError, match="from user code"):  # the function's own error, unchanged
        ts.onnx.export_to_bytes(boom, x)
    np.testing.assert_array_equal(ts.onnx.load(ts.onnx.export_to_bytes(lambda t: t * 2, x))(x).numpy(),
                                  (x * 2).numpy())  # exports still work after a failed one
    with pytest.raises(FileNotFoundError):
        ts.onnx.export(net, x, tmp_path / "no" / "such" / "dir.onnx")
    compiled = ts.compile(net)
    compiled(x)
    saved = str(tmp_path / "g.safetensors")
    compiled.save(saved)
    with pytest.raises(ValueError, match="loaded from a file"):
        ts.onnx.export_to_bytes(ts.load_compiled(saved), x)


# ---- other implementations of ONNX, where build/venv has them (scripts/venv-requirements.txt)


def test_onnxruntime_agrees_with_tessera_export():
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (scripts/venv installs it)")
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (scripts/venv installs it)")
    ts.manual_seed(7)
    net = SmallCNN()
    _warm_bn(net, (4, 1, 8, 8))
    data = ts.onnx.export_to_bytes(net, ts.randn(1, 1, 8, 8), input_names=["x"], output_names=["y"],
                                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    onnx.checker.check_model(onnx.load_model_from_string(data))
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = ts.randn(5, 1, 8, 8)
    (got,) = sess.run(None, {"x": x.numpy()})
    with ts.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    print(f"onnxruntime vs tessera (export): max diff {_max_diff(got, want):.3g}")


def test_onnxruntime_agrees_with_tessera_import(tmp_path):
    """A model written with onnx's own helpers (not by Tessera), run by both."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (scripts/venv installs it)")
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (scripts/venv installs it)")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    b = rng.standard_normal((6,)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
         helper.make_node("Softmax", ["h"], ["p"], axis=-1),
         helper.make_node("ReduceMax", ["p"], ["top"], keepdims=0, axes=[1])],
        "helper_graph",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["n", 6]),
         helper.make_tensor_value_info("top", TensorProto.FLOAT, ["n"])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="onnx.helper")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / "helper.onnx"
    onnx.save(model, str(path))

    m = ts.onnx.load(path)
    assert m.producer.startswith("onnx.helper") and m.opset == 13
    assert m.inputs[0].shape == ("n", 4) and m.outputs[1].shape == ("n",)
    assert list(m.state_dict()) == ["w", "b"]
    x = rng.standard_normal((7, 4)).astype(np.float32)
    got = m.run(x)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for g, w_ in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w_, rtol=1e-5, atol=1e-6)

    # A TensorProto file (as ONNX's test data) loads as a tensor.
    pb = tmp_path / "w.pb"
    pb.write_bytes(numpy_helper.from_array(w, "w").SerializeToString())
    np.testing.assert_array_equal(ts.onnx.load_tensor(pb).numpy(), w)

    # An operator Tessera lacks is a NotImplementedError naming it (ONNX's own domain op
    # that the importer's table does not hold, if any; else a custom domain).
    bad = helper.make_model(
        helper.make_graph([helper.make_node("FancyOp", ["x"], ["y"], domain="com.example")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]),
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
    with pytest.raises((NotImplementedError, ValueError), match="FancyOp"):
        ts.onnx.load(bad.SerializeToString())


def test_pytorch_exported_model_imports(torch, tmp_path):
    """PyTorch's exporter writes the file, Tessera runs it: the same numbers."""
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(3 * 6 * 6, 4)).eval()
    x = torch.randn(2, 1, 8, 8)
    path = str(tmp_path / "torch.onnx")
    try:
        torch.onnx.export(tnet, (x,), path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}}, opset_version=13)
    except Exception as e:  # noqa: BLE001  (an exporter that needs packages this machine lacks)
        pytest.skip(f"torch.onnx.export is not usable here: {e}")
    m = ts.onnx.load(path)
    x5 = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        want = tnet(x5).numpy()
    got = m(x5.numpy()).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    print(f"torch.onnx.export -> tessera: max diff {_max_diff(got, want):.3g}")
    # The same weights, under PyTorch's state_dict names.
    np.testing.assert_array_equal(m.state_dict()["0.weight"].numpy(), tnet[0].weight.detach().numpy())


def test_docs_example_runs(tmp_path, monkeypatch):
    """The docs/python.md "ONNX" example, as written there."""
    monkeypatch.chdir(tmp_path)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    model.eval()
    x = ts.randn(1, 784)
    ts.onnx.export(model, (x,), "mlp.onnx", input_names=["x"], output_names=["logits"],
                   dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    m = ts.onnx.load("mlp.onnx")
    logits = m(ts.randn(32, 784))
    assert logits.shape == (32, 10)
    assert pathlib.Path("mlp.onnx").stat().st_size > 4 * 784 * 128


ONNX_FUNCTIONS = ([(f"tessera.onnx.{n}", getattr(ts.onnx, n))
                   for n in ("load", "import_model", "export", "export_to_bytes", "inspect", "load_tensor")] +
                  [(f"tessera._C.onnx.{n}", getattr(ts._C.onnx, n))
                   for n in ("import_model", "import_model_from_bytes", "export_function_to_bytes",
                             "export_compiled_to_bytes", "inspect_file", "load_tensor")])


@pytest.mark.parametrize("name,fn", ONNX_FUNCTIONS)
def test_functions_with_bad_arguments_raise(name, fn, tmp_path, monkeypatch):
    """Wrong arguments, of every kind, are Python exceptions, never a crash."""
    monkeypatch.chdir(tmp_path)  # "x" and the like name no file here
    net = nn.Linear(2, 2)
    for args in [(), (None,), ("x",), (3,), (b"",), (b"\x08\x07",), (ts.ones(2),), (ts.ones(2), None),
                 (net, None), (net, "x"), (net, ts.ones(3, 2), None), (lambda t: t, [ts.ones(2)], 3.5),
                 (net, [ts.ones(2)], str(tmp_path))]:
        with pytest.raises((TypeError, ValueError, OSError, NotImplementedError, RuntimeError)):
            fn(*args)


def test_onnx_stubs_are_shipped():
    import ast
    stub = pathlib.Path(ts.__file__).parent / "_C" / "onnx.pyi"
    tree = ast.parse(stub.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert {"Model", "ValueInfo", "import_model", "export_function_to_bytes", "inspect_file"} <= names
    # tessera.onnx itself is plain Python: editors read its signatures from the source.
    assert set(ts.onnx.__all__) <= set(dir(ts.onnx))


def test_verbose_training_mode_and_lifetimes(capsys):
    import gc
    net = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    net.eval()
    x = ts.randn(4, 3)
    data = ts.onnx.export_to_bytes(net, x, verbose=True, training=ts.onnx.TrainingMode.TRAINING)
    assert not net.training  # put back to eval
    assert "opset 17, 2 nodes, 2 initializers (Gemm: 1, Tanh: 1)" in capsys.readouterr().out
    # A compiled model and a parameter outlive the Model object they came from.
    m = ts.onnx.load(data)
    fast, weight = m.compile(), m.state_dict()["0.weight"]
    del m, data
    gc.collect()
    with ts.no_grad():
        np.testing.assert_allclose(fast(x).numpy(), net(x).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(weight.numpy(), net[0].weight.detach().numpy())
