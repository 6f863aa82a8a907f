import gc

import numpy as np
import pytest

import tessera as ts
from tessera import nn
from tessera.nn import functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.fc = nn.Linear(4 * 6 * 6, 3)
        self.scale = nn.Parameter(ts.ones(1))
        self.register_buffer("calls", ts.zeros(1))
        self.note = "plain attribute"

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2)
        return self.fc(ts.flatten(x, 1)) * self.scale


def test_module_subclass_registers_by_assignment():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "conv1.weight", "conv1.bias", "fc.weight", "fc.bias"]
    assert len(list(net.parameters())) == 5
    assert [n for n, _ in net.named_buffers()] == ["calls"]
    # PyTorch's order: this module's parameters and buffers, then its children's.
    assert list(net.state_dict().keys()) == ["scale", "calls"] + names[1:]
    assert net.note == "plain attribute"
    assert isinstance(net.conv1, nn.Conv2d) and isinstance(net.conv1, nn.Module)
    assert [n for n, _ in net.named_children()] == ["conv1", "fc"]
    assert net.num_parameters() == 4 * 9 + 4 + 144 * 3 + 3 + 1
    with pytest.raises(AttributeError):
        net.nothing


def test_forward_backward_and_train_eval():
    net = Net()
    out = net(ts.randn(2, 1, 14, 14))
    assert out.shape == (2, 3)
    F.cross_entropy(out, ts.tensor([0, 2])).backward()
    assert net.conv1.weight.grad.shape == (4, 1, 3, 3)
    assert net.scale.grad is not None
    assert net.training and net.conv1.training
    net.eval()
    assert not net.training and not net.conv1.training
    assert net.train() is net and net.training
    net.zero_grad()
    assert net.conv1.weight.grad is None


def test_python_module_inside_cpp_container_survives():
    seq = nn.Sequential(Net(), nn.ReLU())  # the Net has no other Python reference
    gc.collect()
    assert seq(ts.randn(1, 1, 14, 14)).shape == (1, 3)
    assert len(seq) == 2 and isinstance(seq[0], Net)
    assert [n for n, _ in seq.named_parameters()][0] == "0.scale"


def test_state_dict_round_trip_and_errors():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    x = ts.randn(1, 1, 14, 14)
    assert ts.allclose(a(x), b(x))
    sd = a.state_dict()
    sd["extra"] = ts.ones(1)
    with pytest.raises(ValueError, match="unexpected keys: extra"):
        b.load_state_dict(sd)
    res = b.load_state_dict(sd, strict=False)
    assert res.unexpected_keys == ["extra"] and res.missing_keys == []
    sd = a.state_dict()
    sd["fc.weight"] = ts.ones(2, 2)
    with pytest.raises(ValueError, match="fc.weight"):
        b.load_state_dict(sd)


def test_parameter_replacement_and_none():
    lin = nn.Linear(3, 2)
    lin.weight = nn.Parameter(ts.zeros(2, 3))
    assert lin(ts.ones(1, 3)).tolist() == [lin.bias.tolist()]
    lin2 = nn.Linear(3, 2, bias=False)
    assert lin2.bias is None
    assert [n for n, _ in lin2.named_parameters()] == ["weight"]


def test_repr_matches_pytorch():
    assert repr(nn.Linear(4, 2)) == "Linear(in_features=4, out_features=2, bias=True)"
    assert repr(nn.Conv2d(1, 32, 3)) == "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))"
    r = repr(Net())
    assert r.startswith("Net(\n  (conv1): Conv2d(1, 4") and r.endswith(")")


