package synth

import (
	"strconv"
	"strings"
)

// The catalogue is a compact picture of China's import trade: which goods, from where, at what
// price per kilogram, in what consignment sizes, at what duty, in which season, by sea in
// containers, in bulk or by air. Figures are rounded public orders of magnitude (customs
// statistics, MFN tariff); they only need to make unit values, weights and routes plausible and
// give every HS6 its own price distribution against which undervaluation stands out.

// product is one HS6 subheading as the generator trades it.
type product struct {
	hs6        string
	nat        []string // 4-digit national and supervision suffixes that complete the 10-digit code
	zh         string   // goods description
	unit       string   // customs unit of quantity: 035 千克, 001 台, 003 辆, 007 个, 008 只, 011 件, 025 双
	kgPerUnit  float64  // net kg per unit of quantity; 0 when the unit is the kilogram
	usdPerKg   float64  // median unit value
	sigma      float64  // log-sd of the unit value between consignments
	shipKg     float64  // median net kg of one goods item
	shipSigma  float64  // log-sd of the net kg
	duty       float64  // MFN ad valorem duty
	vat        float64  // import VAT
	weight     float64  // relative share of goods items
	sector     string   // importers specialise by sector
	peak       int      // month of seasonal peak (0 = none)
	amp        float64  // seasonal amplitude of the item share
	origins    []wc     // natural origins and their weights
	quarantine bool     // plant/animal products: quarantine findings possible
	bulk       bool     // bulk cargo: no containers
	air        bool     // usually flown
	cheaper    string   // a lower-duty subheading this one is misdeclared as ("" none)
	remedy     []string // origins under trade-remedy or retaliatory duties
	remedyRate float64  // the extra duty on those origins

	cheaperIdx int // index of cheaper in the catalogue (-1 none), filled at init
	cumOrigin  []float64
}

// wc is a weighted choice.
type wc struct {
	code string
	w    float64
}

func parseWC(s string) []wc {
	var out []wc
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, ":")
		w, err := strconv.ParseFloat(v, 64)
		if err != nil {
			panic("synth: catalogue weight " + f)
		}
		out = append(out, wc{k, w})
	}
	return out
}

// p is a terse constructor so that the table below reads as a table.
func p(hs6, nat, zh, unit string, kgPerUnit, usdPerKg, sigma, shipKg, duty, weight float64, sector, origins string) product {
	return product{hs6: hs6, nat: strings.Fields(nat), zh: zh, unit: unit, kgPerUnit: kgPerUnit,
		usdPerKg: usdPerKg, sigma: sigma, shipKg: shipKg, shipSigma: 0.7, duty: duty, vat: 0.13,
		weight: weight, sector: sector, origins: parseWC(origins), cheaperIdx: -1}
}

func (x product) season(peak int, amp float64) product { x.peak, x.amp = peak, amp; return x }
func (x product) agri() product                        { x.quarantine = true; x.vat = 0.09; return x }
func (x product) bulkCargo() product                   { x.bulk = true; return x }
func (x product) flown() product                       { x.air = true; return x }
func (x product) misdeclaredAs(hs6 string) product     { x.cheaper = hs6; return x }
func (x product) remedies(rate float64, origins string) product {
	x.remedy, x.remedyRate = strings.Fields(origins), rate
	return x
}

