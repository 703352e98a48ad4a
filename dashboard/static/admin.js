// Administration: users and roles, sites, residents, devices, contacts with their residents, channels and preferences,
// the sites' own contacts, escalation policies and the on-call rota.
"use strict";

// An id goes into URLs and MQTT topics: the API's rule (dashboard/schemas.py, ID_PATTERN), checked here too because an
// id with a "/" (or only dots) would change the URL it is sent to and never reach the API's check.
const ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const validId = (id) => ID.test(id) && !/^\.+$/.test(id);
const SHARED = "(shared)";  // the device form's choice "no resident: a shared home sensor" (no id has parentheses)

function rows(selector, items, cells) {
  document.querySelector(`${selector} tbody`).replaceChildren(
    ...items.map((item) => el("tr", {}, cells(item).map((c) => (c instanceof Node ? el("td", {}, [c]) : el("td", { textContent: c ?? "" }))))));
}

// A form's error line: why the page or the API refused what the form sent; hidden when there is nothing to say.
function formError(form, message) {
  const node = form.querySelector(".error");
  node.textContent = message;
  node.hidden = !message;
}

// A button that deletes ``url``, says in form ``formId``'s error line why the API refused, and then reloads.
function deleteButton(label, url, formId, reload) {
  return button(label, async () => {
    const response = await api(url, { method: "DELETE" });
    formError(document.getElementById(formId), response.ok ? "" : await refusal(response));
    reload();
  });
}

async function loadUsers(me) {
  const users = await apiJson("/api/users");
  const form = document.getElementById("user-form");
  rows("#users", users, (u) => [u.username, u.display_name, t(`role.${u.role}`), [...u.site_ids, ...u.resident_ids].join(", "),
    u.active ? "✓" : "✗",
    u.username === me.username ? "" : button(u.active ? t("admin.deactivate") : t("admin.activate"), async () => {
      const response = await api(`/api/users/${encodeURIComponent(u.username)}`, { method: "PATCH", json: { active: !u.active } });
      formError(form, response.ok ? "" : await refusal(response));
      loadUsers(me);
    })]);
}

// The record Edit last filled each form with, as stored; forgotten when the form is reset (after a save).
const edited = new WeakMap();

// Edit fills a form with a record's fields as stored, the clinical ones among them, for the admin to change and save.
function editButton(formId, record) {
  return button(t("admin.edit"), () => {
    const form = document.getElementById(formId);
    for (const [name, value] of Object.entries(record)) {
      const field = form.elements.namedItem(name);
      if (field) field.value = value ?? "";
    }
    if (!edited.has(form)) form.addEventListener("reset", () => edited.delete(form));
    edited.set(form, record);
    formError(form, "");
  });
}

// Fills a select (or datalist) with [value, label] options, keeping its choice; options marked data-fixed stay first.
function options(select, items) {
  const kept = select.value;
  select.querySelectorAll("option:not([data-fixed])").forEach((option) => option.remove());
  select.append(...items.map(([value, label]) => el("option", { value, textContent: label })));
  if ([...select.options].some((option) => option.value === kept)) select.value = kept;
}

// Lists the registry and offers its sites, residents and contacts in the forms; resolves to the sites.
async function loadRegistry() {
  const [sites, residents, contacts] = await Promise.all([apiJson("/api/sites"), apiJson("/api/residents"), apiJson("/api/contacts")]);
  rows("#sites", sites, (s) => [s.site_id, s.name, s.kind, s.timezone, editButton("site-form", s)]);
  rows("#residents", residents, (r) => [el("a", { href: `/residents/${r.resident_id}`, textContent: r.resident_id }), r.name,
    r.site_id, r.room, r.birth_year, String(r.spo2_scale), editButton("resident-form", r)]);
  rows("#contacts", contacts, (c) => [c.contact_id, c.name, t(`contact.${c.role}`), c.email, c.phone, links(c),
    channels(c), preferences(c), el("span", {}, [editButton("contact-form", c), " ",
      deleteButton(t("admin.delete"), `/api/contacts/${encodeURIComponent(c.contact_id)}`, "contact-form", loadRegistry)])]);
  for (const select of document.querySelectorAll(".site-select, #device-site")) options(select, sites.map((s) => [s.site_id, s.name]));
  for (const select of document.querySelectorAll(".resident-select")) {
    options(select, residents.map((r) => [r.resident_id, `${r.resident_id} · ${r.name}`]));
  }
  options(document.getElementById("contact-ids"), contacts.map((c) => [c.contact_id, c.name]));
  loadDevices();
  loadSiteContacts(sites);
  return sites;
}