@pytest.mark.parametrize("layer,shape,out_shape", [
    (lambda: nn.Identity(), (2, 3), (2, 3)),
    (lambda: nn.Linear(3, 5), (2, 3), (2, 5)),
    (lambda: nn.Conv1d(2, 4, 3, padding=1), (1, 2, 8), (1, 4, 8)),
    (lambda: nn.Conv2d(2, 4, (3, 3), stride=2, padding="valid"), (1, 2, 9, 9), (1, 4, 4, 4)),
    (lambda: nn.Conv2d(2, 4, 3, padding="same"), (1, 2, 5, 5), (1, 4, 5, 5)),
    (lambda: nn.ConvTranspose2d(2, 3, 2, stride=2), (1, 2, 4, 4), (1, 3, 8, 8)),
    (lambda: nn.MaxPool2d(2), (1, 1, 4, 4), (1, 1, 2, 2)),
    (lambda: nn.AvgPool2d(2, stride=1), (1, 1, 4, 4), (1, 1, 3, 3)),
    (lambda: nn.AdaptiveAvgPool2d(1), (1, 3, 5, 5), (1, 3, 1, 1)),
    (lambda: nn.BatchNorm1d(3), (4, 3), (4, 3)),
    (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4), (2, 3, 4, 4)),
    (lambda: nn.LayerNorm(4), (2, 4), (2, 4)),
    (lambda: nn.GroupNorm(2, 4), (2, 4, 3), (2, 4, 3)),
    (lambda: nn.Dropout(0.5), (3, 3), (3, 3)),
    (lambda: nn.ReLU(), (3,), (3,)),
    (lambda: nn.LeakyReLU(0.2), (3,), (3,)),
    (lambda: nn.GELU(), (3,), (3,)),
    (lambda: nn.SiLU(), (3,), (3,)),
    (lambda: nn.Sigmoid(), (3,), (3,)),
    (lambda: nn.Tanh(), (3,), (3,)),
    (lambda: nn.Softmax(dim=1), (2, 3), (2, 3)),
    (lambda: nn.LogSoftmax(dim=1), (2, 3), (2, 3)),
    (lambda: nn.Flatten(), (2, 3, 4), (2, 12)),
    (lambda: nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True),
     (2, 5, 8), (2, 5, 8)),
    (lambda: nn.LSTM(4, 6), (5, 2, 4), (5, 2, 6)),
    (lambda: nn.GRU(4, 6, batch_first=True), (2, 5, 4), (2, 5, 6)),
])
def test_every_layer_runs_and_backprops(layer, shape, out_shape):
    m = layer()
    x = ts.randn(*shape, requires_grad=True)
    y = m(x)
    if isinstance(y, tuple):
        y = y[0]
    assert y.shape == out_shape
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == shape


def test_layers_with_several_inputs():
    bil = nn.Bilinear(2, 3, 4)
    assert bil(ts.randn(5, 2), ts.randn(5, 3)).shape == (5, 4)
    emb = nn.Embedding(10, 3, padding_idx=0)
    assert emb(ts.tensor([[0, 4], [9, 1]])).shape == (2, 2, 3)
    assert emb.weight[0].tolist() == [0.0, 0.0, 0.0]
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    q = ts.randn(2, 3, 8)
    out, w = mha(q, q, q)
    assert out.shape == (2, 3, 8) and w.shape == (2, 3, 3)
    lstm = nn.LSTM(4, 6, num_layers=2)
    out, (h, c) = lstm(ts.randn(5, 2, 4))
    assert h.shape == (2, 2, 6) and c.shape == (2, 2, 6)
    gru = nn.GRU(4, 6)
    out, h = gru(ts.randn(5, 2, 4))
    assert h.shape == (1, 2, 6)


def test_containers():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    ml.append(nn.ReLU())
    assert len(ml) == 3 and isinstance(ml[-1], nn.ReLU)
    md = nn.ModuleDict({"a": nn.Linear(2, 3)})
    md["b"] = nn.ReLU()
    assert md.keys() == ["a", "b"] and "a" in md and isinstance(md["b"], nn.ReLU)
    seq = nn.Sequential(nn.Linear(2, 3))
    seq.append(nn.ReLU())
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_children()] == ["fc", "act"]
    with pytest.raises(TypeError):
        nn.Sequential(3)
    with pytest.raises(IndexError):
        seq[5]


def test_losses():
    x = ts.randn(4, 3, requires_grad=True)
    y = ts.tensor([0, 2, 1, 2])
    assert nn.CrossEntropyLoss()(x, y).item() == pytest.approx(F.cross_entropy(x, y).item())
    assert nn.NLLLoss()(F.log_softmax(x, 1), y).item() == pytest.approx(F.cross_entropy(x, y).item(), rel=1e-5)
    t = ts.randn(4, 3)
    assert nn.MSELoss()(x, t).item() == pytest.approx(((x - t) ** 2).mean().item(), rel=1e-5)
    assert nn.L1Loss(reduction="sum")(x, t).item() == pytest.approx((x - t).abs().sum().item(), rel=1e-5)
    assert nn.SmoothL1Loss()(x, t).shape == ()
    p = ts.rand(4, 3)
    assert nn.BCELoss()(p, (t > 0).float()).shape == ()
    assert nn.BCEWithLogitsLoss()(x, (t > 0).float()).shape == ()
    assert nn.KLDivLoss(reduction="sum")(F.log_softmax(x, 1), F.softmax(t, 1)).shape == ()
    with pytest.raises(ValueError):
        F.cross_entropy(x, y, reduction="avg")


