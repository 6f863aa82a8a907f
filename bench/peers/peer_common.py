"""What every peer runner of bench/peers/ shares: the command line, the thread set-up that
must happen before a framework is imported, the timing protocol, the JSON line format and
the Fashion-MNIST reader. Written once so that the runners differ only in their models.

The timing protocol is ../shared/bench/WORKLOADS.md's (and tessera-bench's): warm up at
least WARM_ITERS calls and WARM_S seconds, then time up to n calls, stopping early once
BUDGET_S of counted time has passed (never below MIN_N calls); report the median and p90.

Every JSON line carries the WORKLOADS.md fields plus "version" (the framework and its
version) and "config" (how the configuration was set up), so a table can say what ran.
A configuration that cannot run a workload prints one line with metric "skipped" and
a "reason", never nothing.
"""
import argparse
import gzip
import json
import os
import sys
import time

# Every workload of WORKLOADS.md, in its order.
ALL_WORKLOADS = [
    "gemm_1024", "mlp_train_b128", "cnn28_train_b64", "cnn28_fmnist_epoch",
    "cnn28_infer_b1", "cnn28_infer_b256", "cnn64_infer_b1", "cnn64_train_b32",
    "resnet18_infer_b1", "encoder_infer_b1",
]
INFER = {"cnn28_infer_b1", "cnn28_infer_b256", "cnn64_infer_b1", "resnet18_infer_b1", "encoder_infer_b1"}
TRAIN = {"mlp_train_b128", "cnn28_train_b64", "cnn64_train_b32"}
# Counted iterations per workload (the cap; BUDGET_S usually ends a run first).
DEFAULT_ITERS = {
    "gemm_1024": 50, "mlp_train_b128": 200, "cnn28_train_b64": 100, "cnn64_train_b32": 100,
    "cnn28_infer_b1": 300, "cnn28_infer_b256": 30, "cnn64_infer_b1": 300, "resnet18_infer_b1": 100,
    "encoder_infer_b1": 300,
}
# Input shapes as WORKLOADS.md gives them (NCHW; runners whose CPU layout is NHWC permute).
INFER_SHAPES = {
    "cnn28_infer_b1": (1, 1, 28, 28), "cnn28_infer_b256": (256, 1, 28, 28),
    "cnn64_infer_b1": (1, 3, 64, 64), "resnet18_infer_b1": (1, 3, 224, 224),
    "encoder_infer_b1": (1, 128, 256),
}
# Parameter counts that follow from the model definitions of WORKLOADS.md (worked out by
# hand from the layer shapes; ResNet-18's is torchvision's resnet18). The tests check every
# runner's models against these.
PARAM_COUNTS = {
    "mlp": 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10,                         # 669,706
    "cnn28": 32 * 9 + 32 + 64 * 32 * 9 + 64 + 9216 * 128 + 128 + 128 * 10 + 10,       # 1,199,882
    "cnn64": (3 * 32 * 9 + 32 + 32 * 64 * 9 + 64 + 64 * 128 * 9 + 128
              + 8192 * 256 + 256 + 256 * 8 + 8),                                      # 2,192,712
    "resnet18": 11_689_512,
    "encoder": 3 * 256 * 256 + 3 * 256 + 256 * 256 + 256 + 256 * 1024 + 1024
               + 1024 * 256 + 256 + 4 * 256,                                          # 789,760
}
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FMNIST_MEAN, FMNIST_STD = 0.2860, 0.3530  # Fashion-MNIST train statistics, as torch_bench.py


