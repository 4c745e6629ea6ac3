package ingest

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Validation limits of the v1 schemas.
const (
	MaxItems          = 50  // goods items per declaration
	MaxAttributes     = 100 // extra attributes per declaration
	MaxAttributeKey   = 64  // bytes in an attribute name
	MaxAttributeValue = 512 // bytes in a string attribute value
	MaxContainers     = 500 // containers per declaration or manifest
)

// Validator decodes, validates and normalizes incoming messages. It is safe for concurrent use.
//
// Every method returns either a normalized value or a *ValidationError listing every problem
// found, each with its field path, a code and a message in Chinese and English. Codes:
// too_large, malformed, unknown_schema, type, unknown_field, required, format, check_digit,
// range, enum, unknown (country, currency), no_rate, duplicate, inconsistent, too_many.
type Validator struct {
	cfg Config
}

// NewValidator returns a validator for cfg; zero fields take their defaults. Check the
// configuration with cfg.Validate first: with a base currency other than CNY and no Rates table,
// every foreign-currency value is rejected with code no_rate.
func NewValidator(cfg Config) *Validator {
	return &Validator{cfg: cfg.withDefaults()}
}

// BaseCurrency is the currency Item.ValueBase is expressed in.
func (v *Validator) BaseCurrency() string { return v.cfg.BaseCurrency }

// checker collects problems found after decoding.
type checker struct {
	errs []FieldError
	bad  map[string]bool // paths with a type error: not checked again
}

func (c *checker) add(path, code, zh, en string) {
	c.errs = append(c.errs, FieldError{Path: path, Code: code, ZH: zh, EN: en})
}

func (c *checker) skip(path string) bool { return len(c.bad) > 0 && c.bad[path] }

// required reports an empty string field and says whether the field is present and well-typed.
func (c *checker) required(path, s, zh, en string) bool {
	if c.skip(path) {
		return false
	}
	if s == "" {
		c.add(path, "required", "缺少必填项："+zh, "required: "+en)
		return false
	}
	return true
}

// tooLarge is the rejection of a message over the size limit.
func (v *Validator) tooLarge(kind string) *ValidationError {
	return &ValidationError{Kind: kind, Fields: []FieldError{{Path: "", Code: "too_large",
		ZH: "报文超过 " + strconv.Itoa(v.cfg.MaxMessageBytes) + " 字节上限",
		EN: "message exceeds the " + strconv.Itoa(v.cfg.MaxMessageBytes) + "-byte limit"}}}
}

func unknownSchema(kind, got, schema string) *ValidationError {
	return &ValidationError{Kind: kind, Fields: []FieldError{{Path: "schema", Code: "unknown_schema",
		ZH: "未知或缺失的报文版本 " + strconv.Quote(got) + "，应为 " + schema,
		EN: "unknown or missing schema " + strconv.Quote(got) + ", expected " + schema}}}
}

// precheck handles well-formedness and the schema identifier, which decide whether the message
// can be decoded field by field at all.
func (v *Validator) precheck(kind, schema string, raw []byte) *ValidationError {
	if msg := malformed(raw); msg != "" {
		return &ValidationError{Kind: kind, Fields: []FieldError{{Path: "", Code: "malformed",
			ZH: "JSON 格式错误：" + msg, EN: "malformed JSON: " + msg}}}
	}
	var head struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return &ValidationError{Kind: kind, Fields: []FieldError{typeError("", "object")}}
	}
	var s string
	_ = json.Unmarshal(head.Schema, &s)
	if s != schema {
		return unknownSchema(kind, s, schema)
	}
	return nil
}

// decode checks the size, then runs the strict fast path (one pass of encoding/json into wire)
// and, only when that fails, the checks of well-formedness and schema and the field-by-field
// decoder that reports every type error. wire is what the fast path decodes into; target is the
// struct the slow path fills (the same memory); got is target's schema field.
func (v *Validator) decode(kind, schema string, raw []byte, wire any, target reflect.Value, got *string,
	extra map[string]func(string, json.RawMessage)) (*checker, *ValidationError) {
	if len(raw) > v.cfg.MaxMessageBytes {
		return nil, v.tooLarge(kind)
	}
	if err := decodeStrict(raw, wire); err == nil {
		if *got != schema {
			return nil, unknownSchema(kind, *got, schema)
		}
		return &checker{}, nil
	}
	if ve := v.precheck(kind, schema, raw); ve != nil {
		return nil, ve
	}
	// The failed fast path may have filled part of target: start again from zero.
	target.Set(reflect.Zero(target.Type()))
	l := &lenient{extra: extra}
	l.object("", raw, target)
	return &checker{errs: l.errs, bad: l.bad}, nil
}

