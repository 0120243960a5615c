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

  function fmtMiB(bytes) {
    return (bytes / 1048576).toFixed(1) + " MiB";
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
    // wait (evhost subscriptions resume NAME). The age of the oldest
    // pending event follows, and a warning when the broker's retention is
    // about to drop pending events.
    fill("subscriptions", st.subscriptions.map((s) => {
      const pending = num((s.pending < 0 ? "?" : s.pending) + (s.paused ? " (paused)" : "") +
        (s.oldest_pending_seconds ? ", oldest " + fmtUptime(s.oldest_pending_seconds) : ""));
      if (s.retention_warning) {
        pending.append(el("div", { class: "reason retention-warning", role: "alert" }, "Events about to be lost: " + s.retention_warning));
      }
      return el("tr", s.paused ? { "data-name": s.name, class: "paused" } : { "data-name": s.name },
        el("th", { scope: "row" }, s.name), td(s.kind), td(s.patterns.join(", ")),
        pending, num(s.handled), num(s.failed), num(s.dead_lettered));
    }), "No subscriptions.");

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
        num(((p.stats && p.stats.instances) || 0) + (p.stats && p.version && !p.stats.compiled ? " (evicted)" : "")),
        num((p.stats && p.stats.calls) || 0), last);
    }), "No plugins.");

    // The compiled modules in memory against [host] compiled_cache, and
    // what the idle reaper and the budget did since the start.
    const w = st.wasm;
    document.getElementById("wasm").textContent = w
      ? "Compiled modules in memory: " + w.compiled_modules + " (" + fmtMiB(w.compiled_bytes) +
        (w.compiled_budget > 0 ? " of " + fmtMiB(w.compiled_budget) : "") + ") · evicted " + w.evictions +
        " · compiled again " + w.recompiles + " · idle instances closed " + w.idle_closes +
        " · linear memory kept for new instances " + fmtMiB(w.reserved_bytes || 0) +
        (w.reserve_budget > 0 ? " of " + fmtMiB(w.reserve_budget) : "")
      : "";

    fill("schedules", (st.schedules || []).map((s) => el("tr", { "data-name": s.name },
      el("th", { scope: "row" }, s.name),
      td((s.cron ? s.cron + (s.timezone ? " (" + s.timezone + ")" : "") : "every " + s.every) + (s.enabled ? "" : " (disabled)")),
      td(s.type), td(s.next ? fmtTime(s.next) : "", "time"), td(s.last ? fmtTime(s.last) : "", "time"),
      num(s.produced), num(s.duplicates),
      td(s.last_error ? fmtTime(s.last_error_time) + ": " + s.last_error : "", "reason"),
    )), "No schedules.");

    fill("recent", st.recent_runs.map((r) => el("tr", {},
      td(fmtTime(r.start), "time"), el("td", {}, eventButton(r.event_id)), td(r.event_type || ""),
      td(r.subscription + (r.kind && r.kind !== "delivery" ? " (" + r.kind + ")" : "")),
      num(r.attempt), statusCell(r.status), num(fmtDuration(r.duration_ns)), td(r.reason || "", "reason"),
    )), "No runs yet.");

    document.getElementById("dlq-count").textContent =
      st.dead_letters.since_start + " event(s) dead-lettered since the daemon started.";
  }

  // --- Charts of the last hour (GET /v1/status/history), drawn as inline
  // SVG: no library, no network. Values go in as attributes and Text
  // nodes, as everywhere on the page.
  const SVG_NS = "http://www.w3.org/2000/svg";
  const HOUR_MS = 3600e3;
  const MAX_LATENCY_CHARTS = 12;

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const c of children) e.append(typeof c === "string" ? document.createTextNode(c) : c);
    return e;
  }

  // niceCeil rounds v up to 1, 2 or 5 times a power of ten.
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  const fmtRate = (v) => (v >= 100 ? Math.round(v) : v >= 1 ? Math.round(v * 10) / 10 : Math.round(v * 100) / 100).toString();
  const fmtMs = (sec) => {
    const ms = sec * 1000;
    return ms >= 1000 ? (ms / 1000).toFixed(ms >= 10000 ? 0 : 1) + " s" : (ms >= 10 ? Math.round(ms) : Math.round(ms * 100) / 100) + " ms";
  };
  const fmtCount = (v) => (v >= 1e6 ? (v / 1e6).toFixed(1) + "M" : v >= 1e4 ? Math.round(v / 1e3) + "k" : String(Math.round(v * 10) / 10));

  // lastValue is the last value of a series that is not null.
  function lastValue(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
    return null;
  }

  // chart draws series ({name, values, dash}) over times (ISO strings) as
  // a line chart of the hour up to the last time: y from 0 to a round
  // maximum, a null value leaving a gap, a lone point drawn as a dot. The
  // <svg> says in data-points how many points it drew.
  function chart(id, title, times, series, fmt, small) {
    const W = small ? 360 : 560, H = small ? 140 : 190, L = 52, R = 10, T = 10, B = 22;
    const ts = times.map((t) => Date.parse(t));
    const tmax = ts.length ? ts[ts.length - 1] : Date.now(), tmin = tmax - HOUR_MS;
    let vmax = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > vmax) vmax = v;
    vmax = niceCeil(vmax);
    const x = (t) => L + (W - L - R) * (t - tmin) / HOUR_MS;
    const y = (v) => T + (H - T - B) * (1 - v / vmax);
    const root = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title, "data-chart": id });
    for (const f of [0, 0.5, 1]) {
      const yy = y(vmax * f).toFixed(1);
      root.append(svg("line", { class: f === 0 ? "axis" : "grid", x1: L, x2: W - R, y1: yy, y2: yy }),
        svg("text", { class: "tick", x: L - 5, y: Number(yy) + 4, "text-anchor": "end" }, fmt(vmax * f)));
    }
    for (const [f, label, anchor] of [[0, "−60 min", "start"], [0.5, "−30 min", "middle"], [1, "now", "end"]]) {
      root.append(svg("text", { class: "tick", x: L + (W - L - R) * f, y: H - 5, "text-anchor": anchor }, label));
    }
    let points = 0;
    series.forEach((s, i) => {
      const cls = "s" + (i % 8);
      let d = "", run = [], n = 0;
      const flush = () => {
        if (run.length === 1) root.append(svg("circle", { class: "dot " + cls, cx: run[0][0], cy: run[0][1], r: 3, "data-series": s.name }));
        run = [];
      };
      s.values.forEach((v, j) => {
        if (v === null || v === undefined || !(ts[j] >= tmin)) {
          flush();
          return;
        }
        const px = x(ts[j]).toFixed(1), py = y(v).toFixed(1);
        d += (run.length ? "L" : "M") + px + " " + py + " ";
        run.push([px, py]);
        n++;
      });
      flush();
      points += n;
      if (d) root.append(svg("path", { class: "series " + cls + (s.dash ? " dash" : ""), d: d.trim(), "data-series": s.name, "data-points": n }));
    });
    root.setAttribute("data-points", points);
    if (points === 0) root.append(svg("text", { class: "empty", x: (L + W) / 2, y: H / 2, "text-anchor": "middle" }, "no data in the last hour"));
    const legend = el("ul", { class: "legend" }, ...series.map((s, i) => {
      const last = lastValue(s.values);
      return el("li", { "data-series": s.name }, el("span", { class: "swatch s" + (i % 8) + (s.dash ? " dash" : "") }),
        s.name + (last === null ? "" : " " + fmt(last)));
    }));
    return el("figure", { class: "chart-box" + (small ? " small" : ""), id: "chart-" + id }, el("figcaption", {}, title), root, legend);
  }

  function renderHistory(hist) {
    const out = [];
    out.push(chart("rates", "Events per second", hist.times, [
      { name: "ingested", values: hist.ingested },
      { name: "handled", values: hist.handled },
      { name: "failed", values: hist.failed },
    ], fmtRate));
    out.push(chart("pending", "Pending per subscription", hist.times,
      hist.subscriptions.map((s) => ({ name: s.name, values: s.pending })), fmtCount));
    const withRuns = hist.subscriptions.filter((s) => s.p99_seconds.some((v) => v !== null));
    for (const s of withRuns.slice(0, MAX_LATENCY_CHARTS)) {
      out.push(chart("latency-" + s.name, "Handler latency: " + s.name, hist.times, [
        { name: "p50", values: s.p50_seconds },
        { name: "p99", values: s.p99_seconds, dash: true },
      ], fmtMs, true));
    }
    if (withRuns.length > MAX_LATENCY_CHARTS) {
      out.push(el("p", {}, (withRuns.length - MAX_LATENCY_CHARTS) + " more subscriptions ran; their latency is in /metrics."));
    }
    if (withRuns.length === 0) out.push(el("p", { class: "no-latency" }, "No handler ran in the last hour: no latency to show."));
    document.getElementById("history").replaceChildren(...out);
    document.getElementById("history-note").textContent = "One point every " + Math.round(hist.interval_seconds) +
      " s over the last hour; the last one covers the time since the one before.";
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
      const [st, dlq, hist] = await Promise.all([
        api("status"),
        api("admin/dlq?limit=" + DLQ_PAGE + (dlqAfter ? "&after=" + dlqAfter : "")),
        api("status/history"),
      ]);
      renderStatus(st);
      renderHistory(hist);
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
      n.time ? " at " + fmtTime(n.time) : null,
      n.deliver_at ? " delayed until " + fmtTime(n.deliver_at) : null));
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
