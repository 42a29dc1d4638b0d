package report

// Column is one column of the workbook: the Chinese title analysts read,
// the field name the CSV, the JSON and scripts use, and what it means.
// The 说明 sheet lists them all.
type Column struct {
	Title string // 中文标题, the header cell
	Field string // the CSV column or the text report's name
	Desc  string // one line for the 说明 sheet
}

// The workbook's tables, column by column, in order.
var (
	SummaryColumns = []Column{
		{"发放批次ID", "batch_id", "issuer 的发放批次编号；空白行是微信支付文件中有、但不是 issuer 发放的券"},
		{"发放批次名称", "batch_name", "导入时给发放批次起的名字"},
		{"券批次号", "stock_id", "微信支付的代金券批次号（stock_id）"},
		{"收券人数", "recipients", "发放批次导入的收券人（openid）数"},
		{"已发放", "issued", "微信支付确认已发放的券数"},
		{"已核销", "used", "已使用的券数，含之后又退款的（核销明细文件，或尚无文件时的核销回调）"},
		{"已退款", "refunded", "使用后又退款的券数"},
		{"净核销", "net_used", "核销次数多于退款次数的券数"},
		{"核销率", "use_rate", "已核销 ÷ 已发放"},
		{"优惠金额（元）", "used_amount", "已核销券的优惠金额合计，单位元"},
		{"退款金额（元）", "refunded_amount", "退款退回的优惠金额，单位元"},
		{"净优惠金额（元）", "net_used_amount", "优惠金额 − 退款金额，单位元"},
		{"订单数", "orders", "使用了券的支付单（transaction_id）数"},
		{"订单总金额（元）", "order_amount", "这些支付单的订单总金额，单位元（只有核销明细文件才有）"},
		{"未知券", "unknown_coupons", "文件中有、issuer 从未发放的券数"},
		{"无核销的退款", "refunds_without_use", "退款文件中有、核销文件中没有的券数"},
		{"先核销后发放", "used_before_issue", "核销时间早于 issuer 记录的发放时间的券数"},
		{"仅回调", "callback_only", "有核销回调、核销文件中没有的券数"},
		{"仅文件", "file_only", "核销文件中有、没有核销回调的券数"},
		{"核销来源", "usage_source", "flow_files：核销明细文件；callbacks：尚无文件，按核销回调统计（截至目前）"},
		{"待确认", "in_doubt", "某次发送的应答没有说明是否发放、此后也未核实的收券人数：可能已发放，绝不算作未发放"},
		{"已取消", "cancelled", "发放批次取消时尚未发放的收券人数"},
		{"待复核", "review", "多次应答不明、等待复核的收券人数"},
		{"待发放", "pending", "尚未发放的收券人数"},
		{"发放失败", "failed", "微信支付明确拒绝发放的收券人数"},
	}
	ClassColumns = []Column{
		{"结果", "class", "收券人的最终结果分类（每人只归一类：净核销 = 核销后未退款，不含已退款的）"},
		{"人数", "recipients", "该分类的收券人数"},
	}
	DayColumns = []Column{
		{"日期", "day", "核销或退款发生的日期（配置的时区）"},
		{"核销数", "uses", "当天核销的券数"},
		{"优惠金额（元）", "used_amount", "当天核销的优惠金额，单位元"},
		{"退款数", "refunds", "当天退款的券数"},
		{"退款金额（元）", "refunded_amount", "当天退款退回的优惠金额，单位元"},
	}
	FileColumns = []Column{
		{"券批次号", "stock_id", "文件所属的代金券批次号"},
		{"文件", "file", "核销明细或退款明细"},
		{"账单日期", "day", "文件所记的日期"},
		{"行数", "rows", "文件的明细行数"},
		{"新增行", "new_rows", "本次新载入的行数"},
		{"状态", "status", "已加载；被拒：校验不通过，未加载"},
		{"字节数", "bytes", "文件大小"},
		{"下载时间", "downloaded_at", "下载文件的时间（配置的时区）"},
		{"错误", "error", "文件被拒绝的原因"},
	}
	// AuditFileColumns add what only an auditor needs: the file's digest
	// and where the server keeps it.
	AuditFileColumns = append(append([]Column{}, FileColumns...),
		Column{"SHA1", "sha1", "文件内容的 SHA1 摘要，与微信支付给出的摘要核对"},
		Column{"存放路径", "kept_at", "服务器上保存文件的位置"},
	)
	RecipientColumns = []Column{
		{"发放批次ID", "batch_id", "issuer 的发放批次编号"},
		{"openid", "openid", "收券用户在 appid 下的 openid"},
		{"商户单据号", "out_request_no", "发券请求的商户单据号（out_request_no），同一收券人重试时不变"},
		{"状态", "status", "pending 待发放、in_flight 发放中、issued 已发放、failed 失败、review 待复核、cancelled 已取消"},
		{"最后结果", "outcome", "最后一次应答的分类"},
		{"优惠id", "coupon_id", "微信支付的券 id（商品券为券码）"},
		{"发放时间", "issued_at", "发放成功的时间"},
		{"结果", "class", "已核销、已退款、未使用等"},
		{"核销次数", "uses", "券被核销的次数"},
		{"消耗时间", "used_at", "核销时间"},
		{"优惠金额（元）", "used_amount", "核销的优惠金额，单位元"},
		{"订单总金额（元）", "order_amount", "使用该券的订单总金额，单位元"},
		{"支付单号", "transaction_id", "微信支付订单号"},
		{"消耗商户号", "consume_mchid", "核销券的商户号"},
		{"退款次数", "refunds", "退款次数"},
		{"退款时间", "refunded_at", "最后一次退款的时间"},
		{"退款金额（元）", "refunded_amount", "退款退回的优惠金额，单位元"},
		{"回调核销时间", "callback_at", "核销回调（COUPON.USE）中的核销时间"},
		{"待确认", "in_doubt", "TRUE：某次发送的应答没有说明是否发放，此后也未核实，可能已发放"},
		{"备注", "note", "复核或结算的说明"},
		{"核销来源", "usage_source", "flow_files 或 callbacks"},
	}
	ProblemColumns = []Column{
		{"问题", "kind", "问题的种类，见下"},
		{"券批次号", "stock_id", "代金券批次号"},
		{"发放批次ID", "batch_id", "issuer 的发放批次编号"},
		{"优惠id", "coupon_id", "券 id"},
		{"openid", "openid", "收券用户"},
		{"时间", "time", "问题发生的时间"},
		{"优惠金额（元）", "amount", "涉及的优惠金额，单位元"},
		{"详情", "detail", "说明"},
		{"商户单据号", "out_request_no", "发券请求的商户单据号"},
		{"备注", "note", "复核说明"},
	}
)

// Titles are the columns' Chinese titles, for a header row.
func Titles(cols []Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Title
	}
	return out
}

// Fields maps each Chinese title of cols to its field name, for programs
// that read a sheet back.
func Fields(cols []Column) map[string]string {
	out := make(map[string]string, len(cols))
	for _, c := range cols {
		out[c.Title] = c.Field
	}
	return out
}
