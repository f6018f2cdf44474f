// port-server dashboard: a plain client of the JSON API. No framework, no build step, no external
// assets. Every value from the server is put into the page with textContent (never innerHTML), and
// links are only made for http(s) URLs, so stored text can never become markup or script.
"use strict";

// Auto-refresh period; `?refresh=SECONDS` in the address changes it (at least one second).
const REFRESH_MS = Math.max(1, Number(new URLSearchParams(location.search).get("refresh")) || 5) * 1000;
const STATE_RANK = { conflict: 0, orphan: 1, down: 2, unknown: 3, unregistered: 4, ok: 5 };
const STATE_TEXT = {
  ok: "ok", down: "down", conflict: "conflict", unregistered: "unregistered", unknown: "not seen",
  orphan: "orphan",
};
// States that need someone to act. A stopped stack ("down") is normal between sessions.
const ATTENTION = new Set(["conflict", "orphan"]);
const COLUMNS = [
  { key: "port", label: "Port", numeric: true },
  { key: "service", label: "Service" },
  { key: "type", label: "Type" },
  { key: "owner", label: "Owner" },
  { key: "environment", label: "Environment" },
  { key: "status", label: "Status" },
  { key: "url", label: "URL" },
  { key: "state", label: "Live" },
];
// field:value words in the filter box; several names for the same column.
const FILTER_FIELDS = {
  app: "app", instance: "instance", service: "service", port: "port", type: "type",
  owner: "owner", env: "environment", environment: "environment", status: "status",
  state: "state", live: "state", url: "url", note: "note", source: "source",
  proto: "protocol", protocol: "protocol", process: "process", user: "user", path: "path",
};

const view = {
  allocations: [],
  pools: [],
  scan: { available: false, reason: "not loaded yet", rows: [] },
  info: null,
  filter: "",
  sort: { key: "port", dir: "asc" },
  loading: null, // the load in flight (a promise), if any
  errorFrom: null, // "load" or "action": what the message in #error is about
  loadedAt: null,
  timer: null,
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false || child === "") continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ---- talking to the API ----------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" }, cache: "no-store",
                 credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`the server did not answer (${err.message})`, 0, "server_unreachable");
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const message = (data && (data.message || data.error)) || `HTTP ${res.status}`;
    throw new ApiError(message, res.status, data && data.code);
  }
  return data;
}

// One row of GET /v1/scan (port + protocol, with its allocations and listeners) in the shape
// the tables use. The listener that names the row is the first with a visible process or a
// container, as `portctl adopt` chooses it.
function scanRowFrom(raw) {
  const listeners = Array.isArray(raw.listeners) ? raw.listeners : [];
  const allocations = Array.isArray(raw.allocations) ? raw.allocations : [];
  const lead = listeners.find((l) => l.pid !== null && l.pid !== undefined)
    || listeners.find((l) => l.container) || listeners[0] || {};
  const container = lead.container || {};
  const hidden = Array.isArray(lead.hidden) ? lead.hidden : [];
  return {
    port: Number(raw.port),
    protocol: String(raw.protocol || "tcp").toLowerCase(),
    state: String(raw.state || "unknown").toLowerCase(),
    reason: String(raw.reason || ""),
    allocationIds: allocations.map((a) => a.id),
    address: [...new Set(listeners.map((l) => l.address).filter(Boolean))].join(", "),
    pid: lead.pid ?? null,
    process: lead.name || "",
    user: lead.user || "",
    command: lead.cmdline || "",
    hidden: hidden.includes("pid"),
    containerName: container.name || "",
    composeProject: container.compose_project || "",
    composeService: container.compose_service || "",
  };
}

// A server without the live scan is asked again only now and then (it may be upgraded).
const SCAN_RETRY_MS = 60000;
let scanMissingSince = 0;

