// The metrics dashboard: polls the JSON endpoint and draws small SVG charts. Uses the shared
// `admin` helpers inlined before it.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const { $, cell, fill } = admin;
  const source = document.body.dataset.source;
  const W = 600, H = 160, PAD = { l: 44, r: 8, t: 8, b: 18 };

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(value)));
    for (const m of [1, 2, 5, 10]) if (m * p >= value) return m * p;
    return 10 * p;
  }

  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (Math.abs(v) >= 1000) return (v / 1000).toFixed(1) + "k";
    if (Math.abs(v) >= 10) return String(Math.round(v));
    return String(Math.round(v * 100) / 100);
  }

  // series: [{name, values: [number|null]}]; xs: epoch seconds
  function lineChart(svg, xs, series, unit) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const all = series.flatMap((s) => s.values.filter((v) => v !== null));
    const top = niceMax(Math.max(0, ...all));
    const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
    const x = (i) => PAD.l + (xs.length > 1 ? (i * iw) / (xs.length - 1) : 0);
    const y = (v) => PAD.t + ih - (v / top) * ih;
    for (const f of [0, 0.5, 1]) {
      el("line", { class: "grid", x1: PAD.l, x2: W - PAD.r, y1: y(top * f), y2: y(top * f) }, svg);
      el("text", { class: "axis", x: PAD.l - 4, y: y(top * f) + 3, "text-anchor": "end" }, svg)
        .textContent = fmt(top * f) + (unit || "");
    }
    if (xs.length) {
      const label = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      el("text", { class: "axis", x: PAD.l, y: H - 4 }, svg).textContent = label(xs[0]);
      el("text", { class: "axis", x: W - PAD.r, y: H - 4, "text-anchor": "end" }, svg).textContent = label(xs[xs.length - 1]);
    }
    series.forEach((s, k) => {
      let d = "", pen = false;
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
        pen = true;
      });
      // a point with no neighbour draws no line: mark it with a dot
      s.values.forEach((v, i) => {
        const alone = v !== null && v !== undefined && (s.values[i - 1] ?? null) === null && (s.values[i + 1] ?? null) === null;
        if (alone) el("circle", { class: "s" + k, cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.5, fill: "currentColor" }, svg);
      });
      el("path", { class: "s" + k, d: d, "data-series": s.name, "data-points": s.values.filter((v) => v !== null).length }, svg);
      if (series.length > 1) {
        el("text", { class: "legend s" + k, x: PAD.l + 8 + k * 60, y: PAD.t + 10, fill: "currentColor" }, svg).textContent = s.name;
      }
    });
    svg.dataset.total = String(all.reduce((a, b) => a + b, 0));
  }

  function when(t) {
    return t ? new Date(t * 1000).toLocaleString() : "–";
  }

  function render(data) {
    $("rpm").textContent = fmt(data.requests_per_minute);
    const rate = $("error-rate");
    rate.textContent = (data.error_rate * 100).toFixed(2) + " %";
    rate.classList.toggle("bad", data.error_rate > 0.01);
    for (const q of ["p50", "p95", "p99"]) {
      const v = data.latency_ms[q];
      $(q).textContent = v === null ? "–" : fmt(v) + " ms";
    }
    const sec = data.per_second;
    const xs = sec.map((p) => p.t);
    lineChart($("chart-requests"), xs, [{ name: "req/s", values: sec.map((p) => p.requests) }]);
    lineChart($("chart-latency"), xs, ["p50", "p95", "p99"].map((q) => ({ name: q, values: sec.map((p) => p[q]) })), "");
    lineChart($("chart-errors"), xs, [{ name: "errors", values: sec.map((p) => (p.requests ? (100 * p.errors) / p.requests : 0)) }], "%");
    const mins = data.per_minute;
    lineChart($("chart-minutes"), mins.map((p) => p.t), [{ name: "req/min", values: mins.map((p) => p.requests) }]);
    $("route-window").textContent = "last " + data.route_window_minutes + " min";
    fill("routes", data.routes, (tr, r) => {
      cell(tr, "").appendChild(document.createElement("code")).textContent = r.route;
      cell(tr, r.method);
      cell(tr, String(r.requests), "num");
      cell(tr, fmt(r.per_minute), "num");
      cell(tr, r.errors + (r.errors ? " (" + (r.error_rate * 100).toFixed(1) + " %)" : ""), "num" + (r.errors ? " bad" : ""));
      for (const k of ["mean_ms", "p50", "p95", "p99"]) cell(tr, fmt(r[k]), "num");
    });
    const gauges = Object.entries(data.gauges || {});
    $("gauges-section").hidden = gauges.length === 0;
    fill("gauges", gauges, (tr, [name, value]) => { cell(tr, name); cell(tr, fmt(value), "num"); });
    const errors = data.exceptions || [];
    $("errors-section").hidden = errors.length === 0;
    fill("errors", errors, (tr, e) => {
      admin.codeCell(tr, e.type + ": " + (e.message || ""), e.traceback, "last traceback");
      cell(tr, (e.route ? e.route + " · " : "") + (e.location || ""));
      cell(tr, String(e.count), "num bad");
      cell(tr, when(e.first_seen));
      cell(tr, when(e.last_seen));
    });
    admin.updated(new Date(data.time * 1000));
  }

  const poll = admin.poller(async () => render(await admin.getJson(source)));
  poll();
})();