var catalogue = []product{
	// Meat, fish, dairy (chapters 02–04): quarantine-relevant, large reefer consignments.
	p("020230", "0090", "冷冻去骨牛肉", "035", 0, 5.5, 0.25, 25000, 0.12, 3.0, "meat", "BR:40 AR:18 AU:15 UY:10 NZ:8 US:5 CA:4").agri(),
	p("020329", "9090", "冷冻猪肉", "035", 0, 2.4, 0.25, 25000, 0.12, 2.5, "meat", "ES:30 BR:20 US:12 DK:10 NL:10 CA:10 CL:8").agri().remedies(0.25, "US"),
	p("020714", "0090", "冷冻鸡翅及鸡爪", "035", 0, 2.3, 0.3, 25000, 0.10, 1.5, "meat", "BR:55 US:15 AR:15 RU:10 CL:5").agri().remedies(0.25, "US"),
	p("030617", "9000", "冻虾仁及对虾", "035", 0, 6.5, 0.3, 18000, 0.05, 2.0, "seafood", "EC:50 IN:20 VN:10 AR:10 TH:10").agri().season(12, 0.3),
	p("030354", "0000", "冻鲭鱼", "035", 0, 1.5, 0.3, 25000, 0.10, 1.0, "seafood", "NO:60 GB:15 IS:15 NL:10").agri().season(11, 0.4),
	p("030342", "0000", "冻黄鳍金枪鱼", "035", 0, 4.0, 0.35, 20000, 0.12, 0.6, "seafood", "KR:30 JP:20 ID:20 PH:15 TW:15").agri().misdeclaredAs("030354"),
	p("040221", "0000", "全脂奶粉", "035", 0, 3.8, 0.2, 20000, 0.10, 1.8, "dairy", "NZ:65 AU:10 FR:8 NL:8 DE:5 UY:4").agri(),
	p("040690", "0000", "奶酪", "035", 0, 6.0, 0.3, 10000, 0.08, 0.8, "dairy", "NZ:45 AU:15 FR:12 IT:10 DK:10 NL:8").agri(),
	p("190110", "1000", "婴幼儿配方奶粉", "035", 0, 20, 0.35, 9000, 0.15, 1.2, "dairy", "NL:30 NZ:20 IE:15 DE:12 FR:10 AU:8 CH:5").misdeclaredAs("040221"),
	// Fruit, coffee, grain, seeds, oils (chapters 06–15): seasonal, quarantine-relevant.
	p("081090", "9090", "鲜榴莲", "035", 0, 3.5, 0.3, 17000, 0.20, 2.2, "fruit", "TH:80 VN:15 MY:5").agri().season(5, 0.8),
	p("080929", "0000", "鲜樱桃", "035", 0, 9.0, 0.35, 8000, 0.10, 1.5, "fruit", "CL:85 US:5 AU:5 NZ:5").agri().season(1, 1.0),
	p("080610", "0000", "鲜葡萄", "035", 0, 2.5, 0.3, 18000, 0.13, 1.0, "fruit", "CL:50 PE:30 AU:20").agri().season(3, 0.8),
	p("080810", "0000", "鲜苹果", "035", 0, 1.5, 0.3, 18000, 0.10, 0.8, "fruit", "NZ:40 US:25 CL:20 FR:15").agri().season(6, 0.5).remedies(0.15, "US"),
	p("080450", "2000", "鲜芒果", "035", 0, 1.2, 0.35, 15000, 0.15, 0.6, "fruit", "TH:40 VN:25 PE:20 AU:15").agri().season(4, 0.6),
	p("090111", "0000", "未焙炒咖啡豆", "035", 0, 4.0, 0.3, 19000, 0.08, 0.8, "grain", "BR:35 VN:25 CO:15 ET:15 ID:10").agri(),
	p("100590", "0000", "玉米", "035", 0, 0.26, 0.15, 55000, 0.20, 1.0, "grain", "UA:40 US:30 BR:25 AR:5").agri().bulkCargo().remedies(0.25, "US"),
	p("100630", "9000", "大米", "035", 0, 0.55, 0.2, 25000, 0.01, 0.8, "grain", "VN:35 TH:25 PK:20 MM:10 KH:10").agri(),
	p("120190", "0000", "大豆", "035", 0, 0.5, 0.15, 60000, 0.03, 2.0, "grain", "BR:60 US:30 AR:7 CA:3").agri().bulkCargo().remedies(0.25, "US"),
	p("120740", "0000", "芝麻", "035", 0, 1.6, 0.25, 20000, 0.10, 0.6, "grain", "SD:30 ET:20 TZ:15 NG:15 MZ:10 NE:10").agri(),
	p("071310", "9000", "干豌豆", "035", 0, 0.45, 0.2, 25000, 0.05, 0.5, "grain", "CA:50 RU:25 FR:15 AU:10").agri(),
	p("060290", "9900", "种用苗木", "035", 0, 5.0, 0.6, 1500, 0.0, 0.2, "fruit", "NL:40 JP:25 TH:20 US:15").agri().flown(),
	p("151190", "9000", "精制棕榈油", "035", 0, 0.9, 0.15, 40000, 0.09, 1.2, "oils", "ID:60 MY:40").bulkCargo(),
	p("170114", "0000", "原糖", "035", 0, 0.45, 0.15, 50000, 0.15, 0.6, "oils", "BR:75 TH:15 AU:10").bulkCargo(),
	p("210690", "9090", "其他食品", "035", 0, 8.0, 0.5, 5000, 0.15, 1.2, "dairy", "US:25 NZ:15 AU:15 KR:15 JP:15 TH:15").misdeclaredAs("190590"),
	p("190590", "0000", "糕饼点心", "035", 0, 5.0, 0.45, 6000, 0.05, 0.8, "dairy", "MY:20 KR:20 JP:20 IT:15 ID:15 DE:10"),
	p("220421", "0000", "2升以下容器装葡萄酒", "035", 0, 6.0, 0.6, 8000, 0.14, 1.5, "beverage", "FR:40 CL:20 AU:15 IT:10 ES:10 NZ:5").remedies(1.16, "AU"),
	p("220830", "0000", "威士忌酒", "035", 0, 15, 0.7, 5000, 0.18, 0.5, "beverage", "GB:80 US:10 JP:10").misdeclaredAs("220421"),
	// Ores, fuels, chemicals, plastics, rubber (chapters 26–40).
	p("260111", "0000", "未烧结铁矿砂", "035", 0, 0.12, 0.15, 3e6, 0.0, 1.5, "minerals", "AU:60 BR:25 ZA:7 IN:5 CA:3").bulkCargo(),
	p("260300", "0090", "铜矿砂及其精矿", "035", 0, 2.0, 0.2, 8e5, 0.0, 0.8, "minerals", "CL:35 PE:30 MN:10 MX:10 KZ:10 AU:5").bulkCargo(),
	p("290511", "0000", "甲醇", "035", 0, 0.3, 0.15, 2e6, 0.055, 0.6, "chem", "IR:40 AE:20 OM:15 SA:15 NZ:10").bulkCargo(),
	p("300490", "9090", "其他药品", "035", 0, 60, 0.8, 400, 0.03, 1.2, "pharma", "DE:25 US:20 CH:15 FR:15 GB:10 IE:10 IT:5").flown(),
	p("330499", "9000", "护肤品", "035", 0, 25, 0.7, 2000, 0.01, 2.0, "cosmetics", "FR:30 KR:25 JP:20 US:15 IT:5 GB:5"),
	p("330300", "0000", "香水", "035", 0, 60, 0.6, 800, 0.03, 0.6, "cosmetics", "FR:60 IT:15 ES:10 US:10 GB:5").flown().misdeclaredAs("330499"),
	p("390110", "0000", "初级形状比重小于0.94的聚乙烯", "035", 0, 1.2, 0.15, 25000, 0.065, 2.0, "plastics", "SA:30 US:20 KR:15 SG:15 AE:10 TH:10").remedies(0.25, "US"),
	p("390210", "0000", "初级形状聚丙烯", "035", 0, 1.1, 0.15, 25000, 0.065, 1.5, "plastics", "SA:35 KR:25 SG:20 TH:10 IN:10"),
	p("400122", "0000", "技术分类天然橡胶", "035", 0, 1.5, 0.15, 20000, 0.20, 1.0, "rubber", "TH:50 ID:25 MY:15 VN:10").misdeclaredAs("400280"),
	p("400280", "0000", "合成橡胶混合物", "035", 0, 1.7, 0.2, 20000, 0.075, 0.4, "rubber", "TH:40 MY:30 KR:20 SG:10"),
	p("401110", "0000", "小轿车用新充气橡胶轮胎", "001", 9, 4.5, 0.3, 10000, 0.10, 0.8, "rubber", "JP:35 KR:25 DE:15 TH:15 US:10").remedies(0.30, "US JP KR"),
	// Wood, pulp, cotton, apparel, footwear (chapters 44–64).
	p("440399", "9090", "其他非针叶原木", "035", 0, 0.2, 0.25, 25000, 0.0, 1.2, "wood", "PG:30 SB:25 NZ:20 US:15 RU:10").agri(),
	p("440710", "1900", "针叶锯材", "035", 0, 0.3, 0.25, 25000, 0.0, 1.0, "wood", "RU:45 CA:20 FI:15 SE:10 DE:10").agri(),
	p("470329", "0000", "漂白非针叶木化学木浆", "035", 0, 0.7, 0.15, 25000, 0.0, 1.2, "wood", "BR:50 CL:20 US:10 UY:10 ID:10"),
	p("520100", "0000", "未梳棉花", "035", 0, 1.8, 0.15, 20000, 0.40, 0.8, "textile", "US:40 BR:35 AU:15 IN:10").agri().misdeclaredAs("520300").remedies(0.25, "US"),
	p("520300", "0000", "已梳棉花", "035", 0, 2.0, 0.2, 15000, 0.01, 0.2, "textile", "US:40 BR:30 AU:20 IN:10"),
	p("610910", "0000", "棉制针织T恤衫", "011", 0.2, 25, 0.5, 2000, 0.14, 1.5, "apparel", "BD:30 VN:30 KH:15 IT:15 TR:10").misdeclaredAs("610990"),
	p("610990", "0000", "其他纺织材料制T恤衫", "011", 0.2, 20, 0.5, 2000, 0.06, 0.5, "apparel", "VN:40 BD:30 KH:20 TR:10"),
	p("620342", "9000", "棉制男式长裤", "011", 0.6, 30, 0.5, 1500, 0.14, 0.8, "apparel", "BD:30 VN:30 IT:20 TR:20"),
	p("640399", "0090", "皮革面鞋靴", "025", 0.8, 40, 0.5, 2000, 0.10, 1.0, "apparel", "VN:45 IT:20 ID:20 ES:10 PT:5"),
	p("420221", "0000", "皮革面手提包", "007", 1.0, 300, 0.7, 150, 0.06, 0.6, "luxury", "IT:50 FR:40 ES:10").flown(),
	// Base metals (chapters 72–76): trade remedies make origin laundering pay.
	p("720839", "0000", "热轧非合金钢卷", "035", 0, 0.65, 0.15, 50000, 0.03, 1.2, "steel", "JP:45 KR:45 TW:10").remedies(0.30, "JP KR TW").misdeclaredAs("720851"),
	p("720851", "0000", "热轧非合金钢板", "035", 0, 0.6, 0.15, 50000, 0.0, 0.6, "steel", "JP:40 KR:40 RU:20"),
	p("721934", "0000", "冷轧不锈钢板卷", "035", 0, 2.5, 0.2, 20000, 0.10, 0.8, "steel", "JP:30 KR:25 ID:25 DE:10 FI:10").remedies(0.43, "JP KR ID DE FI"),
	p("740311", "1100", "精炼铜阴极", "035", 0, 9.0, 0.1, 25000, 0.01, 1.5, "metals", "CL:35 PE:15 ZM:15 CD:15 RU:10 KZ:10"),
	p("760120", "0000", "未锻轧铝合金", "035", 0, 2.6, 0.15, 25000, 0.07, 0.8, "metals", "RU:40 IN:20 AE:20 MY:20"),
	p("711319", "1100", "贵金属首饰", "035", 0, 50000, 0.8, 8, 0.20, 0.3, "luxury", "IT:40 FR:25 CH:20 TH:15").flown(),
	// Machinery, electronics, vehicles, instruments (chapters 84–90).
	p("841810", "2000", "冷藏冷冻箱", "001", 60, 6.0, 0.35, 5000, 0.08, 0.6, "machinery", "KR:30 JP:25 DE:20 TH:15 MX:10"),
	p("842952", "1200", "360度旋转挖掘机", "001", 20000, 12, 0.3, 40000, 0.08, 0.4, "machinery", "JP:40 US:20 KR:20 DE:20").remedies(0.25, "US"),
	p("847330", "9000", "计算机零件", "035", 0, 150, 0.8, 800, 0.0, 1.8, "electronics", "TW:30 KR:20 JP:15 US:15 MY:10 VN:10").flown(),
	p("851762", "9900", "网络通信设备", "001", 2.5, 200, 0.8, 500, 0.0, 1.2, "electronics", "US:30 TW:25 MY:15 MX:15 VN:15").flown(),
	p("854231", "9000", "处理器及控制器集成电路", "007", 0.002, 2000, 1.0, 60, 0.0, 2.5, "electronics", "TW:40 KR:20 MY:15 US:10 JP:5 PH:5 VN:5").flown(),
	p("850760", "0090", "锂离子蓄电池", "007", 0.05, 25, 0.5, 3000, 0.10, 1.0, "electronics", "KR:45 JP:35 DE:10 US:10").misdeclaredAs("850790"),
	p("850790", "9000", "蓄电池零件", "035", 0, 20, 0.5, 2500, 0.06, 0.4, "electronics", "KR:45 JP:35 DE:10 US:10"),
	p("852872", "9100", "彩色电视接收机", "001", 15, 6.0, 0.4, 5000, 0.15, 0.5, "electronics", "KR:35 JP:30 MY:20 MX:15"),
	p("870323", "5900", "排量1.5-3升小轿车", "003", 1600, 18, 0.45, 16000, 0.15, 1.0, "vehicles", "DE:40 JP:25 US:10 GB:8 SK:7 MX:5 KR:5").remedies(0.25, "US").misdeclaredAs("870899"),
	p("870899", "9990", "其他汽车零件", "035", 0, 12, 0.6, 5000, 0.06, 2.0, "vehicles", "DE:30 JP:25 KR:15 US:10 MX:10 CZ:10"),
	p("901890", "9090", "其他医疗器械", "001", 5, 120, 0.8, 300, 0.04, 1.0, "instruments", "US:35 DE:30 JP:20 IE:10 MX:5").flown(),
	p("903180", "9090", "其他测量检验仪器", "001", 3, 150, 0.8, 200, 0.05, 0.6, "instruments", "DE:35 JP:30 US:25 GB:10").flown(),
	p("910211", "0000", "机械指示式手表", "008", 0.1, 3000, 0.8, 20, 0.11, 0.3, "luxury", "CH:80 JP:10 DE:10").flown(),
	// Furniture and toys (chapters 94–95): wood packaging can carry pests.
	p("940360", "9900", "其他木家具", "035", 0, 4.0, 0.5, 6000, 0.0, 0.8, "furniture", "IT:35 DE:20 VN:20 MY:15 ID:10").agri(),
	p("950300", "0090", "玩具", "035", 0, 10, 0.6, 3000, 0.0, 0.8, "furniture", "VN:35 DK:25 DE:15 US:15 JP:10"),
}

