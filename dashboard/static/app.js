// The operators' live board: a snapshot over the websocket, then deltas. Built for thousands of tiles: each tile is
// built once and then only its changed fields are written, at most once per animation frame; the order (most severe
// first, then by name) is the CSS `order` of each tile, so re-sorting moves no DOM nodes. Tiles off screen only note
// that their values changed (status and order are kept current) and write them when they scroll into view.
"use strict";

const board = {
  user: null,
  residents: new Map(), // resident_id -> resident (latest, news2)
  alerts: new Map(), // alert_id -> live alert
  tiles: new Map(), // resident_id -> {root, values: {metric: dd}, news2, open}
  nameRank: new Map(), // resident_id -> position by name
  dirty: new Set(), // resident ids whose tile needs writing
  stale: new Set(), // resident ids off screen whose values changed since last written
  visible: new Set(), // resident ids whose tile is on screen (IntersectionObserver)
  observer: null,
  alertsDirty: false,
  frame: 0,
};

function handle(message) {
  if (message.type === "snapshot") {
    board.residents = new Map(message.residents.map((r) => [r.resident_id, r]));
    board.alerts = new Map(message.alerts.map((a) => [a.alert_id, a]));
    buildTiles();
    return;
  }
  if (message.type === "alert") {
    const alert = message.alert;
    if (alert.state === "resolved") board.alerts.delete(alert.alert_id);
    else board.alerts.set(alert.alert_id, alert);
    board.dirty.add(alert.resident_id);
    board.alertsDirty = true;
  } else if (message.type === "vitals") {
    for (const [id, metrics] of Object.entries(message.residents)) {
      const resident = board.residents.get(id);
      if (!resident) continue;
      Object.assign(resident.latest, metrics);
      if (message.news2 && message.news2[id]) resident.news2 = message.news2[id];
      board.dirty.add(id);
    }
  }
  schedule();
}

function schedule() {
  if (!board.frame) board.frame = requestAnimationFrame(flush);
}

function flush() {
  board.frame = 0;
  const started = performance.now();
  const alertsByResident = groupAlerts();
  for (const id of board.dirty) {
    if (board.visible.has(id)) writeTile(id, alertsByResident.get(id) || []);
    else {
      writeStatus(id, alertsByResident.get(id) || []);  // the order must stay right for tiles off screen too
      board.stale.add(id);
    }
  }
  board.dirty.clear();
  if (board.alertsDirty) renderAlerts();
  board.alertsDirty = false;
  const took = performance.now() - started;  // script time of one frame's updates (bench/board.py reads these)
  const stats = window.carewatchStats;
  stats.flushes = (stats.flushes || 0) + 1;
  stats.flushMs = (stats.flushMs || 0) + took;
  stats.flushMaxMs = Math.max(stats.flushMaxMs || 0, took);
}

function groupAlerts() {
  const byResident = new Map();
  for (const a of board.alerts.values()) {
    if (!byResident.has(a.resident_id)) byResident.set(a.resident_id, []);
    byResident.get(a.resident_id).push(a);
  }
  return byResident;
}

function buildTiles() {
  const started = performance.now();
  const names = [...board.residents.values()].sort((a, b) => a.name.localeCompare(b.name));
  board.nameRank = new Map(names.map((r, i) => [r.resident_id, i]));
  board.tiles = new Map();
  board.visible.clear();
  board.stale.clear();
  if (board.observer) board.observer.disconnect();
  board.observer = new IntersectionObserver(onVisibility, { rootMargin: "200px" });
  const fragment = document.createDocumentFragment();
  const alertsByResident = groupAlerts();
  for (const resident of names) {
    const tile = makeTile(resident);
    board.tiles.set(resident.resident_id, tile);
    writeTile(resident.resident_id, alertsByResident.get(resident.resident_id) || []);
    fragment.append(tile.root);
    board.observer.observe(tile.root);
  }
  document.getElementById("tiles").replaceChildren(fragment);
  board.dirty.clear();
  renderAlerts();
  performance.mark("carewatch:board-rendered");
  window.carewatchStats.firstRenderMs = window.carewatchStats.firstRenderMs ?? performance.now();
  window.carewatchStats.buildMs = performance.now() - started;
}

function onVisibility(entries) {
  const alertsByResident = entries.some((e) => e.isIntersecting) ? groupAlerts() : null;
  for (const entry of entries) {
    const id = entry.target.id.slice("tile-".length);
    if (!entry.isIntersecting) { board.visible.delete(id); continue; }
    board.visible.add(id);
    if (board.stale.delete(id)) writeTile(id, alertsByResident.get(id) || []);
  }
}

function makeTile(resident) {
  const root = el("a", { className: "tile", id: `tile-${resident.resident_id}`, href: `/residents/${resident.resident_id}` });
  const values = {};
  const dl = el("dl");
  for (const [metric] of VITALS) {
    values[metric] = el("dd", { className: `v-${metric}`, textContent: "–" });
    dl.append(el("dt", { textContent: t(`metric.${metric}`) }), values[metric]);
  }
  const news2 = el("span", { className: "news2" });
  const open = el("div", { className: "open-alerts" });
  root.append(
    el("div", { className: "head" }, [el("span", { className: "name", textContent: resident.name }), news2]),
    el("div", { className: "room", textContent: resident.room ? t("tile.room", { room: resident.room }) : "" }),
    dl, open);
  return { root, values, news2, open, status: null };
}

function writeTile(id, alerts) {
  const tile = board.tiles.get(id);
  const resident = board.residents.get(id);
  if (!tile || !resident) return;
  for (const [metric, unit] of VITALS) {
    const reading = resident.latest[metric];
    const text = reading ? `${formatValue(metric, reading[1])} ${unit}` : "–";
    if (tile.values[metric].textContent !== text) tile.values[metric].textContent = text;
  }
  const n2 = resident.news2;
  const news2Text = n2 ? `NEWS2 ${n2.score}${n2.missing ? "*" : ""}` : "";
  if (tile.news2.textContent !== news2Text) {  // writes only what changed: an unchanged tile costs no layout
    tile.news2.textContent = news2Text;
    tile.news2.dataset.response = n2 ? n2.response : "";
    tile.news2.title = n2 && n2.missing ? t("news2.partial", { n: n2.missing }) : "";
  }
  tile.news2.dataset.response = n2 ? n2.response : "";
  writeStatus(id, alerts);
  const openText = alerts.length ? alerts.map((a) => a.title).join(" · ") : "";
  if (tile.open.textContent !== openText) tile.open.textContent = openText;
}

function writeStatus(id, alerts) {
  const tile = board.tiles.get(id);
  const status = statusOf(alerts);
  if (!tile || status === tile.status) return;
  tile.status = status;
  tile.root.dataset.status = status;
  tile.root.style.order = String((4 - (SEVERITY_RANK[status] || 0)) * 100000 + board.nameRank.get(id));
}

function renderAlerts() {
  const alerts = [...board.alerts.values()].sort(
    (a, b) => (SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]) || (b.opened_at - a.opened_at));
  document.getElementById("alerts").replaceChildren(...alerts.map((a) => {
    const resident = board.residents.get(a.resident_id);
    return alertItem(a, resident ? resident.name : a.resident_id, board.user, act);
  }));
  document.getElementById("no-alerts").hidden = alerts.length > 0;
  document.getElementById("counts").textContent =
    t("board.counts", { residents: board.residents.size, alerts: board.alerts.size });
}

startPage("page.board").then((user) => {
  board.user = user;
  liveSocket(handle);
});
