"""bench/compare's table and ratio logic on canned JSON lines, and its command line.
Needs no framework and no build: part of the main pytest suite (scripts/test)."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
sys.path.insert(0, BENCH)
import compare_lib as cl  # noqa: E402

COMPARE = os.path.join(BENCH, "compare")


def line(workload, system, metric, stat, value, threads=1, **extra):
    d = {"workload": workload, "system": system, "metric": metric, "stat": stat, "value": value,
         "unit": "ms", "threads": threads, "n": 20}
    d.update(extra)
    return json.dumps(d)


def canned():
    """Two rounds; Tessera eager and graph; three peers; one peer not installed; one
    configuration that failed on one workload; throughput and time metrics; RSS lines."""
    L = [
        json.dumps({"workload": "*", "system": "tensorflow", "metric": "skipped", "stat": "skipped",
                    "value": 0, "unit": "", "threads": None, "n": 0, "reason": "does not import: No module named 'tensorflow'"}),
        "# a stray comment line a runner printed",
        "not json at all",
    ]
    for rnd, (te, tg, pe, ps, ort) in enumerate([(0.20, 0.15, 0.60, 0.35, 0.14), (0.22, 0.17, 0.64, 0.37, 0.16)]):
        L += [line("cnn28_infer_b1", "tessera-eager", "latency_ms", "median", te, round=rnd),
              line("cnn28_infer_b1", "tessera-eager", "latency_ms", "p90", te * 1.1, round=rnd),
              line("cnn28_infer_b1", "tessera-graph", "latency_ms", "median", tg, round=rnd),
              line("cnn28_infer_b1", "tessera-graph", "latency_ms", "p90", tg * 1.2, round=rnd),
              line("cnn28_infer_b1", "pytorch-eager", "latency_ms", "median", pe, version="torch 2.x", round=rnd),
              line("cnn28_infer_b1", "pytorch-script", "latency_ms", "median", ps, round=rnd),
              line("cnn28_infer_b1", "onnxruntime", "latency_ms", "median", ort, version="onnxruntime 1.x", round=rnd),
              line("cnn28_infer_b1", "onnxruntime", "rss_mb", "max", 200 + rnd, round=rnd),
              line("cnn28_infer_b1", "tessera-graph", "rss_mb", "max", 100 + rnd, round=rnd)]
    # a throughput: higher is better, the ratio is inverted
    L += [line("cnn28_infer_b256", "tessera-eager", "images_per_s", "median", 4000.0),
          line("cnn28_infer_b256", "onnxruntime", "images_per_s", "median", 8000.0),
          line("cnn28_infer_b256", "pytorch-script", "images_per_s", "median", 5000.0)]
    # gemm: oneDNN's sgemm (printed by tessera-bench) is a peer library
    L += [line("gemm_1024", "tessera-eager", "gflops", "median", 100.0, threads=2),
          line("gemm_1024", "onednn-sgemm", "gflops", "median", 110.0, threads=2),
          line("gemm_1024", "tessera-eager", "ratio_vs_onednn", "median", 0.91, threads=2)]
    # a training step where torch.compile failed and was reported as skipped
    L += [line("cnn28_train_b64", "tessera-eager", "step_ms", "median", 50.0),
          line("cnn28_train_b64", "pytorch-eager", "step_ms", "median", 100.0),
          json.dumps({"workload": "cnn28_train_b64", "system": "pytorch-compile", "metric": "skipped",
                      "stat": "skipped", "value": 0, "unit": "", "threads": 1, "n": 0,
                      "reason": "BackendCompilerFailed: no C++ compiler"})]
    # a --quick peer process that ran several workloads: its RSS belongs to "all"
    L += [line("all", "jax", "rss_mb", "max", 300.0)]
    # a workload only Tessera ran: no peer, no ratio
    L += [line("encoder_infer_b1", "tessera-eager", "latency_ms", "median", 1.0)]
    # the epoch with its accuracy
    L += [line("cnn28_fmnist_epoch", "tessera-eager", "epoch_s", "median", 20.0, threads=2),
          line("cnn28_fmnist_epoch", "tessera-eager", "test_acc", "median", 0.887, threads=2),
          line("cnn28_fmnist_epoch", "pytorch-eager", "epoch_s", "median", 50.0, threads=2),
          line("cnn28_fmnist_epoch", "pytorch-eager", "test_acc", "median", 0.885, threads=2)]
    return L


def rows_by_cell(summary):
    return {(r["workload"], r["threads"]): r for r in summary.rows()}


def test_parse_lines_skips_what_is_not_a_record():
    recs = cl.parse_lines(canned())
    assert all("workload" in r for r in recs)
    assert len(recs) == len(canned()) - 2


def test_best_mode_best_peer_and_ratio_use_medians_over_rounds():
    rows = rows_by_cell(cl.Summary(cl.parse_lines(canned())))
    r = rows[("cnn28_infer_b1", 1)]
    assert r["tessera_system"] == "tessera-graph"
    assert r["tessera"] == pytest.approx(0.16)          # median of 0.15 and 0.17
    assert r["tessera_p90"] == pytest.approx(0.192)     # of the best mode: (0.18 + 0.204) / 2
    assert r["peer_system"] == "onnxruntime"
    assert r["peer"] == pytest.approx(0.15)
    assert r["ratio"] == pytest.approx(0.16 / 0.15)
    assert "| 0.192 (1.20x) | onnxruntime |" in cl.format_table(cl.Summary(cl.parse_lines(canned())))


def test_throughput_ratio_is_inverted():
    r = rows_by_cell(cl.Summary(cl.parse_lines(canned())))[("cnn28_infer_b256", 1)]
    assert r["peer_system"] == "onnxruntime"  # the highest throughput wins
    assert r["ratio"] == pytest.approx(8000.0 / 4000.0)
    g = rows_by_cell(cl.Summary(cl.parse_lines(canned())))[("gemm_1024", 2)]
    assert g["peer_system"] == "onednn-sgemm"
    assert g["ratio"] == pytest.approx(110.0 / 100.0)


def test_skipped_peer_and_skipped_configuration_are_reported():
    s = cl.Summary(cl.parse_lines(canned()))
    assert "tensorflow" in s.peer_skipped
    r = rows_by_cell(s)[("cnn28_train_b64", 1)]
    assert r["skipped"] == [("pytorch-compile", "BackendCompilerFailed: no C++ compiler")]
    assert r["ratio"] == pytest.approx(0.5)
    text = cl.format_table(s)
    assert "tensorflow: skipped (does not import: No module named 'tensorflow')" in text
    assert "pytorch-compile: skipped (BackendCompilerFailed" in text


def test_workload_without_peer_has_no_ratio():
    r = rows_by_cell(cl.Summary(cl.parse_lines(canned())))[("encoder_infer_b1", 1)]
    assert r["peer"] is None and r["ratio"] is None
    assert "| encoder_infer_b1 | 1 | tessera-eager | 1 ms | - | - | - | - |" in cl.format_table(
        cl.Summary(cl.parse_lines(canned())))


def test_rss_and_accuracy_are_kept():
    s = cl.Summary(cl.parse_lines(canned()))
    rss = {(r["workload"], r["threads"]): r["rss_mb"] for r in s.rss_rows()}
    assert rss[("cnn28_infer_b1", 1)] == {"onnxruntime": pytest.approx(200.5), "tessera-graph": pytest.approx(100.5)}
    assert rss[("all", 1)] == {"jax": 300.0}
    assert ("all", 1) not in rows_by_cell(s)  # not a workload of the table
    r = rows_by_cell(s)[("cnn28_fmnist_epoch", 2)]
    assert r["ratio"] == pytest.approx(0.4)
    assert r["test_acc"] == {"tessera-eager": pytest.approx(0.887), "pytorch-eager": pytest.approx(0.885)}


def test_table_rows_follow_the_workload_order():
    names = [r["workload"] for r in cl.Summary(cl.parse_lines(canned())).rows()]
    assert names == sorted(names, key=cl.WORKLOAD_ORDER.index)


def test_compare_report_only_writes_table(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(canned()) + "\n")
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, COMPARE, "--report-only", str(src), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "| cnn28_infer_b1 | 1 | tessera-graph | 0.16 ms |" in p.stdout
    assert (out / "table.md").read_text().strip() == p.stdout.strip()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return  # the chart is only checked where this python can draw it
    assert (out / "ratios.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, expect", [
    (["--peers", "caffe"], "unknown peer 'caffe'"),
    (["--threads", "two"], "comma-separated integers"),
    (["--threads", "0"], "at least 1"),
    (["--modes", "jit"], "unknown mode 'jit'"),
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--workload", "nope"], "invalid choice"),
])
def test_compare_rejects_bad_arguments(argv, expect, tmp_path):
    p = subprocess.run([sys.executable, COMPARE, "--out", str(tmp_path)] + argv,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert expect in p.stderr


def test_compare_help():
    p = subprocess.run([sys.executable, COMPARE, "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--quick" in p.stdout and "--peers" in p.stdout


def load_compare():
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader("compare_script", COMPARE)
    spec = importlib.util.spec_from_loader("compare_script", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def test_plan_runs_each_configuration_that_expresses_a_workload(tmp_path):
    cmp = load_compare()
    info = {"pytorch": {"gemm_1024": ["pytorch-eager"], "cnn28_infer_b1": ["pytorch-eager", "pytorch-compile"]},
            "onnxruntime": {"cnn28_infer_b1": ["onnxruntime"]}}
    args = cmp.parse_args(["--out", str(tmp_path), "--workload", "gemm_1024", "--workload", "cnn28_infer_b1"])
    gemm, cnn = cmp.plan(args, info, args.workloads)
    # gemm: Tessera eager only (graph mode runs the same library call), one PyTorch config
    assert [j["label"] for j in gemm] == ["tessera-eager", "pytorch-eager"]
    # the full run: one process per configuration, each with its own RSS label
    assert [j["label"] for j in cnn] == ["tessera-eager", "tessera-graph", "pytorch-eager", "pytorch-compile",
                                         "onnxruntime"]
    assert all(j["workload"] == "cnn28_infer_b1" and len(j["expect"]) == 1 for j in cnn)
    ort = cnn[-1]
    assert "--onnx-dir" in ort["cmd"] and "--quick" not in ort["cmd"]
    assert ort["cmd"][-2:] == ["--config", "onnxruntime"]
    # --quick: Tessera per workload with fewer iterations; each peer one process for all
    # its workloads and configurations, its RSS under workload "all"
    args = cmp.parse_args(["--out", str(tmp_path), "--quick", "--workload", "gemm_1024", "--workload",
                           "cnn28_infer_b1"])
    gemm, cnn, peers = cmp.plan(args, info, args.workloads)
    assert [j["label"] for j in gemm] == ["tessera-eager"] and "--iters" in gemm[0]["cmd"]
    assert [j["label"] for j in cnn] == ["tessera-eager", "tessera-graph"]
    assert [(j["label"], j["workload"]) for j in peers] == [("pytorch", "all"), ("onnxruntime", "cnn28_infer_b1")]
    assert peers[0]["expect"] == [("gemm_1024", "pytorch-eager"), ("cnn28_infer_b1", "pytorch-eager"),
                                  ("cnn28_infer_b1", "pytorch-compile")]
    assert "--quick" in peers[0]["cmd"] and peers[0]["cmd"].count("--workload") == 2
    assert args.rounds == 1


def test_quick_leaves_the_epoch_out_unless_named(tmp_path):
    cmp = load_compare()
    assert "cnn28_fmnist_epoch" not in cmp.parse_args(["--out", str(tmp_path), "--quick"]).workloads
    assert "cnn28_fmnist_epoch" in cmp.parse_args(["--out", str(tmp_path)]).workloads
    named = cmp.parse_args(["--out", str(tmp_path), "--quick", "--workload", "cnn28_fmnist_epoch"])
    assert named.workloads == ["cnn28_fmnist_epoch"]


FAKE_BENCH = r'''#!/bin/sh
# A stand-in tessera-bench: prints a figure for its workload, fails in graph mode on
# cnn64_infer_b1, as the real one would on an error.
wl=""; mode=eager; t=1
while [ $# -gt 0 ]; do
  case "$1" in
    --workload) wl=$2; shift ;;
    --mode) mode=$2; shift ;;
    --threads) t=$2; shift ;;
  esac
  shift
done
if [ "$wl" = cnn64_infer_b1 ] && [ "$mode" = graph ]; then echo "tessera-bench: not implemented: x" >&2; exit 6; fi
v=$( [ "$mode" = graph ] && echo 0.5 || echo 1.0 )
echo "{\"workload\": \"$wl\", \"system\": \"tessera-$mode\", \"metric\": \"latency_ms\", \"stat\": \"median\", \"value\": $v, \"unit\": \"ms\", \"threads\": $t, \"n\": 20}"
echo "{\"workload\": \"peak_rss\", \"system\": \"tessera-eager\", \"metric\": \"rss_mb\", \"stat\": \"max\", \"value\": 1, \"unit\": \"MB\", \"threads\": $t, \"n\": 1}"
'''


def test_compare_runs_every_process_and_reports_failures(tmp_path):
    """The whole run loop without any framework: a stand-in tessera-bench, no peers."""
    fake = tmp_path / "tessera-bench"
    fake.write_text(FAKE_BENCH)
    fake.chmod(0o755)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, COMPARE, "--bench", str(fake), "--peers", "none", "--rounds", "2",
                        "--workload", "cnn28_infer_b1", "--workload", "cnn64_infer_b1", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    recs = cl.parse_lines((out / "results.jsonl").read_text().splitlines())
    medians = [(r["workload"], r["system"], r["threads"], r["round"]) for r in recs if r["stat"] == "median"]
    # 2 rounds x threads 1, 2 x (cnn28 eager + graph, cnn64 eager)
    assert len(medians) == 12
    skips = [r for r in recs if r["metric"] == "skipped"]
    assert len(skips) == 4 and all(r["system"] == "tessera-graph" and r["workload"] == "cnn64_infer_b1" for r in skips)
    assert "exit 6" in skips[0]["reason"] and "not implemented" in skips[0]["reason"]
    rss = [r for r in recs if r["metric"] == "rss_mb"]
    assert len(rss) == 16 and all(r["value"] > 0 for r in rss)  # one per process, from wait4
    assert not any(r["workload"] == "peak_rss" for r in recs)
    assert "| cnn28_infer_b1 | 2 | tessera-graph | 0.5 ms |" in p.stdout
    assert "cnn64_infer_b1 t=1 tessera-graph: skipped (exit 6" in p.stdout
    info = json.loads((out / "run.json").read_text())
    assert info["command"].startswith("bench/compare --bench") and info["cpus"] >= 1
    assert p.stdout.startswith("Run: `bench/compare --bench")
