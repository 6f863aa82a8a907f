"""The peer runners of bench/peers/: --help and --list answer without any framework
installed; with build/bench-venv (made by bench/compare) present, each runner's models
have the parameter counts that WORKLOADS.md's definitions give, and the ONNX export
and a tiny run work. Those need the big venv, so they skip cleanly where it is absent
(the main suite runs only test_compare.py; run this file as docs/performance.md says)."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
PEERS = os.path.join(BENCH, "peers")
VENV_PY = os.path.join(ROOT, "build", "bench-venv", "bin", "python")
sys.path.insert(0, PEERS)
import peer_common as pc  # noqa: E402

RUNNERS = {"torch_peer.py": "torch", "tf_peer.py": "tensorflow", "jax_peer.py": "jax", "ort_peer.py": "onnxruntime"}

# WORKLOADS.md's models, counted by hand from the layer shapes (weights + biases):
EXPECTED = {
    # 784->512->512->10
    "mlp": (784 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10),
    # conv 1->32 3x3, conv 32->64 3x3, linear 9216->128, 128->10
    "cnn28": (1 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (9216 * 128 + 128) + (128 * 10 + 10),
    # conv 3->32->64->128 3x3, linear 8192->256, 256->8
    "cnn64": (3 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 128 * 9 + 128) + (8192 * 256 + 256) + (256 * 8 + 8),
    # torchvision's resnet18(weights=None), as its documentation states
    "resnet18": 11_689_512,
    # attention in/out projections, feed-forward 256->1024->256, two layer norms
    "encoder": (3 * 256 * 256 + 3 * 256) + (256 * 256 + 256) + (256 * 1024 + 1024) + (1024 * 256 + 256) + 2 * 2 * 256,
}


def test_expected_counts_are_the_ones_the_runners_share():
    assert EXPECTED == pc.PARAM_COUNTS
    assert EXPECTED["cnn28"] == 1_199_882 and EXPECTED["encoder"] == 789_760


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_help_and_list_need_no_framework(runner):
    p = subprocess.run([sys.executable, os.path.join(PEERS, runner), "--help"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert "--threads" in p.stdout and "--workload" in p.stdout and "--config" in p.stdout
    p = subprocess.run([sys.executable, os.path.join(PEERS, runner), "--list"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("workloads: ") and "\nconfigs: " in p.stdout


@pytest.mark.parametrize("runner", sorted(RUNNERS))
def test_bad_arguments_are_rejected(runner):
    p = subprocess.run([sys.executable, os.path.join(PEERS, runner), "--threads", "0"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "--threads must be at least 1" in p.stderr


def venv_has(module):
    if not os.access(VENV_PY, os.X_OK):
        pytest.skip("no build/bench-venv (bench/compare creates it)")
    p = subprocess.run([VENV_PY, "-c", "import %s" % module], capture_output=True, timeout=300)
    if p.returncode != 0:
        pytest.skip("%s does not import in build/bench-venv" % module)


@pytest.mark.parametrize("runner", ["torch_peer.py", "tf_peer.py", "jax_peer.py"])
def test_parameter_counts_match_workloads_md(runner):
    venv_has(RUNNERS[runner])
    p = subprocess.run([VENV_PY, os.path.join(PEERS, runner), "--param-counts"], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout.strip().splitlines()[-1]) == EXPECTED


def records(stdout):
    return [json.loads(ln) for ln in stdout.splitlines() if ln.startswith("{")]


@pytest.mark.parametrize("runner", ["torch_peer.py", "tf_peer.py", "jax_peer.py"])
def test_tiny_run_prints_workloads_md_lines(runner):
    venv_has(RUNNERS[runner])
    p = subprocess.run([VENV_PY, os.path.join(PEERS, runner), "--threads", "1", "--quick", "--iters", "2",
                        "--budget-s", "0.1", "--workload", "cnn28_infer_b1", "--workload", "mlp_train_b128"],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    recs = records(p.stdout)
    medians = {(r["workload"], r["system"]) for r in recs if r["stat"] == "median"}
    configs = [ln for ln in subprocess.run([sys.executable, os.path.join(PEERS, runner), "--list"],
                                           capture_output=True, text=True).stdout.splitlines()
               if ln.startswith("configs: ")][0].split()[1:]
    for cfg in configs:
        for wl in ("cnn28_infer_b1", "mlp_train_b128"):
            assert (wl, cfg) in medians or any(r["metric"] == "skipped" and r["system"] == cfg for r in recs), (wl, cfg)
    for r in recs:
        assert set(r) >= {"workload", "system", "metric", "stat", "value", "unit", "threads", "n", "version", "config"}
        assert r["threads"] == 1


def test_onnx_export_and_onnxruntime_run(tmp_path):
    venv_has("onnxruntime, onnx, onnxscript, torch")
    p = subprocess.run([VENV_PY, os.path.join(PEERS, "torch_peer.py"), "--export-onnx", str(tmp_path)],
                       capture_output=True, text=True, timeout=900, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr[-2000:]
    for wl in pc.INFER_SHAPES:
        assert (tmp_path / (wl + ".onnx")).exists()
    p = subprocess.run([VENV_PY, os.path.join(PEERS, "ort_peer.py"), "--onnx-dir", str(tmp_path), "--threads", "1",
                        "--quick", "--iters", "2", "--budget-s", "0.1", "--workload", "cnn28_infer_b1",
                        "--workload", "gemm_1024"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    medians = {(r["workload"], r["system"]) for r in records(p.stdout) if r["stat"] == "median"}
    assert medians == {("cnn28_infer_b1", "onnxruntime"), ("gemm_1024", "onnxruntime")}


def test_onnxruntime_without_models_reports_skipped(tmp_path):
    venv_has("onnxruntime")
    p = subprocess.run([VENV_PY, os.path.join(PEERS, "ort_peer.py"), "--onnx-dir", str(tmp_path), "--quick",
                        "--workload", "cnn28_infer_b1"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    recs = records(p.stdout)
    assert len(recs) == 1 and recs[0]["metric"] == "skipped" and "cnn28_infer_b1.onnx is missing" in recs[0]["reason"]
