// The request inspector: shows the latest requests of the admin journal
// (GET /__admin/requests), refreshed every second, with the reasons of every
// refusal in plain sight; a click on a row shows the whole entry. Each row
// names its session (X-Mockserver-Session); the filter shows every session's
// requests, the default session's, or one session's (asked of the admin API
// with that session's header, so the journal's own limit applies to it alone).
//
// Request data is only ever put into the page as text (text nodes,
// textContent), never parsed as HTML: a path or a body may hold anything.
// Its control characters are shown as escapes (\x0a, \u202e), as in the
// text log (mockserver/http/printable.py): a newline or a bidi override in a
// path must not make a row read as something it is not.
"use strict";

const POLL_MS = 1000;
const LIMIT = 100;
const JOURNAL_URL = `/__admin/requests?limit=${LIMIT}`;
const SESSION_HEADER = "X-Mockserver-Session";
// The filter's values besides a session's name.
const ALL_SESSIONS = "*all*";
const DEFAULT_SESSION = "*default*";
// The journal masks secrets already, found by name (mockserver/http/secrets.py,
// whose word lists the page is given); masking again here means the page shows
// no secret even if an entry ever arrived unmasked.
const pageWords = (name) => document.body.dataset[name].split(" ").filter((word) => word);
const SECRET_WORDS = new Set(pageWords("secretWords"));
const DESCRIPTOR_WORDS = new Set(pageWords("descriptorWords"));
const JOINED_ENDINGS = pageWords("joinedEndings");
const NOT_SECRET_NAMES = new Set(pageWords("notSecretNames"));
const MASK = "••••";

const view = {
  status: document.getElementById("status"),
  pause: document.getElementById("pause"),
  clear: document.getElementById("clear"),
  sessionFilter: document.getElementById("session-filter"),
  rows: document.querySelector("#requests tbody"),
  empty: document.getElementById("empty"),
  details: document.getElementById("details"),
  detailsTitle: document.getElementById("details-title"),
  detailsFields: document.getElementById("details-fields"),
};

const state = {
  shownIds: "", // the ids on screen, to redraw only when the journal changed
  selected: null, // the entry shown in detail; kept even once it leaves the list
  sessions: new Set(), // every session name seen, for the filter
};

// --- talking to the admin API ------------------------------------------------------

/** The admin token, if the page was opened as /__inspector#token=...
 * A fragment is never sent to a server nor in a Referer, so it stays here. */
function adminToken() {
  return new URLSearchParams(window.location.hash.slice(1)).get("token");
}

function adminRequest(url, method = "GET", session = null) {
  const token = adminToken();
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  if (session !== null) {
    headers[SESSION_HEADER] = session;
  }
  return fetch(url, { method, headers, cache: "no-store" });
}

/** What the filter asks for: every session (ALL_SESSIONS), the default one
 * (DEFAULT_SESSION) or the session of that name. */
function chosenSession() {
  return view.sessionFilter.value || ALL_SESSIONS;
}

/** Why the admin API did not answer, in words that say what to do. */
function refusalMessage(status) {
  if (status === 401) {
    return "The admin API needs a token: open this page as /__inspector#token=YOUR_TOKEN " +
      "(the value given to --admin-token).";
  }
  if (status === 404) {
    return "The admin API is off (the server was started with --no-admin): nothing to show.";
  }
  return `The admin API answered ${status}.`;
}

async function loadJournal() {
  const chosen = chosenSession();
  const response =
    chosen === ALL_SESSIONS
      ? await adminRequest(`${JOURNAL_URL}&all_sessions=true`)
      : await adminRequest(JOURNAL_URL, "GET", chosen === DEFAULT_SESSION ? null : chosen);
  if (!response.ok) {
    throw new Error(refusalMessage(response.status));
  }
  return (await response.json()).requests;
}

/** The live sessions' names (GET /__admin/sessions); none if it fails. */
async function loadSessions() {
  const response = await adminRequest("/__admin/sessions");
  return response.ok ? (await response.json()).sessions.map((session) => session.name) : [];
}

