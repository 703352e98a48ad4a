// The system page: ingest rates (from two samples of the counters), backlog, broker, websockets, dead letters, and
// how the alert core's state was readied at start.
"use strict";

const POLL_MS = 2000;
let previous = null;

async function poll() {
  const now = performance.now();
  const s = await apiJson("/api/system");
  const rate = (key) => (previous ? ((s.ingest[key] || 0) - (previous.s.ingest[key] || 0)) / ((now - previous.at) / 1000) : null);
  const figures = [
    ["system.messages_per_s", rate("messages_received")], ["system.rows_per_s", rate("rows_stored_readings")],
    ["system.rejected_per_s", rate("messages_rejected")], ["system.backlog", s.backlog],
    ["system.broker", s.broker_connected ? t("system.connected") : t("system.disconnected")],
    ["system.storage", s.storage], ["system.messages_total", s.ingest.messages_received],
    ["system.sensor_off_total", s.ingest.readings_sensor_off],
    ["system.dead_letters_total", s.dead_letters_total], ["system.clients", s.websocket_clients],
    ["system.dropped", s.websocket_dropped], ["system.alert_start", alertStart(s)],
  ];
  document.getElementById("figures").replaceChildren(...figures.flatMap(([key, value]) => [
    el("dt", { textContent: t(key) }),
    el("dd", { id: `fig-${key.split(".")[1]}`, textContent: value === null ? "…" : typeof value === "number" ? (Math.round(value * 10) / 10).toString() : value }),
  ]));
  document.querySelector("#dead-letters tbody").replaceChildren(...s.dead_letters.map((d) => el("tr", {}, [
    el("td", { textContent: formatTime(d.received_at) }), el("td", { textContent: d.topic }),
    el("td", { textContent: d.reason }), el("td", { textContent: d.detail }),
  ])));
  previous = { s, at: now };
}

function alertStart(s) {
  if (s.alert_core_start_seconds === null) return "–";
  const seconds = s.alert_core_start_seconds.toFixed(s.alert_core_start_seconds < 1 ? 2 : 1);
  const key = s.alert_core_resumed ? "system.alert_start_saved"
    : s.alert_core_recovered ? "system.alert_start_recovered" : "system.alert_start_rebuilt";
  return t(key, { s: seconds });
}

startPage("page.system").then(() => { poll(); setInterval(poll, POLL_MS); });