// country is what the generator needs to know about a trading country.
type country struct {
	code     string
	currency string   // the currency a seller invoices in when not in USD
	ports    []string // UN/LOCODEs of seaports
	airport  string
	far      bool     // far enough that liner services often transship
	fta      bool     // China has a free-trade agreement or RCEP with it
	via      []string // for landlocked countries: the foreign seaports their goods leave from
}

var countries = map[string]*country{}

func cty(code, currency, ports, airport string, far, fta bool) {
	countries[code] = &country{code: code, currency: currency, ports: strings.Fields(ports), airport: airport, far: far, fta: fta}
}

func init() {
	cty("AE", "USD", "AEJEA AEKHL", "AEDXB", true, false)
	cty("AR", "USD", "ARBUE ARROS", "AREZE", true, false)
	cty("AU", "AUD", "AUMEL AUSYD AUBNE AUFRE", "AUSYD", false, true)
	cty("BD", "USD", "BDCGP", "BDDAC", true, false)
	cty("BR", "USD", "BRSSZ BRPNG BRRIG", "BRGRU", true, false)
	cty("CA", "CAD", "CAVAN CAPRR CAMTR", "CAYVR", true, false)
	cty("CD", "USD", "", "CDFIH", true, false)
	cty("CH", "CHF", "", "CHZRH", true, true)
	cty("CL", "USD", "CLSAI CLVAP", "CLSCL", true, true)
	cty("CO", "USD", "COCTG COBUN", "COBOG", true, false)
	cty("CZ", "EUR", "", "CZPRG", true, false)
	cty("DE", "EUR", "DEHAM DEBRV", "DEFRA", true, false)
	cty("DK", "DKK", "DKAAR", "DKCPH", true, false)
	cty("EC", "USD", "ECGYE", "ECUIO", true, false)
	cty("ES", "EUR", "ESVLC ESALG ESBCN", "ESMAD", true, false)
	cty("ET", "USD", "", "ETADD", true, false)
	cty("FI", "EUR", "FIHEL FIKTK", "FIHEL", true, false)
	cty("FR", "EUR", "FRLEH FRFOS", "FRCDG", true, false)
	cty("GB", "GBP", "GBFXT GBSOU", "GBLHR", true, false)
	cty("ID", "USD", "IDJKT IDSUB IDBLW", "IDCGK", false, true)
	cty("IE", "EUR", "IEDUB", "IEDUB", true, false)
	cty("IN", "USD", "INNSA INMUN INMAA", "INBOM", true, false)
	cty("IR", "USD", "IRBND", "IRIKA", true, false)
	cty("IS", "USD", "ISREY", "ISKEF", true, true)
	cty("IT", "EUR", "ITGOA ITSPE ITVCE", "ITMXP", true, false)
	cty("JP", "JPY", "JPTYO JPYOK JPOSA JPNGO JPKOB", "JPNRT", false, true)
	cty("KH", "USD", "KHKOS", "KHPNH", false, true)
	cty("KR", "KRW", "KRPUS KRINC KRKAN", "KRICN", false, true)
	cty("KZ", "USD", "", "KZALA", true, false)
	cty("MM", "USD", "MMRGN", "MMRGN", false, true)
	cty("MN", "USD", "", "MNULN", false, false)
	cty("MX", "USD", "MXZLO MXLZC", "MXMEX", true, false)
	cty("MY", "MYR", "MYPKG MYTPP MYPEN", "MYKUL", false, true)
	cty("MZ", "USD", "MZMPM MZBEW", "MZMPM", true, false)
	cty("NE", "USD", "", "NENIM", true, false)
	cty("NG", "USD", "NGLOS NGAPP", "NGLOS", true, false)
	cty("NL", "EUR", "NLRTM", "NLAMS", true, false)
	cty("NO", "NOK", "NOOSL NOAES", "NOOSL", true, false)
	cty("NZ", "NZD", "NZAKL NZTRG NZLYT", "NZAKL", true, true)
	cty("OM", "USD", "OMSOH", "OMMCT", true, false)
	cty("PE", "USD", "PECLL PEPAI", "PELIM", true, true)
	cty("PG", "USD", "PGLAE PGPOM", "PGPOM", false, false)
	cty("PH", "USD", "PHMNL PHBTG", "PHMNL", false, true)
	cty("PK", "USD", "PKKHI PKBQM", "PKKHI", true, true)
	cty("PT", "EUR", "PTLIS PTSIE", "PTLIS", true, false)
	cty("RU", "RUB", "RUVVO RUNVS RULED", "RUSVO", false, false)
	cty("SA", "USD", "SAJED SADMM", "SARUH", true, false)
	cty("SB", "USD", "SBHIR", "SBHIR", false, false)
	cty("SD", "USD", "SDPZU", "SDKRT", true, false)
	cty("SE", "SEK", "SEGOT", "SEARN", true, false)
	cty("SG", "SGD", "SGSIN", "SGSIN", false, true)
	cty("SK", "EUR", "", "SKBTS", true, false)
	cty("TH", "THB", "THLCH THBKK", "THBKK", false, true)
	cty("TR", "USD", "TRMER TRAMR", "TRIST", true, false)
	cty("TW", "TWD", "TWKHH TWTXG", "TWTPE", false, true)
	cty("TZ", "USD", "TZDAR", "TZDAR", true, false)
	cty("UA", "USD", "UAODS UAYUZ", "UAKBP", true, false)
	cty("US", "USD", "USLAX USLGB USSEA USOAK USSAV USNYC", "USORD", true, false)
	cty("UY", "USD", "UYMVD", "UYMVD", true, false)
	cty("VN", "VND", "VNSGN VNHPH VNCMP", "VNSGN", false, true)
	cty("ZA", "ZAR", "ZADUR ZACPT", "ZAJNB", true, false)
	cty("ZM", "USD", "", "ZMLUN", true, false)
	cty("HK", "HKD", "HKHKG", "HKHKG", false, true)
	cty("LK", "USD", "LKCMB", "LKCMB", true, false)

	// Landlocked countries ship through their neighbours' ports: their goods legitimately load
	// in another country, which is why a route mismatch alone is not proof of laundering.
	countries["CH"].via = []string{"DEHAM", "NLRTM", "ITGOA"}
	countries["CZ"].via = []string{"DEHAM", "DEBRV"}
	countries["SK"].via = []string{"DEHAM", "PLGDN"}
	countries["ET"].via = []string{"DJJIB"}
	countries["ZM"].via = []string{"TZDAR", "ZADUR"}
	countries["CD"].via = []string{"TZDAR"}
	countries["KZ"].via = []string{"RUVVO"}
	countries["MN"].via = []string{"RUVVO"}
	countries["NE"].via = []string{"NGLOS", "BJCOO"}

	for i := range catalogue {
		x := &catalogue[i]
		var s float64
		for _, o := range x.origins {
			if countries[o.code] == nil {
				panic("synth: catalogue origin " + o.code + " has no country entry")
			}
			s += o.w
			x.cumOrigin = append(x.cumOrigin, s)
		}
		if x.cheaper != "" {
			for j := range catalogue {
				if catalogue[j].hs6 == x.cheaper {
					x.cheaperIdx = j
				}
			}
			if x.cheaperIdx < 0 || catalogue[x.cheaperIdx].duty >= x.duty {
				panic("synth: catalogue " + x.hs6 + " misdeclared as unknown or dearer " + x.cheaper)
			}
		}
	}
}

