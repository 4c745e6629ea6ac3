// portguard console core. Plain JavaScript, no build step: views are shown and hidden, data
// comes from the /v1 API, every text node is set with textContent (never innerHTML), and the
// session's CSRF token is sent on every state-changing request. The pages (tasks.js,
// supervise.js, rules.js, analytics.js) register themselves on window.PG; boot runs once all
// deferred scripts have loaded.
"use strict";

(function () {
  const LANG_KEY = "portguard.lang";

  const st = {
    lang: localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh",
    me: null,
    csrf: "",
    timers: [],
  };

  const $ = (id) => document.getElementById(id);
  const t = (key) => (window.PG_I18N[st.lang] || {})[key] || window.PG_I18N.zh[key] || key;
  // tOr translates key, or shows fallback when the dictionary has no entry (e.g. a new audit
  // action): better the raw code than a dictionary key.
  const tOr = (key, fallback) => (window.PG_I18N[st.lang] || {})[key] || fallback;
  const el = (tag, props, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "for" || k === "title") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c != null && c !== false) e.append(c);
    return e;
  };
  // Text in the chosen language with a fallback to the other.
  const pick = (zh, en) => (st.lang === "en" ? en || zh : zh || en) || "";
  const locale = () => (st.lang === "en" ? "en-GB" : "zh-CN");
  const has = (role) => !!(st.me && (st.me.user.roles || []).includes(role));
  const hasAny = (...roles) => roles.some(has);

  // --- formatting -----------------------------------------------------------------------------
  function fmtTime(iso) {
    if (!iso || iso.startsWith("0001-")) return "";
    return new Date(iso).toLocaleString(locale(), { hour12: false });
  }
  function fmtDate(iso) {
    if (!iso || iso.startsWith("0001-")) return "";
    return new Date(iso).toLocaleDateString(locale());
  }
  function fmtNum(v, digits) {
    if (typeof v !== "number") return "";
    return v.toLocaleString(locale(), { maximumFractionDigits: digits });
  }
  function fmtPct(v, digits) {
    if (typeof v !== "number" || !isFinite(v)) return "—";
    return (v * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  }
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
  const FINAL = ["RELEASED", "TREATED_RELEASED", "RETURNED", "DESTROYED", "DETAINED", "CANCELLED"];
  function stateBadge(s) {
    const n = el("span", { class: "state state-" + s + (FINAL.includes(s) ? " state-final" : ""), text: t("state." + s) });
    n.dataset.state = s;
    return n;
  }
  function fact(dl, label, value, testid) {
    if (value === undefined || value === null || value === "") return;
    const dd = el("dd", {}, value instanceof Node ? value : String(value));
    if (testid) dd.dataset.testid = testid;
    dl.append(el("dt", { text: label }), dd);
  }
  // fieldMessage joins the field errors of an API error after its message.
  function errorText(e) {
    let msg = e.text();
    if (e.fields && e.fields.length) msg += (st.lang === "en" ? ": " : "：") + e.fields.map((f) => f.path + " " + pick(f.zh, f.en)).join(st.lang === "en" ? "; " : "；");
    return msg;
  }
  function showError(box, e) {
    box.textContent = typeof e === "string" ? e : errorText(e);
    box.classList.remove("hidden");
  }

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

  // --- pages and views ------------------------------------------------------------------------
  // A page is registered with PG.page(name, {view, roles, navRoles, load(args), render()}): view
  // is its section, roles who may open it, navRoles who see its top bar link (default roles),
  // load runs on navigation and render after a language switch while its view is shown.
  const pages = {};
  const routes = [];
  function page(name, p) { pages[name] = p; }
  function route(re, name) { routes.push({ re, name }); }

  // every repeats f while the current view is shown and the tab is visible; navigation stops it.
  function every(ms, f) { st.timers.push(setInterval(() => { if (!document.hidden) f(); }, ms)); }

  let current = "";
  function show(view, navPage) {
    for (const v of document.querySelectorAll("main > .view")) v.classList.toggle("hidden", v.id !== view);
    current = view;
    const logged = !!st.me;
    for (const a of document.querySelectorAll(".nav-link")) {
      const p = pages[a.dataset.page];
      a.classList.toggle("hidden", !logged || !p || !hasAny(...(p.navRoles || p.roles)));
      a.classList.toggle("active", a.dataset.page === navPage);
    }
    $("logout").classList.toggle("hidden", !logged);
    $("user-info").classList.toggle("hidden", !logged);
    for (const id of st.timers) clearInterval(id);
    st.timers = [];
    window.scrollTo(0, 0);
  }
  const visible = (view) => current === view;

  // busy marks a view data-busy="true" while f runs, so that a browser test (or a user's second
  // click) can tell a settled page from one about to be redrawn.
  async function busy(view, f) {
    const v = $(view);
    v.dataset.busy = "true";
    try { return await f(); } finally { v.dataset.busy = "false"; }
  }

  // home is where a user lands: the page of their main role.
  function home() {
    if (has("officer")) return "#/queue";
    if (has("supervisor") || has("admin")) return "#/supervise";
    if (has("risk_analyst")) return "#/rules";
    if (has("hq_analyst")) return "#/analytics";
    return "#/queue";
  }

  function renderUser() {
    if (!st.me) return;
    const u = st.me.user;
    const role = (u.roles || []).map((r) => tOr("role." + r, r)).join(", ");
    $("user-info").textContent = (u.display_name || u.name) + " · " + role + (u.port ? " · " + t("user.port") + " " + u.port : "");
    $("dev-banner").classList.toggle("hidden", !st.me.dev_mode);
  }

  // --- i18n -----------------------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = st.lang === "en" ? "en" : "zh-CN";
    document.title = t("app.title");
    for (const n of document.querySelectorAll("[data-i18n]")) n.textContent = t(n.dataset.i18n);
    for (const n of document.querySelectorAll("[data-i18n-placeholder]")) n.placeholder = t(n.dataset.i18nPlaceholder);
    for (const n of document.querySelectorAll("[data-i18n-title]")) n.title = t(n.dataset.i18nTitle);
    renderUser();
    for (const p of Object.values(pages)) if (p.render && p.view && visible(p.view)) p.render();
  }

  $("lang-switch").addEventListener("click", () => {
    st.lang = st.lang === "en" ? "zh" : "en";
    localStorage.setItem(LANG_KEY, st.lang);
    applyLang();
  });

  // --- login ----------------------------------------------------------------------------------
  function showLogin(message) {
    location.hash = "#/login";
    show("view-login", "");
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
      const target = st.wanted && st.wanted !== "#/login" ? st.wanted : home();
      st.wanted = "";
      if (location.hash === target) dispatch(); else location.hash = target; // hashchange routes
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

  // --- routing --------------------------------------------------------------------------------
  function dispatch() {
    const h = location.hash;
    // A deep link opened before login is remembered and followed after it.
    if (!st.me) { if (h && h !== "#/login") st.wanted = h; showLogin(""); return; }
    if (h === "#/login" || h === "#/" || h === "") { location.hash = home(); return; }
    for (const r of routes) {
      const m = h.match(r.re);
      if (!m) continue;
      const p = pages[r.name];
      if (!hasAny(...p.roles)) { show(p.view, ""); toast(t("err.forbidden"), true); return; }
      p.load(...m.slice(1).map(decodeURIComponent));
      return;
    }
    location.hash = home();
  }
  window.addEventListener("hashchange", () => { if (st.me || location.hash !== "#/login") dispatch(); });

  async function boot() {
    applyLang();
    try {
      st.me = await fetch("/v1/me", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : null));
    } catch (e) { st.me = null; }
    st.csrf = (st.me && st.me.csrf_token) || "";
    renderUser();
    if (st.me && location.hash === "#/login") location.hash = home();
    dispatch();
    document.body.dataset.ready = "true"; // browser tests wait for this
  }

  window.PG = { st, $, t, tOr, el, pick, has, hasAny, api, APIError, toast, show, visible, busy, every, page, route,
    fmtTime, fmtDate, fmtNum, fmtPct, age, channelBadge, stateBadge, fact, errorText, showError, FINAL, locale,
    chart: (box, spec) => window.PG_CHART.chart(box, spec),
    intervals: (box, items, opts) => window.PG_CHART.intervals(box, items, opts) };
  // Deferred scripts run in order before DOMContentLoaded: by then every page has registered.
  document.addEventListener("DOMContentLoaded", boot);
})();