// The devices of the site chosen above the list (all sites when none is).
async function loadDevices() {
  const site = document.getElementById("device-site").value;
  const devices = await apiJson(`/api/devices${site ? `?site_id=${encodeURIComponent(site)}` : ""}`);
  rows("#devices", devices, (d) => [d.device_id, d.site_id, d.kind, d.resident_id, d.room, d.friendly_name,
    editButton("device-form", d)]);
}

const linkUrl = (contactId, residentId) =>
  `/api/contacts/${encodeURIComponent(contactId)}/links/${encodeURIComponent(residentId)}`;

// A contact's residents, each with the relation and priority and a button to unlink them.
function links(contact) {
  return el("span", {}, contact.links.map((k) => el("span", { className: "link" }, [`${k.resident_id} · ${k.relation} (${k.priority}) `,
    deleteButton(t("admin.unlink"), linkUrl(k.contact_id, k.resident_id), "link-form", loadRegistry)])));
}

const channelUrl = (contactId, channel) =>
  `/api/contacts/${encodeURIComponent(contactId)}/channels/${encodeURIComponent(channel)}`;

// A contact's channels (where routing sends their messages), each with Edit (fills the channel form) and Remove.
function channels(contact) {
  return el("span", {}, contact.channels.map((c) => el("span", { className: "channel" }, [`${t(`channel.${c.channel}`)}: ${c.address} `,
    editButton("channel-form", { contact_id: contact.contact_id, ...c }),
    deleteButton(t("admin.remove"), channelUrl(contact.contact_id, c.channel), "channel-form", loadRegistry)])));
}

