// The service report page: a site and a period in, the counted figures and bar charts (inline SVG, no library) out.
"use strict";

const DAY_S = 86400;

function isoDate(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 10);
}

function epochOf(isoDay, endOfDay) {
  return Date.parse(`${isoDay}T00:00:00Z`) / 1000 + (endOfDay ? DAY_S : 0);
}

function minutes(seconds) {
  return seconds === null ? "–" : `${(seconds / 60).toFixed(1)} min`;
}

function figure(label, value) {
  return el("div", { className: "figure" }, [el("b", { textContent: String(value) }), el("span", { textContent: label })]);
}

// A horizontal bar chart of {label: count} as an SVG with a title, readable without colour.
function barChart(title, counts) {
  const entries = Object.entries(counts);
  const figureNode = el("figure", {}, [el("figcaption", { textContent: title })]);
  if (!entries.length) {
    figureNode.append(el("p", { className: "muted", textContent: "none" }));
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
    figure("residents covered", report.residents_covered),
    figure("residents with alerts", report.residents_with_alerts),
    figure("alerts", a.total),
    figure("acknowledged", a.acknowledged),
    figure("resolved automatically", a.resolved_automatically),
    figure("median time to acknowledge", minutes(ack.median)),
    figure("90th percentile time to acknowledge", minutes(ack.p90)),
    figure("escalation stages fired", report.escalations.total),
    figure("alerts escalated", report.escalations.alerts_escalated),
    figure("delivery attempts", report.deliveries.attempts),
  );
  document.getElementById("charts").replaceChildren(
    barChart("Alerts by rule", a.by_rule),
    barChart("Alerts by severity", a.by_severity),
    barChart("Escalations by target", report.escalations.by_target),
    barChart("Deliveries by channel and outcome", deliveriesByChannel(report.deliveries.by_channel)),
  );
}

async function show() {
  const site = document.getElementById("site").value;
  const start = epochOf(document.getElementById("start").value, false);
  const end = epochOf(document.getElementById("end").value, true);
  const url = `/api/reports/service?site_id=${encodeURIComponent(site)}&start=${start}&end=${end}`;
  document.getElementById("json").href = url;
  const status = document.getElementById("status");
  status.textContent = "loading…";
  try {
    draw(await apiJson(url));
    status.textContent = "";
  } catch (error) {
    status.textContent = `could not load the report: ${error.message}`;
  }
}

async function main() {
  await startPage("nav.reports");
  const sites = await apiJson("/api/sites");
  const select = document.getElementById("site");
  for (const site of sites) select.append(el("option", { value: site.site_id, textContent: site.name }));
  const params = new URLSearchParams(location.search);
  if (params.get("site_id")) select.value = params.get("site_id");
  const now = Date.now() / 1000;
  document.getElementById("end").value = isoDate(now);
  document.getElementById("start").value = isoDate(now - 6 * DAY_S);
  document.getElementById("period").addEventListener("submit", (event) => { event.preventDefault(); show(); });
  if (select.value) await show();
}

main();
