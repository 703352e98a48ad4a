// The operators' live board: a snapshot over the websocket, then deltas. Reconnects by itself.
"use strict";

const SEVERITY_RANK = { critical: 4, urgent: 3, warning: 2, info: 1 };
const SHOWN = [["hr", "HR", "bpm"], ["spo2", "SpO2", "%"], ["rr", "RR", "/min"], ["temp", "Temp", "°C"]];
const RECONNECT_MAX_MS = 10000;

const state = { residents: new Map(), alerts: new Map() };
let reconnectDelay = 500;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws`);
  setConnection("connecting");
  socket.onopen = () => { setConnection("open"); reconnectDelay = 500; };
  socket.onmessage = (event) => handle(JSON.parse(event.data));
  socket.onclose = () => {
    setConnection("closed");
    setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
  };
}

function handle(message) {
  if (message.type === "snapshot") {
    state.residents = new Map(message.residents.map((r) => [r.resident_id, r]));
    state.alerts = new Map(message.alerts.map((a) => [a.alert_id, a]));
  } else if (message.type === "alert") {
    const alert = message.alert;
    if (alert.state === "resolved") state.alerts.delete(alert.alert_id);
    else state.alerts.set(alert.alert_id, alert);
  } else if (message.type === "vitals") {
    for (const [id, metrics] of Object.entries(message.residents)) {
      const resident = state.residents.get(id);
      if (resident) Object.assign(resident.latest, metrics);
    }
  }
  render();
}

function liveAlertsOf(residentId) {
  return [...state.alerts.values()].filter((a) => a.resident_id === residentId);
}

function statusOf(residentId) {
  let worst = "";
  for (const a of liveAlertsOf(residentId)) {
    if ((SEVERITY_RANK[a.severity] || 0) > (SEVERITY_RANK[worst] || 0)) worst = a.severity;
  }
  return worst || "ok";
}

function render() {
  renderAlerts();
  renderTiles();
  document.getElementById("counts").textContent =
    `${state.residents.size} residents · ${state.alerts.size} live alerts`;
}

function renderAlerts() {
  const list = document.getElementById("alerts");
  const alerts = [...state.alerts.values()].sort(
    (a, b) => (SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]) || (b.opened_at - a.opened_at));
  list.replaceChildren(...alerts.map(alertItem));
  document.getElementById("no-alerts").hidden = alerts.length > 0;
}

function alertItem(alert) {
  const resident = state.residents.get(alert.resident_id);
  const li = el("li", { className: "alert", id: `alert-${alert.alert_id}` });
  li.dataset.severity = alert.severity;
  li.dataset.state = alert.state;
  li.append(
    el("div", { className: "who", textContent: `${resident ? resident.name : alert.resident_id} · ${alert.title}` }),
    el("div", { className: "why", textContent: alert.explanation }),
    el("div", { className: "muted", textContent:
      `${alert.severity} · ${alert.state}${alert.acknowledged_by ? " by " + alert.acknowledged_by : ""} · ` +
      new Date(alert.opened_at * 1000).toLocaleTimeString() }),
  );
  if (alert.state === "open") li.append(button("Acknowledge", () => act(alert.alert_id, "acknowledge")));
  li.append(button("Resolve", () => act(alert.alert_id, "resolve")));
  return li;
}

function renderTiles() {
  const residents = [...state.residents.values()].sort(
    (a, b) => ((SEVERITY_RANK[statusOf(b.resident_id)] || 0) - (SEVERITY_RANK[statusOf(a.resident_id)] || 0))
      || a.name.localeCompare(b.name));
  document.getElementById("tiles").replaceChildren(...residents.map(tile));
}

function tile(resident) {
  const div = el("div", { className: "tile", id: `tile-${resident.resident_id}` });
  div.dataset.status = statusOf(resident.resident_id);
  const dl = el("dl");
  for (const [metric, label, unit] of SHOWN) {
    const reading = resident.latest[metric];
    dl.append(el("dt", { textContent: label }),
      el("dd", { textContent: reading ? `${formatValue(metric, reading[1])} ${unit}` : "–", className: `v-${metric}` }));
  }
  div.append(el("div", { className: "name", textContent: resident.name }),
    el("div", { className: "room", textContent: resident.room ? `Room ${resident.room}` : "" }), dl);
  return div;
}

function formatValue(metric, value) {
  return metric === "temp" ? value.toFixed(1) : Math.round(value).toString();
}

async function act(alertId, action) {
  const actor = localStorage.getItem("carewatch.actor") || "operator";
  const response = await fetch(`/api/alerts/${alertId}/${action}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ actor }),
  });
  if (response.status === 409) {
    const body = await response.json();
    window.alert(body.detail);
  }
}

function button(text, onClick) {
  const b = el("button", { type: "button", textContent: text });
  b.addEventListener("click", onClick);
  return b;
}

function el(tag, props = {}) {
  return Object.assign(document.createElement(tag), props);
}

function setConnection(value) {
  const node = document.getElementById("connection");
  node.dataset.state = value;
  node.textContent = value === "open" ? "live" : value;
}

connect();
