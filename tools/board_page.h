#pragma once
// The page `tessera board` serves at "/": one self-contained HTML file (inline CSS and
// JavaScript, charts drawn as SVG), so it works without internet access and fetches only
// the board's own /api/ routes. It polls them every few seconds, so a run that is still
// writing shows its new epochs without a reload.
#include <string_view>

namespace tessera_cli {

inline constexpr std::string_view kBoardPage = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tessera board</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
  header { background: #263238; color: #fff; padding: 8px 16px; display: flex; gap: 24px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; white-space: nowrap; }
  header label, nav { font-size: 13px; white-space: nowrap; }
  nav button { background: none; border: 0; color: #cfd8dc; font-size: 14px; padding: 6px 10px; cursor: pointer; }
  nav button.on { color: #fff; border-bottom: 2px solid #4fc3f7; }
  main { display: flex; }
  aside { width: 220px; padding: 12px; border-right: 1px solid #ddd; min-height: 90vh; }
  aside .run { display: block; margin: 4px 0; word-break: break-all; }
  aside .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
  section { flex: 1; padding: 12px; display: flex; flex-wrap: wrap; gap: 12px; align-content: flex-start; }
  .card { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 8px; }
  .card h3 { font-size: 13px; margin: 0 0 4px; font-weight: 600; }
  svg text { font-size: 10px; fill: #555; }
  table { border-collapse: collapse; background: #fff; }
  td, th { border: 1px solid #ddd; padding: 4px 8px; text-align: left; }
  pre { white-space: pre-wrap; max-width: 560px; margin: 0; }
  .error { color: #b71c1c; }
  .muted { color: #888; }
</style>
</head>
<body>
<header>
  <h1>tessera board</h1>
  <nav id="tabs"></nav>
  <label>smoothing <input id="smooth" type="range" min="0" max="0.99" step="0.01" value="0.6">
    <span id="smoothv">0.60</span></label>
  <label><input id="logy" type="checkbox"> log scale</label>
  <span id="status" class="muted"></span>
</header>
<main>
  <aside><b>Runs</b><div id="runs"></div></aside>
  <section id="view"></section>
</main>
<script>
"use strict";
const COLORS = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#6d4c41", "#3949ab"];
const TABS = ["scalars", "histograms", "images", "text", "hparams"];
const state = { tab: "scalars", runs: [], selected: {}, data: {} };

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function color(run) { return COLORS[state.runs.indexOf(run) % COLORS.length]; }
async function getJSON(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}
function q(params) { return Object.entries(params).map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&"); }

// TensorBoard's smoothing: an exponential moving average, debiased for the first points.
function smooth(values, w) {
  let last = 0, n = 0;
  return values.map(v => {
    if (!isFinite(v)) return v;
    last = last * w + (1 - w) * v; n++;
    return last / (1 - Math.pow(w, n));
  });
}

function ticks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  const err = (hi - lo) / n / step;
  const s = step * (err >= 7.5 ? 10 : err >= 3 ? 5 : err >= 1.5 ? 2 : 1);
  const out = [];
  for (let t = Math.ceil(lo / s) * s; t <= hi + s * 1e-9; t += s) out.push(t);
  return out;
}
function fmt(v) {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(1) : +v.toPrecision(4) + "";
}

// One chart: series = [{run, points: [[step, value], ...]}].
function lineChart(series, logy, w) {
  const W = 460, H = 240, L = 52, R = 10, T = 10, B = 24;
  const tr = v => logy ? (v > 0 ? Math.log10(v) : NaN) : v;
  let xs = [], ys = [];
  for (const s of series) for (const [x, y] of s.points) { xs.push(x); const t = tr(y); if (isFinite(t)) ys.push(t); }
  if (!xs.length || !ys.length) return '<p class="muted">no values' + (logy ? " > 0" : "") + "</p>";
  let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 + 1e-9; y1 += Math.abs(y1) * 0.1 + 1e-9; }
  const pad = (y1 - y0) * 0.04;  // curves off the frame's edges
  y0 -= pad; y1 += pad;
  const px = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  const py = y => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  let svg = `<svg width="${W}" height="${H}">`;
  for (const t of ticks(y0, y1, 5)) {
    svg += `<line x1="${L}" x2="${W - R}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>` +
           `<text x="${L - 4}" y="${py(t) + 3}" text-anchor="end">${esc(fmt(logy ? Math.pow(10, t) : t))}</text>`;
  }
  for (const t of ticks(x0, x1, 6)) {
    svg += `<text x="${px(t)}" y="${H - 8}" text-anchor="middle">${esc(fmt(t))}</text>`;
  }
  svg += `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#ccc"/>`;
  for (const s of series) {
    const raw = s.points.map(p => [p[0], tr(p[1])]).filter(p => isFinite(p[1]));
    const sm = smooth(raw.map(p => p[1]), w);
    const line = (pts, extra) => `<polyline fill="none" stroke="${color(s.run)}" ${extra} points="` +
        pts.map(p => px(p[0]).toFixed(1) + "," + py(p[1]).toFixed(1)).join(" ") + '"/>';
    if (w > 0) svg += line(raw, 'stroke-opacity="0.25"');
    svg += line(raw.map((p, i) => [p[0], sm[i]]), 'stroke-width="1.6"');
    if (raw.length === 1) svg += `<circle cx="${px(raw[0][0])}" cy="${py(sm[0])}" r="3" fill="${color(s.run)}"/>`;
  }
  return svg + "</svg>";
}

// Histograms over time: one density curve per step, later steps lower and darker.
function histChart(hists, run) {
  const W = 460, H = 260, L = 10, R = 10, T = 10, B = 24;
  if (!hists.length) return '<p class="muted">no values</p>';
  const every = Math.max(1, Math.ceil(hists.length / 25));
  const shown = hists.filter((h, i) => i % every === 0 || i === hists.length - 1);
  let x0 = Math.min(...shown.map(h => h.min)), x1 = Math.max(...shown.map(h => h.max));
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  const curves = shown.map(h => {
    const pts = [];
    let left = h.min;
    h.limits.forEach((lim, i) => {
      const width = Math.max(lim - left, (x1 - x0) / 1000);
      pts.push([(left + lim) / 2, h.counts[i] / width]);
      left = lim;
    });
    return { step: h.step, pts };
  });
  const ymax = Math.max(...curves.flatMap(c => c.pts.map(p => p[1])), 1e-12);
  const band = (H - T - B) * 0.55, off = shown.length > 1 ? (H - T - B - band) / (shown.length - 1) : 0;
  const px = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  let svg = `<svg width="${W}" height="${H}">`;
  curves.forEach((c, i) => {
    const base = T + band + off * i, shade = Math.round(200 - 160 * (i / Math.max(1, curves.length - 1)));
    svg += `<polyline fill="none" stroke="rgb(${shade},${shade},${Math.min(255, shade + 55)})" points="` +
           c.pts.map(p => px(p[0]).toFixed(1) + "," + (base - p[1] / ymax * band).toFixed(1)).join(" ") + '"/>';
    if (i === curves.length - 1 || i === 0)
      svg += `<text x="${W - R}" y="${base}" text-anchor="end">step ${c.step}</text>`;
  });
  for (const t of ticks(x0, x1, 6)) svg += `<text x="${px(t)}" y="${H - 6}" text-anchor="middle">${esc(fmt(t))}</text>`;
  return svg + "</svg>";
}

function chosen() { return state.runs.filter(r => state.selected[r]); }

async function render() {
  const view = document.getElementById("view");
  const w = +document.getElementById("smooth").value, logy = document.getElementById("logy").checked;
  const runs = chosen();
  let html = "";
  if (state.tab === "scalars") {
    const tags = new Set();
    for (const r of runs) for (const t of Object.keys(state.data[r]?.scalars || {})) tags.add(t);
    for (const tag of [...tags].sort()) {
      const series = runs.filter(r => state.data[r]?.scalars?.[tag])
                         .map(r => ({ run: r, points: state.data[r].scalars[tag].map(p => [p[0], p[2]]) }));
      html += `<div class="card"><h3>${esc(tag)}</h3>${lineChart(series, logy, w)}</div>`;
    }
  } else if (state.tab === "histograms") {
    for (const r of runs) for (const tag of state.data[r]?.histogram_tags || []) {
      const key = r + "\u0000" + tag;
      if (!state.hist) state.hist = {};
      html += `<div class="card"><h3>${esc(tag)} <span class="muted">(${esc(r)})</span></h3>` +
              (state.hist[key] ? histChart(state.hist[key], r) : '<p class="muted">loading</p>') + "</div>";
    }
  } else if (state.tab === "images") {
    for (const r of runs) for (const [tag, list] of Object.entries(state.data[r]?.images || {})) {
      const last = list[list.length - 1];
      html += `<div class="card"><h3>${esc(tag)} <span class="muted">(${esc(r)}, step ${last.step}, ` +
              `${last.width}x${last.height})</span></h3><img style="image-rendering: pixelated; min-width: 160px" ` +
              `src="/api/image?${q({ run: r, tag, index: list.length - 1 })}"></div>`;
    }
  } else if (state.tab === "text") {
    for (const r of runs) for (const [tag, list] of Object.entries(state.data[r]?.texts || {})) {
      const last = list[list.length - 1];
      html += `<div class="card"><h3>${esc(tag)} <span class="muted">(${esc(r)}, step ${last.step})</span></h3>` +
              `<pre>${esc(last.text)}</pre></div>`;
    }
  } else if (state.tab === "hparams") {
    const names = new Set(), metrics = new Set();
    for (const r of runs) {
      for (const k of Object.keys(state.data[r]?.hparams || {})) names.add(k);
      for (const k of Object.keys(state.data[r]?.scalars || {})) metrics.add(k);
    }
    if (!names.size) html += '<p class="muted">no hyper-parameters logged (SummaryWriter::add_hparams)</p>';
    html += "<table><tr><th>run</th>" + [...names].sort().map(n => `<th>${esc(n)}</th>`).join("") +
            [...metrics].sort().map(m => `<th>${esc(m)} (last)</th>`).join("") + "</tr>";
    for (const r of runs) {
      const d = state.data[r] || {};
      html += `<tr><td>${esc(r)}</td>` + [...names].sort().map(n => `<td>${esc(d.hparams?.[n] ?? "")}</td>`).join("") +
              [...metrics].sort().map(m => { const s = d.scalars?.[m]; return `<td>${s ? esc(fmt(s[s.length - 1][2])) : ""}</td>`; }).join("") + "</tr>";
    }
    html += "</table>";
  }
  for (const r of runs) if (state.data[r]?.error) html += `<div class="card error">${esc(r)}: ${esc(state.data[r].error)}</div>`;
  view.innerHTML = html || '<p class="muted">nothing to show for the selected runs</p>';
}

async function refresh() {
  try {
    const runs = (await getJSON("/api/runs")).runs;
    for (const r of runs) if (!(r in state.selected)) state.selected[r] = true;
    state.runs = runs;
    document.getElementById("runs").innerHTML = runs.map(r =>
      `<label class="run"><input type="checkbox" data-run="${esc(r)}" ${state.selected[r] ? "checked" : ""}>` +
      `<span class="swatch" style="background:${color(r)}"></span>${esc(r)}</label>`).join("") ||
      '<p class="muted">no event files yet</p>';
    for (const r of chosen()) {
      state.data[r] = await getJSON("/api/run?" + q({ run: r }));
      if (state.tab === "histograms") {
        state.hist = state.hist || {};
        for (const tag of state.data[r].histogram_tags)
          state.hist[r + "\u0000" + tag] = (await getJSON("/api/histograms?" + q({ run: r, tag }))).histograms;
      }
    }
    document.getElementById("status").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("status").textContent = String(e);
  }
  render();
}

document.getElementById("tabs").innerHTML = TABS.map(t => `<button data-tab="${t}">${t}</button>`).join("");
document.getElementById("tabs").addEventListener("click", e => {
  if (!e.target.dataset.tab) return;
  state.tab = e.target.dataset.tab;
  for (const b of document.querySelectorAll("nav button")) b.className = b.dataset.tab === state.tab ? "on" : "";
  refresh();
});
document.getElementById("runs").addEventListener("change", e => {
  state.selected[e.target.dataset.run] = e.target.checked;
  refresh();
});
document.getElementById("smooth").addEventListener("input", e => {
  document.getElementById("smoothv").textContent = (+e.target.value).toFixed(2);
  render();
});
document.getElementById("logy").addEventListener("change", render);
document.querySelector('nav button[data-tab="scalars"]').className = "on";
refresh();
setInterval(refresh, 5000);  // live: a run still writing shows its new epochs
</script>
</body>
</html>
)HTML";

}  // namespace tessera_cli
