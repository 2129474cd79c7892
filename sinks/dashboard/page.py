"""The dashboard page: one self-contained HTML document (inline style and script, no CDN).

It reads `/api/summary` every few seconds. When the API answers with an error, the figures
are cleared and a banner says that the database is not reachable, so no old number is shown
as a current one.
"""

from __future__ import annotations

from typing import Final

PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>casebus operations</title>
<style>
  :root { --ink: #1d2733; --muted: #5b6775; --line: #d9dee4; --bg: #f5f7f9;
          --late: #b3261e; --ok: #1f7a4d; --card: #fff; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
         color: var(--ink); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 1rem; padding: .8rem 1.5rem;
           background: #12355b; color: #fff; }
  header h1 { font-size: 1.2rem; margin: 0; }
  header .meta { color: #c9d6e3; font-size: .85rem; }
  main { padding: 1rem 1.5rem; display: grid; gap: 1rem;
         grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
            padding: .8rem 1rem; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 1rem; margin: 0 0 .6rem; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { padding: .25rem .5rem; border-bottom: 1px solid var(--line); text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  thead th { color: var(--muted); font-weight: 600; font-size: .8rem; }
  tr.total td { font-weight: 700; border-top: 2px solid var(--ink); }
  .tiles { display: flex; flex-wrap: wrap; gap: .6rem; }
  .tile { flex: 1 1 110px; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; }
  .tile .n { font-size: 1.5rem; font-weight: 700; }
  .tile .label { color: var(--muted); font-size: .8rem; }
  .tile.late .n { color: var(--late); }
  .zero { color: #aab3bd; }
  .late { color: var(--late); }
  .note { color: var(--muted); font-size: .8rem; margin: .4rem 0 0; }
  #banner { display: none; margin: 1rem 1.5rem 0; padding: .8rem 1rem; border-radius: 6px;
            background: #fdecea; border: 1px solid var(--late); color: var(--late);
            font-weight: 600; }
  body.down #banner { display: block; }
  body.down main { display: none; }
  #kafka.bad { color: var(--late); }
</style>
</head>
<body>
<header>
  <h1>casebus operations</h1>
  <span class="meta">MASTER KEY Asia case pipeline</span>
  <span class="meta" id="updated">loading&hellip;</span>
</header>
<div id="banner" role="alert"></div>
<main>
  <section class="wide">
    <h2>Records</h2>
    <div class="tiles" id="records"></div>
    <p class="note" id="kafka"></p>
  </section>
  <section class="wide">
    <h2>Pipeline: cases per site and status</h2>
    <table id="pipeline"><thead></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Overdue</h2>
    <div class="tiles" id="overdue"></div>
    <p class="note" id="clocks"></p>
    <table id="overdue-list"><thead><tr><th>Case</th><th>Site</th><th>Stage</th>
      <th>Due</th><th>Days late</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Dead letters by reason</h2>
    <table id="dead-letters"><thead><tr><th>Reason</th><th>Records</th></tr></thead>
      <tbody></tbody></table>
  </section>
  <section class="wide">
    <h2>Turnaround (days): median / 90th percentile</h2>
    <table id="turnaround"><thead></thead><tbody></tbody></table>
    <p class="note">Registration &rarr; first sample, first sample &rarr; QA pass,
      QA pass &rarr; review, over the cases that completed each step.</p>
  </section>
</main>
<script>
"use strict";
const STATUSES = ["REGISTERED", "SAMPLE_RECEIVED", "QA_FAILED", "QA_PASSED", "REVIEW_COMPLETE"];
const STAGES = {awaiting_sample: "Awaiting sample", awaiting_qa: "Awaiting QA",
                awaiting_review: "Awaiting review", orphan: "Orphans (no registration)"};
const SPANS = {registration_to_first_sample: "Registration \\u2192 sample",
               first_sample_to_qa_pass: "Sample \\u2192 QA pass",
               qa_pass_to_review: "QA pass \\u2192 review"};
const REFRESH_MS = 5000;
let lastGood = null;

function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}
function row(cells, attrs) {
  const tr = el("tr", null, attrs);
  for (const c of cells) tr.appendChild(c instanceof Node ? c : el("td", c));
  return tr;
}
function count(n, attrs) {
  const td = el("td", n, attrs);
  if (n === 0) td.classList.add("zero");
  return td;
}
function tile(label, n, attrs, late) {
  const box = el("div", null, {class: "tile" + (late && n > 0 ? " late" : "")});
  box.appendChild(el("div", n, Object.assign({class: "n"}, attrs)));
  box.appendChild(el("div", label, {class: "label"}));
  return box;
}
function days(hours) { return hours === null ? "\\u2013" : (hours / 24).toFixed(1); }
function when(iso) { return iso ? iso.replace("T", " ").slice(0, 16) + " UTC" : "\\u2013"; }

function renderRecords(s) {
  const box = document.getElementById("records");
  box.replaceChildren(
    ...["consumed", "accepted", "held", "duplicates", "rejected"].map(
      k => tile(k, s.records[k], {"data-record": k})),
    tile("consumer lag", s.lag.ok ? s.lag.total : "?", {"data-lag": "total"}, false));
  const kafka = document.getElementById("kafka");
  kafka.textContent = s.lag.ok ? "Consumer lag: records on Kafka not yet stored by the worker."
                               : "Consumer lag unknown: " + s.lag.error;
  kafka.className = "note" + (s.lag.ok ? "" : " bad");
}

function renderPipeline(s) {
  const table = document.getElementById("pipeline");
  table.tHead.replaceChildren(row([el("th", "Site"), ...STATUSES.map(x => el("th", x)),
                                   el("th", "Total")]));
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const [site, counts] of Object.entries(s.by_site)) {
    const total = STATUSES.reduce((a, x) => a + counts[x], 0);
    body.appendChild(row([el("td", site),
      ...STATUSES.map(x => count(counts[x], {"data-site": site, "data-status": x})),
      count(total, {"data-site": site, "data-status": "TOTAL"})]));
  }
  const all = STATUSES.reduce((a, x) => a + s.by_status[x], 0);
  body.appendChild(row([el("td", "All sites"),
    ...STATUSES.map(x => count(s.by_status[x], {"data-site": "ALL", "data-status": x})),
    count(all, {"data-site": "ALL", "data-status": "TOTAL"})], {class: "total"}));
}

function renderOverdue(s) {
  document.getElementById("overdue").replaceChildren(
    ...Object.entries(STAGES).map(([k, label]) =>
      tile(label, s.overdue[k] || 0, {"data-overdue": k}, true)));
  document.getElementById("clocks").textContent = s.clocks_checked_at
    ? "Clocks checked " + when(s.clocks_checked_at) + " by the worker."
    : "The worker has not checked the clocks yet.";
  const now = Date.now();
  const body = document.querySelector("#overdue-list tbody");
  body.replaceChildren(...s.overdue_cases.slice(0, 200).map(c => row([
    el("td", c.case_id, {"data-overdue-case": c.case_id}), el("td", c.site_id),
    el("td", STAGES[c.stage] || c.stage), el("td", when(c.due_at)),
    el("td", ((now - Date.parse(c.due_at)) / 86400000).toFixed(1), {class: "late"})])));
  if (s.overdue_cases.length === 0) body.appendChild(row([el("td", "No overdue cases.")]));
}

function renderDeadLetters(s) {
  const body = document.querySelector("#dead-letters tbody");
  body.replaceChildren(...Object.entries(s.dead_letters).map(([reason, n]) =>
    row([el("td", reason), count(n, {"data-dead-letter": reason})])));
}

function renderTurnaround(s) {
  const table = document.getElementById("turnaround");
  const spans = Object.keys(SPANS);
  table.tHead.replaceChildren(row([el("th", "Site"), ...spans.map(k => el("th", SPANS[k]))]));
  const sites = new Set();
  for (const k of spans) Object.keys(s.turnaround[k].by_site).forEach(x => sites.add(x));
  const cell = (st) => el("td", st ? days(st.median_hours) + " / " + days(st.p90_hours) +
                                      " (" + st.count + ")" : "\\u2013");
  const body = table.tBodies[0];
  body.replaceChildren(...[...sites].sort().map(site =>
    row([el("td", site), ...spans.map(k => cell(s.turnaround[k].by_site[site]))])));
  body.appendChild(row([el("td", "All sites"), ...spans.map(k => cell(s.turnaround[k].all))],
                       {class: "total"}));
}

function render(s) {
  renderRecords(s); renderPipeline(s); renderOverdue(s); renderDeadLetters(s);
  renderTurnaround(s);
}

function showDown(message) {
  document.body.classList.add("down");
  document.getElementById("banner").textContent = message + (lastGood
    ? " The figures last read at " + lastGood.toLocaleTimeString() +
      " are hidden: they may be out of date."
    : "");
  document.getElementById("updated").textContent = "not current";
}

async function refresh() {
  try {
    const response = await fetch("/api/summary", {cache: "no-store"});
    const body = await response.json();
    if (!response.ok) { showDown(body.error || ("dashboard answered " + response.status)); return; }
    render(body);
    lastGood = new Date();
    document.body.classList.remove("down");
    document.body.dataset.generatedAt = body.generated_at;
    document.getElementById("updated").textContent = "updated " + lastGood.toLocaleTimeString();
  } catch (error) {
    showDown("The dashboard server is not reachable (" + error + ").");
  }
}
refresh();
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
"""