func (c *checker) result(kind string) error {
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Kind: kind, Fields: c.errs}
}

// Declaration decodes, validates and normalizes one declaration message (schema
// portguard.declaration/v1): country codes to alpha-2, currencies and codes to upper case, HS
// codes without separators, item values converted to the base currency, ReceivedAt set, Check
// cleared (ingest fills it from the manifest).
func (v *Validator) Declaration(raw []byte) (*Declaration, error) {
	d := &Declaration{}
	if len(raw) <= v.cfg.MaxMessageBytes && fastDeclaration(raw, d) && d.Schema == SchemaDeclarationV1 {
		// The common case, decoded by hand; anything unusual takes the encoding/json paths below.
		c := &checker{}
		v.checkDeclaration(d, c)
		return v.finishDeclaration(d, c)
	}
	*d = Declaration{}
	var attrs map[string]json.RawMessage
	in := declarationIn{declarationFields: (*declarationFields)(d)}
	var attrErr *FieldError
	c, ve := v.decode("declaration", SchemaDeclarationV1, raw, &in, reflect.ValueOf(d).Elem(), &d.Schema, map[string]func(string, json.RawMessage){
		"attributes": func(p string, r json.RawMessage) {
			if err := json.Unmarshal(r, &attrs); err != nil {
				fe := typeError(p, "object")
				attrErr = &fe
			}
		},
	})
	if ve != nil {
		return nil, ve
	}
	if c.errs == nil && attrs == nil {
		attrs = in.Attributes // the fast path succeeded
	}
	if attrErr != nil {
		c.errs = append(c.errs, *attrErr)
	}
	c.errs = append(c.errs, splitAttributes(d, attrs)...)
	v.checkDeclaration(d, c)
	return v.finishDeclaration(d, c)
}

// finishDeclaration returns the problems found, or d stamped as accepted.
func (v *Validator) finishDeclaration(d *Declaration, c *checker) (*Declaration, error) {
	if err := c.result("declaration"); err != nil {
		return nil, err
	}
	d.Schema = SchemaDeclarationV1
	d.Check = CrossCheck{}
	d.ReceivedAt = v.cfg.Now().UTC()
	return d, nil
}

