// Shared by every page: the API helper (a 401 sends you to the login page), the header with navigation, language
// switching (en, zh-CN; stored in localStorage) and small DOM helpers. No framework.
"use strict";

const LANGS = { en: "English", "zh-CN": "中文" };
const SEVERITY_RANK = { critical: 4, urgent: 3, warning: 2, info: 1 };
const VITALS = [["hr", "bpm"], ["spo2", "%"], ["rr", "/min"], ["sbp", "mmHg"], ["temp", "°C"]];
// Who may act on an alert (dashboard/access.py): a clinician acknowledges; resolving and snoozing are the station's.
const ALERT_ACTIONS = { acknowledge: ["admin", "operator", "clinician"], resolve: ["admin", "operator"],
  snooze: ["admin", "operator"] };
const SNOOZE_MINUTES = [15, 60, 240]; // the choices offered; the API takes up to a day (SNOOZE_MAX_MINUTES)
const NOTE_MAX_CHARS = 2000; // as the API (AlertAction.note)

const i18n = { lang: "en", words: {}, plural: new Intl.PluralRules("en") };

// Every form here is sent by its page's script. Until that script has attached its handler (it waits for the
// language and the user first), a submit must not fall through to the browser's own GET: that would lose the
// entry and put its fields, a new user's password among them, in the URL.
document.addEventListener("submit", (event) => event.preventDefault(), true);

function pickLang() {
  const stored = localStorage.getItem("carewatch.lang");
  if (stored && LANGS[stored]) return stored;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

async function loadLang(lang) {
  const response = await fetch(`/static/i18n/${lang}.json`);
  i18n.words = await response.json();
  i18n.lang = lang;
  i18n.plural = new Intl.PluralRules(lang);
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
}

// t("tile.room", {room: "101"}) -> the text in the current language, filled in; the key if missing. An entry may be
// plural forms by Intl.PluralRules category ({"one": "{n} resident", "other": "{n} residents"}), chosen by vars.n.
function t(key, vars = {}) {
  const entry = i18n.words[key] ?? key;
  const text = typeof entry === "string" ? entry : entry[i18n.plural.select(vars.n)] ?? entry.other;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options, headers: { ...(options.headers || {}) } };
  if (options.json !== undefined) {
    init.body = JSON.stringify(options.json);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    toLogin();
    throw new Error("not logged in");
  }
  return response;
}

// The response's JSON; an error (with the response's status) if it is not a success.
async function apiJson(path, options) {
  const response = await api(path, options);
  if (!response.ok) {
    throw Object.assign(new Error(`${response.status} ${await response.text()}`), { status: response.status });
  }
  return response.status === 204 ? null : response.json();
}

// Why the API refused a request: its validation messages joined, each after the field it is about, or the detail text.
async function refusal(response) {
  const detail = (await response.json().catch(() => ({}))).detail;
  if (!Array.isArray(detail)) return String(detail ?? response.status);
  const about = (d) => { const field = d.loc?.at(-1); return typeof field === "string" && field !== "body" ? `${field}: ` : ""; };
  return detail.map((d) => about(d) + d.msg).join("; ");
}

function toLogin() {
  location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
}

// Whether the session still holds. A refused websocket handshake (HTTP 403) reaches the page as close code 1006,
// the same as a network failure or a restarting server; the API tells them apart (401: the session is over).
async function loggedIn() {
  const SESSION_CHECK_MS = 5000; // a server that accepts and never answers must not stop the reconnecting
  try {
    const signal = AbortSignal.timeout(SESSION_CHECK_MS);
    return (await fetch("/api/auth/me", { credentials: "same-origin", signal })).status !== 401;
  } catch {
    return true; // the server is out of reach: not a logout, keep trying
  }
}