// Minutes after midnight as a time input's "HH:MM", and back (blank: none).
const clock = (minutes) => minutes === null ? "" : `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
const minutes = (text) => { if (!text) return null; const [h, m] = text.split(":").map(Number); return h * 60 + m; };

// A family contact's preferences as routing reads them, with Edit (fills the preference form); nothing for others.
function preferences(contact) {
  if (contact.role !== "family") return "";
  const p = contact.preferences;
  const rules = p.rules.map((r) => `${r.rule}:${r.lowest}`).join(", ");
  const quiet = p.quiet_start === null ? "" : `${t("admin.quiet_hours", { start: clock(p.quiet_start), end: clock(p.quiet_end) })} (${p.timezone}) · `;
  return el("span", {}, [`${quiet}${rules || t("admin.default_rules")} `, editButton("preference-form",
    { contact_id: contact.contact_id, timezone: p.timezone, quiet_start: clock(p.quiet_start), quiet_end: clock(p.quiet_end), rules })]);
}

const siteContactUrl = (siteId, contactId) =>
  `/api/sites/${encodeURIComponent(siteId)}/contacts/${encodeURIComponent(contactId)}`;

// Every site's own contacts (operators, clinic), each removable.
async function loadSiteContacts(sites) {
  const lists = await Promise.all(sites.map((s) => apiJson(`/api/sites/${encodeURIComponent(s.site_id)}/contacts`)));
  rows("#site-contacts", lists.flat(), (c) => [c.site_id, c.contact_id, c.name, t(`contact.${c.role}`),
    deleteButton(t("admin.remove"), siteContactUrl(c.site_id, c.contact_id), "site-contact-form",
      () => loadSiteContacts(sites))]);
}

// "a:b, c:d" as pairs [["a", "b"], ["c", "d"]]: escalation steps and a contact's rules are written so.
function pairs(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean).map((pair) => pair.split(":").map((x) => x.trim()));
}

// Escalation steps as text: "10:on_call, 20:family" (minutes after the alert opened : target).
const parseSteps = (text) => pairs(text).map(([minutes, target]) => ({ after_minutes: Number(minutes), target }));

// A contact's rules as text: "fall:warning, *:critical" (rule, or * for any : lowest severity).
const parseRules = (text) => pairs(text).map(([rule, lowest]) => ({ rule, lowest }));

const policyUrl = (f) => `/api/sites/${encodeURIComponent(f.site_id.value)}/escalation-policies/${f.severity.value}`;

// Shows the saved policy of the chosen site and severity; data-loaded names the pair once the latest load arrived.
let policyLoads = 0;
async function loadPolicy() {
  const f = document.getElementById("policy-form");
  const key = `${f.site_id.value}/${f.severity.value}`;
  const load = ++policyLoads;
  delete f.dataset.loaded;
  const policy = await apiJson(policyUrl(f));
  if (load !== policyLoads) return;  // a later load supersedes this one
  f.steps.value = policy.steps.map((s) => `${s.after_minutes}:${s.target}`).join(", ");
  document.getElementById("policy-state").textContent = !policy.configured ? t("admin.defaults")
    : policy.steps.length ? "" : t("admin.never_escalates");
  f.dataset.loaded = key;
}

async function loadOnCall() {
  const f = document.getElementById("shift-form");
  const now = await apiJson(`/api/sites/${encodeURIComponent(f.site_id.value)}/on-call`);
  document.getElementById("on-call").textContent = t("admin.on_call_now", { who: now.contact_ids.join(", ") || "–" });
}

// The chosen site's current and upcoming shifts, each removable; data-loaded names the site once its latest load arrived.
let shiftLoads = 0;
async function loadShifts() {
  const site = document.getElementById("shift-form").site_id.value;
  const table = document.getElementById("shifts");
  const load = ++shiftLoads;
  delete table.dataset.loaded;
  const shifts = await apiJson(`/api/sites/${encodeURIComponent(site)}/on-call/shifts`);
  if (load !== shiftLoads) return;  // a later load supersedes this one
  rows("#shifts", shifts, (s) => [s.contact_id, formatTime(s.starts_at), formatTime(s.ends_at),
    deleteButton(t("admin.remove"), `/api/sites/${encodeURIComponent(site)}/on-call/shifts?${new URLSearchParams(
      { contact_id: s.contact_id, starts_at: String(s.starts_at) })}`, "shift-form", loadRota)]);
  document.getElementById("no-shifts").hidden = shifts.length > 0;
  table.dataset.loaded = site;
}

function loadRota() {
  loadOnCall();
  loadShifts();
}

// The policy and rota forms, once loadRegistry has offered the sites in them.
function escalationForms(sites) {
  if (!sites.length) return;
  document.getElementById("policy-load").addEventListener("click", loadPolicy);
  document.getElementById("policy-defaults").addEventListener("click", async () => {
    const f = document.getElementById("policy-form");
    const response = await api(policyUrl(f), { method: "DELETE" });  // 404: none of its own, the defaults already
    formError(f, response.ok || response.status === 404 ? "" : await refusal(response));
    loadPolicy();
  });
  for (const name of ["site_id", "severity"]) document.querySelector(`#policy-form [name=${name}]`).addEventListener("change", loadPolicy);
  document.querySelector("#shift-form [name=site_id]").addEventListener("change", loadRota);
  onSubmit("policy-form", async (f) => {
    const response = await api(policyUrl(f), { method: "PUT", json: { steps: parseSteps(f.steps.value) } });
    if (response.ok) setTimeout(loadPolicy);
    return response;
  }, false);
  onSubmit("shift-form", async (f) => {
    const epoch = (value) => new Date(value).getTime() / 1000;
    const response = await api(`/api/sites/${encodeURIComponent(f.site_id.value)}/on-call`, { method: "POST",
      json: { contact_id: f.contact_id.value, starts_at: epoch(f.starts_at.value), ends_at: epoch(f.ends_at.value) } });
    if (response.ok) setTimeout(loadRota);
    return response;
  });
  loadPolicy();
  loadRota();
}

// Sends a form with send(form), which answers the API's response, or a message when the page refuses it itself. A
// refusal is shown in the form's error line and leaves what the admin typed for them to fix.
function onSubmit(id, send, reset = true) {
  const form = document.getElementById(id);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const outcome = await send(form);
    const message = typeof outcome === "string" ? outcome : outcome.ok ? "" : await refusal(outcome);
    formError(form, message);
    if (!message && reset) form.reset();
  });
}

// The optional fields a form gives: blank ones are left out, so the API keeps what is stored for them.
function given(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== ""));
}

// The same, as numbers (number inputs give text).
function givenNumbers(fields) {
  return Object.fromEntries(Object.entries(given(fields)).map(([name, value]) => [name, Number(value)]));
}

// The optional fields of ``names`` that can be cleared (the API takes null for none), as ``form`` gives them: a filled
// one as typed (through ``convert``); a blank one that Edit showed with a value, for the record the form still names
// (its first field is the id), as null, which clears it; any other blank one left out, so that the API keeps what is
// stored (typing over a record's id without Edit resets nothing the admin did not see).
function cleared(form, names, convert = (value) => value) {
  const record = edited.get(form);
  const id = form.elements[0];
  const shown = (name) => record !== undefined && record[id.name] === id.value && (record[name] ?? "") !== "";
  return Object.fromEntries(names.flatMap((name) => {
    const value = form.elements.namedItem(name).value.trim();
    if (value !== "") return [[name, convert(value)]];
    return shown(name) ? [[name, null]] : [];
  }));
}