def test_functional_and_init():
    x = ts.randn(1, 2, 6, 6)
    w = ts.randn(3, 2, 3, 3)
    assert F.conv2d(x, w, padding=1).shape == (1, 3, 6, 6)
    assert F.conv2d(x, w, None, 1, "same").shape == (1, 3, 6, 6)
    assert F.avg_pool2d(x, 2).shape == (1, 2, 3, 3)
    assert F.adaptive_avg_pool2d(x, (2, 2)).shape == (1, 2, 2, 2)
    assert F.linear(ts.ones(2, 3), ts.ones(4, 3)).tolist() == [[3.0] * 4] * 2
    assert F.one_hot(ts.tensor([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    assert F.layer_norm(ts.randn(2, 4), 4).shape == (2, 4)
    assert F.dropout(ts.ones(100), 0.5, training=False).tolist() == [1.0] * 100
    assert F.scaled_dot_product_attention(ts.randn(2, 3, 4), ts.randn(2, 3, 4), ts.randn(2, 3, 4)).shape == (2, 3, 4)
    t = ts.empty(3, 4)
    nn.init.constant_(t, 2.0)
    assert t.tolist() == [[2.0] * 4] * 3
    nn.init.zeros_(t)
    assert t.sum().item() == 0
    nn.init.kaiming_uniform_(t, a=5 ** 0.5)
    assert t.abs().max().item() <= 1 / 2 + 1e-6  # bound = sqrt(6/((1+5)*4)) = 0.5
    nn.init.xavier_normal_(t)
    assert nn.init.calculate_gain("relu") == pytest.approx(2 ** 0.5)
    assert nn.init._calculate_fan_in_and_fan_out(ts.empty(5, 3, 2, 2)) == (12, 20)
    with pytest.raises(ValueError):
        nn.init.kaiming_normal_(t, mode="fan_middle")


def test_bad_layer_arguments():
    with pytest.raises(TypeError):
        nn.Linear("a", 2)
    with pytest.raises(ValueError):
        nn.Conv2d(1, 2, 3)(ts.randn(1, 3, 8, 8))
    with pytest.raises(TypeError):
        nn.Conv2d(1, 2, "big")
    with pytest.raises(ValueError):
        nn.Conv2d(1, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError):
        nn.Linear(3, 2)(ts.randn(2, 4))


def test_forward_hooks_and_apply_and_summary():
    seen = []
    lin = nn.Linear(2, 3)
    h = lin.register_forward_hook(lambda m, inp, out: seen.append(out.shape))
    lin(ts.ones(1, 2))
    h.remove()
    lin(ts.ones(1, 2))
    assert seen == [(1, 3)]
    kinds = []
    nn.Sequential(nn.Linear(2, 2), nn.ReLU()).apply(lambda m: kinds.append(type(m).__name__))
    assert kinds == ["Linear", "ReLU", "Sequential"]
    s = ts.models.cnn28().summary((1, 1, 28, 28))
    assert "1,199,882" in s


def test_module_to_dtype():
    net = Net().double()
    assert net.conv1.weight.dtype == ts.float64
    assert net(ts.randn(1, 1, 14, 14, dtype=ts.float64)).dtype == ts.float64
    assert net.to(ts.float32).fc.weight.dtype == ts.float32


def test_reference_models():
    m = ts.models.cnn28()
    assert m.num_parameters() == 1199882
    assert m(ts.randn(2, 1, 28, 28)).shape == (2, 10)
    assert ts.models.mlp()(ts.randn(2, 784)).shape == (2, 10)


def test_module_misuse_raises_clear_errors():
    class NoInit(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super"):
        NoInit()

    class BadForward(nn.Module):
        def forward(self, x):
            return "not a tensor"

    with pytest.raises(TypeError, match="BadForward.*forward returned"):
        nn.Sequential(BadForward())(ts.ones(2))

    class Raises(nn.Module):
        def forward(self, x):
            raise KeyError("inside forward")

    with pytest.raises(KeyError, match="inside forward"):
        nn.Sequential(Raises())(ts.ones(2))

    class NoForward(nn.Module):
        pass

    with pytest.raises(ValueError, match="neither forward"):
        NoForward()(ts.ones(2))


def test_forward_hook_on_python_module_runs_once_either_way():
    calls = []
    net = Net()
    h = net.register_forward_hook(lambda m, inp, out: calls.append(out.shape))
    x = ts.randn(1, 1, 14, 14)
    net(x)                      # called from Python
    nn.Sequential(net)(x)       # called from C++
    assert calls == [(1, 3), (1, 3)]
    h.remove()
    net(x)
    assert len(calls) == 2
