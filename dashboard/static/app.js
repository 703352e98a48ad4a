// The operators' live board: a snapshot over the websocket, then deltas. Built for thousands of residents:
// - windowed: only the rows on screen (plus a margin) exist as DOM tiles; the rest is an empty spacer of the right
//   height, so the cost of a frame does not grow with the board (docs/performance.md has the figures);
// - each update is applied to the data at once and written to the visible tiles at most once per animation frame,
//   field by field, only where the text changed;
// - the order is most severe alert first, then name; it is recomputed only when some tile's status changes.
"use strict";

const WINDOW_MARGIN_ROWS = 3; // rows built above and below the screen, so a scroll shows no blank rows

const board = {
  user: null,
  residents: new Map(), // resident_id -> resident (latest, news2)
  alerts: new Map(), // alert_id -> live alert
  alertsByResident: new Map(), // resident_id -> [live alert]
  status: new Map(), // resident_id -> "ok" | severity
  order: [], // resident ids in board order
  nameRank: new Map(), // resident_id -> position by name
  tiles: new Map(), // resident_id -> {root, values: {metric: dd}, news2, open}: the tiles in the window only
  shown: "", // the ids in the window, joined: the window is rebuilt only when it changes
  dirty: new Set(), // resident ids whose tile needs writing
  orderDirty: false,
  alertsDirty: false,
  frame: 0,
  rendered: false, // the first snapshot has been drawn (marks time to first render)
  rowHeight: 0,
  columns: 1,
  site: localStorage.getItem("carewatch.site") || "", // "" = every site the user may see
  snoozeTimer: 0, // draws the alerts again when the soonest snooze ends
};

function handle(message) {
  if (message.type === "snapshot") {
    board.residents = new Map(message.residents.map((r) => [r.resident_id, r]));
    board.alerts = new Map(message.alerts.map((a) => [a.alert_id, a]));
    const byName = [...board.residents.values()].sort((a, b) => a.name.localeCompare(b.name));
    board.nameRank = new Map(byName.map((r, i) => [r.resident_id, i]));
    regroupAlerts();
    board.status = new Map(byName.map((r) => [r.resident_id, statusOf(board.alertsByResident.get(r.resident_id) || [])]));
    board.orderDirty = true;
    board.alertsDirty = true;
    board.shown = "";
    schedule();
    return;
  }
  if (message.type === "alert") {
    const alert = keptMarks(message.alert, board.alerts.get(message.alert.alert_id));
    if (alert.state === "resolved") board.alerts.delete(alert.alert_id);
    else board.alerts.set(alert.alert_id, alert);
    regroupAlerts();
    const status = statusOf(board.alertsByResident.get(alert.resident_id) || []);
    if (board.status.get(alert.resident_id) !== status) {
      board.status.set(alert.resident_id, status);
      board.orderDirty = true;
    }
    board.dirty.add(alert.resident_id);
    board.alertsDirty = true;
  } else if (message.type === "notice") {
    const alert = board.alerts.get(message.alert_id);
    if (alert) {  // nobody acknowledged in time: the next stage was called; the feed says so
      alert.escalation = message.kind;
      board.alertsDirty = true;
    }
  } else if (message.type === "vitals") {
    for (const [id, metrics] of Object.entries(message.residents)) {
      const resident = board.residents.get(id);
      if (!resident) continue;
      Object.assign(resident.latest, metrics);
      if (message.news2 && message.news2[id]) resident.news2 = message.news2[id];
      if (board.tiles.has(id)) board.dirty.add(id);
    }
  }
  schedule();
}

function regroupAlerts() {
  board.alertsByResident = new Map();
  for (const a of board.alerts.values()) {
    if (!board.alertsByResident.has(a.resident_id)) board.alertsByResident.set(a.resident_id, []);
    board.alertsByResident.get(a.resident_id).push(a);
  }
}

function schedule() {
  if (!board.frame) board.frame = requestAnimationFrame(flush);
}

function flush() {
  board.frame = 0;
  const started = performance.now();
  const first = !board.rendered && board.residents.size > 0;
  board.rendered = board.rendered || first;
  if (board.orderDirty) {
    const rank = (id) => SEVERITY_RANK[board.status.get(id)] || 0;
    const shown = [...board.residents.values()].filter((r) => !board.site || r.site_id === board.site);
    board.order = shown.map((r) => r.resident_id).sort((a, b) => (rank(b) - rank(a)) || (board.nameRank.get(a) - board.nameRank.get(b)));
    board.orderDirty = false;
    board.shown = "";
  }
  renderWindow();
  for (const id of board.dirty) writeTile(id);
  board.dirty.clear();
  if (board.alertsDirty) renderAlerts();
  board.alertsDirty = false;
  const took = performance.now() - started; // script time of one frame's updates (bench/board.py reads these)
  const stats = window.carewatchStats;
  if (first) {
    performance.mark("carewatch:board-rendered");
    stats.firstRenderMs = performance.now();
    stats.buildMs = took;
  } else {
    stats.flushes = (stats.flushes || 0) + 1;
    stats.flushMs = (stats.flushMs || 0) + took;
    stats.flushMaxMs = Math.max(stats.flushMaxMs || 0, took);
  }
}

