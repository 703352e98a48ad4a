// The service report page: a site and a period in, the counted figures and bar charts (inline SVG, no library) out.
// The period is whole days of the viewer's time zone, as every time the pages show: from the local midnight that
// starts the first day to the one that ends the last (the API counts [start, end) in epoch seconds).
"use strict";

const REPORT_DAYS = 7; // the period shown first: the last week, today included

// The local day `offset` days from today, as a date input's value (YYYY-MM-DD).
function localDay(offset) {
  const now = new Date();
  const day = new Date(now.getFullYear(), now.getMonth(), now.getDate() + offset);
  return [day.getFullYear(), day.getMonth() + 1, day.getDate()].map((n) => String(n).padStart(2, "0")).join("-");
}

// The epoch seconds of the local midnight that starts a date input's day, or (endOfDay) the one after it: a day of
// a daylight-saving change is 23 or 25 hours long.
function epochOf(isoDay, endOfDay) {
  const [year, month, day] = isoDay.split("-").map(Number);
  return new Date(year, month - 1, day + (endOfDay ? 1 : 0)).getTime() / 1000;
}

function minutes(seconds) {
  return seconds === null ? "–" : t("report.minutes", { m: (seconds / 60).toFixed(1) });
}

function figure(label, value) {
  return el("div", { className: "figure" }, [el("b", { textContent: String(value) }), el("span", { textContent: label })]);
}

// A horizontal bar chart of {label: count} as an SVG with a title, readable without colour.
function barChart(title, counts) {
  const entries = Object.entries(counts);
  const figureNode = el("figure", {}, [el("figcaption", { textContent: title })]);
  if (!entries.length) {
    figureNode.append(el("p", { className: "muted", textContent: t("report.none") }));
    return figureNode;
  }
  const ns = "http://www.w3.org/2000/svg";
  const rowH = 22, labelW = 140, barW = 220, width = labelW + barW + 50;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${entries.length * rowH + 4}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const max = Math.max(...entries.map(([, n]) => n));
  entries.forEach(([label, n], i) => {
    const y = i * rowH + 2;
    const text = document.createElementNS(ns, "text");
    Object.entries({ x: labelW - 6, y: y + 15, "text-anchor": "end" }).forEach(([k, v]) => text.setAttribute(k, v));
    text.textContent = label;
    const rect = document.createElementNS(ns, "rect");
    Object.entries({ x: labelW, y: y + 3, height: rowH - 6, width: Math.max(1, (barW * n) / max) })
      .forEach(([k, v]) => rect.setAttribute(k, v));
    const value = document.createElementNS(ns, "text");
    Object.entries({ x: labelW + (barW * n) / max + 6, y: y + 15 }).forEach(([k, v]) => value.setAttribute(k, v));
    value.textContent = String(n);
    svg.append(text, rect, value);
  });
  figureNode.append(svg);
  return figureNode;
}

function deliveriesByChannel(byChannel) {
  const flat = {};
  for (const [channel, statuses] of Object.entries(byChannel)) {
    for (const [status, n] of Object.entries(statuses)) flat[`${channel} · ${status}`] = n;
  }
  return flat;
}

function draw(report) {
  const a = report.alerts, ack = report.time_to_acknowledge_s;
  document.getElementById("figures").replaceChildren(
    figure(t("report.residents_covered"), report.residents_covered),
    figure(t("report.residents_with_alerts"), report.residents_with_alerts),
    figure(t("report.alerts"), a.total),
    figure(t("report.acknowledged"), a.acknowledged),
    figure(t("report.resolved_automatically"), a.resolved_automatically),
    figure(t("report.ack_median"), minutes(ack.median)),
    figure(t("report.ack_p90"), minutes(ack.p90)),
    figure(t("report.escalations"), report.escalations.total),
    figure(t("report.alerts_escalated"), report.escalations.alerts_escalated),
    figure(t("report.deliveries"), report.deliveries.attempts),
  );
  const bySeverity = Object.fromEntries(Object.entries(a.by_severity).map(([s, n]) => [t(`severity.${s}`), n]));
  document.getElementById("charts").replaceChildren(
    barChart(t("report.by_rule"), a.by_rule),
    barChart(t("report.by_severity"), bySeverity),
    barChart(t("report.by_target"), report.escalations.by_target),
    barChart(t("report.by_channel"), deliveriesByChannel(report.deliveries.by_channel)),
  );
}

async function show() {
  const site = document.getElementById("site").value;
  const start = epochOf(document.getElementById("start").value, false);
  const end = epochOf(document.getElementById("end").value, true);
  const url = `/api/reports/service?site_id=${encodeURIComponent(site)}&start=${start}&end=${end}`;
  document.getElementById("json").href = url;
  const status = document.getElementById("status");
  status.textContent = t("report.loading");
  try {
    draw(await apiJson(url));
    status.textContent = "";
  } catch (error) {
    status.textContent = t("report.failed", { error: error.message });
  }
}

async function main() {
  await startPage("page.reports");
  const sites = await apiJson("/api/sites");
  const select = document.getElementById("site");
  for (const site of sites) select.append(el("option", { value: site.site_id, textContent: site.name }));
  const params = new URLSearchParams(location.search);
  if (params.get("site_id")) select.value = params.get("site_id");
  document.getElementById("end").value = localDay(0);
  document.getElementById("start").value = localDay(1 - REPORT_DAYS);
  document.getElementById("period").addEventListener("submit", (event) => { event.preventDefault(); show(); });
  if (select.value) await show();
}

main();
