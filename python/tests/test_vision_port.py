"""What a PyTorch script's port needs beyond tensors and layers: optim.Adadelta,
tessera.transforms (torchvision's Compose / ToTensor / Normalize), tessera.datasets
(torchvision's MNIST / FashionMNIST over local IDX files), DataLoader.dataset, and the
device probes (tessera.device, cuda, backends.mps). Ends with a short run of the ported
PyTorch MNIST example (examples/python/pytorch_mnist_example.py)."""
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import tessera as ts
from tessera import datasets, nn, optim, transforms
from tessera.optim.lr_scheduler import StepLR
from tessera.utils.data import DataLoader, read_idx, write_idx

REPO = pathlib.Path(__file__).resolve().parents[2]
FASHION = "/usr/share/datasets/fashion-mnist"


# ---------------------------------------------------------------- Adadelta

def test_adadelta_minimizes_and_keeps_state():
    w = nn.Parameter(ts.tensor([3.0, -2.0]))
    opt = optim.Adadelta([w])  # PyTorch's defaults: lr 1.0, rho 0.9, eps 1e-6
    assert opt.defaults == {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}
    start = (w ** 2).sum().item()
    for _ in range(200):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    # Adadelta's first steps are tiny (sqrt(eps)-sized); it speeds up as acc_delta grows.
    assert (w ** 2).sum().item() < 0.5 * start
    sd = opt.state_dict()
    assert sd["state.0.step"].item() == 200
    assert sd["state.0.square_avg"].shape == (2,) and sd["state.0.acc_delta"].shape == (2,)
    opt2 = optim.Adadelta([nn.Parameter(w.detach().clone())], rho=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["rho"] == 0.9


def test_adadelta_steps_like_pytorch(torch):
    a = np.array([[0.5, -1.25, 2.0], [0.75, -0.3, 1.1]], dtype=np.float64)
    target = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, 0.0]])
    for kwargs in ({}, {"lr": 0.5, "rho": 0.95, "eps": 1e-4, "weight_decay": 0.1}):
        w, tw = nn.Parameter(ts.tensor(a)), torch.tensor(a, requires_grad=True)
        opt, topt = optim.Adadelta([w], **kwargs), torch.optim.Adadelta([tw], **kwargs)
        sched, tsched = StepLR(opt, step_size=3, gamma=0.7), torch.optim.lr_scheduler.StepLR(topt, 3, 0.7)
        for _ in range(10):
            opt.zero_grad()
            topt.zero_grad()
            ((w - ts.tensor(target)) ** 2 * w).sum().backward()
            ((tw - torch.tensor(target)) ** 2 * tw).sum().backward()
            opt.step()
            topt.step()
            sched.step()
            tsched.step()
        np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(opt.state_dict()["state.0.acc_delta"].numpy(),
                                   topt.state_dict()["state"][0]["acc_delta"].numpy(), rtol=1e-12)


def test_adadelta_bad_arguments():
    w = nn.Parameter(ts.ones(2))
    with pytest.raises(ValueError, match="rho must be in"):
        optim.Adadelta([w], rho=1.5)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        optim.Adadelta([w], eps=-1.0)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.Adadelta([w], lr=-1.0)
    with pytest.raises(TypeError):
        optim.Adadelta([w], lr="fast")
    with pytest.raises(TypeError):
        optim.Adadelta([1.0, 2.0])
    with pytest.raises(ValueError, match="unexpected key|missing key"):
        optim.Adadelta([w]).load_state_dict(optim.SGD([w], lr=0.1, momentum=0.9).state_dict())


# ---------------------------------------------------------------- transforms

