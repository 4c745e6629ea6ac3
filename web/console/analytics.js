// HQ analysts' dashboards (统计分析): the trend with its chart and CSV export, honest hit rates
// with intervals, the capacity forecast, rule yield with flags, model yield and calibration,
// enterprise grades and early warnings. Every number comes from the /v1/analytics routes.
"use strict";

(function () {
  const { st, $, t, tOr, el, pick, api, toast, show, fmtTime, fmtDate, fmtNum, fmtPct, fact, hasAny } = window.PG;

  const an = { dims: null, ready: false };

  const iso = (d) => d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");

  async function load() {
    show("view-analytics", "analytics");
    if (!an.ready) {
      const today = new Date();
      $("an-to").value = iso(today);
      $("an-from").value = iso(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 29));
      if (st.me.user.port) { $("an-port").value = st.me.user.port; $("an-port").disabled = true; }
      an.ready = true;
    }
    if (!an.dims) {
      try { an.dims = (await api("GET", "/v1/analytics/dimensions")).dimensions || []; } catch (e) { an.dims = []; }
      renderGroupOptions();
    }
    await query();
  }

  function renderGroupOptions() {
    const g = $("an-group");
    const keep = g.value;
    g.replaceChildren(el("option", { value: "", text: t("an.noGroup") }));
    for (const d of an.dims || []) g.append(el("option", { value: d, text: tOr("dim." + d, d) }));
    g.value = keep;
  }

  // scope is the query string every analytics route shares: dates and filters.
  function scope() {
    const q = new URLSearchParams();
    q.set("from", $("an-from").value);
    q.set("to", $("an-to").value);
    for (const [id, dim] of [["an-port", "port"], ["an-hs2", "hs2"], ["an-origin", "origin"], ["an-grade", "enterprise_grade"]]) {
      const v = $(id).value.trim();
      if (v) q.set(dim, v);
    }
    return q;
  }

  const qs = (q, extra) => {
    const x = new URLSearchParams(q);
    for (const [k, v] of Object.entries(extra || {})) if (v) x.set(k, v);
    return "?" + x.toString();
  };

  function query() { return window.PG.busy("view-analytics", runQuery); }

  async function runQuery() {
    const q = scope();
    const trendQ = qs(q, { interval: $("an-interval").value, group_by: $("an-group").value });
    const forecastQ = qs(new URLSearchParams(), { port: ($("an-port").value.split(",")[0] || "").trim() });
    const alertsQ = qs(q, { state: $("an-alert-state").value });
    const links = {
      "an-trend-csv": "/v1/analytics/trend" + trendQ + "&format=csv",
      "an-hit-csv": "/v1/analytics/hit-rates" + qs(q) + "&format=csv",
      "an-rules-csv": "/v1/analytics/rule-yield" + qs(q) + "&format=csv",
      "an-models-csv": "/v1/analytics/model-yield" + qs(q) + "&format=csv",
      "an-grades-csv": "/v1/analytics/grades?format=csv",
      "an-alerts-csv": "/v1/analytics/alerts" + alertsQ + "&format=csv",
      "an-forecast-csv": "/v1/analytics/forecast" + forecastQ + (forecastQ === "?" ? "" : "&") + "format=csv",
    };
    for (const [id, href] of Object.entries(links)) $(id).href = href;
    $("an-submit").disabled = true;
    const [trend, hits, rules, models, grades, alerts, forecast] = await Promise.allSettled([
      api("GET", "/v1/analytics/trend" + trendQ),
      api("GET", "/v1/analytics/hit-rates" + qs(q)),
      api("GET", "/v1/analytics/rule-yield" + qs(q)),
      api("GET", "/v1/analytics/model-yield" + qs(q)),
      api("GET", "/v1/analytics/grades?limit=15"),
      api("GET", "/v1/analytics/alerts" + alertsQ),
      api("GET", "/v1/analytics/forecast" + forecastQ),
    ]);
    $("an-submit").disabled = false;
    an.res = { trend, hits, rules, models, grades, alerts, forecast };
    const failed = Object.values(an.res).find((r) => r.status === "rejected" && r.reason.status !== 404);
    if (failed && failed.reason.status !== 401) toast(failed.reason.text(), true);
    an.at = new Date();
    render();
  }

  const ok = (r) => (r && r.status === "fulfilled" ? r.value : null);

  function render() {
    if (!an.res) return;
    $("an-updated").textContent = t("queue.updated") + " " + an.at.toLocaleTimeString(window.PG.locale());
    renderGroupOptions();
    renderTrend(ok(an.res.trend));
    renderHits(ok(an.res.hits));
    renderForecast(an.res.forecast);
    renderRules(ok(an.res.rules));
    renderModels(ok(an.res.models));
    renderGrades(ok(an.res.grades));
    renderAlerts(ok(an.res.alerts));
  }

  // --- trend ----------------------------------------------------------------------------------
  function renderTrend(res) {
    const rows = (res && res.rows) || [];
    const groups = (res && res.group_by) || [];
    // Totals per period (summed over groups) for the chart and the key figures.
    const per = new Map();
    let decl = 0, insp = 0, results = 0, hits = 0, rev = 0;
    for (const r of rows) {
      const k = r.period.slice(0, 10);
      const p = per.get(k) || { declarations: 0, inspected: 0, results: 0, hits: 0 };
      p.declarations += r.declarations; p.inspected += r.inspected; p.results += r.results; p.hits += r.hits;
      per.set(k, p);
      decl += r.declarations; insp += r.inspected; results += r.results; hits += r.hits; rev += r.revenue;
    }
    $("an-k-decl").textContent = fmtNum(decl, 0);
    $("an-k-insp").textContent = decl ? fmtPct(insp / decl) : "—";
    $("an-k-insp-n").textContent = fmtNum(insp, 0) + " " + t("an.inspectedShort");
    $("an-k-hit").textContent = results ? fmtPct(hits / results) : "—";
    $("an-k-hit-n").textContent = fmtNum(hits, 0) + " / " + fmtNum(results, 0) + " " + t("an.hitsOfResults");
    $("an-k-rev").textContent = fmtNum(rev, 0);

    let periods = [...per.keys()].sort();
    if (res && res.interval === "day" && res.from && res.to) periods = daysBetween(res.from, res.to);
    const P = periods.map((k) => per.get(k) || { declarations: 0, inspected: 0, results: 0, hits: 0 });
    window.PG.chart($("an-trend-chart"), {
      labels: periods.map((k) => k.slice(5)),
      bars: { values: P.map((p) => p.declarations), label: t("an.declarations") },
      lines: [
        { values: P.map((p) => (p.declarations ? p.inspected / p.declarations : null)), label: t("an.inspectionRate") },
        { values: P.map((p) => (p.results ? p.hits / p.results : null)), label: t("an.hitRate"), cls: "s-hit" },
      ],
      height: 240, testid: "an-trend-svg",
    });

    const head = $("an-trend-head");
    head.replaceChildren(el("th", { text: t("an.period") }));
    for (const g of groups) head.append(el("th", { text: tOr("dim." + g, g) }));
    for (const [k, num] of [["an.declarations", 1], ["an.inspected", 1], ["an.inspectionRate", 1], ["an.results", 1], ["rule.hits", 1], ["an.hitRate", 1], ["an.revenue", 1]]) {
      head.append(el("th", { class: num ? "num" : "", text: t(k) }));
    }
    const body = $("an-trend-body");
    body.replaceChildren();
    for (const r of rows) {
      const tr = el("tr", { "data-testid": "an-trend-row" }, el("td", { class: "mono", text: r.period.slice(0, 10) }));
      (r.group || []).forEach((g, i) => tr.append(el("td", { "data-group": groups[i], "data-value": g, text: groupLabel(groups[i], g) })));
      tr.append(el("td", { class: "num", text: fmtNum(r.declarations, 0) }), el("td", { class: "num", text: fmtNum(r.inspected, 0) }),
        el("td", { class: "num", text: fmtPct(r.inspection_rate) }), el("td", { class: "num", text: fmtNum(r.results, 0) }),
        el("td", { class: "num", text: fmtNum(r.hits, 0) }), el("td", { class: "num", text: r.results ? fmtPct(r.hit_rate) : "—" }),
        el("td", { class: "num", text: fmtNum(r.revenue, 0) }));
      body.append(tr);
    }
    $("an-trend-empty").classList.toggle("hidden", rows.length > 0);
    $("an-trend-truncated").classList.toggle("hidden", !(res && res.truncated));
  }

  // groupLabel shows a group's value: grades by name (an empty grade: not graded yet at the
  // decision), other dimensions as they are.
  function groupLabel(dim, v) {
    if (dim === "enterprise_grade") return t("grade." + (v || "ungraded"));
    return v || "—";
  }

  function daysBetween(from, to) {
    const out = [];
    const [fy, fm, fd] = from.split("-").map(Number);
    const end = to;
    for (let i = 0; i < 1200; i++) {
      const k = iso(new Date(fy, fm - 1, fd + i));
      out.push(k);
      if (k >= end) break;
    }
    return out;
  }

  // --- honest hit rates ------------------------------------------------------------------------
  function renderHits(res) {
    const body = $("an-hit-body");
    body.replaceChildren();
    const dl = $("an-hit-facts");
    dl.replaceChildren();
    if (!res) { window.PG.intervals($("an-hit-chart"), []); return; }
    const h = res.hit_rates;
    const groups = [["random", h.random, "s-random"], ["targeted", h.targeted, "s-hit"], ["overall", h.overall, ""]];
    window.PG.intervals($("an-hit-chart"), groups.map(([k, r, cls]) => ({ label: t("an.grp." + k), n: r.n, rate: r.rate, lo: r.lo, hi: r.hi, cls })),
      { testid: "an-hit-svg", none: t("an.noInspections") });
    for (const [k, r] of groups) {
      body.append(el("tr", { "data-testid": "an-hit-" + k },
        el("td", { text: t("an.grp." + k) }), el("td", { class: "num", text: fmtNum(r.n, 0) }), el("td", { class: "num", text: fmtNum(r.hits, 0) }),
        el("td", { class: "num", text: r.n ? fmtPct(r.rate) : "—" }), el("td", { text: r.n ? "[" + fmtPct(r.lo) + ", " + fmtPct(r.hi) + "]" : "—" })));
    }
    fact(dl, t("an.declarations"), fmtNum(h.declarations, 0));
    fact(dl, t("an.lift"), h.lift ? fmtNum(h.lift, 2) + "×" : t("an.liftNone"), "an-lift");
    fact(dl, t("an.ipw"), h.ipw_effective_n ? fmtPct(h.ipw_non_compliance) + " (" + t("an.effN") + " " + fmtNum(h.ipw_effective_n, 0) + ")" : "—", "an-ipw");
  }

  // --- forecast ---------------------------------------------------------------------------------
  function renderForecast(r) {
    const none = $("an-forecast-none");
    const box = $("an-forecast-chart");
    if (!r || r.status === "rejected") {
      box.replaceChildren();
      none.textContent = r && r.reason && r.reason.code === "insufficient_history" ? t("an.forecastNoHistory") : t("an.forecastNone");
      none.classList.remove("hidden");
      return;
    }
    none.classList.add("hidden");
    const pts = r.value.points || [];
    window.PG.chart(box, {
      labels: pts.map((p) => p.day.slice(5, 10)),
      bars: { values: pts.map((p) => Math.round(p.declarations)), label: t("an.fcDeclarations") },
      lines: [{ values: pts.map((p) => p.inspections), lo: pts.map((p) => p.inspections_lo), hi: pts.map((p) => p.inspections_hi), label: t("an.fcInspections"), cls: "s-hit" }],
      sameAxis: true, height: 220, testid: "an-forecast-svg",
    });
  }

  // --- rules and models -------------------------------------------------------------------------
  function renderRules(res) {
    const body = $("an-rules-body");
    body.replaceChildren();
    const rules = (res && res.rules) || [];
    for (const y of rules) {
      const flags = el("span", { class: "flags" });
      for (const f of y.flags || []) flags.append(el("span", { class: "tag " + (f === "expiring_soon" ? "tag-yellow" : "tag-red"), "data-flag": f, text: t("flag." + f) }));
      const link = el("a", { href: "#/rule/" + encodeURIComponent(y.rule), class: "mono", text: y.rule });
      body.append(el("tr", { "data-testid": "an-rule-row", "data-rule": y.rule },
        el("td", {}, link), el("td", { text: y.state ? tOr("rstate." + y.state, y.state) : "" }),
        el("td", { class: "num", text: fmtNum(y.fired, 0) }), el("td", { class: "num", text: fmtNum(y.selected, 0) }),
        el("td", { class: "num", text: fmtNum(y.workload, 0) }), el("td", { class: "num", text: fmtNum(y.yield.n, 0) }),
        el("td", { class: "num", text: fmtNum(y.yield.hits, 0) }),
        el("td", { text: y.yield.n ? fmtPct(y.yield.rate) + " [" + fmtPct(y.yield.lo) + ", " + fmtPct(y.yield.hi) + "]" : "—" }),
        el("td", { text: fmtTime(y.last_hit) }), el("td", {}, flags)));
    }
    $("an-rules-empty").classList.toggle("hidden", rules.length > 0);
  }

  function renderModels(res) {
    const box = $("an-models");
    box.replaceChildren();
    const ms = (res && res.models) || [];
    for (const m of ms) {
      const dl = el("dl", { class: "facts" });
      fact(dl, t("an.modelVersion"), m.model_version);
      fact(dl, t("an.declarations"), fmtNum(m.declarations, 0));
      fact(dl, t("an.inspectedShare"), fmtPct(m.inspected_share));
      fact(dl, t("an.threshold"), fmtPct(m.threshold));
      const p = m.precision_at_share;
      fact(dl, t("an.precision"), p.n ? fmtPct(p.rate) + " [" + fmtPct(p.lo) + ", " + fmtPct(p.hi) + "] n=" + p.n : "—");
      const rows = el("tbody");
      for (const c of m.calibration || []) {
        rows.append(el("tr", { "data-testid": "an-calibration-row" },
          el("td", { text: c.decile * 10 + "–" + (c.decile + 1) * 10 + "%" }), el("td", { class: "num", text: fmtPct(c.predicted) }),
          el("td", { class: "num", text: fmtNum(c.observed.n, 0) }),
          el("td", { class: "num", text: c.observed.n ? fmtPct(c.observed.rate) : "—" }),
          el("td", { text: c.observed.n ? "[" + fmtPct(c.observed.lo) + ", " + fmtPct(c.observed.hi) + "]" : "—" }),
          el("td", { class: "num", text: c.observed.n ? fmtPct(c.observed_ipw) : "—" })));
      }
      const table = el("table", { class: "grid compact calib" },
        el("thead", {}, el("tr", {}, ...["an.decile", "an.predicted", "an.inspections", "an.observed", "an.interval95", "an.observedIPW"]
          .map((k, i) => el("th", { class: i === 0 || i === 4 ? "" : "num", text: t(k) })))), rows);
      box.append(el("div", { class: "model", "data-testid": "an-model", "data-version": m.model_version }, dl,
        (m.calibration || []).length ? table : el("p", { class: "muted", text: t("an.noCalibration") })));
    }
    $("an-models-empty").classList.toggle("hidden", ms.length > 0);
  }

  // --- grades and alerts ------------------------------------------------------------------------
  function renderGrades(res) {
    const body = $("an-grades-body");
    body.replaceChildren();
    const gs = (res && res.grades) || [];
    for (const g of gs) {
      body.append(el("tr", { "data-testid": "an-grade-row", "data-enterprise": g.enterprise, "data-grade": g.grade, title: pick(g.reason_zh, g.reason_en) },
        el("td", { class: "mono", text: g.enterprise }),
        el("td", {}, el("span", { class: "tag grade-" + g.grade, text: t("grade." + g.grade) }),
          g.credit_class ? el("span", { class: "muted small", text: " " + tOr("grade." + g.credit_class, g.credit_class) }) : null),
        el("td", { class: "num", text: fmtNum(g.results, 0) }), el("td", { class: "num", text: fmtNum(g.hits, 0) }),
        el("td", { text: fmtPct(g.posterior_mean) + " [" + fmtPct(g.posterior_lo) + ", " + fmtPct(g.posterior_hi) + "]" })));
    }
    $("an-grades-empty").classList.toggle("hidden", gs.length > 0);
  }

  function renderAlerts(res) {
    const ul = $("an-alerts");
    ul.replaceChildren();
    const as = (res && res.alerts) || [];
    const reviewer = hasAny("hq_analyst", "risk_analyst");
    for (const a of as) {
      const e = a.evidence || {};
      const state = a.state || "open";
      const li = el("li", { class: "alert alert-" + state, "data-testid": "an-alert", "data-alert-id": a.id, "data-state": state },
        el("div", { class: "alert-head" },
          el("span", { class: "tag tag-red", text: t("alert." + a.kind) }),
          el("strong", { class: "mono", text: " " + a.subject + " " }),
          el("span", { class: "muted small", text: t("alert.subject." + a.subject_kind) + (a.port ? " · " + t("col.port") + " " + a.port : "") }),
          el("span", { class: "tag alert-state", "data-testid": "an-alert-state-tag", text: t("alert.state." + state) })),
        el("div", { text: pick(e.zh, e.en) }),
        el("div", { class: "muted small", text: t("alert.observed") + " " + fmtPct(a.observed) + " (" + e.recent_k + "/" + e.recent_n + ") · " +
          t("alert.expected") + " " + fmtPct(a.expected) + " · q = " + Number(a.q_value).toPrecision(2) + " · " + fmtDate(a.window_from) + " – " + fmtDate(a.window_to) }));
      if (a.review) {
        li.append(el("div", { class: "alert-review small", "data-testid": "an-alert-review" },
          el("span", { text: t("alert.state." + state) + " · " + t("alert.reviewedBy") + " " + a.review.by + " · " + fmtTime(a.review.at) + "：" }),
          el("span", { class: "alert-comment", text: a.review.comment })));
      }
      const actions = reviewer ? [["acknowledge", state === "open"], ["dismiss", state === "open" || state === "acknowledged"]].filter(([, ok]) => ok) : [];
      if (actions.length) {
        const bar = el("div", { class: "alert-actions" });
        for (const [action] of actions) {
          bar.append(el("button", { type: "button", class: "btn btn-small", "data-testid": "an-alert-" + action, text: t("alert." + action),
            onclick: () => reviewForm(li, a, action) }));
        }
        li.append(bar);
      }
      ul.append(li);
    }
    $("an-alerts-empty").classList.toggle("hidden", as.length > 0);
  }

  // reviewForm opens the comment form of an acknowledgement or dismissal under the alert; the
  // comment (what will be done, or why it is no risk) is required and goes to the audit trail.
  function reviewForm(li, a, action) {
    const old = li.querySelector("form.alert-review-form");
    if (old) old.remove();
    const comment = el("textarea", { rows: 2, maxLength: 2000, "data-testid": "an-alert-comment", placeholder: t("alert.commentHint." + action) });
    const msg = el("div", { class: "form-error hidden", role: "alert", "data-testid": "an-alert-comment-error" });
    const submit = el("button", { type: "submit", class: "btn btn-small btn-primary", "data-testid": "an-alert-submit", text: t("alert.submit") });
    const form = el("form", { class: "alert-review-form", "data-action": action },
      el("label", { text: t("alert." + action) + " · " + t("alert.comment") }), comment, msg,
      el("div", { class: "alert-actions" }, submit,
        el("button", { type: "button", class: "btn btn-small", text: t("alert.cancel"), onclick: () => form.remove() })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = comment.value.trim();
      if (!text) { msg.textContent = t("alert.commentRequired"); msg.classList.remove("hidden"); comment.focus(); return; }
      submit.disabled = true;
      try {
        await api("POST", "/v1/analytics/alerts/" + encodeURIComponent(a.id) + "/" + action, { comment: text });
        toast(t("alert.done." + action));
        await query();
      } catch (e) {
        submit.disabled = false;
        msg.textContent = e.text ? e.text() : String(e);
        msg.classList.remove("hidden");
      }
    });
    li.append(form);
    comment.focus();
  }

  $("an-alert-state").addEventListener("change", () => query());
  $("an-form").addEventListener("submit", (ev) => { ev.preventDefault(); query(); });

  window.PG.page("analytics", { view: "view-analytics", roles: ["hq_analyst", "risk_analyst", "supervisor", "admin"], load, render });
  window.PG.route(/^#\/analytics$/, "analytics");
})();
