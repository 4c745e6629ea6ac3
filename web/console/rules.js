// Risk analysts' pages: the targeting rules (布控指令) — the list with state, priority, validity,
// matches and hits; one rule with its condition editor (AND/OR groups of HS prefix, origin,
// numeric range, unit value, manifest mismatch, enterprise grade …), its lifecycle with the
// four-eyes rule explained, its statistics and its change record, and a backtest of the rule (or
// of the editor's unsaved draft) over the history in the analytics store.
"use strict";

(function () {
  const { st, $, t, tOr, el, pick, has, hasAny, api, toast, show, fmtTime, fmtDate, fmtNum, fmtPct, showError } = window.PG;

  const rs = { state: "", list: [], yields: {}, rule: null, stats: null, yield: null, trail: [], daily: null, bt: null };

  // Condition kinds offered by the editor. Each maps to one leaf of the rule's condition tree
  // (targeting.Expr): a field, an operator and values or bounds.
  const KINDS = {
    hs: { fields: ["hs_code"], ops: ["prefix", "in"], values: true },
    origin: { fields: ["origin_country", "departure_country", "trading_country"], ops: ["in"], values: true },
    grade: { fields: ["importer_grade"], ops: ["in"], grades: true },
    unitvalue: { fields: ["unit_value_ratio", "unit_value"], ops: ["below", "above"], bound: true },
    manifest: { fields: ["weight_deviation", "undeclared_containers", "origin_route_mismatch"], ops: ["above"], bound: true },
    range: { fields: ["total_value", "declared_value", "value_base", "net_weight_kg", "gross_weight_kg", "quantity", "items"], ops: ["range"], range: true },
    field: { fields: ["importer", "consignor", "declarant", "port", "trade_mode", "transport_mode", "loading_port", "ciq_code", "unit", "direction"], ops: ["eq", "in", "prefix"], values: true },
  };
  const GRADES = ["green", "yellow", "red", "black", "advanced", "general", "dishonest"];
  const kindOf = (leaf) => {
    for (const [k, d] of Object.entries(KINDS)) if (d.fields.includes(leaf.field) && d.ops.includes(leaf.op)) return k;
    if (["below", "above", "range"].includes(leaf.op)) return "range";
    return "field";
  };

  const canWrite = () => hasAny("risk_analyst", "supervisor");
  const canBacktest = () => hasAny("risk_analyst", "supervisor", "hq_analyst");
  const canEdit = (r) => r.state === "draft" && (has("risk_analyst") || (has("supervisor") && r.author === st.me.user.name));

  // --- list -----------------------------------------------------------------------------------
  function loadList() {
    show("view-rules", "rules");
    return window.PG.busy("view-rules", fetchList);
  }

  async function fetchList() {
    for (const b of document.querySelectorAll("#rules-tabs .tab")) b.classList.toggle("active", b.dataset.rstate === rs.state);
    $("rules-new").classList.toggle("hidden", !canWrite());
    try {
      const [list, yields] = await Promise.allSettled([
        api("GET", "/v1/rules" + (rs.state ? "?state=" + rs.state : "")),
        api("GET", "/v1/analytics/rule-yield"),
      ]);
      if (list.status === "rejected") throw list.reason;
      rs.list = list.value || [];
      rs.yields = {};
      if (yields.status === "fulfilled") for (const y of yields.value.rules || []) rs.yields[y.rule] = y;
      renderList();
    } catch (e) {
      if (e.status !== 401) toast(e.text(), true);
    }
  }

  function stateTag(state) {
    const n = el("span", { class: "rstate rstate-" + state, text: t("rstate." + state) });
    n.dataset.state = state;
    return n;
  }

  function yieldCell(y) {
    if (!y || !y.yield || !y.yield.n) return el("span", { class: "muted", text: "—" });
    return el("span", {}, fmtPct(y.yield.rate) + " ",
      el("span", { class: "muted small", text: "[" + fmtPct(y.yield.lo) + ", " + fmtPct(y.yield.hi) + "] n=" + y.yield.n }));
  }

  function flagTags(y) {
    const box = el("span", { class: "flags" });
    for (const f of (y && y.flags) || []) box.append(el("span", { class: "tag " + (f === "expiring_soon" ? "tag-yellow" : "tag-red"), "data-flag": f, text: t("flag." + f) }));
    return box;
  }

  function validity(r) {
    return fmtDate(r.valid_from) + " – " + (r.valid_to ? fmtDate(r.valid_to) : t("rule.openEnded"));
  }

  function renderList() {
    const body = $("rules-body");
    body.replaceChildren();
    for (const v of rs.list) {
      const r = v.rule, s = v.stats || {}, y = rs.yields[r.id];
      const tr = el("tr", { "data-testid": "rule-row", "data-rule-id": r.id, "data-state": r.state },
        el("td", { class: "mono", text: r.id }),
        el("td", {}, el("div", { text: r.title }), el("div", { class: "muted small", text: pick(r.reason_zh, r.reason_en) })),
        el("td", {}, stateTag(r.state), r.emergency ? el("span", { class: "tag tag-red", text: " " + t("rule.emergencyTag") }) : null),
        el("td", { text: t("action." + r.action) }),
        el("td", { class: "num", text: fmtNum(r.percent, 2) + "%" }),
        el("td", { class: "num", text: String(r.priority || 0) }),
        el("td", { class: "small", text: validity(r) }),
        el("td", { class: "small", text: r.author + (r.approver ? " / " + r.approver : "") }),
        el("td", { class: "num", text: String(s.matches || 0) }),
        el("td", { class: "num", text: String(s.selected || 0) }),
        el("td", {}, yieldCell(y)),
        el("td", {}, flagTags(y)));
      tr.addEventListener("click", () => { location.hash = "#/rule/" + encodeURIComponent(r.id); });
      body.append(tr);
    }
    $("rules-empty").classList.toggle("hidden", rs.list.length > 0);
  }

  for (const b of document.querySelectorAll("#rules-tabs .tab")) {
    b.addEventListener("click", () => { rs.state = b.dataset.rstate; loadList(); });
  }

  // --- one rule ---------------------------------------------------------------------------------
  function loadRule(id) {
    show("view-rule", "rules");
    return window.PG.busy("view-rule", () => fetchRule(id));
  }

  async function fetchRule(id) {
    for (const e of ["rule-error", "rule-action-error"]) $(e).classList.add("hidden");
    $("rule-note").value = "";
    if (id === "new") {
      if (!canWrite()) { toast(t("err.forbidden"), true); return; }
      rs.rule = { id: "", version: 0, state: "draft", title: "", reason_zh: "", reason_en: "", action: "PHYSICAL", percent: 100,
        priority: 10, valid_from: new Date(Date.now() - 60000).toISOString(), ports: [], author: st.me.user.name,
        when: { all: [{ field: "hs_code", op: "prefix", values: [] }] } };
      rs.stats = null; rs.yield = null; rs.trail = []; rs.daily = null; rs.bt = null;
      renderRule(true);
      return;
    }
    try {
      const v = await api("GET", "/v1/rules/" + encodeURIComponent(id));
      rs.rule = v.rule; rs.stats = v.stats;
    } catch (e) {
      if (e.status !== 401) toast(e.text(), true);
      return;
    }
    rs.yield = null; rs.trail = []; rs.daily = null; rs.bt = null;
    renderRule(true);
    const rule = rs.rule;
    const [y, trail, daily] = await Promise.allSettled([
      api("GET", "/v1/analytics/rule-yield?rule=" + encodeURIComponent(id)),
      api("GET", "/v1/audit/trail/" + encodeURIComponent(id)),
      api("GET", "/v1/analytics/trend?interval=day&rule=" + encodeURIComponent(id)),
    ]);
    if (rs.rule !== rule) return;
    if (y.status === "fulfilled") rs.yield = (y.value.rules || [])[0] || null;
    if (trail.status === "fulfilled") rs.trail = trail.value || [];
    if (daily.status === "fulfilled") rs.daily = daily.value;
    renderRule(false);
  }

  // renderRule draws the page; fresh rebuilds the editor from the rule (after a load or a save),
  // otherwise the editor keeps what the analyst typed (a language switch relabels it).
  function renderRule(fresh) {
    const r = rs.rule;
    const isNew = !r.id;
    $("rule-heading").textContent = isNew ? t("rules.new") : r.title;
    $("rule-id").textContent = r.id;
    const sb = $("rule-state");
    sb.replaceChildren(stateTag(r.state));
    sb.dataset.state = r.state;
    $("rule-emergency").classList.toggle("hidden", !r.emergency);
    $("rule-version").textContent = isNew ? "" : t("rule.versionN") + " " + r.version;
    const editing = isNew || canEdit(r);
    $("rule-form").classList.toggle("hidden", !editing);
    $("rule-view").classList.toggle("hidden", editing);
    $("rule-save").textContent = isNew ? t("rule.create") : t("rule.save");
    if (editing && fresh) fillForm(r);
    else if (editing) relabelEditor();
    if (!editing) renderView(r);
    $("rule-history-card").classList.toggle("hidden", isNew);
    $("rule-stats-card").classList.toggle("hidden", isNew);
    $("rule-lifecycle").classList.remove("hidden");
    renderLifecycle(r);
    if (fresh) resetBacktest();
    renderBacktest();
    if (isNew) return;
    renderHistory();
    renderStats();
  }

  function renderView(r) {
    const dl = $("rule-facts");
    dl.replaceChildren();
    const f = (k, v, id) => window.PG.fact(dl, k, v, id);
    f(t("rule.title"), r.title);
    f(t("rule.reasonZH"), r.reason_zh);
    f(t("rule.reasonEN"), r.reason_en);
    f(t("rules.action"), t("action." + r.action));
    f(t("rules.percent"), fmtNum(r.percent, 2) + "%");
    f(t("col.priority"), String(r.priority || 0));
    f(t("rules.validity"), validity(r));
    f(t("rule.portsShort"), (r.ports || []).join(", ") || t("roster.anyPort"));
    f(t("rule.author"), r.author);
    f(t("rule.approver"), r.approver);
    if (r.emergency && r.approval_due) f(t("rule.approvalDue"), fmtTime(r.approval_due));
    f(t("rule.noteShort"), r.note, "rule-note-view");
    $("rule-sentence").textContent = describe(r.when, 0);
  }

  // --- condition editor -----------------------------------------------------------------------
  // The editor's model is the DOM itself: each group and row keeps its inputs; read() walks it
  // back into a condition tree. Groups nest one level (AND of ORs, or OR of ANDs).
  function fillForm(r) {
    $("rule-title").value = r.title || "";
    $("rule-reason-zh").value = r.reason_zh || "";
    $("rule-reason-en").value = r.reason_en || "";
    $("rule-action").value = r.action || "PHYSICAL";
    $("rule-percent").value = String(r.percent || 100);
    $("rule-priority").value = String(r.priority || 0);
    $("rule-ports").value = (r.ports || []).join(", ");
    $("rule-from").value = toLocalInput(r.valid_from);
    $("rule-to").value = toLocalInput(r.valid_to);
    const root = r.when && (r.when.all || r.when.any) ? r.when : { all: r.when && r.when.field ? [r.when] : [] };
    $("rule-when").replaceChildren(groupEditor(root, 0));
  }

  function toLocalInput(iso) {
    if (!iso || iso.startsWith("0001-")) return "";
    const d = new Date(iso);
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes());
  }

  function groupEditor(expr, depth) {
    const g = el("div", { class: "cond-group depth-" + depth, "data-testid": "cond-group" });
    const comb = el("select", { class: "cond-comb", "data-testid": "cond-comb" },
      el("option", { value: "all", "data-l": "cond.all" }), el("option", { value: "any", "data-l": "cond.any" }));
    comb.value = expr.any ? "any" : "all";
    const rows = el("div", { class: "cond-rows" });
    const addRow = el("button", { type: "button", class: "btn btn-small", "data-testid": "cond-add", "data-l": "cond.add" });
    addRow.addEventListener("click", () => { rows.append(rowEditor({ field: "hs_code", op: "prefix", values: [] })); relabelEditor(); });
    const tools = el("div", { class: "cond-tools" }, addRow);
    if (depth === 0) {
      const addGroup = el("button", { type: "button", class: "btn btn-small", "data-testid": "cond-add-group", "data-l": "cond.addGroup" });
      addGroup.addEventListener("click", () => { rows.append(groupEditor({ any: [{ field: "origin_country", op: "in", values: [] }] }, 1)); relabelEditor(); });
      tools.append(addGroup);
    } else {
      const rm = el("button", { type: "button", class: "btn btn-small btn-danger", "data-l": "cond.removeGroup" });
      rm.addEventListener("click", () => g.remove());
      tools.append(rm);
    }
    g.append(el("div", { class: "cond-head" }, el("span", { "data-l": "cond.match" }), comb), rows, tools);
    for (const c of expr.all || expr.any || []) rows.append(c.all || c.any ? groupEditor(c, depth + 1) : rowEditor(c));
    g.read = () => {
      const kids = [...rows.children].map((n) => n.read()).filter(Boolean);
      return kids.length ? { [comb.value]: kids } : null;
    };
    return g;
  }

  function rowEditor(leaf) {
    const row = el("div", { class: "cond-row", "data-testid": "cond-row" });
    const kind = el("select", { class: "cond-kind", "data-testid": "cond-kind" });
    for (const k of Object.keys(KINDS)) kind.append(el("option", { value: k, "data-l": "kind." + k }));
    const body = el("div", { class: "cond-body" });
    const rm = el("button", { type: "button", class: "btn btn-small btn-ghost-dark", "data-testid": "cond-remove", "aria-label": "remove" }, "×");
    rm.addEventListener("click", () => row.remove());
    row.append(kind, body, rm);
    let read = () => null;
    const build = (k, lf) => {
      const d = KINDS[k];
      body.replaceChildren();
      const field = el("select", { class: "cond-field", "data-testid": "cond-field" });
      for (const f of d.fields) field.append(el("option", { value: f, "data-l": "field." + f }));
      if (d.fields.includes(lf.field)) field.value = lf.field;
      const op = el("select", { class: "cond-op", "data-testid": "cond-op" });
      for (const o of d.ops) op.append(el("option", { value: o, "data-l": "op." + o }));
      if (d.ops.includes(lf.op)) op.value = lf.op;
      if (d.fields.length > 1) body.append(field);
      else if (k !== "hs") body.append(el("span", { class: "cond-label", "data-l": "field." + d.fields[0] })); // "HS code" is the kind's own name
      if (d.ops.length > 1) body.append(op);
      else body.append(el("span", { class: "cond-label", "data-l": "op." + d.ops[0] }));
      if (d.values) {
        const vals = el("input", { class: "cond-values", "data-testid": "cond-values", value: (lf.values || []).join(", "), "data-lp": "cond.valuesHint" });
        body.append(vals);
        read = () => ({ field: field.value, op: op.value, values: vals.value.split(/[,，\s]+/).map((v) => v.trim()).filter(Boolean) });
      } else if (d.grades) {
        const box = el("span", { class: "cond-grades" });
        for (const gr of GRADES) {
          const cb = el("input", { type: "checkbox", value: gr, checked: (lf.values || []).includes(gr), "data-testid": "cond-grade-" + gr });
          box.append(el("label", { class: "inline-check" }, cb, el("span", { "data-l": "grade." + gr })));
        }
        body.append(box);
        read = () => ({ field: field.value, op: "in", values: [...box.querySelectorAll("input:checked")].map((c) => c.value) });
      } else if (d.bound) {
        const b = el("input", { type: "number", step: "any", class: "cond-num", "data-testid": "cond-bound",
          value: lf.op === "below" ? num(lf.max) : num(lf.min) });
        body.append(b);
        read = () => {
          const v = b.value === "" ? null : Number(b.value);
          return op.value === "below" ? { field: field.value, op: "below", max: v } : { field: field.value, op: op.value, min: v };
        };
      } else if (d.range) {
        const lo = el("input", { type: "number", step: "any", class: "cond-num", "data-testid": "cond-min", value: num(lf.min), "data-lp": "cond.min" });
        const hi = el("input", { type: "number", step: "any", class: "cond-num", "data-testid": "cond-max", value: num(lf.max), "data-lp": "cond.max" });
        body.append(lo, el("span", { class: "cond-label", text: "–" }), hi);
        read = () => {
          const x = { field: field.value, op: "range" };
          if (lo.value !== "") x.min = Number(lo.value);
          if (hi.value !== "") x.max = Number(hi.value);
          return x;
        };
      }
      relabelEditor();
    };
    kind.value = kindOf(leaf);
    build(kind.value, leaf);
    kind.addEventListener("change", () => build(kind.value, { field: "", op: "" }));
    row.read = () => read();
    return row;
  }
  const num = (v) => (typeof v === "number" ? String(v) : "");

  // The editor's labels carry data-l (text) and data-lp (placeholder) keys, set here so that a
  // language switch relabels them without losing input.
  function relabelEditor() {
    for (const n of document.querySelectorAll("#rule-when [data-l]")) n.textContent = t(n.dataset.l);
    for (const n of document.querySelectorAll("#rule-when [data-lp]")) n.placeholder = t(n.dataset.lp);
  }

  // describe says a condition tree in words: "商品编码以 0804 开头 且 原产国属于 VN、TH".
  function describe(x, depth) {
    if (!x) return "";
    if (x.all || x.any) {
      const parts = (x.all || x.any).map((c) => describe(c, depth + 1)).filter(Boolean);
      const s = parts.join(x.all ? t("cond.and") : t("cond.or"));
      return depth > 0 && parts.length > 1 ? "(" + s + ")" : s;
    }
    const list = (x.values || []).map((v) => (x.field === "importer_grade" ? tOr("grade." + v, v) : v)).join(st.lang === "en" ? ", " : "、");
    let v = list;
    if (x.op === "below") v = fmtNum(x.max, 4);
    if (x.op === "above") v = fmtNum(x.min, 4);
    if (x.op === "range") v = "[" + (typeof x.min === "number" ? fmtNum(x.min, 4) : "−∞") + ", " + (typeof x.max === "number" ? fmtNum(x.max, 4) : "+∞") + "]";
    // Templates keep each language's word order: "商品编码以 0804 开头" / "HS code starts with 0804".
    return tOr("desc." + x.op, "{f} " + x.op + " {v}").replace("{f}", t("field." + x.field)).replace("{v}", v);
  }

  function readForm() {
    const when = $("rule-when").firstChild.read() || {};
    const from = $("rule-from").value, to = $("rule-to").value;
    return {
      ...rs.rule,
      title: $("rule-title").value.trim(),
      reason_zh: $("rule-reason-zh").value.trim(),
      reason_en: $("rule-reason-en").value.trim(),
      action: $("rule-action").value,
      percent: Number($("rule-percent").value),
      priority: Math.trunc(Number($("rule-priority").value) || 0),
      ports: $("rule-ports").value.split(/[,，\s]+/).map((p) => p.trim()).filter(Boolean),
      valid_from: from ? new Date(from).toISOString() : "",
      valid_to: to ? new Date(to).toISOString() : undefined,
      when,
    };
  }

  $("rule-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = $("rule-save");
    const box = $("rule-error");
    box.classList.add("hidden");
    btn.disabled = true;
    const body = readForm();
    if (!body.valid_from) delete body.valid_from;
    try {
      if (!rs.rule.id) {
        const r = await api("POST", "/v1/rules", body);
        toast(t("rule.created") + " " + r.id);
        location.hash = "#/rule/" + encodeURIComponent(r.id);
      } else {
        await api("PUT", "/v1/rules/" + encodeURIComponent(rs.rule.id), body);
        toast(t("rule.saved"));
        await loadRule(rs.rule.id);
      }
    } catch (e) {
      if (e.status !== 401) showError(box, e.code === "conflict" ? t("rule.conflict") : e);
    } finally {
      btn.disabled = false;
    }
  });

  // --- backtest ---------------------------------------------------------------------------------
  // A backtest runs the rule with the service's decision code over the declarations stored in
  // the analytics store. While the editor is open it tests what the analyst typed, saved or
  // not; otherwise the stored rule.
  function resetBacktest() {
    const iso = (d) => d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
    const today = new Date();
    $("bt-to").value = iso(today);
    $("bt-from").value = iso(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 89));
    $("bt-error").classList.add("hidden");
  }

  async function runBacktest() {
    const btn = $("rule-backtest"), box = $("bt-error"), card = $("rule-backtest-card");
    box.classList.add("hidden");
    const q = new URLSearchParams();
    if ($("bt-from").value) q.set("from", $("bt-from").value);
    if ($("bt-to").value) q.set("to", $("bt-to").value);
    const rule = rs.rule;
    const editing = !$("rule-form").classList.contains("hidden");
    btn.disabled = true;
    $("bt-progress").classList.remove("hidden");
    card.dataset.busy = "true";
    try {
      let res;
      if (editing) {
        const body = readForm();
        if (!body.valid_from) delete body.valid_from;
        res = await api("POST", "/v1/rules/backtest?" + q, body);
      } else {
        res = await api("POST", "/v1/rules/" + encodeURIComponent(rule.id) + "/backtest?" + q);
      }
      if (rs.rule !== rule) return;
      rs.bt = res;
    } catch (e) {
      if (rs.rule !== rule) return;
      rs.bt = null;
      if (e.status !== 401) showError(box, e);
    } finally {
      btn.disabled = false;
      $("bt-progress").classList.add("hidden");
      card.dataset.busy = "false";
    }
    renderBacktest();
  }
  $("rule-backtest").addEventListener("click", runBacktest);

  // rateCell writes a proportion with its 95% interval and sample size, or says there is none.
  function rateCell(h) {
    if (!h || !h.n) return el("span", { class: "muted", text: t("bt.noSample") });
    return el("span", {}, fmtPct(h.rate) + " ",
      el("span", { class: "muted small", text: "[" + fmtPct(h.low) + ", " + fmtPct(h.high) + "] " + h.hits + "/" + h.n }));
  }

  function renderBacktest() {
    $("rule-backtest-card").classList.toggle("hidden", !canBacktest());
    const a = rs.bt;
    $("bt-result").classList.toggle("hidden", !a);
    if (!a) return;
    const dl = $("bt-facts");
    dl.replaceChildren();
    const f = (k, v, id) => window.PG.fact(dl, k, v, id);
    const sep = st.lang === "en" ? " – " : " 至 ";
    f(t("bt.period"), a.asked_from + sep + a.asked_to + (a.port ? " · " + t("bt.portOnly") + " " + a.port : ""), "bt-period");
    f(t("bt.declarations"), fmtNum(a.declarations, 0), "bt-declarations");
    f(t("bt.matches"), fmtNum(a.matches, 0), "bt-matches");
    f(t("bt.selected"), fmtNum(a.selected, 0) + t("bt.atPercent").replace("{p}", fmtNum(a.percent, 2)), "bt-selected");
    const extra = (a.per_day || []).reduce((n, d) => n + (d.extra || 0), 0);
    f(t("bt.extra"), fmtNum(extra, 0), "bt-extra");
    f(t("bt.hitRate"), rateCell(a.matched_inspected), "bt-hit-rate");
    f(t("bt.random"), rateCell(a.matched_random), "bt-random");
    f(t("bt.baseline"), rateCell(a.random_baseline), "bt-baseline");

    const days = a.per_day || [];
    window.PG.chart($("bt-chart"), {
      labels: days.map((d) => d.day.slice(5)),
      bars: { values: days.map((d) => d.matches), label: t("bt.matches") },
      lines: [{ values: days.map((d) => d.selected), label: t("bt.selectedShort") }],
      sameAxis: true, height: 170, testid: "bt-daily",
    });

    const body = $("bt-ports");
    body.replaceChildren();
    const ports = Object.entries(a.extra_per_day_by_port || {}).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
    for (const [port, v] of ports) {
      body.append(el("tr", { "data-testid": "bt-port", "data-port": port },
        el("td", { class: "mono", text: port }), el("td", { class: "num", text: fmtNum(v, 2) })));
    }
    $("bt-no-extra").classList.toggle("hidden", ports.length > 0);
  }

  // --- lifecycle --------------------------------------------------------------------------------
  // renderLifecycle offers the steps the rule's state allows and says why a step is refused to
  // this user — above all the four-eyes rule: nobody approves their own rule.
  function renderLifecycle(r) {
    const steps = $("rule-steps");
    steps.replaceChildren();
    const order = ["draft", "pending", "active"];
    const at = order.indexOf(r.state);
    for (const [i, s] of order.entries()) {
      steps.append(el("li", { class: i < at ? "done" : i === at ? "current" : "", text: t("rstate." + s) }));
    }
    if (r.state === "expired" || r.state === "revoked") steps.append(el("li", { class: "current end", text: t("rstate." + r.state) }));

    const me = st.me.user.name;
    const box = $("rule-buttons");
    box.replaceChildren();
    if (!r.id) {
      // A rule not yet saved: say what happens next.
      box.append(el("p", { class: "muted", text: t("rule.newHint") }));
      $("rule-note-wrap").classList.add("hidden");
      $("rule-why").classList.add("hidden");
      return;
    }
    const why = [];
    const btn = (id, label, cls, f, refused) => {
      const b = el("button", { type: "button", class: "btn " + cls, id: "rule-" + id, "data-testid": "rule-" + id, text: label });
      if (refused) { b.disabled = true; why.push(refused); b.title = refused; }
      b.addEventListener("click", () => f(b));
      box.append(b);
    };
    const needsNote = r.state === "pending" || r.state === "draft" || r.state === "active";
    const awaitingApproval = r.state === "pending" || (r.state === "active" && r.emergency && !r.approver);
    if (r.state === "draft") {
      btn("submit", t("rule.submit"), "btn-primary", (b) => step(b, "submit"),
        canEdit(r) ? "" : t("rule.whyNotAuthor"));
    }
    if (awaitingApproval) {
      let refused = "";
      if (!has("risk_analyst")) refused = t("rule.whyOnlyAnalyst");
      else if (r.author === me) refused = t("rule.whyFourEyes");
      else if (r.emergency && r.updated_by === me && !r.approver) refused = t("rule.whyActivator");
      btn("approve", r.state === "pending" ? t("rule.approve") : t("rule.confirmEmergency"), "btn-primary", (b) => step(b, "approve"), refused);
    }
    if (r.state === "pending" && has("risk_analyst")) {
      btn("reject", t("rule.reject"), "", (b) => step(b, "reject", true));
    }
    if ((r.state === "draft" || r.state === "pending") && has("supervisor")) {
      btn("emergency", t("rule.emergency"), "btn-warn", (b) => step(b, "emergency"));
    }
    if (needsNote && canWrite()) {
      btn("revoke", t("rule.revoke"), "btn-danger", (b) => step(b, "revoke", true));
    }
    $("rule-note-wrap").classList.toggle("hidden", !(needsNote && canWrite()));
    const w = $("rule-why");
    w.textContent = why.join(" ");
    w.classList.toggle("hidden", why.length === 0);
    if (box.children.length === 0) box.append(el("p", { class: "muted", text: t("rule.noSteps") }));
  }

  async function step(b, action, withNote) {
    const box = $("rule-action-error");
    box.classList.add("hidden");
    const note = $("rule-note").value.trim();
    if (withNote && !note) { showError(box, t("rule.needNote")); $("rule-note").focus(); return; }
    b.disabled = true;
    try {
      await api("POST", "/v1/rules/" + encodeURIComponent(rs.rule.id) + "/" + action, withNote ? { note } : undefined);
      toast(t("rule.done." + action));
      await loadRule(rs.rule.id);
    } catch (e) {
      if (e.status !== 401) showError(box, e);
      b.disabled = false;
    }
  }

  // --- statistics and history -----------------------------------------------------------------
  function renderStats() {
    const s = rs.stats || {};
    const dl = $("rule-engine");
    dl.replaceChildren();
    const f = (dlist, k, v, id) => window.PG.fact(dlist, k, v, id);
    f(dl, t("rules.matches"), String(s.matches || 0), "rule-matches");
    f(dl, t("rules.selected"), String(s.selected || 0), "rule-selected");
    f(dl, t("rule.labelled"), String(s.labelled || 0));
    f(dl, t("rule.hits"), String(s.hits || 0), "rule-hits");
    f(dl, t("rule.lastMatch"), fmtTime(s.last_match));
    f(dl, t("rule.lastHit"), fmtTime(s.last_hit));

    const y = rs.yield;
    const yd = $("rule-yield");
    yd.replaceChildren();
    $("rule-yield-none").classList.toggle("hidden", !!(y && y.fired));
    $("rule-flags").replaceChildren(flagTags(y));
    $("rule-flags").classList.toggle("hidden", !(y && (y.flags || []).length));
    if (y && y.fired) {
      f(yd, t("rule.fired"), String(y.fired));
      f(yd, t("rules.selected"), String(y.selected));
      f(yd, t("rule.workload"), String(y.workload));
      f(yd, t("rule.hitRate"), yieldCell(y), "rule-yield-rate");
      f(yd, t("rule.lastHit"), fmtTime(y.last_hit));
    }
    const box = $("rule-chart");
    const rows = (rs.daily && rs.daily.rows) || [];
    const days = lastDays(30);
    const by = {};
    for (const row of rows) by[row.period.slice(0, 10)] = row;
    window.PG.chart(box, {
      labels: days.map((d) => d.slice(5)),
      bars: { values: days.map((d) => (by[d] ? by[d].declarations : 0)), label: t("rules.matches") },
      height: 150, testid: "rule-daily",
    });
  }

  function lastDays(n) {
    const out = [];
    const d = new Date();
    for (let i = n - 1; i >= 0; i--) {
      const x = new Date(d.getFullYear(), d.getMonth(), d.getDate() - i);
      out.push(x.getFullYear() + "-" + String(x.getMonth() + 1).padStart(2, "0") + "-" + String(x.getDate()).padStart(2, "0"));
    }
    return out;
  }

  function renderHistory() {
    const ol = $("rule-history");
    ol.replaceChildren();
    for (const r of rs.trail) {
      let x = {};
      try { x = JSON.parse(r.detail || "{}") || {}; } catch (e) { x = {}; }
      const after = x.after || x.rule || x;
      const detail = [after.state ? t("rstate." + after.state) : "", after.version ? t("rule.versionN") + " " + after.version : "", after.note || ""]
        .filter(Boolean).join(st.lang === "en" ? "; " : "；");
      ol.append(el("li", { "data-testid": "rule-history-entry", "data-action": r.action },
        el("span", { class: "mono trail-time", text: fmtTime(r.at) }),
        el("span", { class: "trail-action", text: tOr("audit." + r.action, r.action) }),
        el("span", { class: "trail-actor", text: r.actor }),
        el("span", { class: "trail-detail", text: detail })));
    }
  }

  window.PG.page("rules", { view: "view-rules", roles: ["risk_analyst", "supervisor", "hq_analyst", "admin"], load: loadList, render: renderList });
  window.PG.page("rule", { view: "view-rule", roles: ["risk_analyst", "supervisor", "hq_analyst", "admin"], load: loadRule,
    render: () => rs.rule && renderRule(false) });
  window.PG.route(/^#\/rules$/, "rules");
  window.PG.route(/^#\/rule\/(.+)$/, "rule");
})();