startPage("page.admin").then((me) => {
  loadUsers(me);
  loadRegistry().then(escalationForms);
  document.getElementById("device-site").addEventListener("change", loadDevices);
  onSubmit("user-form", async (f) => {
    const scope = f.scope.value.split(",").map((s) => s.trim()).filter(Boolean);
    const body = { username: f.username.value, display_name: f.display_name.value, role: f.role.value, password: f.password.value,
      site_ids: ["operator", "clinician"].includes(f.role.value) ? scope : [], resident_ids: f.role.value === "family" ? scope : [] };
    const response = await api("/api/users", { method: "POST", json: body });
    loadUsers(me);
    return response;
  });
  document.getElementById("timezones").replaceChildren(
    ...Intl.supportedValuesOf("timeZone").map((zone) => el("option", { value: zone })));
  onSubmit("site-form", async (f) => {
    if (!validId(f.site_id.value)) return t("admin.bad_id");
    const body = { name: f.name.value, kind: f.kind.value, ...given({ timezone: f.timezone.value.trim() }) };
    const response = await api(`/api/sites/${encodeURIComponent(f.site_id.value)}`, { method: "PUT", json: body });
    loadRegistry();
    return response;
  });
  onSubmit("resident-form", async (f) => {
    if (!validId(f.resident_id.value)) return t("admin.bad_id");
    const body = { site_id: f.site_id.value, name: f.name.value, ...cleared(f, ["room"]),
      ...cleared(f, ["birth_year"], Number), ...givenNumbers({ spo2_scale: f.spo2_scale.value }) };
    const response = await api(`/api/residents/${encodeURIComponent(f.resident_id.value)}`, { method: "PUT", json: body });
    loadRegistry();
    return response;
  });
  onSubmit("device-form", async (f) => {
    if (!validId(f.device_id.value)) return t("admin.bad_id");
    const resident = f.resident_id.value === SHARED ? { resident_id: null } : given({ resident_id: f.resident_id.value });
    const body = { site_id: f.site_id.value, kind: f.kind.value, ...resident, ...cleared(f, ["room", "friendly_name"]) };
    const response = await api(`/api/devices/${encodeURIComponent(f.device_id.value)}`, { method: "PUT", json: body });
    loadDevices();
    return response;
  });
  onSubmit("contact-form", async (f) => {
    if (!validId(f.contact_id.value)) return t("admin.bad_id");
    const body = { name: f.name.value, role: f.role.value, ...cleared(f, ["email", "phone"]) };
    const response = await api(`/api/contacts/${encodeURIComponent(f.contact_id.value)}`, { method: "PUT", json: body });
    loadRegistry();
    return response;
  });
  onSubmit("channel-form", async (f) => {
    if (!validId(f.contact_id.value)) return t("admin.bad_id");
    const response = await api(channelUrl(f.contact_id.value, f.channel.value), { method: "PUT", json: { address: f.address.value.trim() } });
    loadRegistry();
    return response;
  });
  onSubmit("preference-form", async (f) => {  // blank quiet hours or rules clear them (shown in the list); a blank zone is kept
    if (!validId(f.contact_id.value)) return t("admin.bad_id");
    const body = { quiet_start: minutes(f.quiet_start.value), quiet_end: minutes(f.quiet_end.value), rules: parseRules(f.rules.value),
      ...given({ timezone: f.timezone.value.trim() }) };
    const response = await api(`/api/contacts/${encodeURIComponent(f.contact_id.value)}/preferences`, { method: "PUT", json: body });
    loadRegistry();
    return response;
  });
  onSubmit("site-contact-form", async (f) => {
    if (!validId(f.contact_id.value)) return t("admin.bad_id");
    const response = await api(siteContactUrl(f.site_id.value, f.contact_id.value), { method: "PUT" });
    loadRegistry();
    return response;
  });
  onSubmit("link-form", async (f) => {
    if (!validId(f.contact_id.value)) return t("admin.bad_id");
    const body = { relation: f.relation.value, ...givenNumbers({ priority: f.priority.value }) };
    const response = await api(linkUrl(f.contact_id.value, f.resident_id.value), { method: "PUT", json: body });
    loadRegistry();
    return response;
  });
});
