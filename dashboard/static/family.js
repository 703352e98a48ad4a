// The family page: their relative's status, latest vitals and alerts, live. Read only: the care station acts.
"use strict";

const FAMILY_HISTORY = 20; // recent alerts shown, resolved ones included
const family = { user: null, residents: new Map(), alerts: new Map(), history: new Map() };

function handle(message) {
  if (message.type === "snapshot") {
    family.residents = new Map(message.residents.map((r) => [r.resident_id, r]));
    family.alerts = new Map(message.alerts.map((a) => [a.alert_id, a]));
  } else if (message.type === "alert") {
    const alert = message.alert;
    family.alerts.set(alert.alert_id, keptMarks(alert, family.alerts.get(alert.alert_id)));
  } else if (message.type === "vitals") {
    for (const [id, metrics] of Object.entries(message.residents)) {
      const resident = family.residents.get(id);
      if (!resident) continue;
      Object.assign(resident.latest, metrics);
      if (message.news2 && message.news2[id]) resident.news2 = message.news2[id];
    }
  }
  render();
}

function render() {
  const cards = [...family.residents.values()].map((resident) => {
    const live = [...family.alerts.values()].filter((a) => a.resident_id === resident.resident_id && a.state !== "resolved");
    const status = statusOf(live);
    const dl = el("dl");
    for (const [metric, unit] of VITALS) {
      const reading = resident.latest[metric];
      dl.append(el("dt", { textContent: t(`metric.${metric}`) }),
        el("dd", { className: `v-${metric}`, textContent: reading ? `${formatValue(metric, reading[1])} ${unit}` : "–" }));
    }
    return el("section", { className: "relative", id: `relative-${resident.resident_id}`, dataset: { status } }, [
      el("h2", { textContent: resident.name }),
      el("p", { className: "status", textContent: t(status === "ok" ? "family.ok" : "family.attention") }),
      dl,
      el("a", { href: `/residents/${resident.resident_id}`, textContent: t("family.history") }),
    ]);
  });
  document.getElementById("relatives").replaceChildren(...cards);
  const alerts = [...new Map([...family.history, ...family.alerts]).values()].sort((a, b) => b.raised_at - a.raised_at);
  document.getElementById("alerts").replaceChildren(...alerts.map((a) => {
    const resident = family.residents.get(a.resident_id);
    return alertItem(a, resident ? resident.name : "", family.user, null);
  }));
  document.getElementById("no-alerts").hidden = alerts.length > 0;
}

startPage("page.family").then(async (user) => {
  family.user = user;
  liveSocket(handle);
  const recent = await apiJson(`/api/alerts?limit=${FAMILY_HISTORY}`);
  family.history = new Map(recent.map((a) => [a.alert_id, a]));
  render();
});