func (v *Validator) checkDeclaration(d *Declaration, c *checker) {
	d.Number = strings.TrimSpace(d.Number)
	if c.required("declaration_no", d.Number, "报关单号", "declaration number") && !allDigits(d.Number, 18) {
		c.add("declaration_no", "format", "报关单号应为 18 位数字", "declaration number must be 18 digits")
	}
	if !c.skip("version") && d.Version < 1 {
		c.add("version", "range", "版本号应为不小于 1 的整数", "version must be an integer of at least 1")
	}
	d.Direction = Direction(strings.ToUpper(strings.TrimSpace(string(d.Direction))))
	if c.required("direction", string(d.Direction), "进出口标志", "direction") && d.Direction != Import && d.Direction != Export {
		c.add("direction", "enum", "进出口标志应为 I（进口）或 E（出口）", "direction must be I (import) or E (export)")
	}
	if !c.skip("declared_at") && d.DeclaredAt.IsZero() {
		c.add("declared_at", "required", "缺少必填项：申报日期时间", "required: declaration date and time")
	}
	d.Port = strings.TrimSpace(d.Port)
	if c.required("port", d.Port, "申报口岸/关区代码", "customs office / port code") && !allDigits(d.Port, 4) {
		c.add("port", "format", "关区代码应为 4 位数字", "port code must be 4 digits")
	}
	d.TradeMode = strings.TrimSpace(d.TradeMode)
	if c.required("trade_mode", d.TradeMode, "监管方式", "trade mode") && !allDigits(d.TradeMode, 4) {
		c.add("trade_mode", "format", "监管方式代码应为 4 位数字", "trade mode must be 4 digits")
	}
	d.TransportMode = strings.ToUpper(strings.TrimSpace(d.TransportMode))
	if c.required("transport_mode", d.TransportMode, "运输方式", "transport mode") && !upperAlnum(d.TransportMode, 1) {
		c.add("transport_mode", "format", "运输方式代码应为 1 位数字或字母", "transport mode must be one digit or letter")
	}

	// The domestic party (consignee of an import, consignor of an export) is registered with
	// customs; the overseas party has no Chinese codes, but any it carries must be right.
	domestic := "consignee"
	if d.Direction == Export {
		domestic = "consignor"
	}
	v.checkEnterprise("consignee", &d.Consignee, domestic == "consignee", c)
	v.checkEnterprise("consignor", &d.Consignor, domestic == "consignor", c)

	d.Declarant = strings.ToUpper(strings.TrimSpace(d.Declarant))
	if c.required("declarant", d.Declarant, "申报单位", "declarant agent") {
		switch len(d.Declarant) {
		case 10:
			if !upperAlnum(d.Declarant, 10) {
				c.add("declarant", "format", "申报单位海关编码应为 10 位数字或字母", "declarant customs code must be 10 digits or letters")
			}
		case 18:
			v.checkUSCC("declarant", d.Declarant, c)
		default:
			c.add("declarant", "format", "申报单位应为 10 位海关编码或 18 位统一社会信用代码",
				"declarant must be a 10-character customs code or an 18-character unified social credit code")
		}
	}

	d.TradingCountry = v.country("trading_country", d.TradingCountry, false, c)
	d.DepartureCountry = v.country("departure_country", d.DepartureCountry, false, c)
	d.LoadingPort = v.locode("loading_port", d.LoadingPort, false, c)
	d.BillOfLading = normalizeBL(d.BillOfLading)
	if !c.skip("bill_of_lading") && !validBL(d.BillOfLading) {
		c.add("bill_of_lading", "format", "提运单号应为不超过 50 个字符且不含空白", "bill of lading must be at most 50 characters without spaces")
	}
	d.VesselVoyage = strings.TrimSpace(d.VesselVoyage)
	d.Containers = v.containers("containers", d.Containers, c)

	switch {
	case c.skip("items"):
	case len(d.Items) == 0:
		c.add("items", "required", "至少应有 1 项商品", "at least one goods item is required")
	case len(d.Items) > MaxItems:
		c.add("items", "too_many", "商品项不得超过 50 项", "at most 50 goods items are allowed")
	}
	var seqs uint64 // bit n: sequence number n (1 … MaxItems) seen
	for i := range d.Items {
		v.checkItem(d, i, &seqs, c)
	}

	if len(d.Attributes)+len(d.Measures) > MaxAttributes {
		c.add("attributes", "too_many", "扩展属性不得超过 100 个", "at most 100 attributes are allowed")
	}
	for k, s := range d.Attributes {
		v.checkAttribute(k, len(s), c)
	}
	for k := range d.Measures {
		v.checkAttribute(k, 0, c)
	}
}

func (v *Validator) checkAttribute(k string, valueLen int, c *checker) {
	if k == "" || len(k) > MaxAttributeKey {
		c.add("attributes."+k, "format", "扩展属性名应为 1 至 64 个字节", "attribute names must be 1 to 64 bytes")
	}
	if valueLen > MaxAttributeValue {
		c.add("attributes."+k, "range", "扩展属性值不得超过 512 个字节", "attribute values must be at most 512 bytes")
	}
}

