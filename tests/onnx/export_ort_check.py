"""Checks Tessera's ONNX exports with the onnx package and ONNX Runtime (issue 10, acceptance 3).

Usage: export_ort_check.py DIR NAME...
For each NAME, DIR holds NAME.onnx, NAME.input_<i>.npy and NAME.output_<i>.npy (Tessera's
eager outputs), and optionally NAME.b2.input_<i>.npy / NAME.b2.output_<i>.npy at another
batch (the export's batch dim is symbolic). Each model must pass onnx.checker (full check,
with shape inference) and ONNX Runtime's outputs must match within 1e-4 relative to the
output's scale. Prints one line per model; exit status 1 on any failure, 2 when onnx or
onnxruntime cannot be imported (the caller skips).
"""
import glob
import os
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:  # the caller skips, saying so
    print(f"missing Python package: {e}")
    sys.exit(2)


def rel_error(got, want):
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    return float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) / scale if want.size else 0.0


def check(directory, name):
    path = os.path.join(directory, name + ".onnx")
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    worst = 0.0
    runs = []
    for prefix in (name, name + ".b2"):
        inputs = sorted(glob.glob(os.path.join(directory, prefix + ".input_*.npy")))
        if not inputs:
            continue
        feed = {i.name: np.load(p) for i, p in zip(sess.get_inputs(), inputs)}
        got = sess.run(None, feed)
        for k, g in enumerate(got):
            want = np.load(os.path.join(directory, f"{prefix}.output_{k}.npy"))
            if g.shape != want.shape:
                raise AssertionError(f"{prefix} output {k}: shape {g.shape}, Tessera {want.shape}")
            worst = max(worst, rel_error(g, want))
        runs.append(str(next(iter(feed.values())).shape[0]))
    print(f"{name}: onnx.checker ok (opset {model.opset_import[0].version}, {len(model.graph.node)} nodes); "
          f"ONNX Runtime {ort.__version__} vs Tessera at batch {', '.join(runs)}: max relative error {worst:.1e}")
    return worst


def main():
    directory, names = sys.argv[1], sys.argv[2:]
    failed = False
    for name in names:
        try:
            if check(directory, name) > 1e-4:
                print(f"{name}: FAILED: error above 1e-4")
                failed = True
        except Exception as e:  # noqa: BLE001 - report every model
            print(f"{name}: FAILED: {type(e).__name__}: {e}")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
