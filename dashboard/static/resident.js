// One resident: latest vitals, charts of the bucketed history (uPlot: mean with min/max), alert history with the
// readings behind each alert and its audit trail (who acknowledged, snoozed, resolved, and their notes), thresholds
// and the NEWS2 escalation (clinicians set them, by hand or from the settling-in review of the resident's own
// readings) and contacts.
"use strict";

const residentId = decodeURIComponent(location.pathname.split("/").pop());
const CHART_METRICS = ["hr", "spo2", "rr", "sbp", "temp"];
const UNITS = { ...Object.fromEntries(VITALS), dbp: "mmHg" };
const page = { user: null, view: localStorage.getItem("carewatch.view") || "1h", charts: [], review: null };

async function load() {
  page.user = await startPage("page.resident");
  const resident = await apiJson(`/api/residents/${encodeURIComponent(residentId)}`).catch((error) => {
    if (error.status === 404) return null;
    throw error;
  });
  if (!resident) return notFound();
  document.getElementById("resident-name").textContent = resident.name;
  document.getElementById("resident-where").textContent =
    [resident.room ? t("tile.room", { room: resident.room }) : "", resident.site_id].filter(Boolean).join(" · ");
  const latest = document.getElementById("latest");
  for (const [metric, unit] of VITALS) {
    const reading = resident.latest[metric];
    latest.append(el("dt", { textContent: t(`metric.${metric}`) }),
      el("dd", { textContent: reading ? `${formatValue(metric, reading[1])} ${unit}` : "–" }));
  }
  if (resident.news2) {
    const n2 = resident.news2;
    latest.append(el("dt", { textContent: "NEWS2" }), el("dd", { textContent:
      `${n2.score} (${t("news2." + n2.response)})${n2.missing ? " · " + t("news2.partial", { n: n2.missing }) : ""}` }));
  }
  for (const b of document.querySelectorAll("[data-view]")) {
    b.addEventListener("click", () => { page.view = b.dataset.view; localStorage.setItem("carewatch.view", page.view); charts(); });
  }
  limitReview();
  await Promise.all([charts(), history(), thresholds(), news2Escalation(), contacts()]);
  document.body.dataset.loaded = "true";
}

// The API answers 404 alike for a resident that does not exist and for one the user may not see (nobody can probe
// for residents): the page says so in place of the resident.
function notFound() {
  const message = el("p", { id: "not-found", className: "error", textContent: t("resident.not_found") });
  document.querySelector("main").replaceChildren(el("section", {}, [message]));
  document.body.dataset.loaded = "true";
}

async function charts() {
  for (const b of document.querySelectorAll("[data-view]")) b.classList.toggle("here", b.dataset.view === page.view);
  const holder = document.getElementById("charts");
  if (typeof uPlot === "undefined") { document.getElementById("no-charts").hidden = false; return; }
  const histories = await Promise.all(CHART_METRICS.map((metric) =>
    apiJson(`/api/residents/${encodeURIComponent(residentId)}/history?metric=${metric}&view=${page.view}&fill=true`)));
  for (const chart of page.charts) chart.destroy();
  page.charts = [];
  holder.replaceChildren();
  for (const h of histories) {
    const box = el("div", { className: "chart", id: `chart-${h.metric}` });
    holder.append(box);
    const xs = h.buckets.map((b) => b.start + h.bucket_s / 2);
    const data = [xs, h.buckets.map((b) => b.mean), h.buckets.map((b) => b.min), h.buckets.map((b) => b.max)];
    const alone = (u, si, show) => (show ? null : lone(u.data[si]));  // uPlot draws these points, too few for a line
    page.charts.push(new uPlot({
      title: `${t("metric." + h.metric)} (${h.buckets.some((b) => b.count) ? "" : t("resident.no_data")})`.replace(" ()", ""),
      width: Math.min(holder.clientWidth || 600, 720), height: 160,
      scales: { x: { time: true, min: h.start, max: h.end } },
      series: [{}, { label: t("chart.mean"), stroke: "#12324a", width: 2, points: { filter: alone } },
        { label: t("chart.min"), stroke: "#9bb0c2", dash: [4, 4], points: { filter: alone } },
        { label: t("chart.max"), stroke: "#9bb0c2", dash: [4, 4], points: { filter: alone } }],
    }, data, box));
  }
}

// The indexes of buckets with data between empty ones (or null if none): a line needs two neighbours, so a lone
// bucket (the only hour with readings in the 7-day view, say) would show nothing.
function lone(values) {
  const found = values.flatMap((v, i) => (v != null && values[i - 1] == null && values[i + 1] == null ? [i] : []));
  return found.length ? found : null;
}