func (v *Validator) checkItem(d *Declaration, i int, seqs *uint64, c *checker) {
	it := &d.Items[i]
	// Paths are built only when a problem is reported or an earlier type error is looked up:
	// an item without problems costs no string concatenation.
	at := func(field string) string { return "items[" + strconv.Itoa(i) + "]." + field }
	skip := func(field string) bool { return len(c.bad) > 0 && c.bad[at(field)] }
	if !skip("seq") {
		if it.Seq == 0 {
			it.Seq = i + 1
		}
		if it.Seq < 1 || it.Seq > MaxItems {
			c.add(at("seq"), "range", "商品序号应为 1 至 50", "item sequence number must be 1 to 50")
		} else if *seqs&(1<<it.Seq) != 0 {
			c.add(at("seq"), "duplicate", "商品序号重复", "duplicate item sequence number")
		} else {
			*seqs |= 1 << it.Seq
		}
	}
	it.HSCode = stripChars(strings.TrimSpace(it.HSCode), ". ")
	if !skip("hs_code") {
		if it.HSCode == "" {
			c.add(at("hs_code"), "required", "缺少必填项：商品编码", "required: HS code")
		} else if !allDigits(it.HSCode, 10) {
			c.add(at("hs_code"), "format", "商品编码应为 10 位数字", "HS code must be 10 digits")
		} else if ch := it.HSCode[:2]; ch == "00" || ch == "77" || ch > "97" {
			c.add(at("hs_code"), "unknown", "商品编码章号 "+ch+" 不存在", "HS chapter "+ch+" does not exist")
		}
	}
	it.CIQCode = strings.TrimSpace(it.CIQCode)
	if it.CIQCode != "" && !allDigits(it.CIQCode, 3) && !skip("ciq_code") {
		c.add(at("ciq_code"), "format", "检验检疫编码应为 3 位数字", "CIQ code must be 3 digits")
	}
	it.Description = strings.TrimSpace(it.Description)
	if !(it.Quantity > 0) && !skip("quantity") {
		c.add(at("quantity"), "range", "数量应大于 0", "quantity must be greater than 0")
	}
	it.Unit = strings.TrimSpace(it.Unit)
	if it.NetWeightKg < 0 && !skip("net_weight_kg") {
		c.add(at("net_weight_kg"), "range", "净重不得为负数", "net weight must not be negative")
	}
	if !skip("gross_weight_kg") {
		switch {
		case it.GrossWeightKg < 0:
			c.add(at("gross_weight_kg"), "range", "毛重不得为负数", "gross weight must not be negative")
		case it.GrossWeightKg > 0 && it.GrossWeightKg < it.NetWeightKg:
			c.add(at("gross_weight_kg"), "inconsistent", "毛重不得小于净重", "gross weight must not be less than net weight")
		}
	}
	valueOK := !skip("declared_value")
	if valueOK && !(it.DeclaredValue > 0) {
		c.add(at("declared_value"), "range", "申报总价应大于 0", "declared value must be greater than 0")
		valueOK = false
	}
	it.Currency = strings.ToUpper(strings.TrimSpace(it.Currency))
	if !skip("currency") {
		switch {
		case it.Currency == "":
			c.add(at("currency"), "required", "缺少必填项：币制", "required: currency")
		case !KnownCurrency(it.Currency):
			c.add(at("currency"), "unknown", "币制 "+it.Currency+" 不是 ISO 4217 代码", "currency "+it.Currency+" is not an ISO 4217 code")
		case valueOK && !d.DeclaredAt.IsZero():
			rate, ok := v.rate(it.Currency, d)
			if !ok {
				c.add(at("currency"), "no_rate", "汇率表中没有 "+it.Currency+" 在申报日期的汇率",
					"no exchange rate for "+it.Currency+" on the declaration date")
			} else {
				it.ValueBase = math.Round(it.DeclaredValue*rate*100) / 100
			}
		}
	}
	it.OriginCountry = v.countryAt(at, "origin_country", it.OriginCountry, true, c)
	it.Purpose = strings.TrimSpace(it.Purpose)
}

func (v *Validator) rate(cur string, d *Declaration) (float64, bool) {
	if cur == v.cfg.BaseCurrency {
		return 1, true
	}
	if v.cfg.Rates == nil {
		return 0, false
	}
	return v.cfg.Rates.Rate(cur, d.DeclaredAt)
}