def test_to_tensor_like_torchvision():
    img = np.array([[0, 51, 255], [128, 1, 2]], dtype=np.uint8)
    t = transforms.ToTensor()(img)
    assert t.shape == (1, 2, 3) and t.dtype == ts.float32
    np.testing.assert_array_equal(t.numpy()[0], img.astype(np.float32) / np.float32(255))
    hwc = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(transforms.ToTensor()(hwc).numpy(),
                                  hwc.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    f = np.arange(6, dtype=np.float64).reshape(3, 2)  # not bytes: values and dtype kept
    out = transforms.ToTensor()(f)
    assert out.dtype == ts.float64 and out.tolist() == [f.tolist()]
    assert repr(transforms.ToTensor()) == "ToTensor()"
    with pytest.raises(ValueError, match=r"expected an image \[H, W\] or \[H, W, C\]"):
        transforms.ToTensor()(np.zeros((1, 2, 3, 4), np.uint8))
    with pytest.raises(TypeError):
        transforms.ToTensor()()


def test_compose_to_tensor_normalize(torch):
    img = np.random.default_rng(1).integers(0, 256, size=(28, 28), dtype=np.uint8)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    out = tf(ts.tensor(img))
    # torchvision's arithmetic, written out in torch: x / 255, then (x - mean) / std.
    ref = (torch.from_numpy(img).float().div(255).unsqueeze(0) - 0.1307) / 0.3081
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    # Python callables mix with Tessera's transforms.
    tf2 = transforms.Compose((transforms.ToTensor(), lambda x: x * 2))
    np.testing.assert_array_equal(tf2(ts.tensor(img)).numpy(), 2 * transforms.ToTensor()(img).numpy())
    with pytest.raises(TypeError, match="Compose: expected a list of transforms"):
        transforms.Compose(transforms.ToTensor())
    with pytest.raises(TypeError, match="transform: expected a callable"):
        transforms.Compose([transforms.ToTensor(), 3])
    with pytest.raises(ValueError, match="mean has 2 values and std 1"):
        transforms.Normalize((0.1, 0.2), (0.3,))


# ---------------------------------------------------------------- datasets

def learnable_idx(root, n_train, n_test, sub=""):
    """A tiny MNIST-format dataset a CNN learns in a few steps: image i of class i % 10
    is dark noise with a bright 3-row band at rows 2 + 2.5 * class."""
    rng = np.random.default_rng(0)
    d = pathlib.Path(root) / sub
    d.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        for i, y in enumerate(labels):
            r = 2 + int(2.5 * y)
            images[i, r:r + 3, :] = 250
        write_idx(str(d / f"{split}-images-idx3-ubyte.gz"), ts.tensor(images))
        write_idx(str(d / f"{split}-labels-idx1-ubyte"), ts.tensor(labels))
    return labels


def test_mnist_reads_torchvision_layout(tmp_path):
    learnable_idx(tmp_path, 30, 20, sub="MNIST/raw")
    raw = datasets.MNIST(tmp_path, train=True)  # a pathlib.Path root, files under MNIST/raw
    assert len(raw) == 30 and raw.train and raw.classes[3] == "3 - three"
    x, y = raw[13]
    assert x.shape == (28, 28) and x.dtype == ts.uint8 and y.item() == 3
    assert x.numpy()[9, 0] == 250  # class 3's band starts at row 2 + 7
    assert raw.data.shape == (30, 28, 28) and raw.targets.tolist()[:3] == [0, 1, 2]
    assert "Number of datapoints: 30" in repr(raw)

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    test = datasets.MNIST(str(tmp_path), train=False, download=True, transform=tf,
                          target_transform=lambda t: t + 100)
    x, y = test[-1]
    assert x.shape == (1, 28, 28) and x.dtype == ts.float32 and y.item() == 109
    assert test.transform is tf
    loader = DataLoader(test, batch_size=8)
    assert loader.dataset is test and len(loader.dataset) == 20
    xb, yb = next(iter(loader))
    assert xb.shape == (8, 1, 28, 28) and yb.tolist() == list(range(100, 108))
    with pytest.raises(IndexError):
        raw[30]


def test_mnist_bad_arguments(tmp_path):
    with pytest.raises(OSError, match="never downloads"):
        datasets.MNIST(tmp_path / "nothing", download=True)
    with pytest.raises(TypeError, match="root: expected a path"):
        datasets.MNIST(3)
    with pytest.raises(TypeError, match="train: expected a bool"):
        datasets.MNIST(tmp_path, train="yes")
    with pytest.raises(TypeError, match="transform: expected a callable"):
        datasets.MNIST(tmp_path, transform=5)
    bad = tmp_path / "bad"
    bad.mkdir()
    write_idx(str(bad / "train-images-idx3-ubyte"), ts.zeros(2, 28, 28, dtype=ts.uint8))
    write_idx(str(bad / "train-labels-idx1-ubyte"), ts.tensor(np.array([1, 12], np.uint8)))
    with pytest.raises(ValueError, match="label 1 is 12"):
        datasets.MNIST(bad)


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Fashion-MNIST is not installed")
def test_fashion_mnist_torchvision_style():
    test = datasets.FashionMNIST(train=False)  # no root: Debian's package
    assert len(test) == 10000 and test.classes[0] == "T-shirt/top"
    x, y = test[0]
    assert x.shape == (28, 28) and x.dtype == ts.uint8 and 0 <= y.item() < 10
    np.testing.assert_array_equal(x.numpy(), read_idx(FASHION + "/t10k-images-idx3-ubyte.gz")[0].numpy())
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    loader = DataLoader(datasets.FashionMNIST(FASHION, train=False, transform=tf), batch_size=256)
    xb, yb = next(iter(loader))
    assert xb.shape == (256, 1, 28, 28) and yb.shape == (256,)
    # The same pixels as the C++ float dataset the CLI reads, then Normalize.
    cpp = ts._C.data.FashionMNIST(train=False)
    np.testing.assert_array_equal(xb[5].numpy(), ts.utils.data.Normalize(0.2860, 0.3530)(cpp[5][0]).numpy())


# ---------------------------------------------------------------- devices

def test_device_probes():
    assert ts.cuda.is_available() is False and ts.cuda.device_count() == 0
    assert ts.backends.mps.is_available() is False
    cpu = ts.device("cpu")
    assert str(cpu) == "cpu" and cpu.type == "cpu" and cpu.index is None and cpu == ts.device("cpu")
    assert repr(ts.device("cuda:1")) == "device(type='cuda', index=1)"
    assert ts.device("cuda", 0).index == 0
    x = ts.ones(2)
    assert ts.equal(x.to(cpu), x)
    m = nn.Linear(2, 2)
    assert m.to(cpu) is m
    with pytest.raises(ValueError, match="device 'cuda' is not available"):
        x.to(ts.device("cuda"))
    with pytest.raises(ValueError, match="device 'mps' is not available"):
        m.to(ts.device("mps"))
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda' or 'mps'"):
        ts.device("tpu")
    with pytest.raises(ValueError, match="bad device string"):
        ts.device("cuda:x")
    with pytest.raises(TypeError):
        ts.device(3)


# ---------------------------------------------------------------- the ported example

def run_example(args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    return subprocess.run([sys.executable, str(REPO / "examples/python/pytorch_mnist_example.py"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_pytorch_mnist_example_port_runs(tmp_path):
    # Two epochs (Adadelta, StepLR) on a small learnable set in MNIST's format: the
    # script's own log lines, a test accuracy far above chance, and the saved weights.
    data = tmp_path / "data"
    learnable_idx(data, 640, 200)
    r = run_example(["--data", str(data), "--epochs", "2", "--log-interval", "5", "--save-model"], tmp_path)
    assert r.returncode == 0, r.stderr
    print(r.stdout)
    assert "Train Epoch: 1 [0/640 (0%)]\tLoss: " in r.stdout
    assert "Train Epoch: 2 [320/640 (50%)]" in r.stdout
    results = re.findall(r"Test set: Average loss: ([0-9.]+), Accuracy: (\d+)/200 \((\d+)%\)", r.stdout)
    assert len(results) == 2, r.stdout
    assert int(results[-1][1]) >= 160, r.stdout  # chance is 20 of 200
    saved = ts.load(str(tmp_path / "mnist_cnn.pt"))
    assert saved["fc2.weight"].shape == (10, 128) and set(saved) >= {"conv1.weight", "fc1.bias"}


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Fashion-MNIST is not installed")
def test_pytorch_mnist_example_dry_run_on_fashion(tmp_path):
    # The script's defaults read Fashion-MNIST; --dry-run stops after the first logged batch.
    r = run_example(["--epochs", "1", "--dry-run", "--test-batch-size", "1000"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Train Epoch: 1 [0/60000 (0%)]" in r.stdout
    assert re.search(r"Test set: Average loss: [0-9.]+, Accuracy: \d+/10000", r.stdout), r.stdout
