// What every admin page's script shares (inlined before the page's own): table helpers, JSON
// polling and the status line in the header. No dependencies.
"use strict";
const admin = (function () {
  const $ = (id) => document.getElementById(id);
  const interval = Number(document.body.dataset.interval) || 2000;

  function cell(tr, text, cls) {
    const td = tr.appendChild(document.createElement("td"));
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  // the rows of table #id, one drawn per item; the table's data-rows says how many
  function fill(id, rows, draw) {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    for (const row of rows) draw(body.appendChild(document.createElement("tr")), row);
    $(id).dataset.rows = String(rows.length);
  }

  // a cell showing `text` as code, with the traceback (if any) folded under `summary`
  function codeCell(tr, text, traceback, summary) {
    const td = cell(tr, "");
    td.appendChild(document.createElement("code")).textContent = text;
    if (traceback) {
      const more = td.appendChild(document.createElement("details"));
      more.appendChild(document.createElement("summary")).textContent = summary;
      more.appendChild(document.createElement("pre")).textContent = traceback;
    }
    return td;
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  }

  function updated(at) {
    const status = $("status");
    status.textContent = "updated " + at.toLocaleTimeString();
    status.dataset.updates = String(Number(status.dataset.updates || 0) + 1);
  }

  // poll(): run `refresh` now and every `interval` ms after it ends; calling it again (after
  // an action) restarts the wait. A failure shows in the status line and polling goes on.
  function poller(refresh) {
    let timer = null;
    return async function poll() {
      clearTimeout(timer);
      try {
        await refresh();
      } catch (err) {
        $("status").textContent = "not updated: " + err.message;
      } finally {
        timer = setTimeout(poll, interval);
      }
    };
  }

  return { $, cell, fill, codeCell, getJson, updated, poller };
})();
