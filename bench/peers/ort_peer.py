#!/usr/bin/env python3
"""ONNX Runtime peer runner (Python onnxruntime, CPU execution provider) for the inference
workloads of ../shared/bench/WORKLOADS.md and gemm_1024. One configuration:

  onnxruntime   one InferenceSession per model: graph optimizations "all", sequential
                execution, intra-op and inter-op pools of --threads threads

The models are PyTorch's definitions exported by `torch_peer.py --export-onnx DIR` (bench/
compare does that at the start of a run, into its out dir): DIR/<workload>.onnx with fixed
shapes and a reference input/output pair, which this runner checks before timing. gemm_1024
is a one-node MatMul graph built here. Training is not timed: the onnxruntime wheel is an
inference engine. JSON lines on stdout, notes on stderr.

  ort_peer.py --onnx-dir OUT/onnx --threads 2 --workload resnet18_infer_b1 --quick
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

CONFIGS = ["onnxruntime"]
WORKLOADS = ["gemm_1024"] + [w for w in pc.ALL_WORKLOADS if w in pc.INFER]


def extra(ap):
    ap.add_argument("--onnx-dir", default=None,
                    help="the directory torch_peer.py --export-onnx wrote (needed for the inference workloads)")


args = pc.parse_args(__doc__, CONFIGS, WORKLOADS, extra)
T = args.threads
pc.set_thread_env(T)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

VERSION = "onnxruntime %s" % ort.__version__
rep = pc.Reporter(T, VERSION)
rep.config_of = {"onnxruntime": "CPUExecutionProvider, ORT_ENABLE_ALL, sequential, intra=inter=%d" % T}
timer = pc.Timer(args)


def session(model_bytes_or_path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = T
    so.inter_op_num_threads = T
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes_or_path, so, providers=["CPUExecutionProvider"])


def run_gemm(cfg):
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm_1024",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1024, 1024]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [1024, 1024])],
                          [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1024, 1024])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = min(m.ir_version, 9)
    onnx.checker.check_model(m)
    s = session(m.SerializeToString())
    rng = np.random.default_rng(args.seed)
    feed = {"a": rng.standard_normal((1024, 1024), dtype=np.float32),
            "b": rng.standard_normal((1024, 1024), dtype=np.float32)}
    got = s.run(None, feed)[0]
    err = float(np.abs(got - feed["a"] @ feed["b"]).max())
    if err > 1e-2:
        raise ValueError("ONNX Runtime's MatMul differs from numpy's by %.3g" % err)
    rep.timings("gemm_1024", cfg, timer(lambda: s.run(None, feed), "gemm_1024"))


def run_infer(wl):
    def run(cfg):
        if not args.onnx_dir:
            raise FileNotFoundError("no --onnx-dir: export the models with torch_peer.py --export-onnx DIR")
        path = os.path.join(args.onnx_dir, wl + ".onnx")
        if not os.path.exists(path):
            raise FileNotFoundError("%s is missing (torch_peer.py --export-onnx did not write it)" % path)
        s = session(path)
        x = np.load(os.path.join(args.onnx_dir, wl + ".ref_in.npy"))
        ref = np.load(os.path.join(args.onnx_dir, wl + ".ref_out.npy"))
        name = s.get_inputs()[0].name
        err = float(np.abs(s.run(None, {name: x})[0] - ref).max())
        pc.log("# %s: max |onnxruntime - pytorch| = %.2e" % (wl, err))
        if err > 1e-3 * max(1.0, float(np.abs(ref).max())):
            raise ValueError("ONNX Runtime's output differs from PyTorch's by %.3g" % err)
        feed = {name: x}
        rep.timings(wl, cfg, timer(lambda: s.run(None, feed), wl))
    return run


def main():
    if args.param_counts:
        import json
        print(json.dumps({}))  # the models are PyTorch's (torch_peer.py --param-counts)
        return
    pc.log("# %s, providers %s" % (VERSION, ort.get_available_providers()))
    fns = {"gemm_1024": run_gemm}
    for wl in pc.INFER:
        fns[wl] = run_infer(wl)
    pc.run_all(args, rep, fns)


if __name__ == "__main__":
    main()
