// The usage view: per app, what the gateway decided, from the Wacht API's own
// audit endpoints (GET /api-auth/apps/{app_slug}/audit/timeseries, /analytics
// and /logs), read with the dev key like the docs page. Refreshed every 2 s
// while the tab is visible, and at once when it is shown or focused again.
//
// Audit data is only ever put into the page as text (textContent, text
// nodes), its control characters shown as escapes, as in the inspector: a
// path or a key name may hold anything. The chart is SVG drawn here, so the
// page loads nothing but this server's own files.
"use strict";

const POLL_MS = 2000;
const ROWS = 20;
const SVG = "http://www.w3.org/2000/svg";
// How much time the chart shows per interval: a fixed number of slots ending
// at the latest bucket, so that bars keep their width as checks come in.
const INTERVALS = {
  minute: { ms: 60_000, slots: 60, label: "minute" },
  hour: { ms: 3_600_000, slots: 48, label: "hour" },
  day: { ms: 86_400_000, slots: 30, label: "day" },
};
const CHART = { width: 800, height: 240, left: 48, right: 12, top: 12, bottom: 28 };

const view = {
  status: document.getElementById("status"),
  app: document.getElementById("app"),
  interval: document.getElementById("interval"),
  noApps: document.getElementById("no-apps"),
  noRows: document.getElementById("no-rows"),
  figures: document.getElementById("figures"),
  figuresList: document.getElementById("figures-list"),
  chartSection: document.getElementById("chart-section"),
  chartTitle: document.getElementById("chart-title"),
  chart: document.getElementById("chart"),
  checksSection: document.getElementById("checks-section"),
  checksCaption: document.getElementById("checks-caption"),
  checks: document.querySelector("#checks tbody"),
};
const devKey = document.getElementById("usage").dataset.devKey;

const state = {
  apps: null, // the app list; null: (re)load it before the next refresh
  shown: "", // what is on screen, to redraw only when something changed
  timer: null,
  busy: false,
  again: false, // asked for while busy: refresh once more right after
};

// --- talking to the Wacht API --------------------------------------------------------

/** A refusal of the API, with its envelope's first message. */
class Refusal extends Error {
  constructor(status, message) {
    super(`The Wacht API refused: ${status}${message ? ` ${message}` : ""}`);
    this.status = status;
  }
}

async function api(path) {
  const response = await fetch(path, {
    // Marks the page's polling, which the journal and the log leave out
    // (PAGE_CALL_HEADER in pages/__init__.py): the inspector shows your calls.
    headers: { Authorization: `Bearer ${devKey}`, "X-Mockserver-Page": "usage" },
    cache: "no-store",
  });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    const error = body?.errors?.[0];
    const words = [error?.message, error?.detail].filter((part) => part).join(": ");
    throw new Refusal(response.status, visible(words));
  }
  return response.json();
}

async function loadApps() {
  const listing = await api("/api-auth/apps?include_inactive=true&limit=1000");
  state.apps = listing.data;
  const wanted = new URLSearchParams(window.location.search).get("app") ?? view.app.value;
  view.app.replaceChildren(
    ...state.apps.map((app) => {
      const label = `${app.name} (${app.app_slug})${app.is_active ? "" : " · inactive"}`;
      return new Option(visible(label), app.app_slug);
    }),
  );
  if (state.apps.some((app) => app.app_slug === wanted)) {
    view.app.value = wanted;
  }
  view.app.disabled = state.apps.length === 0;
}

async function loadUsage(slug, interval) {
  const base = `/api-auth/apps/${encodeURIComponent(slug)}/audit`;
  const [series, figures, logs] = await Promise.all([
    api(`${base}/timeseries?interval=${interval}`),
    api(`${base}/analytics`),
    api(`${base}/logs?limit=${ROWS}`),
  ]);
  return { slug, interval, series: series.data, figures, rows: logs.data };
}

// --- text -----------------------------------------------------------------------------

