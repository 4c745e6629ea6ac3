package targeting

import (
	"strconv"
)

// text accumulates every string a decision needs (reason texts, cross feature values) in one
// byte buffer, converted to a single string at the end and sliced: a decision then costs one
// allocation for all its text instead of one per string.
type text struct {
	b     []byte
	spans []span
}

type span struct{ lo, hi int }

// ref is a handle to a string in a text; static strings bypass the buffer.
type ref struct {
	idx    int    // span index, or −1 for a static string
	static string // used when idx < 0
}

func (t *text) reset() {
	t.b = t.b[:0]
	t.spans = t.spans[:0]
}

func staticRef(s string) ref { return ref{idx: -1, static: s} }

// begin starts a new string; end closes it and returns its handle.
func (t *text) begin() int { return len(t.b) }
func (t *text) end(lo int) ref {
	t.spans = append(t.spans, span{lo, len(t.b)})
	return ref{idx: len(t.spans) - 1}
}

func (t *text) str(s string) *text { t.b = append(t.b, s...); return t }
func (t *text) num(v float64, prec int) *text {
	t.b = strconv.AppendFloat(t.b, v, 'f', prec, 64)
	return t
}
func (t *text) int(v int64) *text   { t.b = strconv.AppendInt(t.b, v, 10); return t }
func (t *text) pct(p float64) *text { return t.num(p*100, pctPrec(p)).str("%") }
func (t *text) concat(a, sep, b string) ref {
	lo := t.begin()
	t.str(a).str(sep).str(b)
	return t.end(lo)
}
func resolve(all string, t *text, r ref) string {
	if r.idx < 0 {
		return r.static
	}
	s := t.spans[r.idx]
	return all[s.lo:s.hi]
}

func pctPrec(p float64) int {
	if p*100 < 10 {
		return 1
	}
	return 0
}

// reasonRef is a reason whose texts are still handles.
type reasonRef struct {
	code, zh, en ref
	weight       float64
}

// featureRef is a feature whose value may still be a handle.
type featureRef struct {
	name  ref
	value ref
}

// profileReason writes "进口商 X 查获率 18%（12 次查验），全国平均 4%" and its English twin.
func (t *text) profileReason(k kind, attrName, value string, mean, n, p0, w float64) reasonRef {
	code := staticRef("profile." + kindNames[k])
	lo := t.begin()
	if k == kAttr {
		t.str(attrName)
	} else {
		t.str(kindZH[k])
	}
	t.str(" ").str(value).str(" 查获率 ").pct(mean).str("（").int(int64(n + 0.5)).str(" 次查验），全国平均 ").pct(p0)
	zh := t.end(lo)
	lo = t.begin()
	if k == kAttr {
		t.str(attrName)
	} else {
		t.str(kindEN[k])
	}
	t.str(" ").str(value).str(" hit rate ").pct(mean).str(" (").int(int64(n + 0.5)).str(" inspections) vs ").pct(p0).str(" overall")
	en := t.end(lo)
	if k == kAttr {
		lo = t.begin()
		t.str("profile.attr.").str(attrName)
		code = t.end(lo)
	}
	return reasonRef{code: code, zh: zh, en: en, weight: w}
}

func (t *text) undervaluationReason(ratio, z, w float64) reasonRef {
	lo := t.begin()
	t.str("申报单价低于同类商品常见价格 ").pct(1-ratio).str("（偏离 ").num(-z, 1).str(" 个标准差）")
	zh := t.end(lo)
	lo = t.begin()
	t.str("unit value ").pct(1-ratio).str(" below the usual price for this HS code (z = ").num(z, 1).str(")")
	en := t.end(lo)
	return reasonRef{code: staticRef("undervaluation"), zh: zh, en: en, weight: w}
}

func (t *text) overvaluationReason(ratio, z, w float64) reasonRef {
	lo := t.begin()
	t.str("申报单价高于同类商品常见价格 ").pct(ratio-1).str("（偏离 ").num(z, 1).str(" 个标准差）")
	zh := t.end(lo)
	lo = t.begin()
	t.str("unit value ").pct(ratio-1).str(" above the usual price for this HS code (z = ").num(z, 1).str(")")
	en := t.end(lo)
	return reasonRef{code: staticRef("overvaluation"), zh: zh, en: en, weight: w}
}

func (t *text) weightReason(dev, w float64) reasonRef {
	lo := t.begin()
	t.str("申报重量与舱单相差 ").pct(dev)
	zh := t.end(lo)
	lo = t.begin()
	t.str("declared weight differs from the manifest by ").pct(dev)
	en := t.end(lo)
	return reasonRef{code: staticRef("weight_deviation"), zh: zh, en: en, weight: w}
}

func (t *text) randomReason(rate float64) reasonRef {
	lo := t.begin()
	t.str("随机布控抽中（抽样率 ").pct(rate).str("）")
	zh := t.end(lo)
	lo = t.begin()
	t.str("random control selection (rate ").pct(rate).str(")")
	en := t.end(lo)
	return reasonRef{code: staticRef("random"), zh: zh, en: en}
}

func (t *text) ruleReason(r *Rule, selected bool) reasonRef {
	lo := t.begin()
	t.str("布控指令 ").str(r.ID).str("《").str(r.Title).str("》")
	if r.ReasonZH != "" {
		t.str("：").str(r.ReasonZH)
	}
	if !selected {
		t.str("（命中，未抽中）")
	}
	zh := t.end(lo)
	lo = t.begin()
	t.str("rule ").str(r.ID).str(" \"").str(r.Title).str("\"")
	if r.ReasonEN != "" {
		t.str(": ").str(r.ReasonEN)
	}
	if !selected {
		t.str(" (matched, not drawn)")
	}
	en := t.end(lo)
	lo = t.begin()
	t.str("rule:").str(r.ID)
	return reasonRef{code: t.end(lo), zh: zh, en: en}
}

// Static reasons need no buffer.
var (
	reasonRoute = reasonRef{code: staticRef("route_mismatch"),
		zh: staticRef("原产国与装运港及中转路线不符"), en: staticRef("origin inconsistent with the port of loading and the route")}
	reasonUndeclared = reasonRef{code: staticRef("undeclared_containers"),
		zh: staticRef("舱单中有未申报的集装箱"), en: staticRef("the manifest lists containers the declaration does not")}
	reasonNewImporter = reasonRef{code: staticRef("new_importer"),
		zh: staticRef("新进口企业，尚无查验记录"), en: staticRef("new importer without inspection history")}
	reasonNewDeclarant = reasonRef{code: staticRef("new_declarant"),
		zh: staticRef("新申报单位，尚无查验记录"), en: staticRef("new declarant without inspection history")}
	reasonExplore = reasonRef{code: staticRef("explore"),
		zh: staticRef("探索性抽查：该企业或商品的风险尚不确定"), en: staticRef("exploratory selection: the risk of this trader or goods is still uncertain")}
	reasonLowRisk = reasonRef{code: staticRef("low_risk"),
		zh: staticRef("综合风险低于布控阈值"), en: staticRef("overall risk below the selection threshold")}
	reasonModel = reasonRef{code: staticRef("model"),
		zh: staticRef("模型综合风险评分高于布控阈值"), en: staticRef("model risk score above the selection threshold")}
)
