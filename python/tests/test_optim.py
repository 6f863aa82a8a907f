import pytest

import tessera as ts
from tessera import nn, optim
from tessera.optim import lr_scheduler


def quadratic_descent(make_opt, steps=200):
    w = nn.Parameter(ts.tensor([3.0, -2.0]))
    opt = make_opt([w])
    for _ in range(steps):
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        opt.step()
    return (w ** 2).sum().item()


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=0.1),
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    lambda p: optim.Adam(p, lr=0.1),
    lambda p: optim.Adam(p, lr=0.1, betas=(0.8, 0.99), amsgrad=True),
    lambda p: optim.AdamW(p, lr=0.1),
    lambda p: optim.RMSprop(p, lr=0.05),
    lambda p: optim.Adagrad(p, lr=0.5),
])
def test_optimizers_minimize(make):
    assert quadratic_descent(make) < 1e-2


def test_sgd_step_is_exact():
    w = nn.Parameter(ts.tensor([1.0, 2.0]))
    opt = optim.SGD([w], lr=0.5, weight_decay=0.1)
    (w * ts.tensor([1.0, -1.0])).sum().backward()
    opt.step()
    # w - lr * (g + wd * w)
    assert w.tolist() == pytest.approx([1 - 0.5 * (1 + 0.1), 2 - 0.5 * (-1 + 0.2)])


def test_param_groups_and_state_dict():
    a, b = nn.Parameter(ts.ones(2)), nn.Parameter(ts.ones(3))
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.01)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[1]["lr"] == 0.5
    opt.param_groups[0]["lr"] = 0.02
    assert opt.param_groups[0]["lr"] == 0.02
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    (a.sum() + b.sum()).backward()
    opt.step()
    sd = opt.state_dict()
    assert "state.0.exp_avg" in sd
    opt2 = optim.Adam([{"params": [ts.ones(2, requires_grad=True)]},
                       {"params": [ts.ones(3, requires_grad=True)]}], lr=0.01)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.5
    with pytest.raises(KeyError):
        opt.param_groups[0]["nothing"]
    with pytest.raises(ValueError):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD([1, 2], lr=0.1)


def test_model_parameters_style():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    before = [p.clone() for p in model.parameters()]
    model(ts.randn(8, 3)).sum().backward()
    opt.step()
    assert all(not ts.equal(p, q) for p, q in zip(model.parameters(), before))
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_step_with_closure():
    w = nn.Parameter(ts.tensor([1.0]))
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 1.0
    assert w.item() == pytest.approx(0.8)


def test_clip_grad():
    w = nn.Parameter(ts.ones(4))
    (w * 10).sum().backward()
    norm = nn.utils.clip_grad_norm_([w], 1.0)
    assert norm == pytest.approx(20.0)
    assert w.grad.norm().item() == pytest.approx(1.0, rel=1e-4)
    optim.clip_grad_value_(w, 0.1)
    assert w.grad.abs().max().item() <= 0.1 + 1e-7


def _lrs(sched, opt, n):
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_schedulers():
    w = nn.Parameter(ts.ones(1))
    opt = optim.SGD([w], lr=1.0)
    assert _lrs(lr_scheduler.StepLR(opt, step_size=2, gamma=0.5), opt, 5) == [1.0, 1.0, 0.5, 0.5, 0.25]
    opt = optim.SGD([w], lr=1.0)
    assert _lrs(lr_scheduler.MultiStepLR(opt, [1, 3], 0.1), opt, 4) == pytest.approx([1, 0.1, 0.1, 0.01])
    opt = optim.SGD([w], lr=1.0)
    assert _lrs(lr_scheduler.ExponentialLR(opt, 0.5), opt, 3) == [1.0, 0.5, 0.25]
    opt = optim.SGD([w], lr=1.0)
    lrs = _lrs(lr_scheduler.CosineAnnealingLR(opt, T_max=4), opt, 5)
    assert lrs == pytest.approx([1.0, 0.8535534, 0.5, 0.1464466, 0.0])
    opt = optim.SGD([w], lr=1.0)
    assert _lrs(lr_scheduler.LinearLR(opt, 0.5, 1.0, 2), opt, 3) == pytest.approx([0.5, 0.75, 1.0])
    opt = optim.SGD([w], lr=1.0, momentum=0.9)
    s = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    lrs = _lrs(s, opt, 10)
    assert max(lrs) == pytest.approx(1.0, rel=0.05) and lrs[0] == pytest.approx(0.04)
    opt = optim.SGD([w], lr=1.0)
    cw = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)
    assert _lrs(cw, opt, 4) == pytest.approx([1.0, 0.5, 1.0, 0.5])
    opt = optim.SGD([w], lr=1.0)
    p = lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    for m in [1.0, 1.0, 1.0, 1.0]:
        p.step(m)
    assert p.get_last_lr() == [0.5]
    with pytest.raises(ValueError):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)


