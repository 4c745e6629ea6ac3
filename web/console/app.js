// portguard officer console. Plain JavaScript, no build step: views are shown and hidden, data
// comes from the /v1 API, every text node is set with textContent (never innerHTML), and the
// session's CSRF token is sent on every state-changing request.
"use strict";

(function () {
  const LANG_KEY = "portguard.lang";
  const FINAL = ["RELEASED", "TREATED_RELEASED", "RETURNED", "DESTROYED", "DETAINED", "CANCELLED"];

  const st = {
    lang: localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh",
    me: null,
    csrf: "",
    filter: "open",
    tasks: [],
    task: null,
    decl: null,
    declMissing: false,
    trail: [],
    catalogue: [],
    refreshTimer: 0,
  };

  const $ = (id) => document.getElementById(id);
  const t = (key) => (window.PG_I18N[st.lang] || {})[key] || window.PG_I18N.zh[key] || key;
  // tOr translates key, or shows fallback when the dictionary has no entry (e.g. a new audit
  // action): better the raw code than a dictionary key.
  const tOr = (key, fallback) => (window.PG_I18N[st.lang] || {})[key] || fallback;
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k === "role" || k === "for") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  };
  // Text in the chosen language with a fallback to the other.
  const pick = (zh, en) => (st.lang === "en" ? en || zh : zh || en) || "";

  // --- i18n ---------------------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = st.lang === "en" ? "en" : "zh-CN";
    document.title = t("app.title");
    for (const n of document.querySelectorAll("[data-i18n]")) n.textContent = t(n.dataset.i18n);
    for (const n of document.querySelectorAll("[data-i18n-placeholder]")) n.placeholder = t(n.dataset.i18nPlaceholder);
    renderUser();
    if (!$("view-queue").classList.contains("hidden")) renderQueue();
    if (!$("view-task").classList.contains("hidden") && st.task) renderTask();
  }

  $("lang-switch").addEventListener("click", () => {
    st.lang = st.lang === "en" ? "zh" : "en";
    localStorage.setItem(LANG_KEY, st.lang);
    applyLang();
  });

  // --- API ------------------------------------------------------------------------------------
  class APIError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || "HTTP " + status);
      this.status = status;
      this.code = e.code || "";
      this.zh = e.message_zh || "";
      this.fields = e.fields || [];
    }
    text() { return pick(this.zh, this.message); }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && st.csrf) headers["X-CSRF-Token"] = st.csrf;
    let res;
    try {
      res = await fetch(path, { method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new APIError(0, { error: { message: t("err.network"), message_zh: t("err.network") } });
    }
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const err = new APIError(res.status, data);
      if (res.status === 401 && path !== "/v1/login") {
        st.me = null; st.csrf = "";
        showLogin(err.code === "session_expired" ? t("login.expired") : "");
      }
      throw err;
    }
    return data;
  }

  function toast(msg, isError) {
    const n = $("toast");
    n.textContent = msg;
    n.classList.toggle("toast-error", !!isError);
    n.classList.remove("hidden");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => n.classList.add("hidden"), 4000);
  }

  // --- views ----------------------------------------------------------------------------------
  function show(view) {
    for (const v of ["view-login", "view-queue", "view-task"]) $(v).classList.toggle("hidden", v !== view);
    const logged = !!st.me;
    $("nav-queue").classList.toggle("hidden", !logged);
    $("logout").classList.toggle("hidden", !logged);
    $("user-info").classList.toggle("hidden", !logged);
    clearInterval(st.refreshTimer);
  }

  function renderUser() {
    if (!st.me) return;
    const u = st.me.user;
    const role = (u.roles || []).map((r) => tOr("role." + r, r)).join(", ");
    $("user-info").textContent = (u.display_name || u.name) + " · " + role + (u.port ? " · " + t("user.port") + " " + u.port : "");
    $("dev-banner").classList.toggle("hidden", !st.me.dev_mode);
  }

  function showLogin(message) {
    location.hash = "#/login";
    show("view-login");
    const e = $("login-error");
    e.textContent = message || "";
    e.classList.toggle("hidden", !message);
    $("login-username").focus();
  }

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = $("login-submit");
    btn.disabled = true;
    try {
      const me = await api("POST", "/v1/login", { username: $("login-username").value, password: $("login-password").value });
      st.me = me; st.csrf = me.csrf_token || "";
      $("login-password").value = "";
      renderUser();
      if (location.hash === "#/queue") route(); else location.hash = "#/queue"; // hashchange routes
    } catch (e) {
      const msg = e.code === "too_many_attempts" ? t("login.locked") : e.status === 401 ? t("login.failed") : e.text();
      $("login-error").textContent = msg;
      $("login-error").classList.remove("hidden");
    } finally {
      btn.disabled = false;
    }
  });

  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/v1/logout"); } catch (e) { /* the cookie is cleared either way */ }
    st.me = null; st.csrf = "";
    showLogin("");
  });

  // --- queue ----------------------------------------------------------------------------------
  function age(iso) {
    const ms = Date.now() - new Date(iso).getTime();
    if (!(ms >= 0)) return "";
    const min = Math.floor(ms / 60000);
    if (min < 1) return t("age.just");
    if (min < 60) return min + " " + t("age.min");
    const h = Math.floor(min / 60);
    if (h < 48) return h + " " + t("age.hour") + " " + (min % 60) + " " + t("age.min");
    return Math.floor(h / 24) + " " + t("age.day");
  }

  function channelBadge(ch) {
    return el("span", { class: "badge badge-" + ch, text: t("channel." + ch), "data-channel": ch });
  }

  function stateBadge(s) {
    const n = el("span", { class: "state state-" + s + (FINAL.includes(s) ? " state-final" : ""), text: t("state." + s) });
    n.dataset.state = s;
    return n;
  }

  async function loadQueue() {
    show("view-queue");
    for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.filter === st.filter);
    try {
      st.tasks = (await api("GET", "/v1/tasks?state=" + encodeURIComponent(st.filter))) || [];
      $("queue-updated").textContent = t("queue.updated") + " " + new Date().toLocaleTimeString(st.lang === "en" ? "en-GB" : "zh-CN");
      renderQueue();
    } catch (e) {
      if (e.status !== 401) toast(e.text(), true);
    }
    st.refreshTimer = setInterval(() => { if (!document.hidden) loadQueueQuietly(); }, 30000);
  }

  async function loadQueueQuietly() {
    try {
      st.tasks = (await api("GET", "/v1/tasks?state=" + encodeURIComponent(st.filter))) || [];
      renderQueue();
    } catch (e) { /* shown on the next manual refresh */ }
  }

  function renderQueue() {
    const body = $("queue-body");
    body.replaceChildren();
    for (const task of st.tasks) {
      const d = task.decision || {};
      const reasons = el("ul", { class: "reason-list", "data-testid": "queue-reasons" });
      for (const r of (d.reasons || []).slice(0, 2)) reasons.append(el("li", { text: pick(r.zh, r.en) }));
      const tr = el("tr", { class: "row-" + task.channel, "data-testid": "queue-row" },
        el("td", {}, el("span", { class: "mono", text: task.declaration_no }),
          task.decl_version > 1 ? el("span", { class: "muted", text: " v" + task.decl_version }) : null),
        el("td", {}, channelBadge(task.channel)),
        el("td", { text: t("action." + task.action) }),
        el("td", {}, reasons),
        el("td", {}, stateBadge(task.state)),
        el("td", { class: "num", text: age(task.created_at) }));
      tr.dataset.taskId = task.id;
      tr.dataset.channel = task.channel;
      tr.dataset.state = task.state;
      tr.addEventListener("click", () => { location.hash = "#/task/" + encodeURIComponent(task.id); });
      body.append(tr);
    }
    $("queue-empty").classList.toggle("hidden", st.tasks.length > 0);
  }

  for (const b of document.querySelectorAll(".tab")) {
    b.addEventListener("click", () => { st.filter = b.dataset.filter; loadQueue(); });
  }
  $("queue-refresh").addEventListener("click", () => loadQueue());

  // --- task -----------------------------------------------------------------------------------
  async function loadTask(id) {
    show("view-task");
    $("result-error").classList.add("hidden");
    try {
      if (st.catalogue.length === 0) st.catalogue = (await api("GET", "/v1/findings")) || [];
      st.task = await api("GET", "/v1/tasks/" + encodeURIComponent(id));
    } catch (e) {
      if (e.status !== 401) toast(e.text(), true);
      return;
    }
    st.decl = null; st.declMissing = false; st.trail = [];
    renderTask();
    renderFindings();
    const task = st.task;
    const [decl, trail] = await Promise.allSettled([
      api("GET", "/v1/declarations/" + encodeURIComponent(task.declaration_no) + "?version=" + task.decl_version),
      api("GET", "/v1/audit/trail/" + encodeURIComponent(task.declaration_no)),
    ]);
    if (st.task !== task) return; // the officer moved on meanwhile
    if (decl.status === "fulfilled") st.decl = decl.value; else st.declMissing = true;
    if (trail.status === "fulfilled") st.trail = trail.value || [];
    renderTask();
  }

  function fact(dl, label, value, testid) {
    if (value === undefined || value === null || value === "") return;
    const dd = el("dd", { text: String(value) });
    if (testid) dd.dataset.testid = testid;
    dl.append(el("dt", { text: label }), dd);
  }

  function fmtTime(iso) {
    if (!iso || iso.startsWith("0001-")) return "";
    return new Date(iso).toLocaleString(st.lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
  }

  function fmtNum(v, digits) {
    if (typeof v !== "number") return "";
    return v.toLocaleString(st.lang === "en" ? "en-GB" : "zh-CN", { maximumFractionDigits: digits });
  }

  function renderTask() {
    const task = st.task;
    const d = task.decision || {};
    $("task-number").textContent = task.declaration_no + (task.decl_version > 1 ? " v" + task.decl_version : "");
    const ch = $("task-channel");
    ch.className = "badge badge-" + task.channel;
    ch.textContent = t("channel." + task.channel);
    ch.dataset.channel = task.channel;
    const sb = $("task-state");
    sb.replaceChildren(stateBadge(task.state));
    sb.dataset.state = task.state;

    const facts = $("task-facts");
    facts.replaceChildren();
    fact(facts, t("col.action"), t("action." + task.action));
    fact(facts, t("task.selection"), t("selection." + (d.selection || "none")) + (d.random ? " · " + t("task.random") : ""));
    fact(facts, t("task.score"), typeof d.probability === "number" ? (d.probability * 100).toFixed(1) + "%" : "");
    fact(facts, t("col.port"), task.port);
    fact(facts, t("col.officer"), task.officer);
    fact(facts, t("col.age"), age(task.created_at));

    const reasons = $("task-reasons");
    reasons.replaceChildren();
    for (const r of d.reasons || []) {
      const li = el("li", { "data-testid": "task-reason" }, el("span", { text: pick(r.zh, r.en) }),
        el("span", { class: "secondary", text: st.lang === "en" ? r.zh : r.en }));
      reasons.append(li);
    }
    const rules = $("task-rules");
    rules.replaceChildren();
    for (const r of d.rules_fired || []) rules.append(el("li", { text: r.id + " · " + r.title }));
    $("task-rules-wrap").classList.toggle("hidden", !(d.rules_fired || []).length);

    renderDeclaration();
    renderTrail();

    const done = FINAL.includes(task.state) || task.state === "RESULT_RECORDED";
    $("result-form").classList.toggle("hidden", done);
    $("result-view").classList.toggle("hidden", !task.result);
    if (task.result) renderResult(task.result);
    renderFindingLabels();
  }

  function renderDeclaration() {
    const dl = $("decl-facts");
    dl.replaceChildren();
    const body = $("items-body");
    body.replaceChildren();
    $("decl-missing").classList.toggle("hidden", !st.declMissing);
    const d = st.decl;
    if (!d) return;
    const ent = (e) => (e ? [e.name, e.customs_code || e.uscc].filter(Boolean).join(" · ") : "");
    fact(dl, t("decl.importer"), ent(d.consignee));
    fact(dl, t("decl.consignor"), ent(d.consignor));
    fact(dl, t("decl.declarant"), d.declarant);
    fact(dl, t("decl.tradeMode"), d.trade_mode);
    fact(dl, t("decl.transport"), d.transport_mode);
    fact(dl, t("decl.departure"), d.departure_country);
    fact(dl, t("decl.bill"), d.bill_of_lading);
    fact(dl, t("decl.declaredAt"), fmtTime(d.declared_at));
    for (const it of d.items || []) {
      const tr = el("tr", { "data-testid": "item-row" },
        el("td", { class: "num", text: String(it.seq) }),
        el("td", { class: "mono", text: it.hs_code }),
        el("td", { text: it.description || "" }),
        el("td", { class: "num", text: fmtNum(it.quantity, 3) + " " + (it.unit || "") }),
        el("td", { class: "num", text: fmtNum(it.net_weight_kg, 3) }),
        el("td", { class: "num", text: fmtNum(it.declared_value, 2) + " " + (it.currency || "") }),
        el("td", { text: it.origin_country || "" }));
      body.append(tr);
    }
  }

  function renderTrail() {
    const ol = $("trail");
    ol.replaceChildren();
    for (const r of st.trail) {
      ol.append(el("li", {}, el("span", { class: "mono", text: fmtTime(r.at) + "  " }),
        el("span", { text: tOr("audit." + r.action, r.action) + " · " + (r.actor === "system" ? t("audit.system") : r.actor) })));
    }
  }

  function renderResult(r) {
    const dl = $("result-facts");
    dl.replaceChildren();
    fact(dl, t("result.outcome"), t("outcome." + r.outcome), "result-outcome");
    const names = (r.findings || []).map((f) => {
      const c = st.catalogue.find((x) => x.code === f.code);
      const sev = t("sev." + f.severity);
      return (c ? pick(c.zh, c.en) : f.code) + (st.lang === "en" ? " (" + sev + ")" : "（" + sev + "）");
    });
    fact(dl, t("result.findings"), names.join(st.lang === "en" ? "; " : "；"), "result-findings");
    fact(dl, t("result.adjustment"), fmtNum(r.adjustment, 2));
    fact(dl, t("result.disposition"), t("disp." + r.disposition), "result-disposition");
    fact(dl, t("result.note"), r.note);
    fact(dl, t("result.officer"), r.officer);
    fact(dl, t("result.at"), fmtTime(r.inspected_at));
  }

  // The picklist is built once per task; language changes only relabel it, so ticks survive.
  function renderFindings() {
    const box = $("findings");
    box.replaceChildren();
    for (const f of st.catalogue) {
      const cb = el("input", { type: "checkbox", id: "finding-" + f.code, value: f.code, "data-testid": "finding-" + f.code });
      const sel = el("select", { id: "severity-" + f.code, "data-testid": "severity-" + f.code });
      for (const s of [1, 2, 3]) {
        const o = el("option", { value: String(s), "data-sev": String(s) });
        if (s === f.default_severity) o.selected = true;
        sel.append(o);
      }
      const lab = el("label", { class: "finding", for: "finding-" + f.code }, cb, el("span", { "data-code": f.code }), sel);
      box.append(lab);
    }
    renderFindingLabels();
  }

  function renderFindingLabels() {
    for (const f of st.catalogue) {
      const s = document.querySelector('#findings span[data-code="' + f.code + '"]');
      if (s) s.textContent = pick(f.zh, f.en);
    }
    for (const o of document.querySelectorAll("#findings option")) o.textContent = t("sev." + o.dataset.sev);
  }

  $("result-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const task = st.task;
    const outcome = document.querySelector('input[name="outcome"]:checked').value;
    const findings = [];
    for (const f of st.catalogue) {
      if ($("finding-" + f.code).checked) findings.push({ code: f.code, severity: Number($("severity-" + f.code).value) });
    }
    const errBox = $("result-error");
    if (outcome === "NON_CONFORMING" && findings.length === 0) {
      errBox.textContent = t("result.needFinding");
      errBox.classList.remove("hidden");
      return;
    }
    errBox.classList.add("hidden");
    const btn = $("result-submit");
    btn.disabled = true;
    try {
      await api("POST", "/v1/inspection-results", {
        task_id: task.id,
        expected_version: task.version,
        outcome,
        findings,
        adjustment: Number($("result-adjustment").value) || 0,
        // A sample sent to the laboratory has no disposition until the lab reports.
        disposition: outcome === "PENDING_LAB" ? "" : $("result-disposition").value,
        note: $("result-note").value,
      });
      toast(t("result.saved"));
      resetForm();
      await loadTask(task.id);
    } catch (e) {
      if (e.status === 401) return;
      let msg = e.code === "conflict" ? t("result.conflict") : e.text();
      if (e.fields.length) msg += "：" + e.fields.map((f) => f.path + " " + pick(f.zh, f.en)).join("；");
      errBox.textContent = msg;
      errBox.classList.remove("hidden");
      if (e.code === "conflict") await loadTask(task.id);
    } finally {
      btn.disabled = false;
    }
  });

  for (const r of document.querySelectorAll('input[name="outcome"]')) {
    r.addEventListener("change", () => {
      $("result-disposition").disabled = document.querySelector('input[name="outcome"]:checked').value === "PENDING_LAB";
    });
  }

  function resetForm() {
    $("result-disposition").disabled = false;
    $("outcome-conforming").checked = true;
    $("result-adjustment").value = "0";
    $("result-disposition").value = "RELEASE";
    $("result-note").value = "";
  }

  // --- routing --------------------------------------------------------------------------------
  function route() {
    const h = location.hash || "#/queue";
    if (!st.me) { showLogin(""); return; }
    const m = h.match(/^#\/task\/(.+)$/);
    if (m) { loadTask(decodeURIComponent(m[1])); return; }
    loadQueue();
  }
  window.addEventListener("hashchange", () => { if (st.me || location.hash !== "#/login") route(); });

  async function boot() {
    applyLang();
    try {
      st.me = await fetch("/v1/me", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : null));
    } catch (e) { st.me = null; }
    st.csrf = (st.me && st.me.csrf_token) || "";
    renderUser();
    if (st.me && location.hash === "#/login") location.hash = "#/queue";
    route();
    document.body.dataset.ready = "true"; // browser tests wait for this
  }
  boot();
})();