// C0 and C1 controls, line separators, bidi overrides and isolates (as the inspector).
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** ``text`` with its control characters written as visible escapes. */
function visible(text) {
  return String(text).replace(CONTROLS, (character) => {
    const code = character.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

const count = (n) => n.toLocaleString("en-US");

/** "2026-12-02 13:05" (UTC) from a timestamp or milliseconds. */
function utc(time, withSeconds = false) {
  return new Date(time).toISOString().slice(0, withSeconds ? 19 : 16).replace("T", " ");
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = visible(text);
  if (className) {
    td.className = className;
  }
  return td;
}

// --- drawing ---------------------------------------------------------------------------

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, String(value));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A round number at or above ``n`` (1, 2 or 5 times a power of ten). */
function niceCeiling(n) {
  const power = 10 ** Math.floor(Math.log10(Math.max(n, 1)));
  return [1, 2, 5, 10].map((step) => step * power).find((top) => top >= n);
}

/** Stacked bars, admitted below blocked, one per bucket, over the last slots. */
function drawChart(series, intervalName) {
  const interval = INTERVALS[intervalName];
  const end = Date.parse(series[series.length - 1].timestamp);
  const start = end - (interval.slots - 1) * interval.ms;
  const shown = series.filter((bucket) => Date.parse(bucket.timestamp) >= start);
  const admitted = shown.reduce((sum, bucket) => sum + bucket.allowed_requests, 0);
  const blocked = shown.reduce((sum, bucket) => sum + bucket.blocked_requests, 0);
  const top = niceCeiling(Math.max(...shown.map((bucket) => bucket.total_requests)));

  const { width, height, left, right, top: above, bottom } = CHART;
  const plotWidth = width - left - right;
  const plotHeight = height - above - bottom;
  const slotWidth = plotWidth / interval.slots;
  const y = (n) => above + plotHeight - (n / top) * plotHeight;
  const parts = [];
  for (const n of top % 2 === 0 ? [0, top / 2, top] : [0, top]) {
    parts.push(svg("line", { class: "grid", x1: left, x2: width - right, y1: y(n), y2: y(n) }));
    parts.push(svg("text", { class: "axis", x: left - 6, y: y(n) + 4, "text-anchor": "end" },
      count(n)));
  }
  for (const bucket of shown) {
    const x = left + ((Date.parse(bucket.timestamp) - start) / interval.ms) * slotWidth;
    const bar = svg("g", { class: "bar" });
    const barWidth = Math.max(slotWidth * 0.8, 1);
    const admittedTop = y(bucket.allowed_requests);
    bar.append(
      svg("title", {}, `${utc(bucket.timestamp)} UTC: ${count(bucket.allowed_requests)} ` +
        `admitted, ${count(bucket.blocked_requests)} blocked`),
      svg("rect", { class: "admitted", x, width: barWidth, y: admittedTop,
        height: y(0) - admittedTop }),
      svg("rect", { class: "blocked", x, width: barWidth, y: y(bucket.total_requests),
        height: admittedTop - y(bucket.total_requests) }),
    );
    parts.push(bar);
  }
  const baseline = height - bottom + 18;
  parts.push(svg("text", { class: "axis", x: left, y: baseline }, `${utc(start)} UTC`));
  parts.push(svg("text", { class: "axis", x: width - right, y: baseline, "text-anchor": "end" },
    `${utc(end)} UTC`));
  view.chart.replaceChildren(...parts);

  view.chartTitle.textContent = `Requests per ${interval.label}`;
  view.chart.setAttribute(
    "aria-label",
    `Requests per ${interval.label} from ${utc(start)} to ${utc(end)} UTC: ` +
      `${count(admitted)} admitted, ${count(blocked)} blocked.`,
  );
}

// --- the figures and the rows ----------------------------------------------------------

function drawFigures(figures) {
  const items = [
    ["Gateway checks", count(figures.total_requests)],
    ["Admitted", count(figures.allowed_requests)],
    ["Blocked", count(figures.blocked_requests)],
    ["Success rate", `${figures.success_rate.toFixed(1)} %`],
    ["Keys used in the last 24 h", count(figures.keys_used_24h)],
  ];
  view.figuresList.replaceChildren(
    ...items.map(([name, value]) => {
      const item = document.createElement("div");
      const term = document.createElement("dt");
      const figure = document.createElement("dd");
      term.textContent = name;
      figure.textContent = value;
      item.append(term, figure);
      return item;
    }),
  );
}

function blockedBy(rule) {
  if (rule === null) {
    return "";
  }
  return rule === "permission_denied" ? "Permission denied" : `Rate limit ${rule}`;
}

function checkRow(row) {
  const tr = document.createElement("tr");
  const admitted = row.outcome === "VALID";
  tr.className = admitted ? "admitted" : "blocked";
  tr.title = `${row.request_id} · ${row.client_ip} · ${row.user_agent}`;
  tr.append(
    cell(utc(row.timestamp, true), "time"),
    cell(row.key_name, "key"),
    cell(row.path, "path"),
    cell(admitted ? "Admitted" : "Blocked", "outcome"),
    cell(blockedBy(row.blocked_by_rule), "why"),
  );
  return tr;
}

function drawUsage(usage) {
  const anything = usage.figures.total_requests > 0 || usage.series.length > 0;
  view.noApps.hidden = true;
  view.figures.hidden = false;
  view.noRows.hidden = anything;
  view.chartSection.hidden = usage.series.length === 0;
  view.checksSection.hidden = !anything;
  drawFigures(usage.figures);
  if (usage.series.length > 0) {
    drawChart(usage.series, usage.interval);
  }
  view.checksCaption.textContent =
    usage.rows.length > 0
      ? `The latest ${usage.rows.length} gateway checks of ${usage.slug}, newest first`
      : `No gateway check of ${usage.slug} in the last 7 days`;
  view.checks.replaceChildren(...usage.rows.map(checkRow));
}

function drawNoApps() {
  view.noApps.hidden = false;
  for (const part of [view.noRows, view.figures, view.chartSection, view.checksSection]) {
    part.hidden = true;
  }
}

// --- the loop --------------------------------------------------------------------------

function say(text, problem = false) {
  view.status.textContent = text;
  view.status.className = problem ? "problem" : "";
}

async function refresh() {
  try {
    if (state.apps === null || state.apps.length === 0) {
      await loadApps();
    }
    if (state.apps.length === 0) {
      state.shown = "";
      drawNoApps();
      say("No apps to show");
      return;
    }
    const usage = await loadUsage(view.app.value, view.interval.value);
    const shown = JSON.stringify(usage);
    if (shown !== state.shown) {
      state.shown = shown; // unchanged: leave hover, selection and scroll alone
      drawUsage(usage);
    }
    say(`${usage.slug} · updated ${new Date().toISOString().slice(11, 19)} UTC`);
  } catch (error) {
    if (error instanceof Refusal && error.status === 404) {
      state.apps = null; // the app is gone: pick again from a fresh list
    }
    say(error instanceof TypeError ? "The server does not answer; trying again…" : error.message,
      true);
  }
}

async function tick() {
  if (state.busy) {
    state.again = true;
    return;
  }
  state.busy = true;
  window.clearTimeout(state.timer);
  try {
    await refresh();
  } finally {
    state.busy = false;
    if (document.hidden) {
      say("Paused while this tab is hidden"); // over what a refresh under way said
    } else {
      state.timer = window.setTimeout(tick, state.again ? 0 : POLL_MS);
    }
    state.again = false;
  }
}

/** The app and interval in the address, so that a reload or a link shows the same. */
function remember() {
  const query = new URLSearchParams({ app: view.app.value, interval: view.interval.value });
  window.history.replaceState(null, "", `?${query}`);
  tick();
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    window.clearTimeout(state.timer);
    say("Paused while this tab is hidden");
  } else {
    state.apps = null; // apps may have come or gone meanwhile
    tick();
  }
});
window.addEventListener("focus", () => {
  state.apps = null;
  tick();
});
view.app.addEventListener("change", remember);
view.interval.addEventListener("change", remember);

const asked = new URLSearchParams(window.location.search).get("interval");
if (Object.hasOwn(INTERVALS, asked ?? "")) {
  view.interval.value = asked;
}
tick();