// hubs are the transshipment ports of liner services to China.
var hubs = []string{"SGSIN", "MYPKG", "MYTPP", "KRPUS", "HKHKG", "LKCMB", "AEJEA", "TWKHH"}

// launderVia are the countries goods are most often passed off as coming from, with the hub
// their re-export would plausibly use: FTA partners near the route.
var launderVia = []struct{ origin, hub string }{
	{"MY", "MYPKG"}, {"VN", "SGSIN"}, {"TH", "SGSIN"}, {"SG", "SGSIN"}, {"KR", "KRPUS"},
	{"ID", "SGSIN"}, {"MY", "MYTPP"}, {"KH", "SGSIN"}, {"PH", "HKHKG"},
}

// usdRate is an approximate value of one unit of a currency in US dollars, used to invoice in
// local currency, and cnyPerUSD converts to the base currency for revenue figures.
var usdRate = map[string]float64{
	"USD": 1, "EUR": 1.08, "JPY": 0.0068, "GBP": 1.27, "AUD": 0.66, "NZD": 0.61, "CHF": 1.12,
	"KRW": 0.00074, "CAD": 0.73, "HKD": 0.128, "SGD": 0.74, "THB": 0.028, "MYR": 0.21,
	"VND": 0.00004, "TWD": 0.031, "RUB": 0.011, "DKK": 0.145, "NOK": 0.094, "SEK": 0.095, "ZAR": 0.054,
}

