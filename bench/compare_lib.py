"""The logic of bench/compare that needs no framework: reading the JSON lines of a run,
the table (Tessera's best mode against the best peer configuration, ratios), the memory
table and the chart. Kept apart from the driver so tests can feed it canned lines.

Ratio = Tessera / best peer in time (lower is better). For the throughput metrics
(GFLOP/s, images per second) the times are the inverse of the figures, so the ratio is
best peer / Tessera: below 1 still means Tessera is ahead. Each figure is the median over
the rounds of each round's median line.
"""
import json
import statistics

# metric -> True when a higher figure is better (a throughput)
HIGHER_IS_BETTER = {"gflops": True, "images_per_s": True,
                    "latency_ms": False, "step_ms": False, "epoch_s": False}
# The metric a workload is judged by, in WORKLOADS.md's terms.
PRIMARY_METRIC = {
    "gemm_1024": "gflops", "cnn28_infer_b256": "images_per_s", "cnn28_fmnist_epoch": "epoch_s",
    "mlp_train_b128": "step_ms", "cnn28_train_b64": "step_ms", "cnn64_train_b32": "step_ms",
    "cnn28_infer_b1": "latency_ms", "cnn64_infer_b1": "latency_ms", "resnet18_infer_b1": "latency_ms",
    "encoder_infer_b1": "latency_ms",
}
WORKLOAD_ORDER = list(PRIMARY_METRIC)


def is_tessera(system):
    return system.startswith("tessera-")


def parse_lines(lines):
    """JSON objects from an iterable of lines; blank lines and lines that are not JSON
    objects (a runner's stray print) are passed over."""
    out = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "workload" in obj and "system" in obj:
            out.append(obj)
    return out


def _median(xs):
    return statistics.median(xs) if xs else None


class Summary:
    """The records of one run, grouped: figures[(workload, threads, system, metric, stat)]
    is the list of values over the rounds."""

    def __init__(self, records):
        self.figures = {}
        self.skipped = {}        # (workload, threads, system) -> reason
        self.peer_skipped = {}   # peer -> reason (could not be installed or imported)
        self.versions = {}       # system -> version string
        for r in records:
            if r.get("metric") == "skipped":
                if r.get("workload") == "*":
                    self.peer_skipped[r["system"]] = r.get("reason", "")
                else:
                    self.skipped[(r["workload"], r.get("threads"), r["system"])] = r.get("reason", "")
                continue
            if r.get("version"):
                self.versions[r["system"]] = r["version"]
            try:
                v = float(r["value"])
            except (KeyError, TypeError, ValueError):
                continue
            key = (r["workload"], r.get("threads"), r["system"], r.get("metric"), r.get("stat"))
            self.figures.setdefault(key, []).append(v)

    def value(self, workload, threads, system, metric, stat="median"):
        return _median(self.figures.get((workload, threads, system, metric, stat), []))

    def cells(self):
        """(workload, threads) pairs that have any figure, in WORKLOADS.md's order."""
        seen = {(k[0], k[1]) for k in self.figures if k[0] in PRIMARY_METRIC}
        seen |= {(k[0], k[1]) for k in self.skipped if k[0] in PRIMARY_METRIC}
        return sorted(seen, key=lambda c: (WORKLOAD_ORDER.index(c[0]), c[1] if c[1] is not None else 0))

    def systems(self, workload, threads, metric):
        return sorted({k[2] for k in self.figures
                       if k[0] == workload and k[1] == threads and k[3] == metric and k[4] == "median"})

    def best(self, workload, threads, metric, tessera):
        """(system, median) of the best Tessera mode (tessera=True) or best peer."""
        higher = HIGHER_IS_BETTER[metric]
        cands = [(s, self.value(workload, threads, s, metric)) for s in self.systems(workload, threads, metric)
                 if is_tessera(s) == tessera]
        cands = [c for c in cands if c[1] is not None and c[1] > 0]
        if not cands:
            return None, None
        return (max if higher else min)(cands, key=lambda c: c[1])

    def rows(self):
        """One dict per (workload, threads): the table's content."""
        rows = []
        for wl, t in self.cells():
            metric = PRIMARY_METRIC[wl]
            ts, tv = self.best(wl, t, metric, tessera=True)
            ps, pv = self.best(wl, t, metric, tessera=False)
            ratio = None
            if tv and pv:
                ratio = pv / tv if HIGHER_IS_BETTER[metric] else tv / pv
            tp90 = self.value(wl, t, ts, metric, "p90") if ts else None
            skipped = sorted((s, why) for (w, th, s), why in self.skipped.items() if w == wl and th == t)
            acc = {s: self.value(wl, t, s, "test_acc") for s in (ts, ps) if s}
            acc = {s: a for s, a in acc.items() if a is not None}
            rows.append({"workload": wl, "threads": t, "metric": metric,
                         "tessera_system": ts, "tessera": tv, "tessera_p90": tp90,
                         "peer_system": ps, "peer": pv, "ratio": ratio,
                         "skipped": skipped, "test_acc": acc})
        return rows

    def rss_rows(self):
        """Peak RSS (MB, median over rounds) of each workload process, per system; then
        the processes that ran several workloads (workload "all")."""
        out = []
        alls = sorted({k[1] for k in self.figures if k[0] == "all" and k[3] == "rss_mb"},
                      key=lambda t: t if t is not None else 0)
        for wl, t in self.cells() + [("all", t) for t in alls]:
            per = {}
            for k, vals in self.figures.items():
                if k[0] == wl and k[1] == t and k[3] == "rss_mb" and k[4] == "max":
                    per[k[2]] = _median(vals)
            if per:
                out.append({"workload": wl, "threads": t, "rss_mb": per})
        return out


