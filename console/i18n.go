package console

import "fmt"

// defaultMessages holds every text the console's own pages show, by
// language and key. It is never written: each Server copies it into its
// Catalogue, to which other pages add theirs.
var defaultMessages = map[string]map[string]string{
	"en": {
		"app.name":            "issuer",
		"nav.batches":         "Batches",
		"nav.upload":          "Upload",
		"nav.reconciliation":  "Reconciliation",
		"nav.operations":      "Operations",
		"nav.users":           "Users",
		"nav.audit":           "Audit",
		"nav.logout":          "Log out",
		"nav.lang":            "中文",
		"nav.signed_in":       "%s (%s)",
		"login.title":         "Sign in",
		"login.username":      "User name",
		"login.password":      "Password",
		"login.submit":        "Sign in",
		"login.failed":        "Invalid user name or password.",
		"login.locked":        "Too many failed sign-ins. Try again after %s.",
		"home.title":          "Home",
		"home.welcome":        "Signed in as %s, role %s.",
		"home.pick":           "Choose a page:",
		"role.analyst":        "analyst",
		"role.operator":       "operator",
		"role.admin":          "admin",
		"users.title":         "Users",
		"users.name":          "Name",
		"users.role":          "Role",
		"users.status":        "Status",
		"users.created":       "Created",
		"users.last_login":    "Last sign-in",
		"users.enabled":       "enabled",
		"users.disabled":      "disabled",
		"users.disable":       "Disable",
		"users.enable":        "Enable",
		"users.new_token":     "New API token",
		"users.add":           "Add a user",
		"users.add_submit":    "Add",
		"users.password_hint": "at least 12 characters",
		"users.tokens":        "API tokens",
		"users.token_id":      "ID",
		"users.token_prefix":  "Starts with",
		"users.token_user":    "User",
		"users.token_used":    "Last used",
		"users.token_revoked": "Revoked",
		"users.revoke":        "Revoke",
		"users.confirm":       "Are you sure?",
		"token.title":         "New API token",
		"token.once":          "Copy this token for %s now: it is shown only once and cannot be recovered.",
		"token.usage":         "Send it as: Authorization: Bearer <token>",
		"token.back":          "Back to users",
		"notice.user_add":     "User %s added.",
		"notice.user_disable": "User %s disabled; their sessions and tokens no longer work.",
		"notice.user_enable":  "User %s enabled.",
		"notice.token_revoke": "Token revoked.",
		"audit.title":         "Audit log",
		"audit.time":          "Time",
		"audit.actor":         "Actor",
		"audit.role":          "Role",
		"audit.action":        "Action",
		"audit.batch":         "Batch",
		"audit.stock":         "Stock",
		"audit.source":        "Source",
		"audit.outcome":       "Outcome",
		"audit.detail":        "Detail",
		"audit.filter":        "Filter",
		"audit.any":           "any",
		"audit.newer":         "← Newer",
		"audit.older":         "Older →",
		"audit.empty":         "No entries.",
		"error.title":         "Error %d",
		"error.back":          "Home",
	},
	"zh": {
		"app.name":            "issuer",
		"nav.batches":         "批次",
		"nav.upload":          "上传",
		"nav.reconciliation":  "对账",
		"nav.operations":      "运维",
		"nav.users":           "用户",
		"nav.audit":           "审计",
		"nav.logout":          "退出",
		"nav.lang":            "English",
		"nav.signed_in":       "%s（%s）",
		"login.title":         "登录",
		"login.username":      "用户名",
		"login.password":      "密码",
		"login.submit":        "登录",
		"login.failed":        "用户名或密码错误。",
		"login.locked":        "登录失败次数过多，请在 %s 之后再试。",
		"home.title":          "首页",
		"home.welcome":        "当前用户 %s，角色 %s。",
		"home.pick":           "请选择页面：",
		"role.analyst":        "分析员",
		"role.operator":       "操作员",
		"role.admin":          "管理员",
		"users.title":         "用户",
		"users.name":          "用户名",
		"users.role":          "角色",
		"users.status":        "状态",
		"users.created":       "创建时间",
		"users.last_login":    "最近登录",
		"users.enabled":       "已启用",
		"users.disabled":      "已停用",
		"users.disable":       "停用",
		"users.enable":        "启用",
		"users.new_token":     "新建 API 令牌",
		"users.add":           "添加用户",
		"users.add_submit":    "添加",
		"users.password_hint": "至少 12 个字符",
		"users.tokens":        "API 令牌",
		"users.token_id":      "编号",
		"users.token_prefix":  "开头",
		"users.token_user":    "用户",
		"users.token_used":    "最近使用",
		"users.token_revoked": "已吊销",
		"users.revoke":        "吊销",
		"users.confirm":       "确定吗？",
		"token.title":         "新建 API 令牌",
		"token.once":          "请立即复制 %s 的令牌：它只显示这一次，之后无法找回。",
		"token.usage":         "使用方式：Authorization: Bearer <令牌>",
		"token.back":          "返回用户列表",
		"notice.user_add":     "已添加用户 %s。",
		"notice.user_disable": "已停用用户 %s，其会话和令牌立即失效。",
		"notice.user_enable":  "已启用用户 %s。",
		"notice.token_revoke": "令牌已吊销。",
		"audit.title":         "审计日志",
		"audit.time":          "时间",
		"audit.actor":         "操作人",
		"audit.role":          "角色",
		"audit.action":        "操作",
		"audit.batch":         "批次",
		"audit.stock":         "券批次",
		"audit.source":        "来源",
		"audit.outcome":       "结果",
		"audit.detail":        "详情",
		"audit.filter":        "筛选",
		"audit.any":           "全部",
		"audit.newer":         "← 较新",
		"audit.older":         "较旧 →",
		"audit.empty":         "没有记录。",
		"error.title":         "错误 %d",
		"error.back":          "首页",
	},
}

// Catalogue is a Server's texts by language and key.
type Catalogue map[string]map[string]string

func newCatalogue() Catalogue {
	c := Catalogue{}
	for lang, msgs := range defaultMessages {
		c.Add(lang, msgs)
	}
	return c
}

// Add adds or replaces keys of lang ("zh" or "en").
func (c Catalogue) Add(lang string, msgs map[string]string) {
	m := c[lang]
	if m == nil {
		m = make(map[string]string, len(msgs))
		c[lang] = m
	}
	for k, v := range msgs {
		m[k] = v
	}
}

// T returns key's text in lang, else in English, else the key itself, with
// args formatted in.
func (c Catalogue) T(lang, key string, args ...any) string {
	s, ok := c[lang][key]
	if !ok {
		if s, ok = c["en"][key]; !ok {
			s = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}
