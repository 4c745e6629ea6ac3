package clearance

// Finding codes of the catalogue (查验发现问题目录).
const (
	FindQuarantinePest   = "QUARANTINE_PEST"    // 检疫性有害生物/疫病
	FindProhibited       = "PROHIBITED"         // 禁止或限制进出境物品
	FindHSMisdeclared    = "HS_MISDECLARED"     // 商品编码申报不实
	FindUndervaluation   = "UNDERVALUATION"     // 低报价格
	FindQuantityWeight   = "QUANTITY_WEIGHT"    // 数量/重量不符
	FindOriginMisdeclare = "ORIGIN_MISDECLARED" // 原产地申报不实
	FindLabelling        = "LABELLING"          // 标签不合格
	FindQualitySafety    = "QUALITY_SAFETY"     // 质量安全不合格
	FindWoodPackaging    = "WOOD_PACKAGING"     // 木质包装不合格
	FindDocuments        = "DOCUMENTS"          // 单证不符
	FindOther            = "OTHER"              // 其他
)

// Severities of a finding.
const (
	SeverityMinor  = 1 // 轻微
	SeverityMajor  = 2 // 一般
	SeveritySevere = 3 // 严重
)

// FindingType is one entry of the findings catalogue: the console's picklist.
type FindingType struct {
	Code            string `json:"code"`
	ZH              string `json:"zh"`
	EN              string `json:"en"`
	DefaultSeverity int    `json:"default_severity"` // 1 minor, 2 major, 3 severe
}

var catalogue = []FindingType{
	{FindQuarantinePest, "检出检疫性有害生物或疫病", "Quarantine pest or disease found", SeveritySevere},
	{FindProhibited, "禁止或限制进出境物品", "Prohibited or restricted goods", SeveritySevere},
	{FindHSMisdeclared, "商品编码申报不实", "HS code misdeclared", SeverityMajor},
	{FindUndervaluation, "低报价格", "Undervaluation", SeverityMajor},
	{FindQuantityWeight, "数量或重量不符", "Quantity or weight discrepancy", SeverityMajor},
	{FindOriginMisdeclare, "原产地申报不实", "Origin misdeclared", SeverityMajor},
	{FindLabelling, "标签不合格", "Labelling non-compliant", SeverityMinor},
	{FindQualitySafety, "质量安全不合格", "Quality or safety failure", SeveritySevere},
	{FindWoodPackaging, "木质包装不合格", "Non-compliant wood packaging", SeverityMajor},
	{FindDocuments, "单证不符", "Document discrepancy", SeverityMinor},
	{FindOther, "其他", "Other", SeverityMinor},
}

// Catalogue returns the findings catalogue in display order. The slice is a copy.
func Catalogue() []FindingType {
	return append([]FindingType(nil), catalogue...)
}

func findingType(code string) (FindingType, bool) {
	for _, f := range catalogue {
		if f.Code == code {
			return f, true
		}
	}
	return FindingType{}, false
}

// Override reason codes (改变布控指令原因).
const (
	OverrideIntel       = "INTEL"                  // 新情报
	OverridePrior       = "PRIOR_INSPECTION"       // 已在他处查验/同批已查
	OverrideAEO         = "AEO_FACILITATION"       // AEO 高级认证企业便利
	OverridePerishable  = "PERISHABLE"             // 鲜活易腐, 快速通关
	OverrideCapacity    = "CAPACITY"               // 查验能力不足
	OverrideDataError   = "DATA_ERROR"             // 申报数据错误导致误布控
	OverrideInstruction = "SUPERVISOR_INSTRUCTION" // 上级指令
	OverrideOtherReason = "OTHER"                  // 其他 (text must explain)
)

// ReasonCode is one entry of the override reasons picklist.
type ReasonCode struct {
	Code string `json:"code"`
	ZH   string `json:"zh"`
	EN   string `json:"en"`
}

var overrideReasons = []ReasonCode{
	{OverrideIntel, "新情报", "New intelligence"},
	{OverridePrior, "已在他处查验", "Already inspected elsewhere"},
	{OverrideAEO, "AEO 高级认证企业便利措施", "AEO facilitation"},
	{OverridePerishable, "鲜活易腐商品快速通关", "Perishable goods"},
	{OverrideCapacity, "查验能力不足", "Inspection capacity exhausted"},
	{OverrideDataError, "申报数据错误导致误布控", "Declaration data error caused the selection"},
	{OverrideInstruction, "上级指令", "Supervisor's instruction"},
	{OverrideOtherReason, "其他（须在说明中写明）", "Other (explain in the text)"},
}

// OverrideReasons returns the override reason codes in display order. The slice is a copy.
func OverrideReasons() []ReasonCode {
	return append([]ReasonCode(nil), overrideReasons...)
}

func knownOverrideReason(code string) bool {
	for _, r := range overrideReasons {
		if r.Code == code {
			return true
		}
	}
	return false
}