const cnyPerUSD = 7.1

// chinaPort is a customs office (关区) that declarations are lodged at.
type chinaPort struct {
	code     string
	division string // administrative division of the city, for enterprises registered there
	sea, air bool
	weight   float64
}

// knownPorts are customs offices the generator knows the city and kind of; any other 4-digit code
// in Config.Ports is treated as handling both sea and air cargo.
var knownPorts = map[string]chinaPort{
	"2248": {"2248", "310115", true, false, 5}, // 洋山海关 Shanghai Yangshan
	"2225": {"2225", "310115", true, false, 3}, // 外港海关 Shanghai Waigaoqiao
	"2233": {"2233", "310115", false, true, 2}, // 浦东国际机场海关 Shanghai Pudong airport
	"5316": {"5316", "440305", true, false, 4}, // 蛇口海关 Shenzhen Shekou
	"5141": {"5141", "440111", false, true, 1}, // 白云机场海关 Guangzhou Baiyun airport
	"4218": {"4218", "370211", true, false, 3}, // 黄岛海关 Qingdao Huangdao
	"3104": {"3104", "330206", true, false, 3}, // 北仑海关 Ningbo Beilun
	"0202": {"0202", "120116", true, false, 2}, // 新港海关 Tianjin Xingang
}

var fallbackDivisions = []string{"310115", "440305", "370211", "330206", "120116", "350206", "440106", "320505"}

