#!/usr/bin/env python3
"""JAX peer runner for ../shared/bench/WORKLOADS.md: the models of WORKLOADS.md as plain
functions over parameter dictionaries, initialized the way PyTorch initializes them, run
under one configuration:

  jax-jit    the forward (inference) or the whole training step (forward, cross-entropy,
             gradient and the optimizer's update, PyTorch's SGD-momentum and Adam rules)
             compiled by jax.jit, parameters and optimizer state donated to the step

Layout: NHWC activations and HWIO kernels (XLA's CPU layout); the shapes are WORKLOADS.md's
with the channel axis last. Threads: at 1 thread XLA's CPU client is given one intra-op
thread (XLA_FLAGS); at N > 1 the process is confined to N CPUs (sched_setaffinity) where the
machine has more, since XLA sizes its pool from the CPUs it may use. Timing waits for the
result (block_until_ready), since JAX dispatches asynchronously.

  jax_peer.py --threads 1 --workload cnn28_train_b64 --quick
  jax_peer.py --param-counts
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

CONFIGS = ["jax-jit"]
WORKLOADS = pc.ALL_WORKLOADS

args = pc.parse_args(__doc__, CONFIGS, WORKLOADS)
T = args.threads
pc.set_thread_env(T)
_cpus = sorted(os.sched_getaffinity(0))
if T < len(_cpus):
    os.sched_setaffinity(0, _cpus[:T])
if T == 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

VERSION = "jax %s, jaxlib %s" % (jax.__version__, jax.lib.__version__ if hasattr(jax.lib, "__version__")
                                 else getattr(__import__("jaxlib"), "__version__", "?"))
rep = pc.Reporter(T, VERSION)
rep.config_of = {"jax-jit": "plain functions, jax.jit, donated buffers, XLA CPU"}
timer = pc.Timer(args)


# ----------------------------------------------------------------------------- PyTorch's initialization
class Init:
    """Draws parameters from numpy's generator in PyTorch's default schemes."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def u(self, shape, b):
        return jnp.asarray(self.rng.uniform(-b, b, shape).astype(np.float32))

    def conv(self, cin, cout, k, bias=True):
        b = 1.0 / np.sqrt(cin * k * k)
        p = {"w": self.u((k, k, cin, cout), b)}
        if bias:
            p["b"] = self.u((cout,), b)
        return p

    def conv_kaiming_out(self, cin, cout, k):
        """torchvision's ResNet convolutions: kaiming normal, fan_out, ReLU gain."""
        std = np.sqrt(2.0 / (cout * k * k))
        return {"w": jnp.asarray(self.rng.normal(0, std, (k, k, cin, cout)).astype(np.float32))}

    def dense(self, fin, fout):
        b = 1.0 / np.sqrt(fin)
        return {"w": self.u((fin, fout), b), "b": self.u((fout,), b)}


def conv2d(x, p, stride=1, pad=0):
    y = lax.conv_general_dilated(x, p["w"], (stride, stride), [(pad, pad), (pad, pad)],
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + p["b"] if "b" in p else y


def maxpool(x, k, s, pad=0):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, k, k, 1), (1, s, s, 1),
                             [(0, 0), (pad, pad), (pad, pad), (0, 0)])


def dense(x, p):
    return x @ p["w"] + p["b"]


def dropout(x, rate, key):
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


relu = jax.nn.relu


# ----------------------------------------------------------------------------- models
def cnn28_init(ini):
    return {"c1": ini.conv(1, 32, 3), "c2": ini.conv(32, 64, 3), "f1": ini.dense(9216, 128), "f2": ini.dense(128, 10)}


def cnn28(p, x, key=None):
    x = relu(conv2d(relu(conv2d(x, p["c1"])), p["c2"]))
    x = maxpool(x, 2, 2)
    if key is not None:
        k1, k2 = jax.random.split(key)
        x = dropout(x, 0.25, k1)
    x = relu(dense(x.reshape(x.shape[0], -1), p["f1"]))
    if key is not None:
        x = dropout(x, 0.5, k2)
    return dense(x, p["f2"])


def cnn64_init(ini):
    return {"c1": ini.conv(3, 32, 3), "c2": ini.conv(32, 64, 3), "c3": ini.conv(64, 128, 3),
            "f1": ini.dense(8192, 256), "f2": ini.dense(256, 8)}


def cnn64(p, x, key=None):
    for c in ("c1", "c2", "c3"):
        x = maxpool(relu(conv2d(x, p[c], pad=1)), 2, 2)
    return dense(relu(dense(x.reshape(x.shape[0], -1), p["f1"])), p["f2"])


def mlp_init(ini):
    return {"l1": ini.dense(784, 512), "l2": ini.dense(512, 512), "l3": ini.dense(512, 10)}


def mlp(p, x, key=None):
    return dense(relu(dense(relu(dense(x, p["l1"])), p["l2"])), p["l3"])