/** Offer every session seen so far in the filter, keeping the choice. */
function renderSessionFilter(names) {
  const known = state.sessions.size;
  for (const name of names) {
    state.sessions.add(name);
  }
  if (state.sessions.size === known && view.sessionFilter.options.length > 2) {
    return;
  }
  const chosen = chosenSession();
  const option = (value, label) => {
    const node = element("option", null, label);
    node.value = value;
    return node;
  };
  view.sessionFilter.replaceChildren(
    option(ALL_SESSIONS, "All sessions"),
    option(DEFAULT_SESSION, "Default session"),
    ...[...state.sessions].sort().map((name) => option(name, name)),
  );
  view.sessionFilter.value = chosen;
}

// --- building the page, as text only ----------------------------------------------

// C0 controls, DEL, C1 controls, line/paragraph separators, bidi overrides
// and isolates; the second leaves newline and tab, the layout of a <pre>.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_LAYOUT =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** ``text`` with its control characters written as visible escapes. */
function visible(text, keepLayout = false) {
  return String(text).replace(keepLayout ? CONTROLS_BUT_LAYOUT : CONTROLS, (character) => {
    const code = character.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** A new element with a class and children; strings become text nodes,
 * their control characters escaped. */
function element(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  node.append(
    ...children
      .filter((child) => child !== null && child !== undefined)
      .map((child) => (typeof child === "string" ? visible(child) : child)),
  );
  return node;
}

function maskSecret(value) {
  const text = String(value);
  if (text.includes(MASK)) {
    return text;
  }
  const space = text.indexOf(" ");
  return space > 0 ? `${text.slice(0, space)} ${MASK}` : MASK;
}

/** Whether a header or parameter name says it carries a credential: any of its
 * words (api_key, X-Api-Key, accessToken) is a secret word. */
function isSecretName(name) {
  const words = String(name)
    .split(/[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])/)
    .filter((word) => word)
    .map((word) => word.toLowerCase());
  if (NOT_SECRET_NAMES.has(String(name).toLowerCase())) return false;
  if (words.length && DESCRIPTOR_WORDS.has(words[words.length - 1])) return false;
  const joined = words.join("");
  return (
    words.some((word) => SECRET_WORDS.has(word)) ||
    JOINED_ENDINGS.some((word) => joined.endsWith(word))
  );
}

function masked(values) {
  return Object.fromEntries(
    Object.entries(values || {}).map(([name, value]) => [
      name,
      isSecretName(name) ? maskSecret(value) : value,
    ]),
  );
}

/** The path and its query as a person reads them: decoded, not percent-encoded. */
function pathWithQuery(entry) {
  const pairs = Object.entries(masked(entry.query)).map(([name, value]) => `${name}=${value}`);
  return pairs.length > 0 ? `${entry.path}?${pairs.join("&")}` : entry.path;
}

function formatDuration(ms) {
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(0)} ms`;
}

/** A gateway check's decision: allowed, or why not and which rule blocked it. */
function decisionText(decision) {
  if (decision.allowed) {
    return element("span", "decision allowed", "allowed");
  }
  const rule = decision.blocked_rule ? ` (${decision.blocked_rule})` : "";
  return element("span", "decision refused", `refused: ${decision.reason ?? "?"}${rule}`);
}

/** Each error of a refused request: its message and what it is about. */
function errorList(entry) {
  if (entry.decision) {
    return decisionText(entry.decision);
  }
  if (entry.status < 400) {
    return "";
  }
  if (!entry.errors || entry.errors.length === 0) {
    return element("span", "muted", "(no error body)");
  }
  const items = entry.errors.map((error) => {
    const about = error.field ?? error.parameter;
    const aboutLabel = error.field !== undefined ? "field" : "parameter";
    return element(
      "li",
      null,
      element("span", "message", String(error.message)),
      about !== undefined ? element("code", "about", `${aboutLabel} ${about}`) : null,
    );
  });
  return element("ul", "errors", ...items);
}

function sessionLabel(entry) {
  return entry.session ?? "default";
}

function requestRow(entry) {
  const row = element(
    "tr",
    entry.status >= 400 ? "refused" : "ok",
    element("td", "time", entry.time.slice(11, 23)),
    element("td", entry.session === null ? "session muted" : "session", sessionLabel(entry)),
    element("td", "method", entry.method),
    element("td", "path", pathWithQuery(entry)),
    element("td", "status", String(entry.status)),
    element("td", "duration", formatDuration(entry.duration_ms)),
    element("td", "why", errorList(entry)),
  );
  row.title = entry.time;
  row.tabIndex = 0;
  row.dataset.id = String(entry.id);
  row.setAttribute("aria-selected", String(state.selected?.id === entry.id));
  row.addEventListener("click", () => select(entry));
  row.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(entry);
    }
  });
  return row;
}

function pretty(value) {
  if (value === null || value === undefined) {
    return "(none)";
  }
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function detailsField(name, value, asCode = false) {
  let shown = String(value);
  if (asCode) {
    shown = document.createElement("pre");
    shown.textContent = visible(pretty(value), true);
  }
  return [element("dt", null, name), element("dd", null, shown)];
}

function showDetails(entry) {
  view.detailsTitle.textContent = visible(
    `${entry.method} ${pathWithQuery(entry)} → ${entry.status}`,
  );
  view.detailsFields.replaceChildren(
    ...detailsField("Time", entry.time),
    ...detailsField("Session", entry.session ?? "(the default session)"),
    ...detailsField("Operation", entry.operation_id ?? "(no operation of the contract)"),
    ...detailsField("Duration", formatDuration(entry.duration_ms)),
    ...detailsField("Query", masked(entry.query), true),
    ...detailsField("Headers", masked(entry.headers), true),
    ...detailsField("Body", entry.body, true),
    ...detailsField("Errors", entry.errors, true),
    ...(entry.decision ? detailsField("Decision", entry.decision, true) : []),
  );
  view.details.hidden = false;
}

function select(entry) {
  state.selected = entry;
  for (const row of view.rows.children) {
    row.setAttribute("aria-selected", String(row.dataset.id === String(entry.id)));
  }
  showDetails(entry);
}

function render(entries) {
  const ids = entries.map((entry) => entry.id).join(",");
  if (ids === state.shownIds) {
    return; // unchanged: keep focus, hover and scroll as they are
  }
  state.shownIds = ids;
  view.rows.replaceChildren(...entries.map(requestRow));
  view.empty.hidden = entries.length > 0;
}

// --- the loop ------------------------------------------------------------------------

async function refresh() {
  try {
    const [entries, sessions] = await Promise.all([loadJournal(), loadSessions()]);
    renderSessionFilter([...sessions, ...entries.map((entry) => entry.session).filter(Boolean)]);
    render(entries);
    const now = new Date().toISOString().slice(11, 19);
    view.status.textContent =
      `Latest ${entries.length} requests, newest first · updated ${now} UTC`;
    view.status.className = "";
  } catch (error) {
    view.status.textContent =
      error instanceof TypeError ? "The server does not answer; trying again…" : error.message;
    view.status.className = "problem";
  }
}

async function poll() {
  if (!view.pause.checked) {
    await refresh();
  }
  window.setTimeout(poll, POLL_MS);
}

/** Empty the journal of the chosen session, or of every known one. */
async function clearJournal() {
  const chosen = chosenSession();
  const sessions =
    chosen === ALL_SESSIONS
      ? [null, ...state.sessions]
      : [chosen === DEFAULT_SESSION ? null : chosen];
  for (const session of sessions) {
    const response = await adminRequest("/__admin/requests", "DELETE", session);
    if (!response.ok) {
      return response;
    }
  }
  return { ok: true };
}

view.sessionFilter.addEventListener("change", () => {
  state.shownIds = "";
  refresh();
});

view.clear.addEventListener("click", async () => {
  const response = await clearJournal();
  if (!response.ok) {
    view.status.textContent = refusalMessage(response.status);
    view.status.className = "problem";
    return;
  }
  state.selected = null;
  view.details.hidden = true;
  await refresh();
});

poll();