def parse_args(description, configs, workloads, extra=None, only=None):
    """The command line every runner takes. `configs` lists its configuration names
    (system names), `workloads` the workloads it can express, only[workload] (optional)
    the configurations that express that workload when not all do."""
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op and inter-op threads (set before the framework loads)")
    ap.add_argument("--workload", action="append", choices=workloads,
                    help="repeatable; default: every workload this runner expresses but the epoch")
    ap.add_argument("--config", action="append", choices=configs,
                    help="repeatable; default: every configuration (%s)" % ", ".join(configs))
    ap.add_argument("--quick", action="store_true",
                    help="short warm-up and at most a fifth of the iterations (a smoke test)")
    ap.add_argument("--iters", type=int, default=None, help="counted iterations (overrides the defaults)")
    ap.add_argument("--budget-s", type=float, default=None,
                    help="cap on counted seconds per (workload, configuration); default 15, 3 with --quick")
    ap.add_argument("--data-dir", default=DEFAULT_DATA, help="the Fashion-MNIST IDX .gz files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--param-counts", action="store_true",
                    help="print one JSON object {model: parameter count} for this runner's models and exit")
    ap.add_argument("--list", action="store_true", help="print the workloads and configurations and exit")
    if extra:
        extra(ap)
    args = ap.parse_args()
    if args.threads < 1:
        ap.error("--threads must be at least 1, got %d" % args.threads)
    if args.iters is not None and args.iters < 1:
        ap.error("--iters must be at least 1, got %d" % args.iters)
    only = only or {}
    if args.list:
        # "workloads: ...", "configs: ...", then "<workload>: <its configurations>" each
        print("workloads: " + " ".join(workloads))
        print("configs: " + " ".join(configs))
        for w in workloads:
            print("%s: %s" % (w, " ".join(only.get(w, configs))))
        sys.exit(0)
    args.only = only
    args.workloads = args.workload or [w for w in workloads if w != "cnn28_fmnist_epoch"]
    args.configs = args.config or list(configs)
    return args