func (v *Validator) checkEnterprise(path string, e *Enterprise, domestic bool, c *checker) {
	e.USCC = strings.ToUpper(strings.TrimSpace(e.USCC))
	e.CustomsCode = strings.ToUpper(strings.TrimSpace(e.CustomsCode))
	e.Name = strings.TrimSpace(e.Name)
	if domestic && !c.skip(path) && !c.skip(path+".uscc") && !c.skip(path+".customs_code") && e.USCC == "" && e.CustomsCode == "" {
		c.add(path, "required", "境内收发货人须有统一社会信用代码或海关编码",
			"the domestic party needs a unified social credit code or a customs code")
	}
	if e.USCC != "" && !c.skip(path+".uscc") {
		v.checkUSCC(path+".uscc", e.USCC, c)
	}
	if e.CustomsCode != "" && !c.skip(path+".customs_code") && !upperAlnum(e.CustomsCode, 10) {
		c.add(path+".customs_code", "format", "海关编码应为 10 位数字或字母", "customs code must be 10 digits or letters")
	}
}

func (v *Validator) checkUSCC(path, s string, c *checker) {
	switch USCCProblem(s) {
	case "format":
		c.add(path, "format", "统一社会信用代码应为 18 位（数字及除 I、O、S、V、Z 外的大写字母）",
			"unified social credit code must be 18 characters (digits and capital letters except I, O, S, V, Z)")
	case "check_digit":
		c.add(path, "check_digit", "统一社会信用代码校验码错误", "unified social credit code check character does not match")
	}
}

// country normalizes an alpha-2 or alpha-3 code to alpha-2 and reports unknown codes.
func (v *Validator) country(path, code string, required bool, c *checker) string {
	return v.countryAt(func(string) string { return path }, "", code, required, c)
}

// countryAt is country with the path built by at(field) only when needed.
func (v *Validator) countryAt(at func(string) string, field, code string, required bool, c *checker) string {
	code = strings.TrimSpace(code)
	if len(c.bad) > 0 && c.skip(at(field)) {
		return code
	}
	if code == "" {
		if required {
			c.add(at(field), "required", "缺少必填项：国别（地区）", "required: country")
		}
		return code
	}
	a2, ok := NormalizeCountry(code)
	if !ok {
		c.add(at(field), "unknown", "国别代码 "+code+" 不是 ISO 3166-1 代码", "country "+code+" is not an ISO 3166-1 code")
		return code
	}
	return a2
}

// locode normalizes a UN/LOCODE ("CN SHA" → "CNSHA") and checks its country part.
func (v *Validator) locode(path, s string, required bool, c *checker) string {
	s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if c.skip(path) {
		return s
	}
	if s == "" {
		if required {
			c.add(path, "required", "缺少必填项：港口代码", "required: port code (UN/LOCODE)")
		}
		return s
	}
	if len(s) != 5 || !upperAlnum(s[2:], 3) {
		c.add(path, "format", "港口代码应为 5 位 UN/LOCODE（如 CNSHA）", "port must be a 5-character UN/LOCODE such as CNSHA")
		return s
	}
	if _, ok := countryByA2[s[:2]]; !ok {
		c.add(path, "unknown", "港口代码的国别 "+s[:2]+" 不存在", "port country "+s[:2]+" is not an ISO 3166-1 code")
	}
	return s
}

func (v *Validator) containers(path string, cs []string, c *checker) []string {
	if c.skip(path) {
		return cs
	}
	if len(cs) > MaxContainers {
		c.add(path, "too_many", "集装箱不得超过 500 个", "at most 500 containers are allowed")
		return cs
	}
	for i, s := range cs {
		s = normalizeContainer(s)
		cs[i] = s
		switch ContainerProblem(s) {
		case "format":
			c.add(path+"["+strconv.Itoa(i)+"]", "format", "集装箱号应为 4 位字母加 7 位数字（ISO 6346）", "container number must be 4 letters and 7 digits (ISO 6346)")
		case "check_digit":
			c.add(path+"["+strconv.Itoa(i)+"]", "check_digit", "集装箱号校验位错误", "container number check digit does not match")
		default:
			// A duplicate of an earlier valid container (a quadratic scan: at most 500).
			for _, prev := range cs[:i] {
				if prev == s && ContainerProblem(prev) == "" {
					c.add(path+"["+strconv.Itoa(i)+"]", "duplicate", "集装箱号重复", "duplicate container number")
					break
				}
			}
		}
	}
	return cs
}

func normalizeContainer(s string) string {
	return strings.ToUpper(stripChars(strings.TrimSpace(s), " -"))
}

