#!/usr/bin/env python3
"""PyTorch 2.x peer runner for ../shared/bench/WORKLOADS.md: the models of WORKLOADS.md in
PyTorch's own default initialization, under three configurations:

  pytorch-eager     eager modules; fused optimizers where the CPU build has them
  pytorch-script    TorchScript: inference traced, frozen and optimize_for_inference'd
                    (oneDNN weight prepacking); training through a traced module
  pytorch-compile   torch.compile (Inductor); inference with freezing on (constant weights,
                    oneDNN prepacking), training with the model compiled

Threads: OMP/MKL/OpenBLAS variables, torch.set_num_threads and set_num_interop_threads, all
to --threads, before any work. oneDNN (mkldnn) stays on (PyTorch's default for convolution).
JSON lines on stdout (WORKLOADS.md's fields plus "version" and "config"), notes on stderr.

  torch_peer.py --threads 2 --workload cnn28_infer_b1 --quick
  torch_peer.py --export-onnx DIR      the inference models as ONNX files for ort_peer.py
  torch_peer.py --param-counts         the parameter count of each model, as JSON
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

CONFIGS = ["pytorch-eager", "pytorch-script", "pytorch-compile"]
WORKLOADS = pc.ALL_WORKLOADS


def extra(ap):
    ap.add_argument("--export-onnx", metavar="DIR", default=None,
                    help="write each inference workload's model as DIR/<workload>.onnx (fixed shapes, "
                         "with a reference input/output .npy pair) and exit")


# gemm is one library call (nothing to compile); the epoch runs eager and compiled.
ONLY = {"gemm_1024": ["pytorch-eager"], "cnn28_fmnist_epoch": ["pytorch-eager", "pytorch-compile"]}
args = pc.parse_args(__doc__, CONFIGS, WORKLOADS, extra, ONLY)
T = args.threads
pc.set_thread_env(T)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(T)
try:
    torch.set_num_interop_threads(T)
except RuntimeError as e:  # only settable once, before any inter-op work
    pc.log("# set_num_interop_threads: %s" % e)
torch.backends.mkldnn.enabled = True

VERSION = "torch %s" % torch.__version__
rep = pc.Reporter(T, VERSION)
rep.config_of = {
    "pytorch-eager": "eager, fused optimizer",
    "pytorch-script": "torch.jit.trace + freeze + optimize_for_inference (training: traced module)",
    "pytorch-compile": "torch.compile inductor (inference: freezing=True)",
}
timer = pc.Timer(args)


# ----------------------------------------------------------------------------- models
class CNN28(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.drop1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(9216, 128)
        self.drop2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.drop1(F.max_pool2d(x, 2))
        x = torch.flatten(x, 1)
        x = self.drop2(F.relu(self.fc1(x)))
        return self.fc2(x)


class CNN64(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3, padding=1)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.c3 = nn.Conv2d(64, 128, 3, padding=1)
        self.fc1 = nn.Linear(128 * 8 * 8, 256)
        self.fc2 = nn.Linear(256, 8)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.max_pool2d(F.relu(self.c3(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def MLP():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def resnet18():
    import torchvision
    return torchvision.models.resnet18(weights=None)


def encoder():
    return nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024, activation="relu",
                                      dropout=0.0, batch_first=True, norm_first=False)


MODELS = {"mlp": MLP, "cnn28": CNN28, "cnn64": CNN64, "resnet18": resnet18, "encoder": encoder}
INFER_MODEL = {"cnn28_infer_b1": "cnn28", "cnn28_infer_b256": "cnn28", "cnn64_infer_b1": "cnn64",
               "resnet18_infer_b1": "resnet18", "encoder_infer_b1": "encoder"}


def make_optimizer(params, kind):
    """The workload's optimizer, fused (one kernel over all parameters) where this build
    supports it on the CPU, else the default (foreach) implementation."""
    cls, kw = (torch.optim.Adam, {"lr": 1e-3}) if kind == "adam" else (torch.optim.SGD, {"lr": 0.01, "momentum": 0.9})
    params = list(params)
    try:
        return cls(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError) as e:
        pc.log("# fused %s unavailable (%s): default implementation" % (kind, e))
        return cls(params, **kw)


# ----------------------------------------------------------------------------- workloads
def run_gemm(cfg):
    a, b, c = torch.randn(1024, 1024), torch.randn(1024, 1024), torch.empty(1024, 1024)
    rep.timings("gemm_1024", cfg, timer(lambda: torch.mm(a, b, out=c), "gemm_1024"))


def train_model(cfg, model, x):
    """The module a training step calls under configuration cfg."""
    if cfg == "pytorch-compile":
        return torch.compile(model)
    if cfg == "pytorch-script":
        return torch.jit.trace(model, x, check_trace=False)
    return model


def run_train(wl, model_name, batch, in_shape, classes, opt_kind):
    def run(cfg):
        torch.manual_seed(args.seed)
        model = MODELS[model_name]().train()
        x, y = torch.randn(batch, *in_shape), torch.randint(0, classes, (batch,))
        fwd = train_model(cfg, model, x)
        opt = make_optimizer(model.parameters(), opt_kind)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(fwd(x), y).backward()
            opt.step()
        rep.timings(wl, cfg, timer(step, wl))
    return run


def infer_model(cfg, model, x):
    if cfg == "pytorch-script":
        with torch.no_grad():
            fr = torch.jit.freeze(torch.jit.trace(model, x, check_trace=False))
            return torch.jit.optimize_for_inference(fr)
    if cfg == "pytorch-compile":
        import torch._inductor.config as ic
        ic.freezing = True  # weights as constants: constant folding and oneDNN prepacking
        return torch.compile(model)
    return model


def run_infer(wl):
    def run(cfg):
        torch.manual_seed(args.seed)
        model = MODELS[INFER_MODEL[wl]]().eval()
        x = torch.randn(*pc.INFER_SHAPES[wl])
        fn = infer_model(cfg, model, x)
        with torch.no_grad():
            err = (fn(x) - model(x)).abs().max().item()
        pc.log("# %s %s: max |%s - eager| = %.2e" % (wl, cfg, cfg, err))

        def call():
            with torch.inference_mode():
                return fn(x)
        rep.timings(wl, cfg, timer(call, wl))
    return run


def run_epoch(cfg):
    xtr, ytr, xte, yte = pc.load_fmnist(args.data_dir)
    Xtr, Ytr = torch.from_numpy(xtr).unsqueeze(1), torch.from_numpy(ytr)
    Xte, Yte = torch.from_numpy(xte).unsqueeze(1), torch.from_numpy(yte)
    torch.manual_seed(args.seed)
    model = CNN28().train()
    fwd = torch.compile(model) if cfg == "pytorch-compile" else model
    opt = make_optimizer(model.parameters(), "adam")
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    perm = torch.randperm(60000, generator=g)
    for i in range(0, 60000, 64):
        idx = perm[i:i + 64]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(fwd(Xtr[idx]), Ytr[idx]).backward()
        opt.step()
    epoch_s = time.perf_counter() - t0
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, 10000, 1000):
            correct += (model(Xte[i:i + 1000]).argmax(1) == Yte[i:i + 1000]).sum().item()
    rep.epoch(cfg, epoch_s, correct / 10000)


def export_onnx(out_dir):
    """Each inference workload's model (PyTorch's definition and initialization) as
    <workload>.onnx with its fixed shape, plus a reference input and output so the ONNX
    Runtime runner can check it computes the same function."""
    import onnx
    os.makedirs(out_dir, exist_ok=True)
    failed = []
    for wl, name in INFER_MODEL.items():
        torch.manual_seed(args.seed)
        model = MODELS[name]().eval()
        x = torch.randn(*pc.INFER_SHAPES[wl])
        path = os.path.join(out_dir, wl + ".onnx")
        last = None
        # The dynamo exporter first (the default of torch 2.x), then the TorchScript one.
        for dynamo in (True, False):
            try:
                torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["output"],
                                  opset_version=18, dynamo=dynamo, external_data=False)
                onnx.checker.check_model(onnx.load(path))
                with torch.no_grad():
                    np.save(os.path.join(out_dir, wl + ".ref_in.npy"), x.numpy())
                    np.save(os.path.join(out_dir, wl + ".ref_out.npy"), model(x).numpy())
                pc.log("# exported %s (dynamo=%s)" % (path, dynamo))
                last = None
                break
            except Exception as e:  # noqa: BLE001
                last = "%s: %s" % (type(e).__name__, str(e)[:300])
                pc.log("# export %s (dynamo=%s) failed: %s" % (wl, dynamo, last))
        if last:
            failed.append(wl)
    if failed:
        sys.exit("torch_peer.py: ONNX export failed for " + ", ".join(failed))


def main():
    if args.param_counts:
        import json
        print(json.dumps({k: sum(p.numel() for p in ctor().parameters()) for k, ctor in MODELS.items()}))
        return
    pc.log("# %s, threads %d, interop %d, mkldnn %s" % (VERSION, torch.get_num_threads(),
                                                      torch.get_num_interop_threads(),
                                                      torch.backends.mkldnn.is_available()))
    if args.export_onnx:
        export_onnx(args.export_onnx)
        return
    fns = {
        "gemm_1024": run_gemm,
        "mlp_train_b128": run_train("mlp_train_b128", "mlp", 128, (784,), 10, "sgd"),
        "cnn28_train_b64": run_train("cnn28_train_b64", "cnn28", 64, (1, 28, 28), 10, "adam"),
        "cnn64_train_b32": run_train("cnn64_train_b32", "cnn64", 32, (3, 64, 64), 8, "sgd"),
        "cnn28_fmnist_epoch": run_epoch,
    }
    for wl in INFER_MODEL:
        fns[wl] = run_infer(wl)
    pc.run_all(args, rep, fns)


if __name__ == "__main__":
    main()
