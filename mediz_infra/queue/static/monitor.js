// The queue monitor: polls the JSON API, draws counts, a per-minute chart and tables, and posts
// the admin actions (pause, resume, retry, delete). Uses the shared `admin` helpers inlined before it.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const { $, cell, fill, getJson } = admin;
  const api = document.body.dataset.api;
  let current = null;

  const when = (t) => new Date(t * 1000).toLocaleTimeString();
  const path = (...parts) => api + "/" + parts.map(encodeURIComponent).join("/");
  const errorCell = (tr, error, traceback) => admin.codeCell(tr, error || "", traceback, "traceback");

  function chart(series) {
    const svg = $("chart");
    svg.replaceChildren();
    const W = 600, H = 120, n = Math.max(1, series.length);
    const top = Math.max(1, ...series.map((m) => m.completed + m.failed));
    const w = W / n;
    series.forEach((m, i) => {
      const hd = (m.completed / top) * (H - 10), hf = (m.failed / top) * (H - 10);
      const bar = (cls, y, h) => {
        if (h <= 0) return;
        const r = svg.appendChild(document.createElementNS(SVG, "rect"));
        for (const [k, v] of Object.entries({ class: cls, x: i * w + 1, y, width: Math.max(1, w - 2), height: h })) r.setAttribute(k, v);
      };
      bar("done", H - hd, hd);
      bar("fail", H - hd - hf, hf);
    });
    svg.dataset.completed = String(series.reduce((s, m) => s + m.completed, 0));
    svg.dataset.failed = String(series.reduce((s, m) => s + m.failed, 0));
  }

  async function act(url) {
    const response = await fetch(url, { method: "POST", credentials: "same-origin", cache: "no-store" });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      $("status").textContent = "action refused: " + (problem.detail || "HTTP " + response.status);
    }
    poll();
  }

  function button(td, label, url) {
    const b = td.appendChild(document.createElement("button"));
    b.type = "button";
    b.textContent = label;
    b.dataset.action = label.toLowerCase();
    b.addEventListener("click", () => act(url));
  }

  function renderOverview(data) {
    const nav = $("queues");
    nav.replaceChildren();
    if (current === null && data.queues.length) current = data.queues[0].name;
    for (const q of data.queues) {
      const b = nav.appendChild(document.createElement("button"));
      b.type = "button";
      b.dataset.queue = q.name;
      b.className = q.name === current ? "current" : "";
      b.textContent = q.name + " · " + q.counts.waiting + " waiting" + (q.paused ? " · paused" : "");
      b.addEventListener("click", () => { current = q.name; poll(); });
    }
  }

  function renderQueue(d) {
    $("queue").hidden = false;
    $("queue-name").textContent = d.name;
    $("paused").hidden = !d.paused;
    const toggle = $("toggle");
    toggle.textContent = d.paused ? "Resume" : "Pause";
    toggle.onclick = () => act(path(d.name, d.paused ? "resume" : "pause"));
    const c = d.counts;
    const shown = { waiting: c.waiting, active: c.active, delayed: c.delayed, completed: c.completed, failed: c.failed, dead: c.dead };
    for (const [k, v] of Object.entries(shown)) $("n-" + k).textContent = String(v);
    $("minutes").textContent = String(d.throughput.minutes);
    $("cpm").textContent = String(d.throughput.completed_per_minute);
    $("fpm").textContent = String(d.throughput.failed_per_minute);
    chart(d.throughput.series);
    fill("workers", d.workers, (tr, w) => {
      cell(tr, w.id); cell(tr, w.host); cell(tr, String(w.pid), "num");
      cell(tr, String(w.concurrency), "num"); cell(tr, String(w.running), "num");
      cell(tr, String(w.completed), "num"); cell(tr, when(w.started));
      cell(tr, Math.max(0, Math.round(d.now - w.last_seen)) + " s ago");
    });
    fill("dead", d.dead, (tr, j) => {
      tr.dataset.job = j.id;
      cell(tr, j.id); cell(tr, j.task); cell(tr, String(j.attempts), "num");
      errorCell(tr, j.error, j.traceback);
      const td = cell(tr, "");
      button(td, "Retry", path(d.name, "jobs", j.id, "retry"));
      button(td, "Delete", path(d.name, "jobs", j.id, "delete"));
    });
    fill("failures", d.failures, (tr, f) => {
      cell(tr, when(f.at)); cell(tr, f.id); cell(tr, f.task);
      cell(tr, String(f.attempt), "num"); cell(tr, f.outcome); errorCell(tr, f.error, null);
    });
  }

  const poll = admin.poller(async () => {
    renderOverview(await getJson(api));
    if (current !== null) renderQueue(await getJson(path(current)));
    admin.updated(new Date());
  });
  poll();
})();