async function loadScan() {
  if (scanMissingSince && Date.now() - scanMissingSince < SCAN_RETRY_MS) return view.scan;
  try {
    // details: process, user, command line and container for the unregistered listeners.
    const data = await api("GET", "/v1/scan?details=true");
    scanMissingSince = 0;
    const rows = (data && Array.isArray(data.rows)) ? data.rows : [];
    return { available: true, reason: "", rows: rows.map(scanRowFrom), at: new Date(),
             hiddenProcesses: Boolean(data && data.hidden) };
  } catch (err) {
    // Servers without the live scan still get a working dashboard, just without live states.
    const missing = [404, 405, 501].includes(err.status);
    scanMissingSince = missing ? Date.now() : 0;
    return { available: false, rows: [],
             reason: missing ? "not available on this server" : `failed: ${err.message}` };
  }
}

// One load at a time: callers during a load share it.
function load() {
  if (!view.loading) view.loading = fetchAndRender().finally(() => { view.loading = null; });
  return view.loading;
}

// A load that starts after the one in flight, so it sees what the caller has just changed.
async function freshLoad() {
  if (view.loading) await view.loading;
  return load();
}

async function fetchAndRender() {
  $("#refresh-now").setAttribute("aria-busy", "true");
  try {
    const infoPromise = view.info ? Promise.resolve(view.info)
      : api("GET", "/v1/info").catch(() => null);
    const [allocations, pools, scan, info] = await Promise.all([
      api("GET", "/v1/allocations"), api("GET", "/v1/pools"), loadScan(), infoPromise]);
    view.allocations = Array.isArray(allocations) ? allocations : [];
    view.pools = Array.isArray(pools) ? pools : [];
    view.scan = scan;
    view.info = info;
    view.loadedAt = new Date();
    if (view.errorFrom === "load") showError("");
  } catch (err) {
    showError(`Could not load the registry: ${err.message}`, "load");
  } finally {
    $("#refresh-now").removeAttribute("aria-busy");
  }
  render();
}

// ---- the model the tables show ----------------------------------------------------------------

// allocation -> its scan row (by id; a port registered twice has one row for both).
function liveRows() {
  const byId = new Map();
  for (const row of view.scan.rows) {
    for (const id of row.allocationIds) byId.set(id, row);
  }
  return (a) => byId.get(a.id);
}

function records() {
  const rowOf = liveRows();
  return view.allocations.map((a) => {
    if (!view.scan.available) return { ...a, state: "", reason: "" };
    const row = rowOf(a);
    return { ...a, state: row ? row.state : "unknown", reason: row ? row.reason : "" };
  });
}

function unregisteredRows() {
  return view.scan.rows.filter((r) => r.state === "unregistered")
    .map((r) => ({ ...r, app: "", instance: "", service: "" }));
}

function matches(record, words) {
  for (const word of words) {
    const colon = word.indexOf(":");
    const field = colon > 0 ? FILTER_FIELDS[word.slice(0, colon)] : undefined;
    if (field) {
      const want = word.slice(colon + 1);
      if (!String(record[field] ?? "").toLowerCase().includes(want)) return false;
      continue;
    }
    const hay = [record.app, record.instance, record.service, record.port, record.type,
      record.owner, record.environment, record.status, record.url, record.proxy_url || "",
      record.note, record.state,
      record.protocol, record.process, record.user, record.command, record.address]
      .map((v) => String(v ?? "")).join("\n").toLowerCase();
    if (!hay.includes(word)) return false;
  }
  return true;
}

function filterWords() {
  return view.filter.trim().toLowerCase().split(/\s+/).filter(Boolean);
}

function compare(a, b) {
  const { key, dir } = view.sort;
  const sign = dir === "desc" ? -1 : 1;
  let diff;
  if (key === "port") diff = a.port - b.port;
  else if (key === "state") diff = (STATE_RANK[a.state] ?? 9) - (STATE_RANK[b.state] ?? 9);
  else {
    const x = String(a[key] ?? ""); const y = String(b[key] ?? "");
    // Empty cells go last whichever way the column is sorted.
    if (!x !== !y) return x ? -1 : 1;
    diff = x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
  }
  return sign * diff || a.port - b.port;
}