// tradeModes are 监管方式 codes with their shares of import declarations.
var tradeModes = []wc{
	{"0110", 74}, // 一般贸易 general trade
	{"0615", 8},  // 进料对口 processing with imported materials
	{"0214", 4},  // 来料加工 processing with supplied materials
	{"1233", 5},  // 保税仓库货物 bonded warehouse
	{"1210", 4},  // 保税跨境贸易电子商务 bonded cross-border e-commerce
	{"2225", 2},  // 外资设备物品 equipment of foreign-invested enterprises
	{"5034", 3},  // 区内物流货物 logistics goods in special zones
}

var paymentTypes = []wc{{"T/T", 60}, {"L/C", 20}, {"D/P", 8}, {"D/A", 4}, {"O/A", 8}}

// carriers are liner operators: SCAC-like prefix of their bills of lading and the owner codes of
// their containers.
var carriers = []struct {
	name, scac string
	owners     []string
}{
	{"COSCO SHIPPING", "COSU", []string{"CSNU", "CCLU", "FCIU"}},
	{"MAERSK", "MAEU", []string{"MSKU", "MRKU", "TCNU"}},
	{"MSC", "MEDU", []string{"MSCU", "MEDU", "TGHU"}},
	{"CMA CGM", "CMDU", []string{"CMAU", "TGHU", "ECMU"}},
	{"ONE", "ONEY", []string{"ONEU", "TCLU", "SEGU"}},
	{"EVERGREEN", "EGLV", []string{"EGHU", "EISU", "TGBU"}},
	{"HAPAG-LLOYD", "HLCU", []string{"HLXU", "HLBU", "UACU"}},
	{"OOCL", "OOLU", []string{"OOLU", "OOCU", "TRHU"}},
}

// airlines are cargo carriers: IATA prefix of their air waybills and their flight designator.
var airlines = []struct{ prefix, code string }{
	{"999", "CA"}, {"781", "MU"}, {"784", "CZ"}, {"160", "CX"}, {"020", "LH"}, {"057", "AF"}, {"176", "EK"}, {"618", "SQ"},
}

// Finding codes of clearance's catalogue (查验发现问题目录) that the planted patterns produce.
const (
	FindingUndervaluation    = "UNDERVALUATION"
	FindingOriginMisdeclared = "ORIGIN_MISDECLARED"
	FindingWeight            = "QUANTITY_WEIGHT"
	FindingQuarantinePest    = "QUARANTINE_PEST"
	FindingHSMisdeclared     = "HS_MISDECLARED"
)
