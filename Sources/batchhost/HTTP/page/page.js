// Polls /api/status every second and draws each batch. No dependencies.
"use strict";
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, attrs || {});
  for (const child of children) node.append(child);
  return node;
}

const number = (n) => Math.round(n).toLocaleString("en");
const documents = (n) => `${number(n)} document${n === 1 ? "" : "s"}`;
const dollars = (n) => "$" + n.toFixed(n < 1 ? 4 : 2);
const clock = (t) => new Date(t * 1000).toLocaleTimeString();

function fact(label, value) {
  return el("span", { className: "fact" }, label + " ", el("b", {}, String(value)));
}

function progressBar(t) {
  const share = t.total > 0 ? Math.min(1, t.finished / t.total) : 0;
  const bar = el("div", { className: "bar" }, el("div", { className: "done" }),
    el("div", { className: "label" }, `${number(t.finished)} of ${number(t.total)}${t.total_known ? "" : "+"} (${(share * 100).toFixed(1)}%)`));
  bar.firstChild.style.width = (share * 100).toFixed(2) + "%";
  bar.id = "progress";
  return bar;
}

// Documents a second over the last ten minutes, each point averaged over
// the 10 s before it (samples come about once a second).
function drawThroughput(canvas, samples) {
  const width = canvas.width = canvas.clientWidth || 600, height = canvas.height = 120;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  if (samples.length < 2) return;
  const rates = [];
  for (let i = 1, j = 0; i < samples.length; i++) {
    while (samples[i][0] - samples[j + 1][0] >= 10) j++;
    const [t0, n0] = samples[j], [t1, n1] = samples[i];
    rates.push([t1, (n1 - n0) / Math.max(t1 - t0, 0.001)]);
  }
  const end = samples[samples.length - 1][0], start = end - 600;
  const top = Math.max(...rates.map((r) => r[1]), 1);
  g.strokeStyle = "#3a7";
  g.lineWidth = 2;
  g.beginPath();
  rates.forEach(([t, r], i) => {
    const x = ((t - start) / 600) * width, y = height - 14 - (r / top) * (height - 24);
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke();
  g.fillStyle = "#555";
  g.font = "11px sans-serif";
  g.fillText(`${top.toFixed(1)} docs/s`, 4, 12);
  g.fillText("10 min ago", 4, height - 2);
  g.fillText("now", width - 24, height - 2);
}

// Actions are offered while a batch runs, when the server takes them and the page has the token.
let canAct = false;
const offers = (b, action) => canAct && b.actions.includes(action);

function failuresTable(b) {
  const failures = b.failures;
  if (!failures.length) return el("p", { className: "muted" }, b.totals.failed ? "Failures are not grouped here." : "No failures.");
  const acting = offers(b, "retry");
  const rows = failures.map((f) => el("tr", {},
    el("td", {}, f.stage || ""), el("td", { className: "error-text" }, f.error), el("td", { className: "count" }, number(f.count)),
    el("td", {}, ...f.examples.map((id) => el("a", { className: "doc", href: "#", onclick: (e) => { e.preventDefault(); showDocument(id, b); } }, id))),
    acting ? el("td", {}, actionButton("retry", `Retry ${number(f.count)}`, () =>
      retry({ batch: b.name, stage: f.stage, error: f.error }, `the ${documents(f.count)} that failed with “${f.error}”`))) : ""));
  return el("table", { id: "failures" },
    el("tr", {}, el("th", {}, "stage"), el("th", {}, "error"), el("th", {}, "count"), el("th", {}, "examples"), acting ? el("th", {}, "") : ""), ...rows);
}

function actionButton(className, label, onclick) {
  return el("button", { className, type: "button", onclick }, label);
}

function limiterFacts(b) {
  const facts = [fact("rate-limit pauses", b.rate_limit.pauses), fact("waiting for the limit", b.rate_limit.waiting)];
  if (b.limiter && b.limiter.paused_until) facts.push(fact("paused until", clock(b.limiter.paused_until)));
  if (b.limiter && b.limiter.tokens_available !== null) facts.push(fact("tokens left", number(b.limiter.tokens_available)));
  return facts;
}

function batchView(b, readOnly) {
  const t = b.totals, c = b.cost;
  const budget = c.budget_usd ? ` of ${dollars(c.budget_usd)} budget` : "";
  const projected = c.projected_usd > 0 ? `, projected ${dollars(c.projected_usd)}` : "";
  const canvas = el("canvas", { id: "throughput" });
  const view = el("section", { className: "batch" },
    el("h2", {}, `${b.name} — `, el("span", { id: "state" }, b.paused ? "paused" : b.state)),
    progressBar(t),
    el("div", { className: "facts" },
      fact("ok", number(t.ok)), fact("failed", number(t.failed)), fact("in flight", number(t.in_flight)),
      fact("queued", number(t.queued)), fact("retries", number(t.retries)),
      fact("rate", `${b.rates.docs_per_second_last_minute.toFixed(2)} docs/s`),
      fact("ETA", b.eta ? clock(b.eta) : "—"),
      fact("cost", dollars(c.spent_usd) + projected + budget), ...limiterFacts(b)),
    canvas,
    el("h2", {}, "Failures by error"), failuresTable(b));
  if (b.workers.length) view.append(el("h2", {}, "Workers"), workersTable(b.workers));
  if (canAct && b.actions.length) view.append(batchActions(b));
  requestAnimationFrame(() => drawThroughput(canvas, b.throughput));
  return view;
}

function workersTable(workers) {
  return el("table", { id: "workers" },
    el("tr", {}, el("th", {}, "worker"), el("th", {}, "committed"), el("th", {}, "state"), el("th", {}, "last seen")),
    ...workers.map((w) => el("tr", {}, el("td", {}, w.name), el("td", { className: "count" }, number(w.done)), el("td", {}, w.state),
      el("td", {}, w.seconds_since_seen === null ? "never" : `${w.seconds_since_seen.toFixed(0)} s ago`))));
}

function batchActions(b) {
  const t = b.totals, batch = b.name;
  const buttons = el("div", { className: "actions" });
  if (offers(b, "pause")) {
    buttons.append(b.paused ? actionButton("resume", "Resume", () => act("/api/resume", { batch }))
                            : actionButton("pause", "Pause", () => act("/api/pause", { batch })));
  }
  if (offers(b, "cancel")) {
    buttons.append(actionButton("cancel", "Cancel the run", () => {
      if (confirm(`Cancel ${batch}? No new document starts; the ${t.in_flight} in flight finish.`)) act("/api/cancel", { batch });
    }));
  }
  if (offers(b, "retry") && t.failed > 0) {
    buttons.append(actionButton("retry-all", `Retry all ${number(t.failed)} failed`, () =>
      retry({ batch, all: "true" }, `all ${documents(t.failed)} that failed in ${batch}`)));
  }
  return buttons;
}

async function retry(selection, what) {
  if (!confirm(`Run ${what} again?`)) return;
  const answer = await act("/api/retry", selection);
  if (answer) showNotice(`${number(answer.requeued)} of ${documents(answer.matched)} put back to run again.`);
}

// POSTs an action as a form with the token; returns its answer, or shows its error.
async function act(path, fields = {}) {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) if (value !== null && value !== undefined) body.set(key, value);
  const answer = await fetch(path, { method: "POST", headers, body });
  const json = await answer.json();
  if (!answer.ok) return showError(json.error);
  refresh();
  return json;
}

function showNotice(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

// A document of batch `b` (a run on this machine has one; a dashboard names it).
async function showDocument(id, b) {
  const answer = await fetch(`/api/documents/${encodeURIComponent(id)}?batch=${encodeURIComponent(b.name)}`, { headers });
  const doc = await answer.json();
  if (!answer.ok) return showError(doc.error);
  $("detail-id").textContent = id;
  $("detail-table").replaceChildren(...Object.entries(doc).filter(([k]) => k !== "attempt_history").map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", { className: "error-text" }, v === null ? "" : String(v)))));
  $("detail-attempts").replaceChildren(...(doc.attempt_history || []).map(attemptRow));
  $("detail-retry").hidden = !(offers(b, "retry") && doc.status === "failed");
  $("detail-retry").onclick = () => retry({ batch: b.name, id }, `the document ${id}`);
  $("detail").hidden = false;
}

function attemptRow(a) {
  const cell = (text, className) => el("td", { className: className || "" }, text === null ? "" : String(text));
  return el("tr", {}, cell(a.attempt), cell(a.stage), cell(clock(a.started_at)), cell(a.worker),
    cell((a.duration_ms / 1000).toFixed(2), "count"), cell(a.outcome), cell(a.error, "error-text"), cell(a.stderr, "error-text"));
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function refresh() {
  try {
    const answer = await fetch("/api/status", { headers });
    const status = await answer.json();
    if (!answer.ok) throw new Error(status.error);
    canAct = !status.read_only && token !== null;
    $("mode").textContent = status.read_only ? "read-only (started without --http-token)"
      : canAct ? "operator actions enabled" : "operator actions need the token: open this page with ?token=TOKEN";
    $("batches").replaceChildren(...status.batches.map((b) => batchView(b, status.read_only)));
    showError("");
  } catch (e) {
    showError("cannot read the status: " + e.message);
  }
}

$("detail-close").onclick = () => { $("detail").hidden = true; };
refresh();
setInterval(refresh, 1000);