def fmt(v, metric=None):
    if v is None:
        return "-"
    if metric == "gflops" or metric == "images_per_s":
        return "%.0f" % v if v >= 100 else "%.1f" % v
    return "%.4g" % v


def p90_cell(r):
    """Tessera's p90 and how far it is from the median (the target: <= 1.3x on b1).
    For a throughput the p90 line is the slow tail's throughput, so median / p90."""
    p90, med = r["tessera_p90"], r["tessera"]
    if p90 is None or not med:
        return "-"
    spread = med / p90 if HIGHER_IS_BETTER[r["metric"]] else p90 / med
    return "%s (%.2fx)" % (fmt(p90, r["metric"]), spread)


def format_table(summary):
    """The text table bench/compare prints (Markdown, so docs/performance.md can take it)."""
    head = ("| workload | threads | Tessera best mode | Tessera | p90 (/median) | best peer | peer | ratio |\n"
            "|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in summary.rows():
        unit = {"gflops": " GFLOP/s", "images_per_s": " img/s", "epoch_s": " s"}.get(r["metric"], " ms")
        ratio = "-" if r["ratio"] is None else "%.2f" % r["ratio"]
        extra = ""
        if r["test_acc"]:
            extra = " (acc %s)" % ", ".join("%s %.4f" % (s, a) for s, a in r["test_acc"].items())
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s%s |" % (
            r["workload"], r["threads"], r["tessera_system"] or "-",
            fmt(r["tessera"], r["metric"]) + (unit if r["tessera"] is not None else ""),
            p90_cell(r), r["peer_system"] or "-",
            fmt(r["peer"], r["metric"]) + (unit if r["peer"] is not None else ""), ratio, extra))
    lines.append("")
    lines.append("ratio = Tessera / best peer in time (lower is better; throughputs inverted).")
    rss = summary.rss_rows()
    if rss:
        lines.append("")
        lines.append("Peak RSS of each workload process, MB (median over rounds):")
        for r in rss:
            lines.append("  %-18s t=%s  %s" % (r["workload"], r["threads"], ", ".join(
                "%s %.0f" % (s, v) for s, v in sorted(r["rss_mb"].items()))))
    skipped_cells = [(r["workload"], r["threads"], s, why) for r in summary.rows() for s, why in r["skipped"]]
    if summary.peer_skipped or skipped_cells:
        lines.append("")
        lines.append("Skipped:")
        for p, why in sorted(summary.peer_skipped.items()):
            lines.append("  %s: skipped (%s)" % (p, why))
        for wl, t, s, why in skipped_cells:
            lines.append("  %s t=%s %s: skipped (%s)" % (wl, t, s, why))
    if summary.versions:
        lines.append("")
        lines.append("Versions: " + "; ".join("%s = %s" % kv for kv in sorted(summary.versions.items())))
    return "\n".join(lines)


def plot_ratios(summary, path):
    """A bar chart of the ratios, one group per workload, one bar per thread count,
    with the line at 1 (parity). Needs matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in summary.rows() if r["ratio"] is not None]
    wls = [w for w in WORKLOAD_ORDER if any(r["workload"] == w for r in rows)]
    threads = sorted({r["threads"] for r in rows})
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(wls) + 2), 4.5))
    width = 0.8 / max(1, len(threads))
    for i, t in enumerate(threads):
        xs, ys, peers = [], [], []
        for j, w in enumerate(wls):
            for r in rows:
                if r["workload"] == w and r["threads"] == t:
                    xs.append(j + (i - (len(threads) - 1) / 2) * width)
                    ys.append(r["ratio"])
                    peers.append(r["peer_system"])
        bars = ax.bar(xs, ys, width, label="%s thread%s" % (t, "" if t == 1 else "s"))
        for b, y, p in zip(bars, ys, peers):
            # the ratio, and whom it is against
            ax.annotate("%.2f\n%s" % (y, p), (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom",
                        fontsize=6)
    ax.axhline(1.0, color="black", linewidth=0.8)
    top = max([r["ratio"] for r in rows] + [1.0])
    ax.set_ylim(0, top * 1.18)  # room for the labels above the tallest bar
    ax.set_xticks(range(len(wls)))
    ax.set_xticklabels(wls, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("Tessera / best peer (time; lower is better)")
    ax.set_title("Tessera's best mode against the best peer configuration")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
