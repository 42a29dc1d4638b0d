package pages

// homeMessages are the texts of the dashboard, search, bulk actions,
// notifications and background reports, added to the catalogue at
// Register.
var homeMessages = map[string]map[string]string{
	"zh": {
		"home.title": "首页", "home.as_of": "数据时间 %s（%s）", "home.needs_me": "待我处理",
		"home.awaiting": "个发放批次待我审批", "home.halted": "个发放批次已中止", "home.review": "行待人工核查",
		"home.in_doubt": "行结果待确认", "home.nothing": "没有需要处理的事项。",
		"home.today": "今日（%s）", "home.issued_today": "张券今日已发放", "home.issued_yuan": "今日发放面额",
		"home.rate": "次/秒（近一分钟发送速度）", "home.open": "个发放批次待发或发放中", "home.paused": "个发放批次已暂停",
		"home.stocks": "券批次预算与待发金额", "home.stock": "券批次", "home.stock_status": "微信支付状态",
		"home.batches": "未结束的发放批次", "home.queued": "待发放（元）", "home.awaiting_yuan": "待审批（元）",
		"home.left": "剩余预算（元）", "home.note": "说明", "home.short": "剩余预算不足以发完",
		"home.wx_unreachable": "暂时无法向微信支付查询预算", "home.unvalued": "%d 行面额未知，未计入",
		"home.no_stocks":      "没有未结束的发放批次。",
		"home.budget_no_keys": "未配置商户密钥，无法向微信支付查询券批次预算。",
		"home.budget_no_role": "您的角色不能查询券批次信息，不显示剩余预算。",
		"home.money_help":     "待发放：已审批（或无需审批）的发放批次中尚未发出且结果明确的行；待审批：待审批发放批次的全部行。结果待确认的行不计入，它们可能已发放。",
		"home.wx_running":     "发放中", "home.wx_paused": "已暂停", "home.wx_stoped": "已停止", "home.wx_unactivated": "未激活",
		"home.wx_audit": "审核中", "home.wx_stopped": "已停止",
	},
	"en": {
		"home.title": "Home", "home.as_of": "As of %s (%s)", "home.needs_me": "Needs me",
		"home.awaiting": "batches awaiting my approval", "home.halted": "batches halted", "home.review": "rows in review",
		"home.in_doubt": "rows in doubt", "home.nothing": "Nothing needs you.",
		"home.today": "Today (%s)", "home.issued_today": "coupons issued today", "home.issued_yuan": "face value issued today",
		"home.rate": "sends per second (last minute)", "home.open": "batches pending or running", "home.paused": "batches paused",
		"home.stocks": "Stock budgets and money queued", "home.stock": "Stock", "home.stock_status": "WeChat Pay status",
		"home.batches": "Batches not ended", "home.queued": "Queued (元)", "home.awaiting_yuan": "Awaiting approval (元)",
		"home.left": "Budget left (元)", "home.note": "Note", "home.short": "Budget left will not cover it",
		"home.wx_unreachable": "WeChat Pay could not be asked for the budget just now", "home.unvalued": "%d rows of unknown face value not counted",
		"home.no_stocks":      "No batches that have not ended.",
		"home.budget_no_keys": "The merchant keys are not configured: no budget can be asked of WeChat Pay.",
		"home.budget_no_role": "Your role may not read stock information: budgets are not shown.",
		"home.money_help":     "Queued: rows not yet sent and not in doubt of batches approved or needing no approval; awaiting approval: every row of batches awaiting approval. Rows in doubt are in neither: they may have been issued.",
		"home.wx_running":     "running", "home.wx_paused": "paused", "home.wx_stoped": "stopped", "home.wx_unactivated": "not activated",
		"home.wx_audit": "in review", "home.wx_stopped": "stopped",
	},
}