def bn_init(c):
    # eval-mode batch norm: weight 1, bias 0, running mean 0, running variance 1
    return {"g": jnp.ones(c), "b": jnp.zeros(c), "m": jnp.zeros(c), "v": jnp.ones(c)}


def bn(x, p):
    return (x - p["m"]) * (p["g"] * lax.rsqrt(p["v"] + 1e-5)) + p["b"]


RESNET_STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


def resnet18_init(ini):
    p = {"conv1": ini.conv_kaiming_out(3, 64, 7), "bn1": bn_init(64)}
    cin = 64
    for si, (cout, stride) in enumerate(RESNET_STAGES):
        for bi in range(2):
            s = stride if bi == 0 else 1
            blk = {"c1": ini.conv_kaiming_out(cin, cout, 3), "b1": bn_init(cout),
                   "c2": ini.conv_kaiming_out(cout, cout, 3), "b2": bn_init(cout)}
            if s != 1 or cin != cout:
                blk["down"] = ini.conv_kaiming_out(cin, cout, 1)
                blk["down_bn"] = bn_init(cout)
            p["l%d_%d" % (si, bi)] = blk
            cin = cout
    p["fc"] = ini.dense(512, 1000)
    return p


def resnet18(p, x, key=None):
    x = maxpool(relu(bn(conv2d(x, p["conv1"], 2, 3), p["bn1"])), 3, 2, 1)
    for si, (cout, stride) in enumerate(RESNET_STAGES):
        for bi in range(2):
            blk = p["l%d_%d" % (si, bi)]
            s = stride if bi == 0 else 1
            y = relu(bn(conv2d(x, blk["c1"], s, 1), blk["b1"]))
            y = bn(conv2d(y, blk["c2"], 1, 1), blk["b2"])
            idn = bn(conv2d(x, blk["down"], s, 0), blk["down_bn"]) if "down" in blk else x
            x = relu(y + idn)
    return dense(x.mean(axis=(1, 2)), p["fc"])


def encoder_init(ini):
    d, ff = 256, 1024
    xb = np.sqrt(6.0 / (d + 3 * d))  # xavier-uniform over PyTorch's 768x256 in_proj matrix
    return {"in_w": ini.u((d, 3 * d), xb), "in_b": jnp.zeros(3 * d),
            "out_w": ini.u((d, d), 1.0 / np.sqrt(d)), "out_b": jnp.zeros(d),
            "l1": ini.dense(d, ff), "l2": ini.dense(ff, d),
            "n1": {"g": jnp.ones(d), "b": jnp.zeros(d)}, "n2": {"g": jnp.ones(d), "b": jnp.zeros(d)}}


def layer_norm(x, p):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) * lax.rsqrt(v + 1e-5) * p["g"] + p["b"]


def encoder(p, x, key=None):
    n, s, d = x.shape
    h = 4
    qkv = (x @ p["in_w"] + p["in_b"]).reshape(n, s, 3, h, d // h)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    att = jax.nn.softmax(jnp.einsum("nqhd,nkhd->nhqk", q, k) / np.sqrt(d // h), axis=-1)
    a = jnp.einsum("nhqk,nkhd->nqhd", att, v).reshape(n, s, d) @ p["out_w"] + p["out_b"]
    x = layer_norm(x + a, p["n1"])
    return layer_norm(x + dense(relu(dense(x, p["l1"])), p["l2"]), p["n2"])


MODELS = {"mlp": (mlp_init, mlp), "cnn28": (cnn28_init, cnn28), "cnn64": (cnn64_init, cnn64),
          "resnet18": (resnet18_init, resnet18), "encoder": (encoder_init, encoder)}
INFER_MODEL = {"cnn28_infer_b1": "cnn28", "cnn28_infer_b256": "cnn28", "cnn64_infer_b1": "cnn64",
               "resnet18_infer_b1": "resnet18", "encoder_infer_b1": "encoder"}
def count_params(tree):
    """Parameters as PyTorch counts them: batch norm's running mean and variance ("m",
    "v", no other leaf has those names) are buffers, not parameters."""
    total = 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if getattr(path[-1], "key", None) in ("m", "v"):
            continue
        total += int(np.prod(leaf.shape))
    return total


# ----------------------------------------------------------------------------- optimizers (PyTorch's rules)
def sgd_momentum(lr=0.01, mom=0.9):
    def init(p):
        return jax.tree_util.tree_map(jnp.zeros_like, p)

    def update(p, g, buf, t):
        buf = jax.tree_util.tree_map(lambda b, g: mom * b + g, buf, g)
        return jax.tree_util.tree_map(lambda p, b: p - lr * b, p, buf), buf
    return init, update


def adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    def init(p):
        # two distinct trees: the step donates its state, and a buffer may be donated once
        return (jax.tree_util.tree_map(jnp.zeros_like, p), jax.tree_util.tree_map(jnp.zeros_like, p))

    def update(p, g, st, t):
        m, v = st
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        p = jax.tree_util.tree_map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), p, m, v)
        return p, (m, v)
    return init, update