func normalizeBL(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

func validBL(s string) bool {
	if len(s) > 50 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// Manifest decodes, validates and normalizes one manifest message (schema portguard.manifest/v1):
// the IMO number without its "IMO" prefix, ports and containers upper case, ReceivedAt set.
func (v *Validator) Manifest(raw []byte) (*Manifest, error) {
	m := &Manifest{}
	c, ve := v.decode("manifest", SchemaManifestV1, raw, m, reflect.ValueOf(m).Elem(), &m.Schema, nil)
	if ve != nil {
		return nil, ve
	}
	m.BillOfLading = normalizeBL(m.BillOfLading)
	if c.required("bill_of_lading", m.BillOfLading, "提运单号", "bill of lading") && !validBL(m.BillOfLading) {
		c.add("bill_of_lading", "format", "提运单号应为不超过 50 个字符且不含空白", "bill of lading must be at most 50 characters without spaces")
	}
	m.Carrier = strings.TrimSpace(m.Carrier)
	c.required("carrier", m.Carrier, "承运人", "carrier")
	m.VesselIMO = strings.TrimPrefix(strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(m.VesselIMO)), " ", ""), "IMO")
	if c.required("vessel_imo", m.VesselIMO, "船舶 IMO 编号", "vessel IMO number") {
		switch IMOProblem(m.VesselIMO) {
		case "format":
			c.add("vessel_imo", "format", "IMO 编号应为 7 位数字", "IMO number must be 7 digits")
		case "check_digit":
			c.add("vessel_imo", "check_digit", "IMO 编号校验位错误", "IMO number check digit does not match")
		}
	}
	m.Voyage = strings.TrimSpace(m.Voyage)
	c.required("voyage", m.Voyage, "航次", "voyage")
	m.LoadingPort = v.locode("loading_port", m.LoadingPort, true, c)
	for i := range m.TransshipmentPorts {
		m.TransshipmentPorts[i] = v.locode("transshipment_ports["+strconv.Itoa(i)+"]", m.TransshipmentPorts[i], true, c)
	}
	m.Containers = v.containers("containers", m.Containers, c)
	if !c.skip("gross_weight_kg") && !(m.GrossWeightKg > 0) {
		c.add("gross_weight_kg", "range", "毛重应大于 0", "gross weight must be greater than 0")
	}
	if !c.skip("packages") && m.Packages < 1 {
		c.add("packages", "range", "件数应不小于 1", "package count must be at least 1")
	}
	if !c.skip("arrival_at") && m.ArrivalAt.IsZero() {
		c.add("arrival_at", "required", "缺少必填项：抵港时间", "required: arrival time")
	}
	if err := c.result("manifest"); err != nil {
		return nil, err
	}
	m.Schema = SchemaManifestV1
	m.ReceivedAt = v.cfg.Now().UTC()
	return m, nil
}

// Withdrawal decodes and validates one withdrawal (撤单) message (schema portguard.withdrawal/v1).
func (v *Validator) Withdrawal(raw []byte) (*Withdrawal, error) {
	w := &Withdrawal{}
	c, ve := v.decode("withdrawal", SchemaWithdrawalV1, raw, w, reflect.ValueOf(w).Elem(), &w.Schema, nil)
	if ve != nil {
		return nil, ve
	}
	w.Number = strings.TrimSpace(w.Number)
	if c.required("declaration_no", w.Number, "报关单号", "declaration number") && !allDigits(w.Number, 18) {
		c.add("declaration_no", "format", "报关单号应为 18 位数字", "declaration number must be 18 digits")
	}
	w.Reason = strings.TrimSpace(w.Reason)
	c.required("reason", w.Reason, "撤单原因", "reason")
	if !c.skip("at") && w.At.IsZero() {
		c.add("at", "required", "缺少必填项：撤单时间", "required: withdrawal time")
	}
	if err := c.result("withdrawal"); err != nil {
		return nil, err
	}
	w.Schema = SchemaWithdrawalV1
	return w, nil
}

// stripChars removes every byte of cutset from s, allocating only when there is one.
func stripChars(s, cutset string) string {
	if !strings.ContainsAny(s, cutset) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(cutset, s[i]) < 0 {
			b = append(b, s[i])
		}
	}
	return string(b)
}