// ---- rendering --------------------------------------------------------------------------------

function badge(state, reason = "") {
  if (!state) return el("span", { class: "badge none", title: "live scan not available" }, "—");
  return el("span", { class: `badge ${state}`, title: reason || null },
    STATE_TEXT[state] || state);
}

// A conflict needs its reason on screen (who holds the port instead), on a line of its own
// under the row; the other states' reasons show on hover.
function reasonRow(r) {
  if (r.state !== "conflict" || !r.reason) return null;
  return el("tr", { class: "reason", "data-for": r.id },
    el("td", { colspan: COLUMNS.length + 1 },
      el("span", { class: "visually-hidden" }, `Port ${r.port}: `), r.reason));
}

function urlCell(url) {
  if (!url) return "";
  if (/^https?:\/\//i.test(url)) {
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" },
      url.replace(/^https?:\/\//i, ""));
  }
  return url;
}

function sortHeader(col, scope) {
  const active = view.sort.key === col.key;
  const dir = active ? view.sort.dir : null;
  const arrow = active ? (dir === "asc" ? "▲" : "▼") : "↕";
  return el("th", { scope: "col", class: `col-${col.key}${col.numeric ? " num" : ""}`,
                    "aria-sort": active ? (dir === "asc" ? "ascending" : "descending") : "none" },
    el("button", { type: "button", class: "sort", "data-focus-key": `sort-${scope}-${col.key}`,
                   onclick: () => setSort(col.key) },
      col.label, el("span", { class: "arrow", "aria-hidden": "true" }, arrow)));
}

function allocationRow(r) {
  const who = `${r.app}/${r.instance}/${r.service}`;
  const cells = {
    port: el("span", { class: "port" }, String(r.port),
      r.protocol && r.protocol !== "tcp" ? el("span", { class: "proto" }, `/${r.protocol}`) : null,
      r.protected ? el("span", { class: "tag", title: "protected" }, "protected") : null),
    service: r.service,
    type: r.type,
    owner: r.owner,
    environment: r.environment,
    status: r.status || r.note
      ? el("span", {}, r.status, r.note ? el("span", { class: "note" }, r.note) : null) : "",
    // The proxy's name first (a stable https://...localhost link), then any URL set by hand.
    url: r.proxy_url
      ? el("span", { class: "proxy-url" }, urlCell(r.proxy_url),
        r.url ? el("span", { class: "note" }, urlCell(r.url)) : null)
      : urlCell(r.url),
    state: badge(r.state, r.reason),
  };
  const reason = reasonRow(r);
  const row = el("tr", { "data-id": r.id, "data-port": r.port, class: reason ? "has-reason" : null },
    COLUMNS.map((c) => el("td", { "data-label": c.label, class: c.numeric ? "num" : null },
      cells[c.key])));
  row.append(el("td", { class: "actions", "data-label": "Actions" },
    el("button", { type: "button", class: "secondary", "data-focus-key": `edit-${r.id}`,
                   "aria-label": `Update status or note of ${who} (port ${r.port})`,
                   onclick: () => editAllocation(r) }, "Edit"),
    el("button", { type: "button", class: "danger", "data-focus-key": `release-${r.id}`,
                   "aria-label": `Release port ${r.port} of ${who}`,
                   onclick: () => releaseAllocation(r) }, "Release")));
  return reason ? [row, reason] : [row];
}

// One section per project (app); inside it one per checkout (instance, with the worktree path
// its ports were made from), each with its own sortable table.
function renderGroups(rows) {
  const projects = new Map();
  for (const r of rows) {
    if (!projects.has(r.app)) projects.set(r.app, new Map());
    const instances = projects.get(r.app);
    if (!instances.has(r.instance)) instances.set(r.instance, []);
    instances.get(r.instance).push(r);
  }
  let n = 0;
  const out = [...projects.keys()].sort((a, b) => a.localeCompare(b)).map((app) => {
    const instances = projects.get(app);
    const all = [...instances.values()].flat();
    const bad = all.filter((r) => ATTENTION.has(r.state)).length;
    const projectId = `project-${n++}`;
    const groups = [...instances.keys()].sort((a, b) => a.localeCompare(b))
      .map((instance) => instanceGroup(app, instance, instances.get(instance).sort(compare)));
    return el("section", { class: "project", "aria-labelledby": projectId, "data-app": app },
      el("h3", { id: projectId },
        el("span", { class: "app" }, app),
        el("span", { class: "count" }, `${instances.size} checkout${instances.size === 1 ? "" : "s"},`
          + ` ${all.length} port${all.length === 1 ? "" : "s"}`),
        bad ? el("span", { class: "badge conflict" }, `${bad} need attention`) : null),
      ...groups);
  });
  if (!out.length) {
    out.push(el("p", { class: "empty" }, view.allocations.length
      ? "No allocation matches the filter." : "No ports are allocated yet. Try `portctl allocate`."));
  }
  $("#groups").replaceChildren(...out);
}

function instanceGroup(app, instance, items) {
  const headingId = `group-${app}-${instance}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const paths = [...new Set(items.map((r) => r.path).filter(Boolean))];
  const down = items.filter((r) => r.state === "down").length;
  return el("section", { class: "group", "aria-labelledby": headingId, "data-app": app,
                         "data-instance": instance },
    el("h4", { id: headingId },
      el("span", { class: "visually-hidden" }, `${app} instance `),
      el("span", { class: "instance" }, instance),
      el("span", { class: "count" }, `${items.length} port${items.length === 1 ? "" : "s"}`),
      down === items.length && items.length ? el("span", { class: "badge none" }, "stopped") : null,
      paths.length ? el("span", { class: "path", title: "worktree" }, paths.join(", ")) : null),
    el("div", { class: "table-wrap" },
      el("table", { class: "allocs" },
        el("caption", { class: "visually-hidden" }, `Ports of ${app} / ${instance}`),
        el("thead", {}, el("tr", {}, COLUMNS.map((c) => sortHeader(c, `${app}/${instance}`)),
          el("th", { scope: "col", class: "col-actions" },
            el("span", { class: "visually-hidden" }, "Actions")))),
        el("tbody", {}, items.flatMap(allocationRow)))));
}

function renderUnregistered(rows) {
  const box = $("#unregistered");
  if (!view.scan.available) {
    box.replaceChildren(el("p", { class: "empty" },
      `Live scan ${view.scan.reason}; unregistered listeners appear here once it is.`));
    return;
  }
  if (!rows.length) {
    box.replaceChildren(el("p", { class: "empty" }, unregisteredRows().length
      ? "No unregistered listener matches the filter." : "Every listening port is registered."));
    return;
  }
  const head = ["Port", "Address", "Process", "User", "Command"];
  const body = rows.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol))
    .map((r) => {
      const proc = r.hidden && !r.process ? el("span", { class: "muted" }, "hidden")
        : `${r.process || "?"}${r.pid ? ` (pid ${r.pid})` : ""}`;
      return el("tr", { "data-port": r.port },
        el("td", { "data-label": "Port", class: "num" }, `${r.port}/${r.protocol}`),
        el("td", { "data-label": "Address" }, r.address),
        el("td", { "data-label": "Process" }, proc,
          r.containerName ? el("span", { class: "note" }, `container ${r.containerName}`) : null),
        el("td", { "data-label": "User" }, r.user),
        el("td", { "data-label": "Command", class: "command", title: r.command }, r.command),
        el("td", { class: "actions", "data-label": "Actions" },
          el("button", { type: "button", "data-focus-key": `adopt-${r.port}-${r.protocol}`,
                         "aria-label": `Adopt port ${r.port}/${r.protocol}`,
                         onclick: () => adoptListener(r) }, "Adopt")));
    });
  box.replaceChildren(el("div", { class: "table-wrap" },
    el("table", {},
      el("caption", { class: "visually-hidden" }, "Listening ports nobody registered"),
      el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)),
        el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, "Actions")))),
      el("tbody", {}, body))));
}

function renderPools() {
  const items = view.pools.map((p) => {
    const size = Math.max(1, Number(p.size) || 1);
    const reserved = Math.max(0, size - p.used - p.free);
    const used = el("span", { class: "used" });
    used.style.width = `${(100 * p.used) / size}%`;
    const excluded = el("span", { class: "excluded" });
    excluded.style.width = `${(100 * reserved) / size}%`;
    return el("li", { class: "pool", "data-pool": p.name },
      el("div", { class: "pool-head" },
        el("span", { class: "pool-name" }, p.name),
        el("span", { class: "pool-range" }, `${p.lo}–${p.hi}`),
        el("span", { class: "pool-figures" }, `${p.used} used · ${p.free} free`,
          reserved ? el("span", { class: "skipped" }, ` · ${reserved} skipped`) : null)),
      el("div", { class: "bar", "aria-hidden": "true" }, used, excluded));
  });
  $("#pools").replaceChildren(...items);
}

function renderSummary(rows, unregistered) {
  const counts = { ok: 0, down: 0, conflict: 0, orphan: 0, unknown: 0 };
  for (const r of rows) if (r.state in counts) counts[r.state] += 1;
  const apps = new Set(rows.map((r) => r.app)).size;
  const items = [el("li", {}, el("strong", {}, String(rows.length)), " allocations in ",
    el("strong", {}, String(apps)), ` app${apps === 1 ? "" : "s"}`)];
  if (view.scan.available) {
    const shown = [["ok", counts.ok], ["down", counts.down], ["conflict", counts.conflict],
      ...(counts.orphan ? [["orphan", counts.orphan]] : []),
      ["unregistered", unregistered.length]];
    for (const [state, n] of shown) {
      items.push(el("li", {}, el("button", {
        type: "button", class: `badge ${state} filter-chip`, "data-focus-key": `chip-${state}`,
        "aria-label": `${n} ${STATE_TEXT[state]}; show only these`,
        onclick: () => setFilter(`state:${state}`) }, `${n} ${STATE_TEXT[state]}`)));
    }
  }
  $("#summary").replaceChildren(...items);
  const listening = view.scan.rows.filter((r) => r.state !== "down").length;
  const scanText = view.scan.available
    ? `Live scan at ${view.scan.at.toLocaleTimeString()}: ${listening} listening`
      + ` port${listening === 1 ? "" : "s"}.${view.scan.hiddenProcesses
        ? " Some processes are hidden from the server's user." : ""}`
    : `Live scan ${view.scan.reason}: live states are not shown.`;
  $("#scan-info").textContent = scanText;
}

function render() {
  const focusKey = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.focusKey : undefined;
  const words = filterWords();
  const all = records();
  const rows = all.filter((r) => matches(r, words));
  const unregistered = unregisteredRows();
  renderSummary(all, unregistered);
  renderPools();
  $("#sort-select").value = `${view.sort.key}:${view.sort.dir}`;
  renderGroups(rows);
  renderUnregistered(unregistered.filter((r) => matches(r, words)));
  $("#match-count").textContent = words.length
    ? `${rows.length} of ${all.length} allocations match.` : "";
  if (view.info) {
    const store = view.info.store ? ` · ${view.info.store.replace(/Store$/, "")}` : "";
    $("#host-info").textContent = `${view.info.host} · v${view.info.version}${store}`;
  }
  if (view.loadedAt) $("#updated").textContent = `Updated ${view.loadedAt.toLocaleTimeString()}`;
  if (focusKey) {
    const again = [...document.querySelectorAll("[data-focus-key]")]
      .find((node) => node.dataset.focusKey === focusKey);
    if (again) again.focus();
  }
}

// ---- messages ---------------------------------------------------------------------------------

function notice(text) {
  $("#notice").textContent = text;
}

// An action's error stays until the next action; a load error goes once loading works again.
function showError(text, from = "action") {
  view.errorFrom = text ? from : null;
  const box = $("#error");
  box.textContent = text;
  box.hidden = !text;
}

// ---- filter, sort, and the address bar (so a reload or a shared link keeps them) -------------

function saveToUrl() {
  const params = new URLSearchParams(location.search);
  for (const name of ["q", "sort", "dir"]) params.delete(name);
  if (view.filter) params.set("q", view.filter);
  if (view.sort.key !== "port" || view.sort.dir !== "asc") {
    params.set("sort", view.sort.key);
    params.set("dir", view.sort.dir);
  }
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

function loadFromUrl() {
  const params = new URLSearchParams(location.search);
  view.filter = params.get("q") || "";
  const key = params.get("sort");
  if (key && COLUMNS.some((c) => c.key === key)) {
    view.sort = { key, dir: params.get("dir") === "desc" ? "desc" : "asc" };
  }
  $("#filter").value = view.filter;
}

function setSort(key, dir) {
  const same = view.sort.key === key;
  view.sort = { key, dir: dir || (same && view.sort.dir === "asc" ? "desc" : "asc") };
  saveToUrl();
  render();
}

// Phone width hides the table headers, so the sort order is also a select there.
function fillSortSelect() {
  const select = $("#sort-select");
  for (const col of COLUMNS) {
    select.append(el("option", { value: `${col.key}:asc` }, `${col.label} (ascending)`),
      el("option", { value: `${col.key}:desc` }, `${col.label} (descending)`));
  }
  select.addEventListener("change", () => {
    const [key, dir] = select.value.split(":");
    setSort(key, dir);
  });
}

function setFilter(text) {
  view.filter = text;
  $("#filter").value = text;
  saveToUrl();
  render();
}

// ---- actions: each asks first, then goes through the JSON API ---------------------------------

function ask(dialog) {
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

// Runs an action, reloads, then reports: the message comes after the tables show the result,
// and a failure is not wiped by the reload's own (successful) error reset.
async function act(doing, call, done) {
  let failure = "";
  try {
    await call();
  } catch (err) {
    failure = `Could not ${doing}: ${err.message}`;
  }
  await freshLoad();
  notice(failure ? "" : done);
  showError(failure);
}

async function releaseAllocation(r) {
  const who = `${r.app}/${r.instance}/${r.service}`;
  $("#confirm-title").textContent = `Release port ${r.port}?`;
  $("#confirm-text").textContent = `${who} gives up port ${r.port}; it goes back to its pool`
    + ` and may be handed to someone else.${r.protected ? " This allocation is protected." : ""}`;
  if (!(await ask($("#confirm-dialog")))) return;
  await act(`release port ${r.port}`, () => api("DELETE", `/v1/allocations/${r.id}`),
    `Released port ${r.port} (${who}).`);
}

// Release the allocations of worktrees that are gone: the server lists them (a dry run), the
// user confirms, then they go.
async function pruneWorktrees() {
  let plan;
  try {
    plan = await api("POST", "/v1/prune", { dry_run: true });
  } catch (err) {
    showError(`Could not look for removed worktrees: ${err.message}`);
    return;
  }
  const released = plan.released || [];
  if (!released.length) {
    notice((plan.refused || []).length
      ? `Removed worktrees hold ${plan.refused.length} port(s) you may not release.`
      : "No removed worktrees: nothing to prune.");
    return;
  }
  const paths = [...new Set(released.map((a) => a.path))];
  $("#confirm-title").textContent = `Release ${released.length} port${released.length === 1 ? "" : "s"}?`;
  $("#confirm-text").textContent = `These worktrees are gone: ${paths.join(", ")}. Their ports`
    + ` (${released.map((a) => a.port).join(", ")}) go back to their pools.`;
  if (!(await ask($("#confirm-dialog")))) return;
  await act("prune removed worktrees", () => api("POST", "/v1/prune", { dry_run: false }),
    `Released ${released.length} port${released.length === 1 ? "" : "s"} of removed worktrees.`);
}

async function editAllocation(r) {
  const who = `${r.app}/${r.instance}/${r.service}`;
  $("#edit-target").textContent = `${who}, port ${r.port}`;
  $("#edit-status").value = r.status || "";
  $("#edit-note").value = r.note || "";
  if (!(await ask($("#edit-dialog")))) return;
  const changes = {};
  const status = $("#edit-status").value.trim();
  const note = $("#edit-note").value.trim();
  if (status !== (r.status || "")) changes.status = status;
  if (note !== (r.note || "")) changes.note = note;
  if (!Object.keys(changes).length) {
    notice(`Nothing changed for ${who}.`);
    return;
  }
  await act(`update ${who}`, () => api("PATCH", `/v1/allocations/${r.id}`, changes),
    `Updated ${who} (port ${r.port}).`);
}

function asName(text, fallback) {
  const name = String(text || "").replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "").slice(0, 63);
  return name || fallback;
}

// The names `portctl adopt` would choose: compose project/service for a container, the process
// name otherwise; a name that already holds a port gets the port appended.
function adoptNames(r) {
  const app = asName(r.composeProject || r.containerName || r.process, "unknown");
  let service = asName(r.composeService || r.containerName || r.process, `port-${r.port}`);
  const instance = "default";
  if (view.allocations.some((a) => a.app === app && a.instance === instance
                                   && a.service === service)) {
    const suffix = `-${r.port}${r.protocol === "udp" ? "-udp" : ""}`;
    service = asName(service.slice(0, 63 - suffix.length) + suffix, `port-${r.port}`);
  }
  return { app, instance, service };
}

async function adoptListener(r) {
  const names = adoptNames(r);
  const holder = r.containerName ? `docker container ${r.containerName}`
    : r.process ? `${r.process}${r.pid ? ` (pid ${r.pid})` : ""}` : "a hidden process";
  $("#adopt-target").textContent = `Port ${r.port}/${r.protocol}, held by ${holder}.`;
  $("#adopt-app").value = names.app;
  $("#adopt-instance").value = names.instance;
  $("#adopt-service").value = names.service;
  if (!(await ask($("#adopt-dialog")))) return;
  const body = {
    app: $("#adopt-app").value.trim(), instance: $("#adopt-instance").value.trim(),
    service: $("#adopt-service").value.trim(), port: r.port, protocol: r.protocol,
    force: true, source: "scan",
    // The same control-character-free command line `portctl adopt` records.
    command: String(r.command || "").replace(/[\u0000-\u001f]/g, " ").slice(0, 2048),
    note: r.containerName ? `adopted from live scan; docker container ${r.containerName}`
      : "adopted from live scan",
  };
  if (r.pid) body.pid = r.pid;
  await act(`adopt port ${r.port}`, () => api("POST", "/v1/allocations", body),
    `Adopted port ${r.port} as ${body.app}/${body.instance}/${body.service}.`);
}

// ---- auto-refresh ------------------------------------------------------------------------------

function schedule() {
  clearTimeout(view.timer);
  if (!$("#auto-refresh").checked) return;
  view.timer = setTimeout(async () => {
    // Never redraw under an open dialog or a hidden tab: the rows it acts on must stay put.
    if (!document.querySelector("dialog[open]") && !document.hidden) await load();
    schedule();
  }, REFRESH_MS);
}

function start() {
  fillSortSelect();
  loadFromUrl();
  const auto = $("#auto-refresh");
  auto.checked = localStorage.getItem("port-server.auto-refresh") !== "off";
  auto.addEventListener("change", () => {
    localStorage.setItem("port-server.auto-refresh", auto.checked ? "on" : "off");
    schedule();
  });
  $("#refresh-now").addEventListener("click", () => load());
  $("#prune-worktrees").addEventListener("click", () => pruneWorktrees());
  $("#filter").addEventListener("input", (ev) => {
    view.filter = ev.target.value;
    saveToUrl();
    render();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) load();
  });
  load().then(schedule);
}

document.addEventListener("DOMContentLoaded", start);
