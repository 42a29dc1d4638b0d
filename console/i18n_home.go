package console

// homeMessages are the texts of the audit export and the notification
// bell, added to the catalogue beside defaultMessages.
var homeMessages = map[string]map[string]string{
	"zh": {
		"audit.from": "起始日期", "audit.to": "截止日期", "audit.csv": "导出 CSV",
		"bell.title": "通知",
	},
	"en": {
		"audit.from": "From", "audit.to": "To", "audit.csv": "Export CSV",
		"bell.title": "Notifications",
	},
}
