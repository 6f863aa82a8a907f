import os

import numpy as np
import pytest

import tessera as ts
from tessera import nn, optim
from tessera.utils.data import DataLoader, Dataset, TensorDataset

FASHION = os.environ.get("TESSERA_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


class Blobs(Dataset):
    """Two separable classes, made here (no download)."""

    def __init__(self, n=64):
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(n, 2)).astype(np.float32)
        self.y = (self.x[:, 0] + self.x[:, 1] > 0).astype(np.int64)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def test_dataloader_over_python_dataset():
    ds = Blobs(10)
    dl = DataLoader(ds, batch_size=4)
    batches = list(dl)
    assert len(dl) == 3 and [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(batches[0][0].numpy(), ds.x[:4])
    assert batches[0][1].tolist() == ds.y[:4].tolist()
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2


def test_shuffle_is_seeded_and_workers_agree():
    ds = TensorDataset(ts.arange(20).float().reshape(20, 1), ts.arange(20))
    a = [y.tolist() for _, y in DataLoader(ds, batch_size=5, shuffle=True, seed=3)]
    b = [y.tolist() for _, y in DataLoader(ds, batch_size=5, shuffle=True, seed=3, num_workers=2)]
    c = [y.tolist() for _, y in DataLoader(ds, batch_size=5, shuffle=True, seed=4)]
    assert a == b and a != c
    assert sorted(sum(a, [])) == list(range(20))
    dl = DataLoader(ds, batch_size=5, shuffle=True, seed=3)
    e0 = [y.tolist() for _, y in dl]
    e1 = [y.tolist() for _, y in dl]
    assert e0 != e1  # a new epoch reshuffles
    dl.set_epoch(0)
    assert [y.tolist() for _, y in dl] == e0


def test_python_dataset_with_workers_and_transform():
    dl = DataLoader(Blobs(16), batch_size=8, num_workers=2, transform=lambda x: x * 2)
    x, _ = next(iter(dl))
    np.testing.assert_allclose(x.numpy(), Blobs(16).x[:8] * 2)


def test_dataset_errors_propagate():
    class Bad(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 2:
                raise KeyError("broken example")
            return np.zeros(2, np.float32), 0

    with pytest.raises(Exception, match="broken example"):
        list(DataLoader(Bad(), batch_size=1))
    with pytest.raises(TypeError):
        DataLoader(42)


def test_transforms():
    n = ts.utils.data.Normalize(0.5, 0.25)
    assert n(ts.ones(1, 2, 2)).tolist() == [[[2.0, 2.0], [2.0, 2.0]]]
    flip = ts.utils.data.RandomHorizontalFlip(1.0)
    assert flip(ts.tensor([[[1.0, 2.0]]])).tolist() == [[[2.0, 1.0]]]
    crop = ts.utils.data.RandomCrop(2, padding=1)
    assert crop(ts.ones(1, 4, 4), ts.Generator(0)).shape == (1, 2, 2)


def test_fit_evaluate_predict_with_python_model_and_callbacks():
    ts.manual_seed(0)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)

    model = Model()
    dl = DataLoader(Blobs(64), batch_size=16, shuffle=True, seed=1)
    events = []

    class Recorder(ts.train.Callback):
        def on_train_begin(self, ctx):
            events.append(("begin", ctx.epochs, ctx.steps_per_epoch))

        def on_epoch_end(self, epoch, logs, ctx):
            events.append(("epoch", epoch, round(logs["loss"], 6)))
            logs["double_loss"] = 2 * logs["loss"]

        def on_batch_end(self, batch, logs, ctx):
            events.append(("batch", batch))

    hist = ts.train.fit(model, dl, epochs=8, optimizer=optim.Adam(model.parameters(), lr=0.05),
                        loss=lambda out, y: nn.functional.cross_entropy(out, y),
                        metrics=["accuracy"], validation_data=dl, callbacks=[Recorder()], verbose=0)
    assert events[0] == ("begin", 8, 4)
    assert sum(1 for e in events if e[0] == "batch") == 32
    assert len(hist["loss"]) == 8 and hist["loss"][-1] < hist["loss"][0]
    assert hist["double_loss"] == pytest.approx([2 * v for v in hist["loss"]])
    assert hist["val_accuracy"][-1] > 0.9
    logs = ts.train.evaluate(model, dl, loss="cross_entropy", metrics=["accuracy"])
    assert logs["accuracy"] == pytest.approx(hist["val_accuracy"][-1])
    out = ts.train.predict(model, ts.tensor(Blobs(64).x))
    assert out.shape == (64, 2)


def test_stop_training_from_python_and_builtin_callbacks(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2))
    dl = DataLoader(Blobs(32), batch_size=8)

    class Stop(ts.train.Callback):
        def on_epoch_end(self, epoch, logs, ctx):
            if epoch == 1:
                ctx.stop_training = True

    csv = tmp_path / "log.csv"
    ckpt = tmp_path / "best.safetensors"
    h = ts.train.fit(model, dl, epochs=10, optimizer=optim.SGD(model.parameters(), lr=0.1),
                     loss="cross_entropy", validation_data=dl, verbose=0,
                     callbacks=[Stop(), ts.train.CSVLogger(str(csv)),
                                ts.train.ModelCheckpoint(str(ckpt), monitor="val_loss")])
    assert len(h["loss"]) == 2
    assert csv.read_text().splitlines()[0].startswith("epoch")
    assert set(ts.load(str(ckpt)).keys()) == {"0.weight", "0.bias"}


