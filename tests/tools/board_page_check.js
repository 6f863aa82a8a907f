// Runs the JavaScript of `tessera board`'s page against a live board, with a minimal
// stand-in for the browser's DOM, and checks that every tab renders something from the
// board's data: the scalar charts (one SVG per tag), the histograms, the image, the text
// and the hyper-parameter table. Run by tests/tools/board_test.cc:
//
//   node tests/tools/board_page_check.js PORT PAGE.html
"use strict";
const fs = require("fs");
const [port, pagePath] = process.argv.slice(2);
const html = fs.readFileSync(pagePath, "utf8");
const js = html.match(/<script>([\s\S]*)<\/script>/)[1];

const els = {};
function el(id) {
  return els[id] || (els[id] = {
    id, innerHTML: "", textContent: "", value: id === "smooth" ? "0.6" : "", checked: false,
    className: "", dataset: {}, addEventListener() {},
  });
}
global.document = { getElementById: el, querySelector: () => el("?"), querySelectorAll: () => [] };
const realFetch = fetch;
global.fetch = path => realFetch(`http://127.0.0.1:${port}${path}`);
global.setInterval = () => {};
eval(js + "\n;global.pageState = state; global.pageRefresh = refresh;");

(async () => {
  const want = {
    scalars: h => (h.match(/<svg/g) || []).length >= 2 && h.includes("polyline"),
    histograms: h => h.includes("<svg") && h.includes("step "),
    images: h => h.includes("/api/image?"),
    text: h => h.includes("hello from run_a"),
    hparams: h => h.includes("<table") && h.includes("0.01"),
  };
  let failed = 0;
  for (const [tab, ok] of Object.entries(want)) {
    pageState.tab = tab;
    await pageRefresh();
    const h = el("view").innerHTML;
    const good = ok(h) && !h.includes("NaN") && !el("status").textContent.includes("Error");
    console.log(`${tab}: ${good ? "ok" : "FAILED"} (${h.length} characters)`);
    if (!good) { failed++; console.log(h.slice(0, 2000), el("status").textContent); }
  }
  process.exit(failed ? 1 : 0);
})().catch(e => { console.log("error: " + e); process.exit(1); });