const FHIR_READERS = ["admin", "operator", "clinician"];  // the care team: GET /api/alerts/{id}/fhir

// The alert as the clinic receives it (a FHIR R4 Bundle), to download.
function fhirLink(alert) {
  return el("a", { className: "fhir", href: `/api/alerts/${alert.alert_id}/fhir`, download: `alert-${alert.alert_id}.fhir.json`,
    textContent: t("alert.fhir"), title: t("alert.fhir_title") });
}

async function history() {
  const alerts = await apiJson(`/api/alerts?resident_id=${encodeURIComponent(residentId)}&limit=50`);
  const list = document.getElementById("history");
  list.replaceChildren(...alerts.map((a) => {
    const li = alertItem(a, a.rule, page.user, history);
    if (FHIR_READERS.includes(page.user.role)) li.append(fhirLink(a));
    const readings = (a.evidence && a.evidence.readings) || [];
    if (readings.length) {
      const table = el("table", { className: "evidence" });
      table.append(el("tr", {}, [el("th", { textContent: t("evidence.time") }), el("th", { textContent: a.evidence.metric || "" })]));
      for (const [ts, value] of readings) {
        table.append(el("tr", {}, [el("td", { textContent: formatTime(ts) }), el("td", { textContent: String(value) })]));
      }
      li.append(el("details", {}, [el("summary", { textContent: t("evidence.readings", { n: readings.length }) }), table]));
    }
    li.append(trail(a.alert_id));
    return li;
  }));
  if (!alerts.length) list.append(el("li", { className: "muted", textContent: t("resident.no_alerts") }));
}

// An alert's audit trail, oldest first: when, who, what (opened, acknowledged, snoozed until, resolved, reopened)
// and the note they wrote. Read from the API when first opened.
function trail(alertId) {
  const details = el("details", { className: "changes trail" }, [el("summary", { textContent: t("alert.trail") }), el("ol")]);
  details.addEventListener("toggle", async () => {
    if (!details.open || details.dataset.loaded) return;
    const { transitions } = await apiJson(`/api/alerts/${alertId}`);
    details.querySelector("ol").replaceChildren(...transitions.map((tr) => el("li", { textContent: transitionText(tr) })));
    details.dataset.loaded = "true";
  });
  return details;
}

function transitionText(tr) {
  const what = tr.snoozed_until !== null ? t("trail.snoozed", { time: formatTime(tr.snoozed_until) })
    : t(`trail.${tr.from_state === "resolved" ? "reopened" : tr.to_state}`);
  return `${formatTime(tr.at)} · ${tr.actor} · ${what}${tr.note ? `: ${tr.note}` : ""}`;
}

// The clinician's limits, each with the reason they documented, who set it and when, and the audit trail of changes.
async function thresholds() {
  if (page.user.role === "family") return;
  document.getElementById("thresholds-section").hidden = false;
  const url = `/api/residents/${encodeURIComponent(residentId)}/thresholds`;
  const rows = await apiJson(url);
  const canSet = ["admin", "clinician"].includes(page.user.role);
  document.querySelector("#thresholds tbody").replaceChildren(...rows.flatMap((row) => [
    el("tr", { dataset: { metric: row.metric, context: row.context } }, [
      el("td", { textContent: t(`metric.${row.metric}`) }), el("td", { textContent: t(`context.${row.context}`) }),
      el("td", { textContent: row.low ?? "–" }), el("td", { textContent: row.high ?? "–" }),
      el("td", {}, canSet ? [button(t("threshold.remove"), async () => {
        await api(`${url}/${row.metric}?context=${row.context}`, { method: "DELETE" });
        thresholds();
      })] : []),
    ]),
    el("tr", { className: "why", dataset: { reasonOf: row.metric, context: row.context } }, [el("td", { colSpan: 5 }, [
      row.reason, el("span", { className: "muted", textContent: ` (${row.updated_by} · ${formatTime(row.updated_at)})` })])]),
  ]));
  inBedLimits(rows);
  changeList("threshold-changes", `${url}/changes`, (c) => `${t("metric." + c.metric)}${c.context === "in_bed"
    ? " (" + t("context.in_bed") + ")" : ""}: ${c.threshold
    ? t("threshold.change", { low: c.threshold.low ?? "–", high: c.threshold.high ?? "–", reason: c.threshold.reason })
    : t(c.context === "in_bed" ? "threshold.removed_in_bed" : "threshold.removed")}`);
  const form = document.getElementById("threshold-form");
  if (!canSet || !form.hidden) return;
  form.hidden = false;
  form.metric.replaceChildren(...VITALS.map(([m]) => el("option", { value: m, textContent: t(`metric.${m}`) })));
  const error = document.getElementById("threshold-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { reason: form.reason.value };
    if (form.low.value !== "") body.low = Number(form.low.value);
    if (form.high.value !== "") body.high = Number(form.high.value);
    const response = await api(`${url}/${form.metric.value}?context=${form.context.value}`, { method: "PUT", json: body });
    error.hidden = response.ok;  // refused: the message, and what the clinician typed stays for them to fix
    if (!response.ok) { error.textContent = await refusal(response); return; }
    form.reset();
    thresholds();
  });
}