def test_keras_style_compile_fit():
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    model.compile(optimizer=optim.Adam(model.parameters(), lr=0.02), loss=nn.CrossEntropyLoss(),
                  metrics=["accuracy"])
    dl = DataLoader(Blobs(64), batch_size=16)
    hist = model.fit(dl, epochs=5, verbose=0)
    assert len(hist["accuracy"]) == 5
    assert model.evaluate(dl)["accuracy"] > 0.8
    assert model.predict(dl).shape == (64, 2)
    with pytest.raises(RuntimeError):
        nn.Linear(2, 2).fit(dl)


def test_fit_bad_arguments():
    model = nn.Linear(2, 2)
    dl = DataLoader(Blobs(8), batch_size=4)
    with pytest.raises(ValueError):
        ts.train.fit(model, dl, loss="cross_entropy")  # no optimizer
    with pytest.raises(ValueError):
        ts.train.fit(model, dl, optimizer=optim.SGD(model.parameters()), loss="hinge")
    with pytest.raises(ValueError):
        ts.train.fit(model, dl, optimizer=optim.SGD(model.parameters()), loss="cross_entropy",
                     metrics=["f1"])


def test_safetensors_round_trip(tmp_path):
    p = tmp_path / "w.safetensors"
    tensors = {"a": ts.randn(2, 3), "b": ts.arange(4), "c": ts.ones(2, dtype=ts.float16),
               "d": ts.tensor([True, False])}
    ts.save_file(tensors, p, metadata={"k": "v"})
    back = ts.load_file(p)
    assert list(back) == ["a", "b", "c", "d"]
    for k in tensors:
        assert back[k].dtype == tensors[k].dtype and ts.equal(back[k], tensors[k])
    assert ts.serialization.load_metadata(p) == {"k": "v"}
    ts.save(ts.ones(3), tmp_path / "t.safetensors")
    assert ts.load(tmp_path / "t.safetensors").tolist() == [1.0, 1.0, 1.0]
    model = nn.Sequential(nn.Linear(3, 2))
    ts.save(model.state_dict(), tmp_path / "m.safetensors")
    other = nn.Sequential(nn.Linear(3, 2))
    other.load_state_dict(ts.load(tmp_path / "m.safetensors"))
    assert ts.equal(other[0].weight, model[0].weight)
    with pytest.raises(TypeError):
        ts.save([1, 2], tmp_path / "x")
    with pytest.raises(ts.IOError):
        ts.save(tensors, "/no/such/dir/w.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(ValueError):
        ts.load(tmp_path / "bad.safetensors")


def test_checkpoint_and_npy(tmp_path):
    m = {"w": ts.ones(2)}
    ts.serialization.save_checkpoint(str(tmp_path / "c.safetensors"), list(m.items()), [],
                                     {"epoch": "3"})
    model, opt, sched, meta = ts.serialization.load_checkpoint(str(tmp_path / "c.safetensors"))
    assert model["w"].tolist() == [1.0, 1.0] and meta["epoch"] == "3" and not opt and not sched
    ts.serialization.save_npy(str(tmp_path / "a.npy"), ts.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.arange(6).reshape(2, 3))
    np.save(tmp_path / "b.npy", np.eye(3, dtype=np.float32))
    assert ts.serialization.load_npy(str(tmp_path / "b.npy")).tolist() == np.eye(3).tolist()


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Fashion-MNIST is not installed")
def test_fashion_mnist_cpp_dataset():
    # The C++ data::FashionMNIST (floats in [0, 1], what `tessera train` reads); the
    # torchvision-style tessera.datasets.FashionMNIST is tested in test_vision_port.py.
    test = ts._C.data.FashionMNIST(train=False)
    assert len(test) == 10000
    x, y = test[0]
    assert x.shape == (1, 28, 28) and x.dtype == ts.float32 and 0 <= y.item() < 10
    assert ts._C.data.FashionMNIST.classes[0] == "T-shirt/top"
    dl = DataLoader(test, batch_size=256, transform=ts.utils.data.Normalize(0.286, 0.353))
    xb, yb = next(iter(dl))
    assert xb.shape == (256, 1, 28, 28) and yb.shape == (256,)


def test_python_loop_and_fit_train_identically():
    # The same start, data order and steps: a PyTorch-style loop from Python and the C++
    # fit end with the same weights (the bindings add nothing to the arithmetic).
    ts.manual_seed(5)
    start = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2)).state_dict()
    data = Blobs(48)
    ds = TensorDataset(ts.tensor(data.x), ts.tensor(data.y))

    def make():
        m = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))
        m.load_state_dict({k: v.clone() for k, v in start.items()})
        return m

    a = make()
    opt = optim.Adam(a.parameters(), lr=0.01)
    ts.manual_seed(9)  # dropout
    for x, y in DataLoader(ds, batch_size=16, shuffle=True, seed=2):  # one epoch
        loss = nn.functional.cross_entropy(a(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    b = make()
    ts.manual_seed(9)
    ts.train.fit(b, DataLoader(ds, batch_size=16, shuffle=True, seed=2), epochs=1,
                 optimizer=optim.Adam(b.parameters(), lr=0.01), loss="cross_entropy", verbose=0)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and ts.equal(va, vb), ka
