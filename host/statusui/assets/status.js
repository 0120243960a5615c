// The evhost status page. It reads the daemon's JSON API and renders it.
// Every value from the API is put in the page as text (textContent, Text
// nodes, attribute values), never parsed as HTML: event ids, types and
// error reasons come from whoever sends events.
"use strict";

(() => {
  const TOKEN_KEY = "evhost-token";
  const REFRESH_MS = 3000;
  const DLQ_PAGE = 50;
  const API = "../v1/"; // the page is served at /status/

  let dlqAfter = 0; // the after cursor of the dead-letter page shown
  let dlqNext = 0; // the next page's cursor, 0 on the last page
  let timer = 0;

  class Unauthorized extends Error {}

  // api GETs a JSON endpoint with the token, if one is stored.
  async function api(path) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const resp = await fetch(API + path, { headers, cache: "no-store" });
    if (resp.status === 401) throw new Unauthorized("the API token is missing or wrong");
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) {
      const err = new Error((body && body.error) || resp.status + " " + resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  // el makes an element. props: "text" sets textContent, "on<event>" adds
  // a listener, anything else is an attribute; children are nodes or
  // strings (inserted as Text nodes).
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = String(v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      e.append(typeof c === "string" ? c : c instanceof Node ? c : String(c));
    }
    return e;
  }

  const td = (v, cls) => el("td", { class: cls }, v === undefined || v === null ? "" : v);
  const num = (v) => td(String(v), "num");

  function statusCell(s) {
    return el("td", { class: "status-" + s }, s);
  }

  // eventButton shows the trace of the event id when clicked.
  function eventButton(id) {
    return el("button", {
      type: "button", class: "link", "data-event-id": id,
      title: "Show the trace of this event",
      onclick: () => showTrace(id),
    }, id);
  }

  function fmtTime(s) {
    if (!s) return "";
    const d = new Date(s);
    return isNaN(d) ? String(s) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function fmtDuration(ns) {
    const ms = ns / 1e6;
    if (ms < 1000) return ms.toFixed(ms < 10 ? 2 : 1) + " ms";
    return (ms / 1000).toFixed(2) + " s";
  }

  function fmtUptime(sec) {
    sec = Math.floor(sec);
    const d = Math.floor(sec / 86400), h = Math.floor(sec / 3600) % 24, m = Math.floor(sec / 60) % 60, s = sec % 60;
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
  }

  const rate = (v) => (Math.round(v * 100) / 100).toString();

  function fill(tableId, rows, empty) {
    const tbody = document.querySelector("#" + tableId + " tbody");
    if (rows.length === 0) {
      const cols = document.querySelectorAll("#" + tableId + " thead th").length;
      rows = [el("tr", { class: "empty" }, el("td", { colspan: cols }, empty))];
    }
    tbody.replaceChildren(...rows);
  }

  function showError(msg) {
    const p = document.getElementById("error");
    p.textContent = msg || "";
    p.hidden = !msg;
  }

  function renderStatus(st) {
    const h = st.host;
    document.getElementById("host").textContent =
      "evhost " + h.version + " · broker " + h.broker + " · up " + fmtUptime(h.uptime_seconds) +
      " · updated " + fmtTime(h.time);

    const r = st.rates;
    document.getElementById("rates-window").textContent = r.window_seconds > 0
      ? "Events per second over the last " + Math.round(r.window_seconds) + " s."
      : "Rates appear at the next refresh.";
    fill("rates", [el("tr", {}, num(rate(r.ingested)), num(rate(r.published)), num(rate(r.handled)),
      num(rate(r.failed)), num(rate(r.dead_lettered)))], "");

    // A paused subscription says so beside its pending count: its events
    // wait (evhost subscriptions resume NAME).
    fill("subscriptions", st.subscriptions.map((s) => el("tr", s.paused ? { "data-name": s.name, class: "paused" } : { "data-name": s.name },
      el("th", { scope: "row" }, s.name), td(s.kind), td(s.patterns.join(", ")),
      num((s.pending < 0 ? "?" : s.pending) + (s.paused ? " (paused)" : "")), num(s.handled), num(s.failed), num(s.dead_lettered),
    )), "No subscriptions.");

    // Sources: inbound webhooks and NATS subjects, with what they refused
    // by reason (signature, timestamp, too_large, ...).
    fill("sources", (st.sources || []).map((s) => el("tr", { "data-name": s.name },
      el("th", { scope: "row" }, s.name), td(s.kind), td(s.where),
      td(s.running ? "yes" : (s.enabled ? "no" : "disabled")), num(s.produced), num(s.duplicates),
      td(Object.entries(s.refused || {}).map(([k, n]) => k + " " + n).join(", ")),
      td(s.last_error ? fmtTime(s.last_error_time) + ": " + s.last_error : "", "reason"),
    )), "No sources.");

    fill("plugins", st.plugins.map((p) => {
      const last = el("td", { class: "last-error" });
      if (p.last_refusal) {
        last.append(el("div", { class: "reason" },
          "reload refused " + fmtTime(p.last_refusal.time) + ": " + p.last_refusal.error));
      }
      if (p.last_failure) {
        const f = p.last_failure;
        last.append(el("div", {}, fmtTime(f.start) + " ", eventButton(f.event_id),
          " attempt " + f.attempt + " " + f.status + (f.reason ? ": " : ""),
          f.reason ? el("span", { class: "reason" }, f.reason) : null));
      }
      const version = p.version ? el("code", { title: p.version }, p.version.slice(0, 12)) : "not loaded";
      return el("tr", { "data-name": p.name },
        el("th", { scope: "row" }, p.name), td(p.kind || ""), td(version), td(fmtTime(p.loaded_at), "time"),
        num((p.stats && p.stats.instances) || 0), num((p.stats && p.stats.calls) || 0), last);
    }), "No plugins.");

    fill("recent", st.recent_runs.map((r) => el("tr", {},
      td(fmtTime(r.start), "time"), el("td", {}, eventButton(r.event_id)), td(r.event_type || ""),
      td(r.subscription + (r.kind && r.kind !== "delivery" ? " (" + r.kind + ")" : "")),
      num(r.attempt), statusCell(r.status), num(fmtDuration(r.duration_ns)), td(r.reason || "", "reason"),
    )), "No runs yet.");

    document.getElementById("dlq-count").textContent =
      st.dead_letters.since_start + " event(s) dead-lettered since the daemon started.";
  }

  function renderDeadLetters(page) {
    fill("dead-letters", page.dead_letters.map((d) => {
      const ev = d.event || {};
      return el("tr", { "data-id": d.id },
        num(d.id), td(fmtTime(d.time), "time"), td(d.subscription),
        el("td", {}, ev.id ? eventButton(ev.id) : ""), td(ev.type || ""),
        num(d.attempts), td((d.terminated ? "rejected: " : "attempts ran out: ") + d.reason, "reason"));
    }), "No dead letters.");
    dlqNext = page.next_after || 0;
    document.getElementById("dlq-next").hidden = !dlqNext;
    document.getElementById("dlq-first").hidden = !dlqAfter;
  }

  // refresh reads the status and the dead letters, then schedules itself.
  async function refresh() {
    clearTimeout(timer);
    try {
      const [st, dlq] = await Promise.all([
        api("status"),
        api("admin/dlq?limit=" + DLQ_PAGE + (dlqAfter ? "&after=" + dlqAfter : "")),
      ]);
      renderStatus(st);
      renderDeadLetters(dlq);
      showError("");
      document.body.setAttribute("data-loaded", "true");
    } catch (e) {
      if (e instanceof Unauthorized) {
        askToken(sessionStorage.getItem(TOKEN_KEY) ? "That token was refused." : "");
        return; // resumes when a token is given
      }
      showError("Could not read the status: " + e.message);
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function askToken(msg) {
    showError(msg);
    document.getElementById("main").hidden = true;
    const form = document.getElementById("token-form");
    form.hidden = false;
    document.getElementById("token").focus();
  }

  function useToken(ev) {
    ev.preventDefault();
    const input = document.getElementById("token");
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    document.getElementById("token-form").hidden = true;
    document.getElementById("main").hidden = false;
    showError("");
    refresh();
    const id = document.getElementById("trace-id").value.trim();
    if (id) showTrace(id);
  }

  // renderNode renders one event of a trace tree and, nested, its children.
  function renderNode(n) {
    const li = el("li", { class: "event", "data-event-id": n.id, "data-event-type": n.type || "" });
    li.append(el("div", { class: "event-head" },
      el("strong", { class: "event-type" }, n.type || "(type unknown)"), " ",
      el("code", { class: "event-id" }, n.id),
      n.emitted_by ? " emitted by " + n.emitted_by : null,
      n.time ? " at " + fmtTime(n.time) : null));
    const rows = [];
    for (const run of n.runs) {
      run.attempts.forEach((a, i) => {
        const tr = el("tr", { class: "attempt", "data-subscription": run.subscription, "data-attempt": a.attempt, "data-status": a.status });
        if (i === 0) {
          tr.append(el("th", { scope: "rowgroup", rowspan: run.attempts.length },
            run.subscription + (run.webhook ? " (webhook)" : ""),
            el("br"), el("span", { class: "run-status status-" + run.status }, run.status)));
        }
        let reason = a.reason || "";
        if (a.http_status) reason = reason || "HTTP " + a.http_status;
        tr.append(td(String(a.attempt), "num attempt"), td(a.kind, "kind"),
          el("td", { class: "status status-" + a.status }, a.status),
          num(fmtDuration(a.duration_ns)), num(a.emits || 0), td(reason, "reason"));
        rows.push(tr);
      });
    }
    if (rows.length) {
      li.append(el("table", { class: "runs" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col" }, "Subscription"), el("th", { scope: "col" }, "Attempt"),
          el("th", { scope: "col" }, "Kind"), el("th", { scope: "col" }, "Status"),
          el("th", { scope: "col" }, "Duration"), el("th", { scope: "col" }, "Emits"),
          el("th", { scope: "col" }, "Reason"))),
        el("tbody", {}, ...rows)));
    } else {
      li.append(el("p", {}, "No runs recorded."));
    }
    for (const d of n.dead_letters || []) {
      li.append(el("p", { class: "dead-letter status-dead", "data-subscription": d.subscription },
        "Dead-lettered by " + d.subscription + " after " + d.attempts + " attempt(s) at " + fmtTime(d.time) + ": ",
        el("span", { class: "reason" }, d.reason)));
    }
    if (n.truncated) li.append(el("p", {}, "Truncated: more events were left out."));
    if (n.children && n.children.length) {
      li.append(el("ul", {}, ...n.children.map(renderNode)));
    }
    return li;
  }

  async function showTrace(id) {
    document.getElementById("trace-id").value = id;
    const out = document.getElementById("trace");
    out.replaceChildren(el("p", {}, "Loading the trace of ", el("code", {}, id), "…"));
    try {
      const tree = await api("events/" + encodeURIComponent(id) + "/trace");
      out.replaceChildren(el("ul", { "data-root": id }, renderNode(tree)));
    } catch (e) {
      if (e instanceof Unauthorized) {
        askToken("");
        return;
      }
      out.replaceChildren(el("p", { class: "reason" }, e.status === 404 ? "No run and no dead letter of event " + id + "." : "Could not read the trace: " + e.message));
    }
    out.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("token-form").addEventListener("submit", useToken);
    document.getElementById("trace-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const id = document.getElementById("trace-id").value.trim();
      if (id) showTrace(id);
    });
    document.getElementById("dlq-next").addEventListener("click", () => {
      dlqAfter = dlqNext;
      refresh();
    });
    document.getElementById("dlq-first").addEventListener("click", () => {
      dlqAfter = 0;
      refresh();
    });
    refresh();
  });
})();