def make_train_step(apply, opt_update):
    def loss_fn(p, x, y, key):
        logits = apply(p, x, key)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    def step(p, st, t, key, x, y):
        key, sub = jax.random.split(key)
        loss, g = jax.value_and_grad(loss_fn)(p, x, y, sub)
        p, st = opt_update(p, g, st, t)
        return p, st, t + 1, key, loss
    return jax.jit(step, donate_argnums=(0, 1))


# ----------------------------------------------------------------------------- workloads
def block(r):
    return jax.block_until_ready(r)


def run_gemm(cfg):
    k1, k2 = jax.random.split(jax.random.PRNGKey(args.seed))
    a, b = jax.random.normal(k1, (1024, 1024)), jax.random.normal(k2, (1024, 1024))
    mm = jax.jit(jnp.dot)
    rep.timings("gemm_1024", cfg, timer(lambda: mm(a, b), "gemm_1024", sync=block))


def run_train(wl, model_name, batch, in_shape, classes, opt):
    def run(cfg):
        init, apply = MODELS[model_name]
        p = init(Init(args.seed))
        opt_init, opt_update = opt()
        state = {"p": p, "st": opt_init(p), "t": jnp.float32(1), "key": jax.random.PRNGKey(args.seed)}
        rng = np.random.default_rng(args.seed)
        x = jnp.asarray(rng.standard_normal((batch,) + tuple(in_shape)).astype(np.float32))
        y = jnp.asarray(rng.integers(0, classes, batch).astype(np.int32))
        step = make_train_step(apply, opt_update)

        def call():
            s = state
            s["p"], s["st"], s["t"], s["key"], loss = step(s["p"], s["st"], s["t"], s["key"], x, y)
            return loss
        rep.timings(wl, cfg, timer(call, wl, sync=block))
    return run


def run_infer(wl):
    def run(cfg):
        init, apply = MODELS[INFER_MODEL[wl]]
        p = init(Init(args.seed))
        shape = pc.INFER_SHAPES[wl]
        if len(shape) == 4:
            shape = (shape[0], shape[2], shape[3], shape[1])
        x = jnp.asarray(np.random.default_rng(args.seed).standard_normal(shape).astype(np.float32))
        fwd = jax.jit(lambda p, x: apply(p, x))
        rep.timings(wl, cfg, timer(lambda: fwd(p, x), wl, sync=block))
    return run


def run_epoch(cfg):
    xtr, ytr, xte, yte = pc.load_fmnist(args.data_dir)
    xtr, xte = xtr[..., None], xte[..., None]
    p = cnn28_init(Init(args.seed))
    opt_init, opt_update = adam()
    st, t, key = opt_init(p), jnp.float32(1), jax.random.PRNGKey(args.seed)
    step = make_train_step(cnn28, opt_update)
    perm = np.random.default_rng(args.seed).permutation(60000)
    ytr32 = ytr.astype(np.int32)
    t0 = time.perf_counter()
    for i in range(0, 60000, 64):
        idx = perm[i:i + 64]
        p, st, t, key, loss = step(p, st, t, key, xtr[idx], ytr32[idx])
    block(p)
    epoch_s = time.perf_counter() - t0
    fwd = jax.jit(lambda p, x: cnn28(p, x))
    correct = 0
    for i in range(0, 10000, 1000):
        correct += int((np.asarray(fwd(p, xte[i:i + 1000])).argmax(1) == yte[i:i + 1000]).sum())
    rep.epoch(cfg, epoch_s, correct / 10000)


def main():
    if args.param_counts:
        import json
        print(json.dumps({k: count_params(init(Init(0))) for k, (init, _) in MODELS.items()}))
        return
    pc.log("# %s, devices %s, cpus %s, XLA_FLAGS=%r" % (VERSION, jax.devices(), sorted(os.sched_getaffinity(0)),
                                                      os.environ.get("XLA_FLAGS", "")))
    fns = {
        "gemm_1024": run_gemm,
        "mlp_train_b128": run_train("mlp_train_b128", "mlp", 128, (784,), 10, sgd_momentum),
        "cnn28_train_b64": run_train("cnn28_train_b64", "cnn28", 64, (28, 28, 1), 10, adam),
        "cnn64_train_b32": run_train("cnn64_train_b32", "cnn64", 32, (64, 64, 3), 8, sgd_momentum),
        "cnn28_fmnist_epoch": run_epoch,
    }
    for wl in INFER_MODEL:
        fns[wl] = run_infer(wl)
    pc.run_all(args, rep, fns)


if __name__ == "__main__":
    main()