// Builds the tiles of the rows on screen (and a margin), reusing those already built; sizes the spacer.
function renderWindow() {
  const container = document.getElementById("tiles");
  const grid = document.getElementById("tiles-window");
  if (!board.rowHeight) measureRows(grid);
  const rows = Math.ceil(board.order.length / board.columns);
  container.style.height = `${rows * board.rowHeight}px`;
  container.dataset.count = String(board.order.length);
  const top = container.getBoundingClientRect().top;
  const firstRow = Math.max(0, Math.floor(-top / board.rowHeight) - WINDOW_MARGIN_ROWS);
  const lastRow = Math.min(rows, Math.ceil((innerHeight - top) / board.rowHeight) + WINDOW_MARGIN_ROWS);
  const ids = board.order.slice(firstRow * board.columns, Math.max(firstRow, lastRow) * board.columns);
  const key = `${firstRow}:${ids.join(",")}`;
  if (key === board.shown) return;
  board.shown = key;
  const tiles = new Map();
  for (const id of ids) {
    let tile = board.tiles.get(id);
    if (!tile) {
      tile = makeTile(board.residents.get(id));
      board.dirty.add(id);
    }
    tiles.set(id, tile);
  }
  board.tiles = tiles; // tiles that left the window are dropped: memory stays bounded by the screen
  grid.style.transform = `translateY(${firstRow * board.rowHeight}px)`;
  grid.replaceChildren(...ids.map((id) => tiles.get(id).root));
}

// The row height and column count of the tile grid, from a probe tile (tiles have a fixed height in style.css).
function measureRows(grid) {
  const probe = makeTile({ resident_id: "probe", name: "probe", room: "1", latest: {} });
  grid.replaceChildren(probe.root);
  const style = getComputedStyle(grid);
  board.columns = Math.max(1, style.gridTemplateColumns.split(" ").length);
  board.rowHeight = probe.root.getBoundingClientRect().height + parseFloat(style.rowGap || "0");
  grid.replaceChildren();
}

function onViewportChange(remeasure) {
  if (remeasure) {
    board.rowHeight = 0;
    board.shown = "";
  }
  schedule();
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
  return { root, values, news2, open };
}

function writeTile(id) {
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
  if (tile.news2.textContent !== news2Text) {
    tile.news2.textContent = news2Text;
    tile.news2.dataset.response = n2 ? n2.response : "";
    tile.news2.title = n2 && n2.missing ? t("news2.partial", { n: n2.missing }) : "";
  }
  const status = board.status.get(id) || "ok";
  if (tile.root.dataset.status !== status) tile.root.dataset.status = status;
  const alerts = board.alertsByResident.get(id) || [];
  const openText = alerts.length ? alerts.map((a) => a.title).join(" · ") : "";
  if (tile.open.textContent !== openText) tile.open.textContent = openText;
}

function renderAlerts() {
  const alerts = [...board.alerts.values()].filter((a) => !board.site || a.site_id === board.site).sort(
    (a, b) => (SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]) || (b.raised_at - a.raised_at));  // newest raised first: a backlog's alert is new too
  document.getElementById("alerts").replaceChildren(...alerts.map((a) => {
    const resident = board.residents.get(a.resident_id);
    return alertItem(a, resident ? resident.name : a.resident_id, board.user, () => {}); // the socket brings the change
  }));
  document.getElementById("no-alerts").hidden = alerts.length > 0;
  redrawAtSnoozeEnd(alerts);
  document.getElementById("counts").textContent =
    `${t("board.residents_count", { n: board.order.length })} · ${t("board.alerts_count", { n: alerts.length })}`;
}

// No message comes when a snooze ends: the alerts are drawn again then, without its "snoozed until".
function redrawAtSnoozeEnd(alerts) {
  clearTimeout(board.snoozeTimer);
  const waits = alerts.filter(snoozed).map((a) => a.snoozed_until * 1000 - Date.now());
  if (waits.length) board.snoozeTimer = setTimeout(() => { board.alertsDirty = true; schedule(); }, Math.min(...waits));
}

// A site filter for users who see more than one site (kept in localStorage).
async function siteFilter() {
  const sites = board.user.role === "family" ? [] : await apiJson("/api/sites");
  if (sites.length < 2) { board.site = ""; return; }
  const select = el("select", { id: "site", title: t("board.site") });
  select.append(el("option", { value: "", textContent: t("board.all_sites") }),
    ...sites.map((s) => el("option", { value: s.site_id, textContent: s.name })));
  select.value = sites.some((s) => s.site_id === board.site) ? board.site : "";
  board.site = select.value;
  select.addEventListener("change", () => {
    board.site = select.value;
    localStorage.setItem("carewatch.site", board.site);
    board.orderDirty = true;
    board.alertsDirty = true;
    scrollTo(0, 0);
    schedule();
  });
  document.getElementById("board-title").after(select);
}

addEventListener("scroll", () => onViewportChange(false), { passive: true });
addEventListener("resize", () => onViewportChange(true));

startPage("page.board").then(async (user) => {
  board.user = user;
  await siteFilter();
  liveSocket(handle);
});