// Which limits apply while the resident is in bed (their own bed sensor says so): the in-bed ones, each side falling
// back to the limit that applies always, or the rule's default.
function inBedLimits(rows) {
  const note = document.getElementById("thresholds-in-bed");
  const inBed = rows.filter((row) => row.context === "in_bed");
  note.hidden = !inBed.length;
  note.textContent = inBed.length ? t("threshold.in_bed_note", { limits: inBed.map((row) => `${t("metric." + row.metric)} ${
    [row.low !== null ? `${t("threshold.low")} ${row.low}` : "", row.high !== null ? `${t("threshold.high")} ${row.high}` : ""]
      .filter(Boolean).join(", ")}`).join("; ") }) : "";
}

// A limit's audit trail, oldest first: when, who, and what was set (with its reason) or that it was removed.
async function changeList(id, url, describe) {
  const changes = await apiJson(url);
  const details = document.getElementById(id);
  details.querySelector("summary").textContent = t("changes.count", { n: changes.length });
  details.querySelector("ol").replaceChildren(...changes.map((c) =>
    el("li", { textContent: `${formatTime(c.at)} · ${c.by} · ${describe(c)}` })));
}

// The NEWS2 levels in force: the RCP's, or the escalation a clinician documented (with its reason, who and when).
async function news2Escalation() {
  if (page.user.role === "family") return;
  const url = `/api/residents/${encodeURIComponent(residentId)}/news2-escalation`;
  const e = await apiJson(url);
  const section = document.getElementById("news2-section");
  section.hidden = false;
  section.dataset.specific = String(e.resident_specific);
  document.getElementById("news2-levels").textContent = news2Levels(e);
  document.getElementById("news2-documented").textContent = e.resident_specific
    ? t("news2_escalation.documented", { by: e.set_by, when: formatTime(e.set_at), reason: e.reason })
    : t("news2_escalation.defaults");
  changeList("news2-changes", `${url}/changes`, (c) => c.escalation
    ? `${news2Levels(c.escalation)} ${c.escalation.reason}` : t("news2_escalation.removed"));
  const form = document.getElementById("news2-form");
  if (!["admin", "clinician"].includes(page.user.role)) return;
  form.urgent_from.value = e.urgent_from;
  form.emergency_from.value = e.emergency_from;
  form.red_score.checked = e.red_score;
  form.reason.value = e.reason ?? "";
  form.revert.hidden = !e.resident_specific;
  if (!form.hidden) return;
  form.hidden = false;
  const error = document.getElementById("news2-error");
  const done = async (response) => {  // refused: the message, and what the clinician typed stays for them to fix
    error.hidden = response.ok;
    if (response.ok) return news2Escalation();
    error.textContent = await refusal(response);
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { urgent_from: Number(form.urgent_from.value), emergency_from: Number(form.emergency_from.value),
      red_score: form.red_score.checked, reason: form.reason.value };
    await done(await api(url, { method: "PUT", json: body }));
  });
  form.revert.addEventListener("click", async () => done(await api(url, { method: "DELETE" })));
}

function news2Levels(e) {
  return t("news2_escalation.levels", { urgent: e.urgent_from, emergency: e.emergency_from,
    single: t(e.red_score ? "news2_escalation.single_on" : "news2_escalation.single_off") });
}