// Loads the language and the user, draws the header; resolves to the user. Every page starts with it.
async function startPage(titleKey) {
  await loadLang(pickLang());
  const user = await apiJson("/api/auth/me");
  const header = document.getElementById("top");
  const nav = el("nav");
  const links = [["/", "nav.board", user.role !== "family"], ["/family", "nav.family", user.role === "family"],
    ["/reports", "nav.reports", user.role !== "family"],
    ["/system", "nav.system", ["admin", "operator"].includes(user.role)], ["/admin", "nav.admin", user.role === "admin"]];
  for (const [href, key, shown] of links) {
    if (shown) nav.append(el("a", { href, textContent: t(key), className: location.pathname === href ? "here" : "" }));
  }
  const lang = el("select", { id: "lang", title: "Language / 语言" });
  for (const [code, name] of Object.entries(LANGS)) lang.append(el("option", { value: code, textContent: name }));
  lang.value = i18n.lang;
  lang.addEventListener("change", () => { localStorage.setItem("carewatch.lang", lang.value); location.reload(); });
  const logout = button(t("nav.logout"), async () => {
    leaving = true;  // the server closes this session's sockets as it answers: the button, not them, goes on
    await api("/api/auth/logout", { method: "POST" });
    location.assign("/login");
  });
  logout.id = "logout";
  header.replaceChildren(el("h1", { textContent: "carewatch" }), el("span", { className: "page", textContent: t(titleKey) }),
    nav, el("span", { id: "connection", className: "connection", dataset: {} }), el("span", { id: "counts" }),
    el("span", { className: "spacer" }), el("span", { id: "whoami", textContent: `${user.display_name} · ${t("role." + user.role)}` }),
    lang, logout);
  document.title = `carewatch · ${t(titleKey)}`;
  return user;
}

// The live socket: calls onMessage with each parsed message; reconnects by itself with capped backoff. A session
// that ended (logged out: close code 1008; expired or deactivated: a refused handshake) goes to the login page.
let leaving = false;  // this page is logging out

function liveSocket(onMessage) {
  const RECONNECT_MAX_MS = 10000;
  let delay = 500;
  const stats = (window.carewatchStats = window.carewatchStats || { messages: 0, bytes: 0, connects: 0 });
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    let opened = false;
    setConnection("connecting");
    socket.onopen = () => { opened = true; setConnection("open"); delay = 500; stats.connects += 1; };
    socket.onmessage = (event) => {
      stats.messages += 1;
      stats.bytes += event.data.length;
      onMessage(JSON.parse(event.data));
    };
    socket.onclose = async (event) => {
      setConnection("closed");
      if (leaving) return;
      if (event.code === 1008 || !(opened || await loggedIn())) { toLogin(); return; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    };
  }
  connect();
}

function setConnection(value) {
  const node = document.getElementById("connection");
  if (!node) return;
  node.dataset.state = value;
  node.textContent = t(`connection.${value}`);
}

function statusOf(alerts) {
  let worst = "";
  for (const a of alerts) if ((SEVERITY_RANK[a.severity] || 0) > (SEVERITY_RANK[worst] || 0)) worst = a.severity;
  return worst || "ok";
}

function formatValue(metric, value) {
  return metric === "temp" ? value.toFixed(1) : Math.round(value).toString();
}

function formatTime(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleString(i18n.lang);
}

// When an alert was raised and, if its condition began a minute or more before (found in data that came late: a
// gateway's backlog), since when: "condition since 23/11/2025, 22:46 (6 days ago), raised 29/11/2025, 12:47".
function alertTimes(alert) {
  const raised = formatTime(alert.raised_at);
  if (alert.raised_at - alert.opened_at < 60) return raised;
  const since = formatTime(alert.opened_at);
  return t("alert.condition_since", { since, ago: formatAgo(alert.opened_at), raised });
}

// How long ago a time was, in the largest whole unit ("6 days ago", "3 hours ago").
function formatAgo(epochSeconds) {
  const seconds = epochSeconds - Date.now() / 1000;
  const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
  const [unit, size] = units.find(([, s]) => Math.abs(seconds) >= s) || units[2];
  return new Intl.RelativeTimeFormat(i18n.lang, { numeric: "auto" }).format(Math.round(seconds / size), unit);
}

function button(text, onClick) {
  const b = el("button", { type: "button", textContent: text });
  b.addEventListener("click", onClick);
  return b;
}

function el(tag, props = {}, children = []) {
  const { dataset, ...rest } = props;
  const node = Object.assign(document.createElement(tag), rest);
  if (dataset) Object.assign(node.dataset, dataset);
  if (children.length) node.append(...children);
  return node;
}

// An alert as a list item. onDone (null: no actions) runs after an action; the actions shown are those the user's role
// and the alert's state allow.
function alertItem(alert, residentName, user, onDone) {
  const li = el("li", { className: "alert", id: `alert-${alert.alert_id}`, dataset: { severity: alert.severity, state: alert.state } });
  const by = alert.acknowledged_by ? ` · ${t("alert.by", { who: alert.acknowledged_by })}` : "";
  li.append(
    el("div", { className: "who", textContent: `${residentName} · ${alert.title}` }),
    el("div", { className: "why", textContent: alert.explanation }),
    el("div", { className: "muted", textContent:
      `${t("severity." + alert.severity)} · ${t("state." + alert.state)}${by} · ${alertTimes(alert)}` }),
  );
  if (alert.escalation) li.append(el("div", { className: "escalated", textContent: t("alert.escalated") }));
  if (snoozed(alert)) {
    li.append(el("div", { className: "snoozed", textContent: t("alert.snoozed_until", { time: formatTime(alert.snoozed_until) }) }));
  }
  if (onDone) li.append(...alertActions(alert, `${residentName} · ${alert.title}`, user, onDone));
  return li;
}