def set_thread_env(threads):
    """Thread-count variables every math library reads when it loads: set them before the
    framework is imported, or its pools are already sized to the machine."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Reporter:
    """Prints the JSON lines of one runner process."""

    def __init__(self, threads, version):
        self.threads = threads
        self.version = version
        self.config_of = {}  # system name -> how it was configured

    def emit(self, workload, system, metric, stat, value, unit, n):
        print(json.dumps({"workload": workload, "system": system, "metric": metric, "stat": stat,
                          "value": round(float(value), 4), "unit": unit, "threads": self.threads,
                          "n": int(n), "version": self.version,
                          "config": self.config_of.get(system, system)}), flush=True)

    def skipped(self, workload, system, reason):
        reason = " ".join(str(reason).split())[:300]
        log("# %s %s skipped: %s" % (workload, system, reason))
        print(json.dumps({"workload": workload, "system": system, "metric": "skipped", "stat": "skipped",
                          "value": 0, "unit": "", "threads": self.threads, "n": 0,
                          "version": self.version, "config": self.config_of.get(system, system),
                          "reason": reason}), flush=True)

    def timings(self, workload, system, ts):
        """median (+ p90 where latency matters) in the metric WORKLOADS.md gives the workload."""
        ts = sorted(ts)
        if workload == "cnn28_infer_b256":
            self.emit(workload, system, "images_per_s", "median", 256 / quantile(ts, 0.5), "img/s", len(ts))
            self.emit(workload, system, "images_per_s", "p90", 256 / quantile(ts, 0.9), "img/s", len(ts))
        elif workload == "gemm_1024":
            flop = 2 * 1024 ** 3
            self.emit(workload, system, "gflops", "median", flop / quantile(ts, 0.5) * 1e-9, "GFLOP/s", len(ts))
            self.emit(workload, system, "gflops", "p90", flop / quantile(ts, 0.9) * 1e-9, "GFLOP/s", len(ts))
        else:
            metric = "step_ms" if workload in TRAIN else "latency_ms"
            self.emit(workload, system, metric, "median", quantile(ts, 0.5) * 1e3, "ms", len(ts))
            self.emit(workload, system, metric, "p90", quantile(ts, 0.9) * 1e3, "ms", len(ts))

    def epoch(self, system, epoch_s, acc):
        self.emit("cnn28_fmnist_epoch", system, "epoch_s", "median", epoch_s, "s", 1)
        self.emit("cnn28_fmnist_epoch", system, "test_acc", "median", acc, "fraction", 1)


def quantile(sorted_xs, q):
    """numpy-style linear interpolation between the closest ranks (as tessera-bench)."""
    p = (len(sorted_xs) - 1) * q
    lo = int(p)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (p - lo)


class Timer:
    """The timing protocol, with the run's --quick/--iters/--budget-s applied."""

    def __init__(self, args):
        self.quick = args.quick
        self.iters = args.iters
        self.warm_iters, self.warm_s = (3, 0.2) if args.quick else (10, 1.0)
        self.budget_s = args.budget_s if args.budget_s is not None else (3.0 if args.quick else 15.0)
        self.min_n = 5 if args.quick else 20

    def __call__(self, fn, workload, sync=None):
        """Times fn(); `sync` (optional) is called after each call to wait for asynchronous
        frameworks (JAX's block_until_ready), inside the timed region."""
        n = self.iters or DEFAULT_ITERS[workload]
        if self.quick and self.iters is None:
            n = max(1, n // 5)
        t0 = time.perf_counter()
        k = 0
        while k < self.warm_iters or time.perf_counter() - t0 < self.warm_s:
            r = fn()
            if sync:
                sync(r)
            k += 1
        ts = []
        start = time.perf_counter()
        min_n = min(self.min_n, n)
        while len(ts) < n:
            a = time.perf_counter_ns()
            r = fn()
            if sync:
                sync(r)
            ts.append((time.perf_counter_ns() - a) * 1e-9)
            if len(ts) >= min_n and time.perf_counter() - start > self.budget_s:
                break
        return ts


def read_idx(path):
    """One gzip'd IDX file (unsigned bytes) as a numpy array."""
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:
        raise ValueError("%s: not an unsigned-byte IDX file (magic %#x)" % (path, magic))
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fmnist(data_dir):
    """(x_train, y_train, x_test, y_test): images float32 N x 28 x 28 normalised with the
    train statistics, labels int64."""
    import numpy as np
    parts = []
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        path = os.path.join(data_dir, stem + ".gz")
        if not os.path.exists(path):
            raise FileNotFoundError("%s is missing: install Debian's dataset-fashion-mnist "
                                    "or pass --data-dir" % path)
        parts.append(read_idx(path))
    xtr, ytr, xte, yte = parts
    if xtr.shape != (60000, 28, 28) or xte.shape != (10000, 28, 28):
        raise ValueError("Fashion-MNIST: expected 60000 and 10000 28x28 images, got %s and %s"
                         % (xtr.shape, xte.shape))
    prep = lambda a: ((a.astype(np.float32) / 255.0 - FMNIST_MEAN) / FMNIST_STD)  # noqa: E731
    return prep(xtr), ytr.astype(np.int64), prep(xte), yte.astype(np.int64)


def run_all(args, reporter, fns):
    """Runs each requested workload's function under every requested configuration;
    fns[workload](config) runs one. The configurations that do not express a workload
    (parse_args' `only`: a library call such as gemm needs no compiler, so it is
    measured once) are passed over without a line. A failure is reported as skipped and
    the run goes on."""
    only = args.only
    for wl in args.workloads:
        for cfg in args.configs:
            if wl in only and cfg not in only[wl]:
                continue
            fn = fns.get(wl)
            t0 = time.perf_counter()
            try:
                if fn is None:
                    raise NotImplementedError("%s has no %s workload" % (cfg, wl))
                fn(cfg)
            except Exception as e:  # noqa: BLE001 - one configuration failing must not end the run
                reporter.skipped(wl, cfg, "%s: %s" % (type(e).__name__, e))
            log("# %s %s done in %.1f s" % (wl, cfg, time.perf_counter() - t0))
