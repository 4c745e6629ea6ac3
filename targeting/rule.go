package targeting

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portguard/portguard/ingest"
)

// RuleState is a rule's place in its lifecycle: draft → pending → active → expired / revoked.
type RuleState string

// Rule states. Expired is derived: an active rule past its end (or an emergency rule past its
// approval deadline) reads as expired without anyone touching it.
const (
	RuleDraft   RuleState = "draft"
	RulePending RuleState = "pending"
	RuleActive  RuleState = "active"
	RuleExpired RuleState = "expired"
	RuleRevoked RuleState = "revoked"
)

// Op is a condition's comparison.
type Op string

// Condition operators. Prefix applies to codes (an HS code "0303" matches 0303xxxxxx); Range is
// inclusive at both ends, either end optional; Below and Above are strict bounds.
const (
	OpEq     Op = "eq"
	OpIn     Op = "in"
	OpPrefix Op = "prefix"
	OpRange  Op = "range"
	OpBelow  Op = "below"
	OpAbove  Op = "above"
)

// Expr is a rule's condition tree: exactly one of All (AND), Any (OR) or a leaf condition
// (Field, Op and Values or Min/Max). Item fields (hs_code, origin_country, unit_value …) are
// evaluated per goods item: a rule matches when the whole tree holds for at least one item,
// header fields taken from the declaration, so "HS 0303 AND origin JP" means one item is both.
//
// Fields: header strings port, trade_mode, transport_mode, direction, importer, consignor,
// declarant, trading_country, departure_country, loading_port, importer_grade, attr.NAME;
// item strings hs_code, ciq_code, origin_country, unit; header numbers total_value,
// weight_deviation (manifest vs declared), undeclared_containers, origin_route_mismatch (0/1),
// items, measure.NAME; item numbers quantity, net_weight_kg, gross_weight_kg, declared_value,
// value_base, unit_value (base value per kg) and unit_value_ratio (unit value ÷ the median for
// its HS6, as the engine has learnt it; 1 when unknown).
type Expr struct {
	All    []Expr   `json:"all,omitempty"`
	Any    []Expr   `json:"any,omitempty"`
	Field  string   `json:"field,omitempty"`
	Op     Op       `json:"op,omitempty"`
	Values []string `json:"values,omitempty"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// Rule is a targeting rule (布控指令). Its JSON form is what the RuleStore keeps per version.
type Rule struct {
	ID       string    `json:"id"`
	Version  int       `json:"version"`
	State    RuleState `json:"state"`
	Title    string    `json:"title"`
	ReasonZH string    `json:"reason_zh"`
	ReasonEN string    `json:"reason_en"`
	Author   string    `json:"author"`
	Approver string    `json:"approver,omitempty"`
	When     Expr      `json:"when"`
	Action   Action    `json:"action"`
	// Percent is the share of matching consignments selected, 0 < Percent ≤ 100, drawn with
	// RandomDraw(key, rule ID, declaration number).
	Percent   float64   `json:"percent"`
	ValidFrom time.Time `json:"valid_from"`
	ValidTo   time.Time `json:"valid_to,omitzero"` // zero: open-ended
	Ports     []string  `json:"ports,omitempty"`   // empty: every port
	Priority  int       `json:"priority"`          // higher wins between matching rules
	// Emergency rules are activated by a supervisor without prior approval; a risk analyst
	// must approve them before ApprovalDue, or they stop matching.
	Emergency   bool      `json:"emergency,omitempty"`
	ApprovalDue time.Time `json:"approval_due,omitzero"`
	UpdatedBy   string    `json:"updated_by"`
	UpdatedAt   time.Time `json:"updated_at"`
	Note        string    `json:"note,omitempty"` // why it was revoked or rejected
}

// EffectiveState is the rule's state at now: an active rule past ValidTo, or an unapproved
// emergency rule past ApprovalDue, is expired.
func (r *Rule) EffectiveState(now time.Time) RuleState {
	if r.State != RuleActive {
		return r.State
	}
	if !r.ValidTo.IsZero() && !now.Before(r.ValidTo) {
		return RuleExpired
	}
	if r.Emergency && r.Approver == "" && !r.ApprovalDue.IsZero() && !now.Before(r.ApprovalDue) {
		return RuleExpired
	}
	return RuleActive
}

// field identifies what a leaf condition reads.
type field uint8

const (
	fNone field = iota
	// header strings
	fPort
	fTradeMode
	fTransport
	fDirection
	fImporter
	fConsignor
	fDeclarant
	fTradingCountry
	fDeparture
	fLoadingPort
	fGrade
	fAttr
	// item strings
	fHS
	fCIQ
	fOrigin
	fUnit
	// header numbers
	fTotalValue
	fWeightDev
	fUndeclared
	fRouteMismatch
	fItems
	fMeasure
	// item numbers
	fQuantity
	fNetKg
	fGrossKg
	fDeclaredValue
	fValueBase
	fUnitValue
	fUnitValueRatio
)

var fieldByName = map[string]field{
	"port": fPort, "trade_mode": fTradeMode, "transport_mode": fTransport, "direction": fDirection,
	"importer": fImporter, "consignor": fConsignor, "declarant": fDeclarant,
	"trading_country": fTradingCountry, "departure_country": fDeparture, "loading_port": fLoadingPort,
	"importer_grade": fGrade,
	"hs_code":        fHS, "ciq_code": fCIQ, "origin_country": fOrigin, "unit": fUnit,
	"total_value": fTotalValue, "weight_deviation": fWeightDev, "undeclared_containers": fUndeclared,
	"origin_route_mismatch": fRouteMismatch, "items": fItems,
	"quantity": fQuantity, "net_weight_kg": fNetKg, "gross_weight_kg": fGrossKg,
	"declared_value": fDeclaredValue, "value_base": fValueBase, "unit_value": fUnitValue,
	"unit_value_ratio": fUnitValueRatio,
}

func (f field) numeric() bool { return f >= fTotalValue }
func (f field) perItem() bool {
	return (f >= fHS && f <= fUnit) || f >= fQuantity
}

// cexpr is a compiled Expr.
type cexpr struct {
	all, any []cexpr
	f        field
	name     string // attribute or measure name
	op       Op
	vals     []string
	set      map[string]struct{} // for long in-lists
	lo, hi   float64
	perItem  bool // the subtree reads an item field
}

// ruleInput is what a rule sees of one declaration.
type ruleInput struct {
	d      *ingest.Declaration
	grade  string
	ratios []float64 // unit value ÷ HS6 median per item
}

func (c *cexpr) eval(in *ruleInput, item int) bool {
	switch {
	case c.all != nil:
		for i := range c.all {
			if !c.all[i].eval(in, item) {
				return false
			}
		}
		return true
	case c.any != nil:
		for i := range c.any {
			if c.any[i].eval(in, item) {
				return true
			}
		}
		return false
	}
	if c.f.numeric() {
		v, ok := numValue(in, item, c.f, c.name)
		if !ok {
			return false
		}
		switch c.op {
		case OpBelow:
			return v < c.hi
		case OpAbove:
			return v > c.lo
		case OpEq:
			return v == c.lo
		default: // range
			return v >= c.lo && v <= c.hi
		}
	}
	s, ok := strValue(in, item, c.f, c.name)
	if !ok {
		return false
	}
	switch c.op {
	case OpPrefix:
		for _, p := range c.vals {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	default: // eq, in
		if c.set != nil {
			_, ok := c.set[s]
			return ok
		}
		for _, v := range c.vals {
			if s == v {
				return true
			}
		}
		return false
	}
}

func strValue(in *ruleInput, item int, f field, name string) (string, bool) {
	d := in.d
	switch f {
	case fPort:
		return d.Port, true
	case fTradeMode:
		return d.TradeMode, true
	case fTransport:
		return d.TransportMode, true
	case fDirection:
		return string(d.Direction), true
	case fImporter:
		return importerOf(d).Key(), true
	case fConsignor:
		return counterpartOf(d).Key(), true
	case fDeclarant:
		return d.Declarant, true
	case fTradingCountry:
		return d.TradingCountry, true
	case fDeparture:
		return d.DepartureCountry, true
	case fLoadingPort:
		return d.LoadingPort, true
	case fGrade:
		return in.grade, true
	case fAttr:
		v, ok := d.Attributes[name]
		return v, ok
	}
	if item < 0 || item >= len(d.Items) {
		return "", false
	}
	it := &d.Items[item]
	switch f {
	case fHS:
		return it.HSCode, true
	case fCIQ:
		return it.CIQCode, true
	case fOrigin:
		return it.OriginCountry, true
	case fUnit:
		return it.Unit, true
	}
	return "", false
}

func numValue(in *ruleInput, item int, f field, name string) (float64, bool) {
	d := in.d
	switch f {
	case fTotalValue:
		return d.TotalValueBase(), true
	case fWeightDev:
		return d.Check.WeightDeviation, d.Check.Joined
	case fUndeclared:
		return float64(d.Check.UndeclaredContainers), d.Check.Joined
	case fRouteMismatch:
		if d.Check.OriginRouteMismatch {
			return 1, true
		}
		return 0, d.Check.Joined
	case fItems:
		return float64(len(d.Items)), true
	case fMeasure:
		v, ok := d.Measures[name]
		return v, ok
	}
	if item < 0 || item >= len(d.Items) {
		return 0, false
	}
	it := &d.Items[item]
	switch f {
	case fQuantity:
		return it.Quantity, true
	case fNetKg:
		return it.NetWeightKg, true
	case fGrossKg:
		return it.GrossWeightKg, true
	case fDeclaredValue:
		return it.DeclaredValue, true
	case fValueBase:
		return it.ValueBase, true
	case fUnitValue:
		if it.NetWeightKg <= 0 {
			return 0, false
		}
		return it.ValueBase / it.NetWeightKg, true
	case fUnitValueRatio:
		if item < len(in.ratios) {
			return in.ratios[item], true
		}
		return 1, true
	}
	return 0, false
}

func importerOf(d *ingest.Declaration) *ingest.Enterprise {
	if d.Direction == ingest.Export {
		return &d.Consignor
	}
	return &d.Consignee
}

func counterpartOf(d *ingest.Declaration) *ingest.Enterprise {
	if d.Direction == ingest.Export {
		return &d.Consignee
	}
	return &d.Consignor
}

// compile checks e and returns its compiled form, appending every problem to errs.
func compileExpr(e *Expr, path string, errs *[]ingest.FieldError, depth int) cexpr {
	bad := func(p, code, zh, en string) {
		*errs = append(*errs, ingest.FieldError{Path: p, Code: code, ZH: zh, EN: en})
	}
	if depth > 8 {
		bad(path, "range", "条件嵌套过深（最多 8 层）", "conditions nested too deep (at most 8 levels)")
		return cexpr{}
	}
	n := 0
	if e.All != nil {
		n++
	}
	if e.Any != nil {
		n++
	}
	if e.Field != "" {
		n++
	}
	if n != 1 {
		bad(path, "format", "条件必须恰好是 all、any 或单个字段条件之一", "a condition must be exactly one of all, any or a field condition")
		return cexpr{}
	}
	if e.All != nil || e.Any != nil {
		subs, name := e.All, "all"
		if e.Any != nil {
			subs, name = e.Any, "any"
		}
		if len(subs) == 0 {
			bad(path+"."+name, "required", "组合条件不能为空", "a combination needs at least one condition")
			return cexpr{}
		}
		out := make([]cexpr, len(subs))
		var perItem bool
		for i := range subs {
			out[i] = compileExpr(&subs[i], path+"."+name+"["+strconv.Itoa(i)+"]", errs, depth+1)
			perItem = perItem || out[i].perItem
		}
		c := cexpr{perItem: perItem}
		if e.All != nil {
			c.all = out
		} else {
			c.any = out
		}
		return c
	}
	c := cexpr{op: e.Op}
	fname := e.Field
	switch {
	case strings.HasPrefix(fname, "attr."):
		c.f, c.name = fAttr, fname[len("attr."):]
	case strings.HasPrefix(fname, "measure."):
		c.f, c.name = fMeasure, fname[len("measure."):]
	default:
		c.f = fieldByName[fname]
	}
	if c.f == fNone || ((c.f == fAttr || c.f == fMeasure) && c.name == "") {
		bad(path+".field", "unknown", "未知字段 "+fname, "unknown field "+fname)
		return c
	}
	c.perItem = c.f.perItem()
	if c.f.numeric() {
		switch e.Op {
		case OpRange:
			if e.Min == nil && e.Max == nil {
				bad(path, "required", "范围条件至少需要 min 或 max", "a range needs min or max")
			}
			c.lo, c.hi = -inf, inf
			if e.Min != nil {
				c.lo = *e.Min
			}
			if e.Max != nil {
				c.hi = *e.Max
			}
			if c.lo > c.hi {
				bad(path, "range", "min 大于 max", "min is greater than max")
			}
		case OpBelow:
			if e.Max == nil {
				bad(path+".max", "required", "below 条件需要 max", "below needs max")
			} else {
				c.hi = *e.Max
			}
		case OpAbove:
			if e.Min == nil {
				bad(path+".min", "required", "above 条件需要 min", "above needs min")
			} else {
				c.lo = *e.Min
			}
		case OpEq:
			if len(e.Values) != 1 {
				bad(path+".values", "required", "eq 条件需要一个值", "eq needs exactly one value")
				return c
			}
			v, err := strconv.ParseFloat(e.Values[0], 64)
			if err != nil {
				bad(path+".values[0]", "format", "不是数字", "not a number")
			}
			c.lo = v
		default:
			bad(path+".op", "unknown", "数值字段不支持运算 "+string(e.Op), "operator "+string(e.Op)+" does not apply to a numeric field")
		}
		return c
	}
	switch e.Op {
	case OpEq, OpIn, OpPrefix:
	default:
		bad(path+".op", "unknown", "文本字段不支持运算 "+string(e.Op), "operator "+string(e.Op)+" does not apply to a text field")
		return c
	}
	if len(e.Values) == 0 || (e.Op == OpEq && len(e.Values) != 1) {
		bad(path+".values", "required", "缺少条件值", "condition values are missing")
		return c
	}
	if e.Op == OpPrefix && c.f != fHS && c.f != fCIQ && c.f != fLoadingPort {
		bad(path+".op", "unknown", "prefix 仅适用于 hs_code、ciq_code、loading_port", "prefix applies only to hs_code, ciq_code and loading_port")
	}
	for i, v := range e.Values {
		if v == "" {
			bad(path+".values["+strconv.Itoa(i)+"]", "required", "条件值为空", "empty condition value")
		}
		if c.f == fHS && (len(v) > 10 || strings.Trim(v, "0123456789") != "") {
			bad(path+".values["+strconv.Itoa(i)+"]", "format", "HS 编码前缀须为 1–10 位数字", "an HS code prefix is 1 to 10 digits")
		}
	}
	c.vals = slices.Clone(e.Values)
	if len(c.vals) > 8 && e.Op != OpPrefix {
		c.set = make(map[string]struct{}, len(c.vals))
		for _, v := range c.vals {
			c.set[v] = struct{}{}
		}
	}
	return c
}

var inf = math.Inf(1)

// compiledRule is an active rule ready to match.
type compiledRule struct {
	r       *Rule
	when    cexpr
	ports   []string
	inspect bool // the action sends the consignment to an officer
	rank    int  // severity of the action, for choosing among matches
	stats   *ruleStats
	// from and to bound when the rule matches, in unix nanoseconds: the validity window,
	// shortened to the approval deadline for an emergency rule not yet approved.
	from, to int64
}

// setWindow computes from and to; called whenever the rule's version changes.
func (c *compiledRule) setWindow() {
	c.from, c.to = c.r.ValidFrom.UnixNano(), math.MaxInt64
	if !c.r.ValidTo.IsZero() {
		c.to = c.r.ValidTo.UnixNano()
	}
	if c.r.Emergency && c.r.Approver == "" && !c.r.ApprovalDue.IsZero() {
		c.to = min(c.to, c.r.ApprovalDue.UnixNano())
	}
}

// actionRank orders actions: what a rule asks for that is most severe wins.
func actionRank(a Action) int {
	switch a {
	case ActionSampling:
		return 4
	case ActionPhysical:
		return 3
	case ActionHold:
		return 2
	case ActionDocuments:
		return 1
	}
	return 0
}

func channelOf(a Action) Channel {
	switch a {
	case ActionPhysical, ActionSampling:
		return Red
	case ActionDocuments, ActionHold:
		return Yellow
	}
	return Green
}

// matches evaluates the rule fully at now (unix nanoseconds): time window, emergency approval
// deadline, port scope and conditions.
func (c *compiledRule) matches(in *ruleInput, now int64) bool {
	if now < c.from || now >= c.to {
		return false
	}
	if len(c.ports) > 0 && !slices.Contains(c.ports, in.d.Port) {
		return false
	}
	if !c.when.perItem || len(in.d.Items) == 0 {
		return c.when.eval(in, 0)
	}
	for i := range in.d.Items {
		if c.when.eval(in, i) {
			return true
		}
	}
	return false
}

// inScope checks the time window and the port scope only.
func (c *compiledRule) inScope(in *ruleInput, now int64) bool {
	return now >= c.from && now < c.to && (len(c.ports) == 0 || slices.Contains(c.ports, in.d.Port))
}

// matchesItem is matches restricted to one item (for rules found through that item's values).
func (c *compiledRule) matchesItem(in *ruleInput, now int64, item int) bool {
	if now < c.from || now >= c.to {
		return false
	}
	if len(c.ports) > 0 && !slices.Contains(c.ports, in.d.Port) {
		return false
	}
	return c.when.eval(in, item)
}

// validateRule checks a rule's content (not its lifecycle) and compiles it.
func validateRule(r *Rule) (*compiledRule, error) {
	var errs []ingest.FieldError
	bad := func(p, code, zh, en string) {
		errs = append(errs, ingest.FieldError{Path: p, Code: code, ZH: zh, EN: en})
	}
	if strings.TrimSpace(r.Title) == "" {
		bad("title", "required", "缺少标题", "title is required")
	}
	if strings.TrimSpace(r.ReasonZH) == "" && strings.TrimSpace(r.ReasonEN) == "" {
		bad("reason_zh", "required", "缺少布控理由", "a reason is required")
	}
	switch r.Action {
	case ActionPhysical, ActionSampling, ActionDocuments, ActionHold:
	default:
		bad("action", "unknown", "未知处置要求 "+string(r.Action), "unknown action "+string(r.Action))
	}
	if !(r.Percent > 0 && r.Percent <= 100) {
		bad("percent", "range", "布控比例须在 0（不含）到 100 之间", "percent must be above 0 and at most 100")
	}
	if r.ValidFrom.IsZero() {
		bad("valid_from", "required", "缺少生效时间", "valid_from is required")
	}
	if !r.ValidTo.IsZero() && !r.ValidTo.After(r.ValidFrom) {
		bad("valid_to", "range", "失效时间须晚于生效时间", "valid_to must be after valid_from")
	}
	for i, p := range r.Ports {
		if len(p) != 4 || strings.Trim(p, "0123456789") != "" {
			bad("ports["+strconv.Itoa(i)+"]", "format", "口岸代码须为 4 位数字", "a port code is 4 digits")
		}
	}
	when := compileExpr(&r.When, "when", &errs, 0)
	if len(errs) > 0 {
		return nil, &ingest.ValidationError{Kind: "rule", Fields: errs}
	}
	c := &compiledRule{r: r, when: when, ports: r.Ports, inspect: channelOf(r.Action) != Green, rank: actionRank(r.Action)}
	c.setWindow()
	return c, nil
}