// An open alert whose snooze has not ended: its escalation waits (acknowledging stopped it anyway).
function snoozed(alert) {
  return alert.state === "open" && alert.snoozed_until * 1000 > Date.now();
}

// Acknowledging is one click (time to acknowledge is what escalation measures), or with a note; resolving asks what
// was done; a snooze (of an open alert: acknowledging already stopped the escalation) asks how long.
function alertActions(alert, name, user, onDone) {
  const may = (action) => ALERT_ACTIONS[action].includes(user.role);
  const open = alert.state === "open";
  const withNote = (action) => () => actionDialog(alert, name, action, onDone);
  const acknowledge = async () => {
    const refused = await act(alert.alert_id, "acknowledge");
    if (refused) window.alert(refused);
    else onDone();
  };
  return [
    open && may("acknowledge") && button(t("action.acknowledge"), acknowledge),
    open && may("acknowledge") && button(t("action.acknowledge_dialog"), withNote("acknowledge")),
    alert.state !== "resolved" && may("resolve") && button(t("action.resolve_dialog"), withNote("resolve")),
    open && may("snooze") && button(t("action.snooze_dialog"), withNote("snooze")),
  ].filter(Boolean);
}

// A small dialog for an action with a note (and, for a snooze, how long); the note goes to the alert's audit trail.
// It lives outside the alert list, which the board redraws on every change: what the operator types stays.
function actionDialog(alert, name, action, onDone) {
  const dialog = el("dialog", { id: "alert-dialog", className: "alert-dialog" });
  const form = el("form", { className: "limit-form" });
  const note = el("textarea", { name: "note", rows: 3, maxLength: NOTE_MAX_CHARS, required: action === "resolve" });
  const error = el("p", { className: "error", hidden: true });
  const submit = el("button", { type: "submit", textContent: t(`action.${action}`) });
  form.append(el("h2", { textContent: t(`dialog.${action}`, { alert: name }) }),
    ...(action === "snooze" ? [snoozeChoices()] : []),
    el("label", {}, [el("span", { textContent: t(`dialog.note_${action}`) }), note]), error,
    el("div", {}, [submit, button(t("action.cancel"), () => dialog.close())]));
  form.addEventListener("submit", async () => {
    const body = { note: note.value.trim(), ...(action === "snooze" && { minutes: Number(form.minutes.value) }) };
    submit.disabled = true; // one action per click
    const refused = await act(alert.alert_id, action, body);
    submit.disabled = false;
    Object.assign(error, { hidden: !refused, textContent: refused });
    if (!refused) { dialog.close(); onDone(); }
  });
  dialog.addEventListener("close", () => dialog.remove());
  dialog.append(form);
  document.body.append(dialog);
  dialog.showModal();
}

function snoozeChoices() {
  const choices = SNOOZE_MINUTES.map((minutes, i) => el("label", { className: "check" }, [
    el("input", { type: "radio", name: "minutes", value: String(minutes), checked: i === 0 }), duration(minutes)]));
  return el("fieldset", {}, [el("legend", { textContent: t("dialog.snooze_for") }), ...choices,
    el("p", { className: "muted", textContent: t("dialog.snooze_hint") })]);
}

function duration(minutes) {
  return minutes % 60 ? t("duration.minutes", { n: minutes }) : t("duration.hours", { n: minutes / 60 });
}

// An alert change on the socket does not say whether the alert escalated (the snapshot and the notices do), nor,
// unless it is a snooze, when its snooze ends: what the page knew stays (an escalation, whatever the alert's state).
function keptMarks(alert, before) {
  alert.escalation ??= before?.escalation;
  alert.snoozed_until ??= before?.snoozed_until;
  return alert;
}

// Posts an action on an alert: "" when done, else why it was refused (409: someone else changed it first).
async function act(alertId, action, body = {}) {
  const response = await api(`/api/alerts/${alertId}/${action}`, { method: "POST", json: body });
  if (response.ok) return "";
  return response.status === 409 ? t("alert.conflict") : refusal(response);
}
