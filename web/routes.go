package web

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// Every route of the server is in this table: method, path, who may call it, the handler, and
// its API documentation. install registers exactly these, and the OpenAPI document at
// /v1/openapi.json is built from the same table.
//
// Who may call what:
//
//	route                          officer supervisor risk_analyst hq_analyst admin system
//	POST /v1/decisions                .        .          .            .        x     x
//	GET  /v1/decisions/:number        x        x          x            x        x     x
//	GET  /v1/declarations/:number     x        x          x            x        x     x
//	GET  /v1/tasks                    x        x          .            .        .     .
//	GET  /v1/tasks/:id                x        x          .            .        .     .
//	POST /v1/inspection-results       x        x          .            .        x     .
//	GET  /v1/trends/daily             .        x          x            x        x     .
//	GET  /v1/tasks/overdue            .        x          .            .        x     .
//	POST /v1/tasks/:id/start          x        x          .            .        x     .
//	POST /v1/tasks/:id/reassign       .        x          .            .        x     .
//	POST /v1/lab-results              x        x          .            .        x     .   + lab
//	GET  /v1/officers                 .        x          .            .        x     .
//	PUT  /v1/officers/:id/duty        .        x          .            .        x     .
//	POST /v1/overrides                x        x          .            .        x     .
//	GET  /v1/overrides                .        x          x            x        x     .
//	POST /v1/overrides/:id/review     .        x          .            .        x     .
//	GET  /v1/override-rates           .        x          x            x        x     .
//	GET  /v1/audit/trail/:number      x        x          x            x        x     .
//	GET  /v1/analytics/...            .        x          x            x        x     .
//	POST /v1/analytics/alerts/:id/    .        .          x            x        .     .
//	     acknowledge, …/dismiss
//	GET  /v1/rules, /v1/rules/:id     .        x          x            x        x     .
//	POST /v1/rules, PUT /v1/rules/:id .        x          x            .        .     .
//	POST /v1/rules/:id/submit         .        x          x            .        .     .
//	POST /v1/rules/:id/approve|reject .        .          x            .        .     .
//	POST /v1/rules/:id/revoke         .        x          x            .        .     .
//	POST /v1/rules/:id/emergency      .        x          .            .        .     .
//	POST /v1/rules/backtest,          .        x          x            x        .     .
//	     /v1/rules/:id/backtest
//	GET  /v1/profiles/:feature/:value .        x          x            x        x     .
//	GET  /v1/findings, /v1/me, /v1/override-reasons: any authenticated caller
//	login, logout, schemas, openapi.json, /healthz, /readyz, /metrics, console: public
//
// Officers and supervisors bound to a port see only that port's records. The rule book checks
// finer conditions itself (four eyes: the approver is another risk analyst).
func (s *server) routes() []route {
	const (
		get  = http.MethodGet
		post = http.MethodPost
		put  = http.MethodPut
	)
	anyRole := roles(RoleOfficer, RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin, RoleSystem)
	number := pathParam("number", "declaration number (18 digits) / 报关单号")
	ruleID := pathParam("id", "rule ID, e.g. R12 / 指令编号")
	ruleReaders := roles(RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin)
	ruleAuthors := roles(RoleSupervisor, RoleRiskAnalyst)
	taskID := pathParam("id", "task ID: declaration number-version / 任务编号")
	overrideReaders := roles(RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin)
	analysts := roles(RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin)
	version := query("version", "integer", "declaration version; default: the latest decided / 报关单版本")
	alertID := pathParam("id", "alert ID / 预警编号")
	return []route{
		// Decisions (布控决定).
		{post, "/v1/decisions", roles(RoleSystem, RoleAdmin), s.postDecision, op{
			id: "decide", tag: "decisions", summary: "Decide a declaration synchronously",
			summaryZH: "同步布控：提交报关单，返回布控决定",
			desc: "The body is one declaration message (JSON Schema at /v1/schemas/declaration). " +
				"201 with the decision when this request made it; 200 with the same decision when this " +
				"declaration number and version were already decided (idempotent). 422 lists every " +
				"invalid field.",
			body: ingest.Declaration{}, ok: http.StatusCreated, out: targeting.Decision{},
			errors: []int{http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity}}},
		{get, "/v1/decisions/:number", anyRole, s.getDecision, op{
			id: "getDecision", tag: "decisions", summary: "Get the decision of a declaration",
			summaryZH: "查询报关单的布控决定", params: []param{number, version},
			ok: http.StatusOK, out: targeting.Decision{}, errors: []int{http.StatusNotFound}}},

		// Clearance (查验).
		{get, "/v1/declarations/:number", anyRole, s.getDeclaration, op{
			id: "getDeclaration", tag: "clearance", summary: "Get a stored declaration version with its goods items",
			summaryZH: "查询报关单及商品明细",
			params:    []param{number, {name: "version", in: "query", typ: "integer", required: true, desc: "declaration version / 报关单版本"}},
			ok:        http.StatusOK, out: ingest.Declaration{}, errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{get, "/v1/tasks", roles(RoleOfficer, RoleSupervisor), s.listTasks, op{
			id: "listTasks", tag: "clearance", summary: "The inspection queue: an officer's own and unassigned tasks, or a supervisor's port",
			summaryZH: "查验任务队列",
			params: []param{
				query("state", "string", "open (default), done, all, or a task state such as RELEASED / 任务状态"),
				query("declaration_no", "string", "only this declaration's tasks / 报关单号"),
				query("limit", "integer", "at most this many (default 200, max 1000)"),
			},
			ok: http.StatusOK, out: []clearance.Task{}, errors: []int{http.StatusUnprocessableEntity}}},
		{post, "/v1/inspection-results", roles(RoleOfficer, RoleSupervisor, RoleAdmin), s.postResult, op{
			id: "recordResult", tag: "clearance", summary: "Record an inspection result (and release with a final disposition)",
			summaryZH: "登记查验结果并放行",
			desc: "expected_version is the task version the officer saw: 409 conflict if someone else changed " +
				"the task since. Recording again on a task with a result is a correction (a new result version).",
			body: clearance.ResultInput{}, ok: http.StatusCreated, out: clearance.InspectionResult{},
			errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}}},
		{get, "/v1/tasks/:id", roles(RoleOfficer, RoleSupervisor), s.getTask, op{
			id: "getTask", tag: "clearance", summary: "Get an inspection task", summaryZH: "查询查验任务",
			params: []param{taskID}, ok: http.StatusOK, out: clearance.Task{}, errors: []int{http.StatusNotFound}}},
		{get, "/v1/findings", authenticated, s.findings, op{
			id: "listFindings", tag: "clearance", summary: "The findings catalogue (picklist of the result form)",
			summaryZH: "查验发现问题目录", ok: http.StatusOK, out: []clearance.FindingType{}}},
		{get, "/v1/tasks/overdue", roles(RoleSupervisor, RoleAdmin), s.overdueTasks, op{
			id: "overdueTasks", tag: "clearance", summary: "Open tasks past their due time, most overdue first (raises overdue alerts)",
			summaryZH: "超期未办结的查验任务", ok: http.StatusOK, out: []clearance.Task{}}},
		{post, "/v1/tasks/:id/start", roles(RoleOfficer, RoleSupervisor, RoleAdmin), s.startTask, op{
			id: "startInspection", tag: "clearance", summary: "Start the inspection of an assigned task",
			summaryZH: "开始查验", params: []param{taskID}, body: versionRequest{}, ok: http.StatusOK, out: clearance.Task{},
			desc:   "expected_version is the task version the officer saw: 409 if the task changed since.",
			errors: []int{http.StatusNotFound, http.StatusConflict}}},
		{post, "/v1/tasks/:id/reassign", roles(RoleSupervisor, RoleAdmin), s.reassignTask, op{
			id: "reassignTask", tag: "clearance", summary: "Reassign a task to another officer, with a reason",
			summaryZH: "改派查验关员（须写明理由）", params: []param{taskID}, body: reassignRequest{}, ok: http.StatusOK, out: clearance.Task{},
			desc: "officer empty: a fresh random draw among the other eligible officers on duty, recorded with its seed. " +
				"An officer with a conflict of interest is refused (422).",
			errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}}},
		{post, "/v1/lab-results", roles(RoleLab, RoleOfficer, RoleSupervisor, RoleAdmin), s.postLabResult, op{
			id: "recordLabResult", tag: "clearance", summary: "Report a laboratory result for a sampled consignment",
			summaryZH: "登记实验室检测结果",
			desc: "The task must await the laboratory (AWAITING_LAB). A report with a lab_ref already applied is ignored " +
				"and answers the result it made. Conforming without a disposition releases; non-conforming without one " +
				"leaves the task for an officer to decide.",
			body: clearance.LabInput{}, ok: http.StatusCreated, out: clearance.InspectionResult{},
			errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}}},
		{get, "/v1/officers", roles(RoleSupervisor, RoleAdmin), s.officers, op{
			id: "listOfficers", tag: "clearance", summary: "The duty roster", summaryZH: "值班关员名册",
			ok: http.StatusOK, out: []clearance.Officer{}}},
		{put, "/v1/officers/:id/duty", roles(RoleSupervisor, RoleAdmin), s.setDuty, op{
			id: "setOnDuty", tag: "clearance", summary: "Put an officer on or off duty", summaryZH: "设置关员在岗状态",
			params: []param{pathParam("id", "officer ID (login name) / 关员编号")}, body: dutyRequest{},
			ok: http.StatusOK, out: clearance.Officer{}, errors: []int{http.StatusNotFound}}},

		// Overrides (改变布控指令).
		{post, "/v1/overrides", roles(RoleOfficer, RoleSupervisor, RoleAdmin), s.postOverride, op{
			id: "overrideChannel", tag: "overrides", summary: "Change a consignment's channel, with a reason code and text",
			summaryZH: "变更布控通道（须选择理由并说明）",
			desc: "reason_code from GET /v1/override-reasons. Officers override their own tasks, supervisors any task of " +
				"their port. To GREEN releases at once. Every override joins the supervisors' review queue.",
			body: clearance.OverrideInput{}, ok: http.StatusCreated, out: clearance.Override{},
			errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}}},
		{get, "/v1/overrides", overrideReaders, s.listOverrides, op{
			id: "listOverrides", tag: "overrides", summary: "Overrides, newest first; review=PENDING is the review queue",
			summaryZH: "布控变更记录与复核队列",
			params: []param{
				query("review", "string", "PENDING, APPROVED or REJECTED / 复核状态"),
				query("by", "string", "only this user's overrides / 变更人"),
				query("port", "string", "one port / 口岸"),
				query("limit", "integer", "at most this many (default 200, max 1000)"),
			},
			ok: http.StatusOK, out: []clearance.Override{}, errors: []int{http.StatusUnprocessableEntity}}},
		{post, "/v1/overrides/:id/review", roles(RoleSupervisor, RoleAdmin), s.reviewOverride, op{
			id: "reviewOverride", tag: "overrides", summary: "Approve or reject an override (not one's own; a rejection needs a note)",
			summaryZH: "复核布控变更", params: []param{pathParam("id", "override ID, e.g. OV-…")}, body: reviewRequest{},
			ok: http.StatusOK, out: clearance.Override{},
			errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}}},
		{get, "/v1/override-rates", overrideReaders, s.overrideRates, op{
			id: "overrideRates", tag: "overrides", summary: "Override rates per officer and per port, highest first",
			summaryZH: "关员与口岸的布控变更率", ok: http.StatusOK, out: []clearance.OverrideRate{}}},
		{get, "/v1/override-reasons", authenticated, s.overrideReasons, op{
			id: "overrideReasons", tag: "overrides", summary: "The override reason codes (picklist)",
			summaryZH: "布控变更理由代码", ok: http.StatusOK, out: []clearance.ReasonCode{}}},
		{get, "/v1/audit/trail/:number", roles(RoleOfficer, RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin), s.trail, op{
			id: "auditTrail", tag: "clearance", summary: "A declaration's audit trail, oldest first",
			summaryZH: "报关单全程留痕记录", params: []param{number},
			ok: http.StatusOK, out: []clearance.AuditRecord{}}},

		// Targeting rules (布控指令).
		{get, "/v1/rules", ruleReaders, s.listRules, op{
			id: "listRules", tag: "rules", summary: "Targeting rules with their matches and hits since start",
			summaryZH: "布控指令列表", params: []param{query("state", "string", "draft, pending, active, expired or revoked / 状态")},
			ok: http.StatusOK, out: []ruleView{}, errors: []int{http.StatusUnprocessableEntity}}},
		{get, "/v1/rules/:id", ruleReaders, s.getRule, op{
			id: "getRule", tag: "rules", summary: "One targeting rule with its statistics", summaryZH: "查询布控指令",
			params: []param{ruleID}, ok: http.StatusOK, out: ruleView{}, errors: []int{http.StatusNotFound}}},
		{post, "/v1/rules", ruleAuthors, s.createRule, op{
			id: "createRule", tag: "rules", summary: "Create a draft rule", summaryZH: "新建布控指令草稿",
			body: targeting.Rule{}, ok: http.StatusCreated, out: targeting.Rule{},
			errors: []int{http.StatusConflict, http.StatusUnprocessableEntity}}},
		{put, "/v1/rules/:id", ruleAuthors, s.updateRule, op{
			id: "updateRule", tag: "rules", summary: "Edit a draft rule (version must be the current one)",
			summaryZH: "修改布控指令草稿", params: []param{ruleID}, body: targeting.Rule{}, ok: http.StatusOK, out: targeting.Rule{},
			errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}}},
		{post, "/v1/rules/:id/submit", ruleAuthors, s.ruleTransition((*targeting.RuleBook).Submit), op{
			id: "submitRule", tag: "rules", summary: "Submit a draft for approval", summaryZH: "提交审批",
			params: []param{ruleID}, ok: http.StatusOK, out: targeting.Rule{}, errors: []int{http.StatusNotFound, http.StatusConflict}}},
		{post, "/v1/rules/:id/approve", roles(RoleRiskAnalyst), s.ruleTransition((*targeting.RuleBook).Approve), op{
			id: "approveRule", tag: "rules", summary: "Approve and activate a rule (by another risk analyst: four eyes)",
			summaryZH: "审批生效（双人复核）", params: []param{ruleID}, ok: http.StatusOK, out: targeting.Rule{},
			errors: []int{http.StatusNotFound, http.StatusConflict}}},
		{post, "/v1/rules/:id/reject", roles(RoleRiskAnalyst), s.ruleNoted((*targeting.RuleBook).Reject), op{
			id: "rejectRule", tag: "rules", summary: "Send a pending rule back to draft, with a reason",
			summaryZH: "退回修改", params: []param{ruleID}, body: noteRequest{}, ok: http.StatusOK, out: targeting.Rule{},
			errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}}},
		{post, "/v1/rules/:id/revoke", ruleAuthors, s.ruleNoted((*targeting.RuleBook).Revoke), op{
			id: "revokeRule", tag: "rules", summary: "Revoke a rule, with a reason", summaryZH: "撤销布控指令",
			params: []param{ruleID}, body: noteRequest{}, ok: http.StatusOK, out: targeting.Rule{},
			errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity}}},
		{post, "/v1/rules/:id/emergency", roles(RoleSupervisor), s.ruleTransition((*targeting.RuleBook).ActivateEmergency), op{
			id: "activateEmergencyRule", tag: "rules",
			summary:   "Activate an emergency rule at once (a risk analyst must approve it within the window)",
			summaryZH: "紧急布控（事后补审批）", params: []param{ruleID}, ok: http.StatusOK, out: targeting.Rule{},
			errors: []int{http.StatusNotFound, http.StatusConflict}}},

		{post, "/v1/rules/backtest", roles(RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst), s.backtestDraft, op{
			id: "backtestDraftRule", tag: "rules", summary: "Backtest a draft rule (the body of POST /v1/rules, saved or not) over stored history",
			summaryZH: "回测布控指令草稿（基于历史报关单）",
			desc: "Runs the rule with the service's decision code over the declarations stored in ClickHouse in the period: " +
				"matches and selections (at the rule's percentage) per day, hit rate among matched consignments that were " +
				"inspected, the random-control estimate, and the extra daily workload per port. A caller bound to a port " +
				"sees that port's history only. 422 for a rule that does not validate, a bad period or one without " +
				"declarations; 429 when too many backtests run; 503 when ClickHouse is unavailable; 504 past the time limit.",
			params: backtestParams, body: targeting.Rule{}, ok: http.StatusOK, out: backtestAnswer{},
			errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusTooManyRequests,
				http.StatusServiceUnavailable, http.StatusGatewayTimeout}}},
		{post, "/v1/rules/:id/backtest", roles(RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst), s.backtestRule, op{
			id: "backtestRule", tag: "rules", summary: "Backtest a stored rule as it is now over stored history",
			summaryZH: "回测已保存的布控指令", desc: "As POST /v1/rules/backtest, for a stored rule in any state.",
			params: append([]param{ruleID}, backtestParams...), ok: http.StatusOK, out: backtestAnswer{},
			errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusTooManyRequests,
				http.StatusServiceUnavailable, http.StatusGatewayTimeout}}},

		// Analytics (统计分析).
		{get, "/v1/trends/daily", analysts, s.dailyTrend, op{
			id: "dailyTrend", tag: "analytics", summary: "Daily declarations, inspection rate and hit rate",
			summaryZH: "每日查验率与查获率",
			params: []param{
				query("from", "date", "first day, inclusive (default: 29 days before to) / 起始日期"),
				query("to", "date", "last day, inclusive (default: today) / 截止日期"),
				query("port", "string", "one port (customs office code) / 口岸"),
			},
			ok: http.StatusOK, out: trendResponse{}, errors: []int{http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},

		{get, "/v1/analytics/trend", analysts, s.analyticsTrend, op{
			id: "analyticsTrend", tag: "analytics", summary: "Counts, inspection rate, hit rate and revenue by period and group, with filters",
			summaryZH: "趋势分析：按期间与维度统计查验率、查获率、补税",
			desc: "group_by: up to three of the dimensions (GET /v1/analytics/dimensions), comma-separated; every " +
				"dimension is also a filter parameter. format=csv downloads the result.",
			params: append(scopeParams(30), query("interval", "string", "day (default), week or month / 统计周期"),
				query("group_by", "string", "dimensions to group by, comma-separated / 分组字段"),
				query("limit", "integer", "at most this many rows (default and max: the store's row cap)"), formatParam),
			ok: http.StatusOK, out: trendAnswer{}, errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{get, "/v1/analytics/hit-rates", analysts, s.analyticsHitRates, op{
			id: "analyticsHitRates", tag: "analytics", summary: "Random-control vs targeted hit rates with Wilson intervals, lift, and the IPW non-compliance estimate",
			summaryZH: "真实查获率：随机对照组与布控组（含置信区间）", params: append(scopeParams(90), formatParam),
			ok: http.StatusOK, out: hitRatesAnswer{}, errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{get, "/v1/analytics/rule-yield", analysts, s.analyticsRuleYield, op{
			id: "analyticsRuleYield", tag: "analytics", summary: "Per rule: selections, workload, hit rate with interval, last hit, flags",
			summaryZH: "布控指令成效：命中、查获率、工作量及预警标记", params: append(scopeParams(90), formatParam),
			ok: http.StatusOK, out: ruleYieldAnswer{}, errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{get, "/v1/analytics/model-yield", analysts, s.analyticsModelYield, op{
			id: "analyticsModelYield", tag: "analytics", summary: "Per model version: precision at the inspected share and calibration by decile",
			summaryZH: "模型成效：查验比例下的精确率与校准表", params: append(scopeParams(90), formatParam),
			ok: http.StatusOK, out: modelYieldAnswer{}, errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{get, "/v1/analytics/grades", analysts, s.analyticsGrades, op{
			id: "analyticsGrades", tag: "analytics", summary: "Enterprise risk grades (green, yellow, red, black), riskiest first, with the posterior behind each",
			summaryZH: "企业风险等级（绿黄红黑）",
			params: []param{query("grade", "string", "only this grade: green, yellow, red or black / 等级"),
				query("enterprise", "string", "only these enterprises, comma-separated / 企业"),
				query("limit", "integer", "at most this many"), formatParam},
			ok: http.StatusOK, out: gradesAnswer{}, errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{get, "/v1/analytics/alerts", analysts, s.analyticsAlerts, op{
			id: "analyticsAlerts", tag: "analytics", summary: "Early warnings detected in the period, latest first, with their evidence",
			summaryZH: "风险预警（含统计证据）",
			params: append(scopeParams(90), query("kind", "string", "hit_rate_rise or undervaluation_rise / 预警类型"),
				query("subject_kind", "string", "hs4_origin, enterprise or declarant / 预警对象"),
				query("state", "string", "open, acknowledged or dismissed / 状态"), query("limit", "integer", "at most this many"), formatParam),
			ok: http.StatusOK, out: alertsAnswer{}, errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{post, "/v1/analytics/alerts/:id/acknowledge", roles(RoleRiskAnalyst, RoleHQAnalyst), s.reviewAlert(analytics.ReviewAcknowledge), op{
			id: "acknowledgeAlert", tag: "analytics", summary: "Acknowledge an open early warning, with a comment (audited)",
			summaryZH: "确认风险预警（须填写处理意见，留痕）", params: []param{alertID}, body: alertReviewRequest{},
			desc: "The review (who, when, comment) is appended to the audit chain (alert.acknowledge, subject alert:<id>) and " +
				"stored; the alert is answered in its new state. 409 when the alert is not open.",
			ok: http.StatusOK, out: analytics.Alert{}, errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{post, "/v1/analytics/alerts/:id/dismiss", roles(RoleRiskAnalyst, RoleHQAnalyst), s.reviewAlert(analytics.ReviewDismiss), op{
			id: "dismissAlert", tag: "analytics", summary: "Dismiss an open or acknowledged early warning as no risk, with the reason (audited)",
			summaryZH: "排除风险预警（须说明理由，留痕）", params: []param{alertID}, body: alertReviewRequest{},
			desc: "Audited as alert.dismiss (subject alert:<id>). 409 when the alert is already dismissed.",
			ok:   http.StatusOK, out: analytics.Alert{}, errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{get, "/v1/analytics/forecast", analysts, s.analyticsForecast, op{
			id: "analyticsForecast", tag: "analytics", summary: "Expected declarations and inspections per day, with prediction intervals, for staffing",
			summaryZH: "查验能力预测（未来每日报关单与查验量）",
			params: []param{query("port", "string", "one port; empty: all ports / 口岸"),
				query("days", "integer", "days ahead, 1–92 (default 14) / 预测天数"),
				query("history", "integer", "days of history fitted, 28–1098 (default 182) / 历史天数"), formatParam},
			ok: http.StatusOK, out: forecastAnswer{}, errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}}},
		{get, "/v1/analytics/dimensions", analysts, s.analyticsDimensions, op{
			id: "analyticsDimensions", tag: "analytics", summary: "The allow-listed group-by and filter dimensions, and the intervals",
			summaryZH: "可用的分组与筛选字段", ok: http.StatusOK, out: dimensionsAnswer{}}},

		// Risk profiles (风险画像).
		{get, "/v1/profiles/:feature/:value", roles(RoleSupervisor, RoleRiskAnalyst, RoleHQAnalyst, RoleAdmin), s.profile, op{
			id: "getProfile", tag: "targeting", summary: "The hit-rate posterior of one attribute value (e.g. importer 4403944771)",
			summaryZH: "风险画像：某属性值的查获率后验",
			params: []param{
				pathParam("feature", "attribute: importer, consignor, declarant, hs2, hs4, hs6, origin, … / 属性"),
				pathParam("value", "the attribute's value / 属性值"),
			},
			ok: http.StatusOK, out: profileResponse{}, errors: []int{http.StatusServiceUnavailable}}},

		// Schemas and this document.
		{get, "/v1/schemas", public, s.schemaList, op{
			id: "listSchemas", tag: "schemas", summary: "Names of the published JSON Schemas",
			summaryZH: "已发布的 JSON Schema 列表", ok: http.StatusOK, out: struct {
				Schemas []string `json:"schemas"`
			}{}}},
		{get, "/v1/schemas/:name", public, s.schema, op{
			id: "getSchema", tag: "schemas", summary: "One published JSON Schema of a message kind",
			summaryZH: "消息的 JSON Schema", params: []param{pathParam("name", "declaration.v1.json, or declaration for its latest version")},
			ok: http.StatusOK, out: map[string]any{}, errors: []int{http.StatusNotFound}}},
		{get, "/v1/openapi.json", public, s.serveOpenAPI, op{
			id: "openapi", tag: "schemas", summary: "This OpenAPI document", summaryZH: "本 OpenAPI 文档",
			ok: http.StatusOK, out: map[string]any{}}},

		// Sessions.
		{post, "/v1/login", public, s.login, op{
			id: "login", tag: "session", summary: "Log in to the console (sets an HttpOnly session cookie)",
			summaryZH: "控制台登录", desc: "Send the returned csrf_token in X-CSRF-Token on every state-changing request.",
			body: loginRequest{}, ok: http.StatusOK, out: meResponse{},
			errors: []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusTooManyRequests}}},
		{post, "/v1/logout", public, s.logout, op{
			id: "logout", tag: "session", summary: "End the console session", summaryZH: "退出登录",
			ok: http.StatusNoContent, errors: []int{http.StatusForbidden}}},
		{get, "/v1/me", authenticated, s.me, op{
			id: "me", tag: "session", summary: "Who is calling, and the session's CSRF token",
			summaryZH: "当前用户", ok: http.StatusOK, out: meResponse{}}},

		// Operations and the console (not part of /v1, not in the API document).
		{get, "/healthz", public, s.healthz, op{}},
		{get, "/readyz", public, s.readyz, op{}},
		{get, "/metrics", public, s.metricsHandler(), op{}},
		{get, "/", public, s.toConsole, op{}},
		{get, "/console/*filepath", public, s.consoleHandler(), op{}},
	}
}

// install registers the route table on e and builds the OpenAPI document from it.
func (s *server) install(e *gin.Engine) {
	rs := s.routes()
	doc, err := json.Marshal(openAPI(rs))
	if err != nil {
		panic(fmt.Sprintf("web: encode OpenAPI document: %v", err)) // only plain maps and slices inside
	}
	s.openapi = doc
	for _, r := range rs {
		e.Handle(r.method, r.path, s.guard(r.access), r.handle)
	}
}