// The settling-in review: what the resident's own readings at rest say about the default limits. The clinician ticks
// the suggestions to accept; they become the resident's thresholds and NEWS2 escalation, shown in the sections above.
function limitReview() {
  if (!["admin", "clinician"].includes(page.user.role)) return;
  document.getElementById("review-section").hidden = false;
  const url = `/api/residents/${encodeURIComponent(residentId)}/limit-review`;
  const form = document.getElementById("review-form");
  const choices = document.getElementById("review-choices");
  const error = document.getElementById("review-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    reviewStatus(t("review.computing"));
    document.getElementById("review-notes").replaceChildren();
    const response = await api(`${url}?days=${encodeURIComponent(form.days.value)}`);
    if (!response.ok) { choices.hidden = true; return reviewStatus(await refusal(response)); }
    showReview(await response.json());
  });
  choices.addEventListener("change", () => { choices.apply.disabled = !reviewChoice().count; });
  choices.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { body, count } = reviewChoice();
    if (!count) return;
    choices.apply.disabled = true;  // one apply per click
    const response = await api(`${url}/apply`, { method: "POST", json: body });
    error.hidden = response.ok;
    if (!response.ok) { error.textContent = await refusal(response); choices.apply.disabled = false; return; }
    const applied = await response.json();
    choices.hidden = true;
    reviewStatus(t(applied.news2 ? "review.applied_news2" : "review.applied", { n: applied.thresholds.length }));
    await Promise.all([thresholds(), news2Escalation()]);
  });
}

function showReview(review) {
  page.review = review;
  const choices = document.getElementById("review-choices");
  const news2 = review.news2;
  reviewStatus(t("review.period", { from: formatTime(review.start), to: formatTime(review.end), n: review.windows })
    + (review.windows_in_bed === null ? " " + t("review.no_bed") : " " + t("review.in_bed", { n: review.windows_in_bed }))
    + (review.thresholds.length || news2 ? "" : " " + t("review.nothing")));
  document.getElementById("review-notes").replaceChildren(...review.notes.map((note) => el("li", { textContent: note })));
  choices.hidden = !review.thresholds.length && !news2;
  document.getElementById("review-error").hidden = true;
  choices.apply.disabled = true;
  document.getElementById("review-limits").hidden = !review.thresholds.length;
  document.querySelector("#review-limits tbody").replaceChildren(...review.thresholds.map((s) => {
    const rule = el("th", { scope: "row", id: `review-rule-${s.rule}-${s.context}` }, [
      `${t("metric." + s.metric)} · ${t("threshold." + s.side)} · ${t("context." + s.context)} `,
      el("span", { className: "muted", textContent: s.rule })]);
    const box = el("input", { type: "checkbox", name: "rule", value: `${s.rule}:${s.context}` });
    box.setAttribute("aria-labelledby", rule.id);
    return el("tr", { dataset: { rule: s.rule, context: s.context, bound: s.at_safety_bound } }, [el("td", {}, [box]), rule,
      ...[s.in_force ?? s.default, s.usual, s.suggested].map((v) => el("td", { className: "num", textContent: limitText(s.metric, v) })),
      el("td", { textContent: s.reason })]);
  }));
  document.getElementById("review-news2").hidden = !news2;
  choices.news2.checked = false;
  if (!news2) return;
  document.getElementById("review-news2-levels").textContent = news2Levels(news2);
  document.getElementById("review-news2-reason").textContent =
    `${t("review.usual_score", { score: news2.usual_score })}: ${news2.reason}`;
}

// The ticked suggestions as the apply request: each echoed as shown, so the server can tell if the review changed.
function reviewChoice() {
  const choices = document.getElementById("review-choices");
  const ticked = new Set([...choices.querySelectorAll("input[name=rule]:checked")].map((box) => box.value));
  const limits = page.review.thresholds.filter((s) => ticked.has(`${s.rule}:${s.context}`))
    .map((s) => ({ rule: s.rule, context: s.context, suggested: s.suggested }));
  const n2 = choices.news2.checked ? page.review.news2 : null;
  const news2 = n2 && { urgent_from: n2.urgent_from, emergency_from: n2.emergency_from, red_score: n2.red_score };
  return { count: limits.length + (news2 ? 1 : 0), body: { start: page.review.start, end: page.review.end, thresholds: limits, news2 } };
}

function reviewStatus(text) {
  document.getElementById("review-status").textContent = text;
}

function limitText(metric, value) {
  return `${Number(value.toFixed(1))} ${UNITS[metric] ?? ""}`.trim();
}

async function contacts() {
  if (page.user.role === "family") return;
  document.getElementById("contacts-section").hidden = false;
  const rows = await apiJson(`/api/residents/${encodeURIComponent(residentId)}/contacts`);
  document.getElementById("contacts").replaceChildren(...rows.map((c) => el("li", {
    textContent: `${c.priority}. ${c.name} (${c.relation}, ${t("contact." + c.role)}) ${c.phone || ""} ${c.email || ""}`,
  })));
}

load();
