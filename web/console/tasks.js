// The officer's pages: the queue of selected consignments and the task detail — reasons,
// declaration items, manifest cross-checks, the audit trail, and the forms an officer or a
// supervisor acts with (start, result, laboratory report, override, reassignment).
"use strict";

(function () {
  const { st, $, t, tOr, el, pick, has, hasAny, api, toast, show, visible, every, fmtTime, fmtNum, fmtPct, age,
    channelBadge, stateBadge, fact, showError, FINAL } = window.PG;

  const ts = { filter: "open", tasks: [], task: null, decl: null, declMissing: false, trail: [], catalogue: [], reasons: [], officers: null };
  const OPEN_WORK = ["PENDING", "ASSIGNED", "IN_PROGRESS", "RESULT_RECORDED"];
  // Manifest weight deviation above this share is flagged (customs practice: 5% tolerance).
  const WEIGHT_TOLERANCE = 0.05;

  const overdue = (task) => !FINAL.includes(task.state) && task.state !== "AWAITING_LAB" && task.due_at &&
    !task.due_at.startsWith("0001-") && new Date(task.due_at).getTime() < Date.now();

  // --- queue ----------------------------------------------------------------------------------
  async function loadQueue() {
    show("view-queue", "queue");
    for (const b of document.querySelectorAll("#view-queue .tab")) b.classList.toggle("active", b.dataset.filter === ts.filter);
    await window.PG.busy("view-queue", () => fetchQueue(true));
    every(30000, () => fetchQueue(false));
  }

  async function fetchQueue(loud) {
    try {
      ts.tasks = (await api("GET", "/v1/tasks?state=" + encodeURIComponent(ts.filter))) || [];
      $("queue-updated").textContent = t("queue.updated") + " " + new Date().toLocaleTimeString(window.PG.locale());
      renderQueue();
    } catch (e) {
      if (loud && e.status !== 401) toast(e.text(), true);
    }
  }

  function ageCell(task) {
    const td = el("td", { class: "num" }, age(task.created_at));
    if (overdue(task)) td.append(" ", el("span", { class: "tag tag-red", text: t("task.overdue"), "data-testid": "overdue" }));
    return td;
  }

  function renderQueue() {
    const body = $("queue-body");
    body.replaceChildren();
    for (const task of ts.tasks) {
      const d = task.decision || {};
      const reasons = el("ul", { class: "reason-list", "data-testid": "queue-reasons" });
      for (const r of (d.reasons || []).slice(0, 2)) reasons.append(el("li", { text: pick(r.zh, r.en) }));
      const tr = el("tr", { class: "row-" + task.channel, "data-testid": "queue-row" },
        el("td", { class: "num", text: String(task.priority || 0) }),
        el("td", {}, el("span", { class: "mono", text: task.declaration_no }),
          task.decl_version > 1 ? el("span", { class: "muted", text: " v" + task.decl_version }) : null),
        el("td", {}, channelBadge(task.channel),
          d.revision > 0 ? el("span", { class: "tag tag-yellow revised-tag", text: t("task.revisedTag"), "data-testid": "queue-revised" }) : null),
        el("td", { text: t("action." + task.action) }),
        el("td", {}, reasons),
        el("td", { text: task.officer || t("task.unassigned") }),
        el("td", {}, stateBadge(task.state)),
        ageCell(task));
      tr.dataset.taskId = task.id;
      tr.dataset.channel = task.channel;
      tr.dataset.state = task.state;
      tr.addEventListener("click", () => { location.hash = "#/task/" + encodeURIComponent(task.id); });
      body.append(tr);
    }
    $("queue-empty").classList.toggle("hidden", ts.tasks.length > 0);
  }

  for (const b of document.querySelectorAll("#view-queue .tab")) {
    b.addEventListener("click", () => { ts.filter = b.dataset.filter; loadQueue(); });
  }
  $("queue-refresh").addEventListener("click", () => loadQueue());

  // --- task -----------------------------------------------------------------------------------
  function loadTask(id) {
    show("view-task", has("officer") ? "queue" : "supervise");
    return window.PG.busy("view-task", () => fetchTask(id));
  }

  async function fetchTask(id) {
    for (const e of ["result-error", "lab-error", "override-error", "reassign-error"]) $(e).classList.add("hidden");
    try {
      if (ts.catalogue.length === 0) ts.catalogue = (await api("GET", "/v1/findings")) || [];
      if (ts.reasons.length === 0) ts.reasons = (await api("GET", "/v1/override-reasons")) || [];
      ts.task = await api("GET", "/v1/tasks/" + encodeURIComponent(id));
    } catch (e) {
      if (e.status !== 401) toast(e.text(), true);
      return;
    }
    const task = ts.task;
    if (ts.decl && ts.decl.declaration_no !== task.declaration_no) { ts.decl = null; ts.trail = []; }
    ts.declMissing = false;
    renderTask();
    renderFindings();
    resetForms();
    const [decl, trail, officers] = await Promise.allSettled([
      api("GET", "/v1/declarations/" + encodeURIComponent(task.declaration_no) + "?version=" + task.decl_version),
      api("GET", "/v1/audit/trail/" + encodeURIComponent(task.declaration_no)),
      hasAny("supervisor", "admin") && ts.officers === null ? api("GET", "/v1/officers") : Promise.resolve(ts.officers),
    ]);
    if (ts.task !== task) return; // the user moved on meanwhile
    if (decl.status === "fulfilled") ts.decl = decl.value; else ts.declMissing = true;
    if (trail.status === "fulfilled") ts.trail = trail.value || [];
    if (officers.status === "fulfilled") ts.officers = officers.value;
    renderTask();
  }

  function renderTask() {
    const task = ts.task;
    if (!task) return;
    const d = task.decision || {};
    $("task-number").textContent = task.declaration_no + (task.decl_version > 1 ? " v" + task.decl_version : "");
    const ch = $("task-channel");
    ch.className = "badge badge-" + task.channel;
    ch.textContent = t("channel." + task.channel);
    ch.dataset.channel = task.channel;
    const sb = $("task-state");
    sb.replaceChildren(stateBadge(task.state));
    sb.dataset.state = task.state;
    $("task-overdue").classList.toggle("hidden", !overdue(task));
    $("task-bond").classList.toggle("hidden", !task.bond_released || FINAL.includes(task.state));
    $("task-back").href = has("officer") ? "#/queue" : "#/supervise";

    const facts = $("task-facts");
    facts.replaceChildren();
    fact(facts, t("col.action"), t("action." + task.action));
    fact(facts, t("task.selection"), t("selection." + (d.selection || "none")) + (d.random ? " · " + t("task.random") : ""));
    fact(facts, t("task.score"), typeof d.probability === "number" ? fmtPct(d.probability) : "");
    fact(facts, t("col.priority"), String(task.priority || 0));
    fact(facts, t("col.port"), task.port);
    fact(facts, t("col.officer"), task.officer || t("task.unassigned"), "task-officer");
    fact(facts, t("col.age"), age(task.created_at));
    fact(facts, t("col.due"), fmtTime(task.due_at));
    if (task.reason) fact(facts, t("task.lastReason"), reasonText(task.reason), "task-reason-note");
    // A RED or YELLOW that replaced an earlier decision (a GREEN held for its manifest, revised
    // when the cross-check found a discrepancy) says so: the officer sees why the channel moved.
    if (d.revision > 0) {
      fact(facts, t("task.revision"), t("task.revisedFrom").replace("{n}", String(d.revision))
        .replace("{from}", t("channel." + (d.revised_from || "GREEN"))), "task-revision");
    }
    if (d.degraded) fact(facts, t("task.degraded"), t("task.degradedText"), "task-degraded");

    const reasons = $("task-reasons");
    reasons.replaceChildren();
    for (const r of d.reasons || []) {
      reasons.append(el("li", { "data-testid": "task-reason" }, el("span", { text: pick(r.zh, r.en) }),
        el("span", { class: "secondary", text: st.lang === "en" ? r.zh : r.en })));
    }
    const rules = $("task-rules");
    rules.replaceChildren();
    for (const r of d.rules_fired || []) rules.append(el("li", { text: r.id + " · " + r.title }));
    $("task-rules-wrap").classList.toggle("hidden", !(d.rules_fired || []).length);

    renderDeclaration();
    renderTrail();
    renderActions();
    renderFindingLabels();
  }

  // mayWork mirrors clearance's rule: the task's officer, an officer of the port taking an
  // unassigned task, a supervisor or an admin. The server decides; this only hides buttons.
  function mayWork(task) {
    const me = st.me.user;
    return hasAny("supervisor", "admin") || (has("officer") && (task.officer === me.name || !task.officer));
  }

  function renderActions() {
    const task = ts.task;
    const open = !FINAL.includes(task.state);
    const work = mayWork(task);
    $("task-start").classList.toggle("hidden", !(task.state === "ASSIGNED" && work));
    $("result-form").classList.toggle("hidden", !(OPEN_WORK.includes(task.state) && work));
    $("result-form").dataset.correction = task.state === "RESULT_RECORDED" ? "true" : "false";
    $("lab-form").classList.toggle("hidden", !(task.state === "AWAITING_LAB" && work));
    $("result-view").classList.toggle("hidden", !task.result);
    $("result-view-title").textContent = FINAL.includes(task.state) ? t("task.done") : t("task.resultSoFar");
    if (task.result) renderResult(task.result);
    const canOverride = open && task.state !== "AWAITING_LAB" &&
      (hasAny("supervisor", "admin") || (has("officer") && task.officer === st.me.user.name));
    $("override-form").classList.toggle("hidden", !canOverride);
    if (canOverride) fillOverride(task);
    const canReassign = open && hasAny("supervisor", "admin");
    $("reassign-form").classList.toggle("hidden", !canReassign);
    if (canReassign) fillReassign(task);
    renderSubmitLabel();
  }

  function renderDeclaration() {
    const dl = $("decl-facts");
    dl.replaceChildren();
    const body = $("items-body");
    body.replaceChildren();
    $("decl-missing").classList.toggle("hidden", !ts.declMissing);
    const d = ts.decl;
    const xbody = $("xcheck-body");
    xbody.replaceChildren();
    $("xcheck-none").classList.add("hidden");
    $("xcheck-table").classList.add("hidden");
    if (!d) return;
    const ent = (e) => (e ? [e.name, e.customs_code || e.uscc].filter(Boolean).join(" · ") : "");
    fact(dl, t("decl.importer"), ent(d.consignee));
    fact(dl, t("decl.consignor"), ent(d.consignor));
    fact(dl, t("decl.declarant"), d.declarant);
    fact(dl, t("decl.tradeMode"), d.trade_mode);
    fact(dl, t("decl.transport"), d.transport_mode);
    fact(dl, t("decl.trading"), d.trading_country);
    fact(dl, t("decl.departure"), d.departure_country);
    fact(dl, t("decl.loadingPort"), d.loading_port);
    fact(dl, t("decl.bill"), d.bill_of_lading);
    fact(dl, t("decl.vessel"), d.vessel_voyage);
    fact(dl, t("decl.containers"), (d.containers || []).join(", "));
    fact(dl, t("decl.declaredAt"), fmtTime(d.declared_at));
    for (const it of d.items || []) {
      body.append(el("tr", { "data-testid": "item-row" },
        el("td", { class: "num", text: String(it.seq) }),
        el("td", { class: "mono", text: it.hs_code }),
        el("td", { text: it.description || "" }),
        el("td", { class: "num", text: fmtNum(it.quantity, 3) + " " + unit(it.unit) }),
        el("td", { class: "num", text: fmtNum(it.net_weight_kg, 3) }),
        el("td", { class: "num", text: fmtNum(it.gross_weight_kg, 3) }),
        el("td", { class: "num", text: fmtNum(it.declared_value, 2) + " " + (it.currency || "") }),
        el("td", { text: it.origin_country || "" })));
    }
    renderCrossCheck(d.cross_check || {});
  }

  // The manifest cross-check: what ingest computed when it joined the declaration with the
  // electronic-port manifest of the same bill of lading.
  function renderCrossCheck(x) {
    if (!x.joined) { $("xcheck-none").classList.remove("hidden"); return; }
    $("xcheck-table").classList.remove("hidden");
    const row = (key, value, bad) => el("tr", { "data-testid": "cross-check", "data-check": key, "data-flag": bad ? "true" : "false", class: bad ? "flagged" : "" },
      el("td", { text: t("xcheck." + key) }),
      el("td", { class: "mono", text: value }),
      el("td", {}, el("span", { class: bad ? "tag tag-red" : "tag tag-green", text: bad ? t("xcheck.bad") : t("xcheck.ok") })));
    const dev = x.weight_deviation || 0;
    $("xcheck-body").append(
      row("weight", fmtPct(dev, 1) + " (" + t("xcheck.tolerance") + " " + fmtPct(WEIGHT_TOLERANCE, 0) + ")", dev > WEIGHT_TOLERANCE),
      row("route", x.origin_route_mismatch ? t("xcheck.routeBad") : t("xcheck.routeOk"), !!x.origin_route_mismatch),
      row("containers", String(x.undeclared_containers || 0), (x.undeclared_containers || 0) > 0));
  }

  // --- audit trail ----------------------------------------------------------------------------
  function parse(detail) {
    try { return JSON.parse(detail || "{}") || {}; } catch (e) { return {}; }
  }
  function findingNames(fs) {
    return (fs || []).map((f) => {
      const c = ts.catalogue.find((x) => x.code === f.code);
      return c ? pick(c.zh, c.en) : f.code;
    }).join(st.lang === "en" ? ", " : "、");
  }
  function reasonName(code) {
    const r = ts.reasons.find((x) => x.code === code);
    return r ? pick(r.zh, r.en) : code;
  }
  const sep = () => (st.lang === "en" ? "; " : "；");
  // reasonText names the reason code an override leaves in a task's reason ("INTEL: text").
  function reasonText(s) {
    const i = s.indexOf(": ");
    if (i > 0 && ts.reasons.some((r) => r.code === s.slice(0, i))) return reasonName(s.slice(0, i)) + sep() + s.slice(i + 2);
    return s;
  }
  // unit names a customs unit-of-measure code (035 千克); unknown codes show as they are.
  const unit = (code) => (code ? tOr("unit." + code, code) : "");

  // summary says in one line what an audit record's detail holds.
  function summary(r) {
    const x = parse(r.detail);
    const parts = [];
    switch (r.action) {
      case "decision":
        parts.push(t("channel." + x.channel), t("selection." + (x.selection || "none")));
        if (typeof x.probability === "number" && x.probability > 0) parts.push(t("task.score") + " " + fmtPct(x.probability));
        if ((x.rules || []).length) parts.push(x.rules.map((h) => h.id).join(", "));
        break;
      case "task.create":
        parts.push(t("channel." + x.channel));
        break;
      case "task.assign":
      case "task.reassign":
        parts.push((x.from ? x.from + " → " : "") + (x.officer || ""));
        if (x.draw) parts.push(t("trail.drawn") + " " + (x.draw.candidates || []).length);
        if (x.reason) parts.push(t("trail.reason") + " " + x.reason);
        break;
      case "task.start":
        parts.push(x.officer || "");
        break;
      case "result":
      case "lab.result":
        if (x.lab_ref) parts.push(t("lab.ref") + " " + x.lab_ref);
        parts.push(t("outcome." + x.outcome));
        if ((x.findings || []).length) parts.push(findingNames(x.findings));
        if (x.disposition) parts.push(t("disp." + x.disposition));
        if (x.version > 1) parts.push(t("trail.version") + " " + x.version);
        break;
      case "release":
        parts.push(t("disp." + x.disposition));
        break;
      case "override":
        parts.push(t("channel." + x.from) + " → " + t("channel." + x.to), reasonName(x.reason_code), x.text);
        break;
      case "override.review":
        parts.push(t("review." + x.review), x.review_note);
        break;
      case "task.cancel":
      case "withdrawal":
        parts.push(x.reason);
        break;
    }
    return parts.filter(Boolean).join(sep());
  }

  function renderTrail() {
    const ol = $("trail");
    ol.replaceChildren();
    for (const r of ts.trail) {
      ol.append(el("li", { "data-testid": "trail-entry", "data-action": r.action },
        el("span", { class: "mono trail-time", text: fmtTime(r.at) }),
        el("span", { class: "trail-action", text: tOr("audit." + r.action, r.action) }),
        el("span", { class: "trail-actor", text: r.actor === "system" ? t("audit.system") : r.actor }),
        el("span", { class: "trail-detail", text: summary(r) })));
    }
  }
  window.PG.trailSummary = summary;

  // --- result ---------------------------------------------------------------------------------
  function renderResult(r) {
    const dl = $("result-facts");
    dl.replaceChildren();
    fact(dl, t("result.outcome"), t("outcome." + r.outcome), "result-outcome");
    const names = (r.findings || []).map((f) => {
      const c = ts.catalogue.find((x) => x.code === f.code);
      const sev = t("sev." + f.severity);
      return (c ? pick(c.zh, c.en) : f.code) + (st.lang === "en" ? " (" + sev + ")" : "（" + sev + "）");
    });
    fact(dl, t("result.findings"), names.join(st.lang === "en" ? "; " : "；"), "result-findings");
    fact(dl, t("result.adjustment"), fmtNum(r.adjustment, 2));
    fact(dl, t("result.disposition"), r.disposition ? t("disp." + r.disposition) : t("result.noDisposition"), "result-disposition");
    fact(dl, t("lab.ref"), r.lab_ref, "result-lab-ref");
    fact(dl, t("result.note"), r.note);
    fact(dl, t("result.officer"), r.officer);
    fact(dl, t("result.at"), fmtTime(r.inspected_at));
    if (r.version > 1) fact(dl, t("trail.version"), String(r.version));
  }

  // The picklist is built once per task; language changes only relabel it, so ticks survive.
  function renderFindings() {
    const box = $("findings");
    box.replaceChildren();
    for (const f of ts.catalogue) {
      const cb = el("input", { type: "checkbox", id: "finding-" + f.code, value: f.code, "data-testid": "finding-" + f.code });
      const sel = el("select", { id: "severity-" + f.code, "data-testid": "severity-" + f.code });
      for (const s of [1, 2, 3]) {
        const o = el("option", { value: String(s), "data-sev": String(s) });
        if (s === f.default_severity) o.selected = true;
        sel.append(o);
      }
      box.append(el("label", { class: "finding", for: "finding-" + f.code }, cb, el("span", { "data-code": f.code }), sel));
    }
    renderFindingLabels();
  }

  function renderFindingLabels() {
    for (const f of ts.catalogue) {
      const s = document.querySelector('#findings span[data-code="' + f.code + '"]');
      if (s) s.textContent = pick(f.zh, f.en);
    }
    for (const o of document.querySelectorAll("#findings option")) o.textContent = t("sev." + o.dataset.sev);
  }

  const outcome = () => document.querySelector('input[name="outcome"]:checked').value;

  function renderSubmitLabel() {
    const o = outcome();
    $("result-disposition").disabled = o === "PENDING_LAB";
    $("lab-hint").classList.toggle("hidden", o !== "PENDING_LAB");
    $("result-submit").textContent = o === "PENDING_LAB" ? t("result.submitLab") : t("result.submit");
  }
  for (const r of document.querySelectorAll('input[name="outcome"]')) r.addEventListener("change", renderSubmitLabel);

  // act runs one state-changing request from a form: the button is disabled meanwhile, errors
  // are shown in the form's box (a conflict reloads the task), success reloads the task.
  async function act(btn, box, f, saved) {
    box.classList.add("hidden");
    btn.disabled = true;
    const task = ts.task;
    try {
      await f(task);
      toast(saved);
      await loadTask(task.id);
    } catch (e) {
      if (e.status === 401) return;
      showError(box, e.code === "conflict" ? t("result.conflict") : e);
      if (e.code === "conflict") await loadTask(task.id);
    } finally {
      btn.disabled = false;
    }
  }

  $("result-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const o = outcome();
    const findings = [];
    for (const f of ts.catalogue) {
      if ($("finding-" + f.code).checked) findings.push({ code: f.code, severity: Number($("severity-" + f.code).value) });
    }
    if (o === "NON_CONFORMING" && findings.length === 0) { showError($("result-error"), t("result.needFinding")); return; }
    act($("result-submit"), $("result-error"), (task) => api("POST", "/v1/inspection-results", {
      task_id: task.id,
      expected_version: task.version,
      outcome: o,
      findings,
      adjustment: Number($("result-adjustment").value) || 0,
      // A sample sent to the laboratory has no disposition until the lab reports.
      disposition: o === "PENDING_LAB" ? "" : $("result-disposition").value,
      note: $("result-note").value,
    }), o === "PENDING_LAB" ? t("result.savedLab") : t("result.saved"));
  });

  $("task-start").addEventListener("click", () => {
    act($("task-start"), $("result-error"), (task) => api("POST", "/v1/tasks/" + encodeURIComponent(task.id) + "/start",
      { expected_version: task.version }), t("task.started"));
  });

  $("lab-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("lab-submit"), $("lab-error"), (task) => api("POST", "/v1/lab-results", {
      task_id: task.id,
      expected_version: task.version,
      lab_ref: $("lab-ref").value.trim(),
      outcome: document.querySelector('input[name="lab-outcome"]:checked').value,
      disposition: $("lab-disposition").value,
      note: $("lab-note").value,
    }), t("lab.saved"));
  });

  // --- override and reassignment --------------------------------------------------------------
  function fillOverride(task) {
    const ch = $("override-channel");
    const keep = ch.value;
    ch.replaceChildren();
    for (const c of ["RED", "YELLOW", "GREEN"]) {
      if (c !== task.channel) ch.append(el("option", { value: c, text: t("channel." + c) }));
    }
    if ([...ch.options].some((o) => o.value === keep)) ch.value = keep;
    const rs = $("override-reason");
    const keepR = rs.value;
    rs.replaceChildren(el("option", { value: "", text: t("override.choose") }));
    for (const r of ts.reasons) rs.append(el("option", { value: r.code, text: pick(r.zh, r.en) }));
    rs.value = keepR;
  }

  $("override-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("override-submit"), $("override-error"), (task) => api("POST", "/v1/overrides", {
      task_id: task.id,
      new_channel: $("override-channel").value,
      reason_code: $("override-reason").value,
      text: $("override-text").value,
    }), t("override.saved"));
  });

  function fillReassign(task) {
    const sel = $("reassign-officer");
    const keep = sel.value;
    sel.replaceChildren(el("option", { value: "", text: t("reassign.redraw") }));
    for (const o of ts.officers || []) {
      if (o.id === task.officer) continue;
      sel.append(el("option", { value: o.id, text: o.name + " (" + o.id + ")" + (o.on_duty ? "" : " · " + t("roster.off")) }));
    }
    sel.value = keep;
  }

  $("reassign-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("reassign-submit"), $("reassign-error"), (task) => api("POST", "/v1/tasks/" + encodeURIComponent(task.id) + "/reassign", {
      expected_version: task.version,
      officer: $("reassign-officer").value,
      reason: $("reassign-reason").value,
    }), t("reassign.saved"));
  });

  function resetForms() {
    $("outcome-conforming").checked = true;
    $("result-adjustment").value = "0";
    $("result-disposition").value = "RELEASE";
    $("result-note").value = "";
    for (const f of ts.catalogue) { const c = $("finding-" + f.code); if (c) c.checked = false; }
    $("lab-ref").value = "";
    $("lab-conforming").checked = true;
    $("lab-disposition").value = "";
    $("lab-note").value = "";
    $("override-text").value = "";
    $("override-reason").value = "";
    $("reassign-reason").value = "";
    $("reassign-officer").value = "";
    const r = ts.task && ts.task.result;
    if (ts.task && ts.task.state === "RESULT_RECORDED" && r) {
      // The laboratory or an officer concluded without a disposition: start from that result.
      const radio = document.querySelector('input[name="outcome"][value="' + r.outcome + '"]');
      if (radio) radio.checked = true;
      for (const f of r.findings || []) {
        const c = $("finding-" + f.code);
        if (c) { c.checked = true; $("severity-" + f.code).value = String(f.severity); }
      }
      $("result-adjustment").value = String(r.adjustment || 0);
    }
    renderSubmitLabel();
  }

  // Supervisors reach tasks from their desk; the "my tasks" link is the officers'.
  window.PG.page("queue", { view: "view-queue", roles: ["officer", "supervisor", "admin"], navRoles: ["officer"], load: loadQueue, render: renderQueue });
  window.PG.page("task", { view: "view-task", roles: ["officer", "supervisor", "admin"], load: loadTask, render: renderTask });
  window.PG.route(/^#\/queue$/, "queue");
  window.PG.route(/^#\/task\/(.+)$/, "task");
})();