def test_scheduler_keeps_optimizer_alive():
    import gc
    w = nn.Parameter(ts.ones(1))
    s = lr_scheduler.StepLR(optim.SGD([w], lr=1.0), step_size=1)
    gc.collect()
    s.step()
    assert s.get_last_lr() == [0.1]


def _train(model, opt, sched, first, steps):
    losses = []
    for s in range(first, first + steps):
        ts.manual_seed(100 + s)  # each step's batch depends on the step alone
        x, y = ts.randn(6, 3), ts.randn(6, 2)
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("make_opt,make_sched", [
    (lambda p: optim.Adam(p, lr=0.01), lambda o: lr_scheduler.StepLR(o, 2, 0.5)),
    (lambda p: optim.SGD(p, lr=0.01, momentum=0.9), lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 3, 2)),
])
def test_one_state_dict_type_resumes_bit_identical(tmp_path, make_opt, make_sched):
    # Module, optimizer and scheduler states are all ordered str -> Tensor mappings: they
    # go through one checkpoint file and a fresh run continues exactly as the whole one.
    def make(seed):
        ts.manual_seed(seed)
        m = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
        o = make_opt(m.parameters())
        return m, o, make_sched(o)

    m, o, s = make(1)
    _train(m, o, s, 0, 4)
    osd, ssd = o.state_dict(), s.state_dict()
    assert list(osd)[0] == "state.0.step" and osd["state.0.step"].dim() == 0
    assert list(m.state_dict())[:5] == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean"]
    path = tmp_path / "ckpt.safetensors"
    ts.serialization.save_checkpoint(path, m.state_dict(), osd, {"step": "4"}, scheduler_state=ssd)
    expected = _train(m, o, s, 4, 5)

    c = ts.serialization.load_checkpoint(path)
    assert c.metadata == {"step": "4"} and list(c.optimizer) == list(osd) and list(c.scheduler) == list(ssd)
    m2, o2, s2 = make(2)
    m2.load_state_dict(c.model)
    o2.load_state_dict(c.optimizer)
    s2.load_state_dict(c.scheduler)
    assert _train(m2, o2, s2, 4, 5) == expected
    for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and ts.equal(a, b), k
    for (k, a), (k2, b) in zip(o.state_dict().items(), o2.state_dict().items()):
        assert k == k2 and ts.equal(a, b), k


def test_state_dict_errors_name_keys_and_shapes():
    a = nn.Parameter(ts.ones(2, 3))
    opt = optim.Adam([a])
    a.sum().backward()
    opt.step()
    sd = opt.state_dict()
    sd["state.0.exp_avg"] = ts.zeros(5)
    with pytest.raises(ValueError, match=r"'state.0.exp_avg' is \[5\] f32, its parameter is \[2, 3\] f32"):
        optim.Adam([nn.Parameter(ts.ones(2, 3))]).load_state_dict(sd)
    sd = opt.state_dict()
    sd["state.0.momentum_buffer"] = ts.zeros(2, 3)
    with pytest.raises(ValueError, match="unexpected key 'state.0.momentum_buffer'"):
        optim.Adam([nn.Parameter(ts.ones(2, 3))]).load_state_dict(sd)
    with pytest.raises(TypeError, match="'state.0.step' is a float, expected a tessera.Tensor"):
        optim.Adam([a]).load_state_dict({"state.0.step": 1.0})
    plateau = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    plateau.step(1.0)
    plateau.step(2.0)
    state = plateau.state_dict()
    assert list(state) == ["best", "num_bad_epochs", "cooldown_counter", "last_epoch"]
    other = lr_scheduler.ReduceLROnPlateau(optim.SGD([nn.Parameter(ts.ones(1))], lr=1.0))
    other.load_state_dict(state)
    assert other.best == 1.0
    with pytest.raises(ValueError, match="missing key 'best'"):
        other.load_state_dict({})
