// The supervisor's workbench (科长工作台): every task of the port, the override review queue,
// override rates per officer and port, and the duty roster.
"use strict";

(function () {
  const { $, t, el, pick, api, toast, show, every, fmtTime, fmtPct, age, channelBadge, stateBadge, showError, FINAL } = window.PG;

  const sv = { tab: "tasks", tasks: [], overdue: [], overrides: [], rates: [], roster: [], reasons: [] };

  async function load(tab) {
    if (tab) sv.tab = tab;
    show("view-supervise", "supervise");
    for (const b of document.querySelectorAll("#view-supervise .tab")) b.classList.toggle("active", b.dataset.sup === sv.tab);
    for (const p of document.querySelectorAll("#view-supervise .sup-pane")) p.classList.toggle("hidden", p.id !== "sup-pane-" + sv.tab);
    await refresh(true);
    every(30000, () => refresh(false));
  }

  function refresh(loud) { return window.PG.busy("view-supervise", () => fetchAll(loud)); }

  async function fetchAll(loud) {
    try {
      if (sv.reasons.length === 0) sv.reasons = (await api("GET", "/v1/override-reasons")) || [];
      // The pending count and the overdue count are always shown, whatever the tab.
      const [pending, overdue] = await Promise.all([
        api("GET", "/v1/overrides?review=PENDING"),
        api("GET", "/v1/tasks/overdue"),
      ]);
      sv.overdue = overdue || [];
      const n = (pending || []).length;
      $("sup-override-count").textContent = String(n);
      $("sup-override-count").classList.toggle("hidden", n === 0);
      switch (sv.tab) {
        case "tasks":
          sv.tasks = (await api("GET", "/v1/tasks?state=" + encodeURIComponent($("sup-state").value))) || [];
          break;
        case "overrides": {
          const r = $("sup-review").value;
          sv.overrides = r === "PENDING" ? pending || [] : (await api("GET", "/v1/overrides" + (r ? "?review=" + r : ""))) || [];
          break;
        }
        case "rates":
          sv.rates = (await api("GET", "/v1/override-rates")) || [];
          break;
        case "roster":
          sv.roster = (await api("GET", "/v1/officers")) || [];
          break;
      }
      render();
    } catch (e) {
      if (loud && e.status !== 401) toast(e.text(), true);
    }
  }

  function render() {
    const od = $("sup-overdue");
    od.textContent = t("sup.overdue") + " " + sv.overdue.length;
    od.classList.toggle("hidden", sv.overdue.length === 0);
    if (sv.tab === "tasks") renderTasks();
    if (sv.tab === "overrides") renderOverrides();
    if (sv.tab === "rates") renderRates();
    if (sv.tab === "roster") renderRoster();
  }

  function renderTasks() {
    const body = $("sup-tasks-body");
    body.replaceChildren();
    const late = new Set(sv.overdue.map((x) => x.id));
    for (const task of sv.tasks) {
      const due = el("td", { text: FINAL.includes(task.state) ? "" : fmtTime(task.due_at) });
      if (late.has(task.id)) due.append(" ", el("span", { class: "tag tag-red", text: t("task.overdue"), "data-testid": "overdue" }));
      const tr = el("tr", { class: "row-" + task.channel + (late.has(task.id) ? " late" : ""), "data-testid": "sup-task-row", "data-task-id": task.id },
        el("td", { class: "num", text: String(task.priority || 0) }),
        el("td", { class: "mono", text: task.declaration_no + (task.decl_version > 1 ? " v" + task.decl_version : "") }),
        el("td", {}, channelBadge(task.channel)),
        el("td", { text: t("action." + task.action) }),
        el("td", { text: task.officer || t("task.unassigned") }),
        el("td", {}, stateBadge(task.state)),
        el("td", { class: "num", text: age(task.created_at) }),
        due);
      tr.addEventListener("click", () => { location.hash = "#/task/" + encodeURIComponent(task.id); });
      body.append(tr);
    }
    $("sup-tasks-empty").classList.toggle("hidden", sv.tasks.length > 0);
  }

  function reasonName(code) {
    const r = sv.reasons.find((x) => x.code === code);
    return r ? pick(r.zh, r.en) : code;
  }

  function renderOverrides() {
    const body = $("sup-overrides-body");
    body.replaceChildren();
    for (const o of sv.overrides) {
      const review = el("td", { class: "review-cell" });
      if (o.review === "PENDING") {
        const note = el("input", { type: "text", class: "inline-input", "data-testid": "review-note", placeholder: t("ov.notePlaceholder") });
        const err = el("p", { class: "form-error hidden", "data-testid": "review-error" });
        const approve = el("button", { type: "button", class: "btn btn-small btn-ok", "data-testid": "review-approve", text: t("ov.approve") });
        const reject = el("button", { type: "button", class: "btn btn-small btn-danger", "data-testid": "review-reject", text: t("ov.reject") });
        const send = async (ok, btn) => {
          btn.disabled = true;
          err.classList.add("hidden");
          try {
            await api("POST", "/v1/overrides/" + encodeURIComponent(o.id) + "/review", { approve: ok, note: note.value });
            toast(t("ov.reviewed"));
            await refresh(true);
          } catch (e) {
            if (e.status !== 401) showError(err, e);
          } finally {
            btn.disabled = false;
          }
        };
        approve.addEventListener("click", () => send(true, approve));
        reject.addEventListener("click", () => send(false, reject));
        review.append(el("div", { class: "review-actions" }, note, approve, reject), err);
      } else {
        review.append(el("span", { class: "tag " + (o.review === "APPROVED" ? "tag-green" : "tag-red"), text: t("review." + o.review) }),
          el("span", { class: "muted", text: " " + o.reviewer + (o.review_note ? " · " + o.review_note : "") }));
      }
      const link = el("a", { href: "#/task/" + encodeURIComponent(o.task_id), class: "mono", text: o.declaration_no });
      body.append(el("tr", { "data-testid": "override-row", "data-override-id": o.id, "data-review": o.review },
        el("td", {}, link),
        el("td", {}, channelBadge(o.from), el("span", { class: "arrow", text: " → " }), channelBadge(o.to)),
        el("td", {}, el("div", { text: reasonName(o.reason_code) }), el("div", { class: "muted small", text: o.text })),
        el("td", { text: o.by + (o.officer && o.officer !== o.by ? " (" + t("col.officer") + " " + o.officer + ")" : "") }),
        el("td", { text: fmtTime(o.at) }),
        review));
    }
    $("sup-overrides-empty").classList.toggle("hidden", sv.overrides.length > 0);
  }

  function renderRates() {
    const body = $("sup-rates-body");
    body.replaceChildren();
    const top = Math.max(0.0001, ...sv.rates.map((r) => r.rate));
    for (const r of sv.rates) {
      const bar = el("div", { class: "bar" }, el("div", { class: "bar-fill" + (r.rate > 0.2 ? " bar-hot" : "") }));
      bar.firstChild.style.width = Math.round((r.rate / top) * 100) + "%";
      body.append(el("tr", { "data-testid": "rate-row", "data-kind": r.kind, "data-key": r.key },
        el("td", { text: t("rates." + r.kind) }),
        el("td", { class: "mono", text: r.key }),
        el("td", { class: "num", text: String(r.tasks) }),
        el("td", { class: "num", text: String(r.overrides) }),
        el("td", { class: "num", text: fmtPct(r.rate) }),
        el("td", { class: "bar-col" }, bar)));
    }
    $("sup-rates-empty").classList.toggle("hidden", sv.rates.length > 0);
  }

  function renderRoster() {
    const body = $("sup-roster-body");
    body.replaceChildren();
    for (const o of sv.roster) {
      const box = el("input", { type: "checkbox", checked: !!o.on_duty, "data-testid": "duty-" + o.id });
      box.addEventListener("change", async () => {
        box.disabled = true;
        try {
          await api("PUT", "/v1/officers/" + encodeURIComponent(o.id) + "/duty", { on_duty: box.checked });
          toast(box.checked ? t("roster.nowOn") : t("roster.nowOff"));
        } catch (e) {
          box.checked = !box.checked;
          if (e.status !== 401) toast(e.text(), true);
        } finally {
          box.disabled = false;
        }
      });
      body.append(el("tr", { "data-testid": "roster-row" },
        el("td", {}, el("strong", { text: o.name }), el("span", { class: "muted", text: " " + o.id })),
        el("td", { text: (o.qualifications || []).map((q) => t("qual." + q)).join(", ") }),
        el("td", { text: (o.ports || []).join(", ") || t("roster.anyPort") }),
        el("td", {}, el("label", { class: "switch" }, box, el("span", { text: t("roster.on") })))));
    }
  }

  for (const b of document.querySelectorAll("#view-supervise .tab")) {
    b.addEventListener("click", () => { location.hash = "#/supervise/" + b.dataset.sup; });
  }
  $("sup-state").addEventListener("change", () => refresh(true));
  $("sup-review").addEventListener("change", () => refresh(true));
  $("sup-refresh").addEventListener("click", () => refresh(true));

  window.PG.page("supervise", { view: "view-supervise", roles: ["supervisor", "admin"], load, render });
  window.PG.route(/^#\/supervise$/, "supervise");
  window.PG.route(/^#\/supervise\/(tasks|overrides|rates|roster)$/, "supervise");
})();
