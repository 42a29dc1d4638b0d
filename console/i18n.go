package console

import "fmt"

// defaultMessages holds every text the console's own pages show, by
// language and key. It is never written: each Server copies it into its
// Catalogue, to which other pages add theirs.
var defaultMessages = map[string]map[string]string{
	"en": {
		"app.name":                    "issuer",
		"nav.batches":                 "Batches",
		"nav.upload":                  "Upload",
		"nav.reconciliation":          "Reconciliation",
		"nav.operations":              "Operations",
		"nav.users":                   "Users",
		"nav.audit":                   "Audit",
		"nav.logout":                  "Log out",
		"nav.lang":                    "中文",
		"nav.signed_in":               "%s (%s)",
		"login.title":                 "Sign in",
		"login.username":              "User name",
		"login.password":              "Password",
		"login.submit":                "Sign in",
		"login.failed":                "Invalid user name or password.",
		"login.locked":                "Too many failed sign-ins. Try again after %s.",
		"login.busy":                  "Too many sign-ins at this moment. Try again in a second.",
		"account.title":               "My account",
		"account.password":            "Change password",
		"account.current":             "Current password",
		"account.new":                 "New password",
		"account.again":               "New password again",
		"account.change":              "Change",
		"account.password_note":       "Your other sessions end; this one stays.",
		"account.mismatch":            "The two new passwords differ.",
		"account.wrong_password":      "The current password is wrong.",
		"account.no_tokens":           "No API tokens.",
		"account.expires":             "Works for",
		"account.days":                "%d days",
		"account.sessions":            "Sessions",
		"account.sign_out_everywhere": "Sign out everywhere",
		"account.sign_out_note":       "Ends every session of yours, on every device, this one too. API tokens stay until revoked above.",
		"users.set_role":              "Set",
		"users.token_expires":         "Expires",
		"users.tokens_note":           "Each person makes their own tokens on their account page; an admin revokes anyone's.",
		"users.forbidden":             "Not allowed: tokens are made by their owner only, and passwords changed by their owner.",
		"users.last_admin":            "The last enabled admin cannot be demoted or disabled: make another admin first.",
		"token.expires":               "It works until %s.",
		"notice.user_role":            "Role of %s changed.",
		"notice.password":             "Password changed; your other sessions have ended.",
		"home.title":                  "Home",
		"home.welcome":                "Signed in as %s, role %s.",
		"home.pick":                   "Choose a page:",
		"role.analyst":                "analyst",
		"role.operator":               "operator",
		"role.admin":                  "admin",
		"users.title":                 "Users",
		"users.name":                  "Name",
		"users.role":                  "Role",
		"users.status":                "Status",
		"users.created":               "Created",
		"users.last_login":            "Last sign-in",
		"users.enabled":               "enabled",
		"users.disabled":              "disabled",
		"users.disable":               "Disable",
		"users.enable":                "Enable",
		"users.new_token":             "New API token",
		"users.add":                   "Add a user",
		"users.add_submit":            "Add",
		"users.password_hint":         "at least 12 characters",
		"users.tokens":                "API tokens",
		"users.token_id":              "ID",
		"users.token_prefix":          "Starts with",
		"users.token_user":            "User",
		"users.token_used":            "Last used",
		"users.token_revoked":         "Revoked",
		"users.revoke":                "Revoke",
		"users.confirm":               "Are you sure?",
		"token.title":                 "New API token",
		"token.once":                  "Copy this token for %s now: it is shown only once and cannot be recovered.",
		"token.usage":                 "Send it as: Authorization: Bearer <token>",
		"token.back":                  "Back to my account",
		"notice.user_add":             "User %s added.",
		"notice.user_disable":         "User %s disabled; their sessions and tokens no longer work.",
		"notice.user_enable":          "User %s enabled.",
		"notice.token_revoke":         "Token revoked.",
		"audit.title":                 "Audit log",
		"audit.time":                  "Time",
		"audit.actor":                 "Actor",
		"audit.role":                  "Role",
		"audit.action":                "Action",
		"audit.batch":                 "Batch",
		"audit.stock":                 "Stock",
		"audit.source":                "Source",
		"audit.outcome":               "Outcome",
		"audit.detail":                "Detail",
		"audit.filter":                "Filter",
		"audit.any":                   "any",
		"audit.newer":                 "← Newer",
		"audit.older":                 "Older →",
		"audit.empty":                 "No entries.",
		"error.title":                 "Error %d",
		"error.back":                  "Home",
	},
	"zh": {
		"app.name":                    "issuer",
		"nav.batches":                 "批次",
		"nav.upload":                  "上传",
		"nav.reconciliation":          "对账",
		"nav.operations":              "运维",
		"nav.users":                   "用户",
		"nav.audit":                   "审计",
		"nav.logout":                  "退出",
		"nav.lang":                    "English",
		"nav.signed_in":               "%s（%s）",
		"login.title":                 "登录",
		"login.username":              "用户名",
		"login.password":              "密码",
		"login.submit":                "登录",
		"login.failed":                "用户名或密码错误。",
		"login.locked":                "登录失败次数过多，请在 %s 之后再试。",
		"login.busy":                  "此刻登录的人太多，请稍后一秒再试。",
		"account.title":               "我的账户",
		"account.password":            "修改密码",
		"account.current":             "当前密码",
		"account.new":                 "新密码",
		"account.again":               "再次输入新密码",
		"account.change":              "修改",
		"account.password_note":       "修改后，您在其他地方的会话会结束，当前会话保留。",
		"account.mismatch":            "两次输入的新密码不一致。",
		"account.wrong_password":      "当前密码不正确。",
		"account.no_tokens":           "没有 API 令牌。",
		"account.expires":             "有效期",
		"account.days":                "%d 天",
		"account.sessions":            "会话",
		"account.sign_out_everywhere": "在所有设备上退出",
		"account.sign_out_note":       "结束您在所有设备上的全部会话（包括当前会话）。API 令牌不受影响，请在上方逐个吊销。",
		"users.set_role":              "修改",
		"users.token_expires":         "到期时间",
		"users.tokens_note":           "令牌由本人在“我的账户”页面创建；管理员可以吊销任何人的令牌。",
		"users.forbidden":             "不允许：令牌只能由本人创建，密码只能由本人修改。",
		"users.last_admin":            "最后一个启用的管理员不能被降级或停用：请先设置另一位管理员。",
		"token.expires":               "有效期至 %s。",
		"notice.user_role":            "已修改 %s 的角色。",
		"notice.password":             "密码已修改，您在其他地方的会话已结束。",
		"home.title":                  "首页",
		"home.welcome":                "当前用户 %s，角色 %s。",
		"home.pick":                   "请选择页面：",
		"role.analyst":                "分析员",
		"role.operator":               "操作员",
		"role.admin":                  "管理员",
		"users.title":                 "用户",
		"users.name":                  "用户名",
		"users.role":                  "角色",
		"users.status":                "状态",
		"users.created":               "创建时间",
		"users.last_login":            "最近登录",
		"users.enabled":               "已启用",
		"users.disabled":              "已停用",
		"users.disable":               "停用",
		"users.enable":                "启用",
		"users.new_token":             "新建 API 令牌",
		"users.add":                   "添加用户",
		"users.add_submit":            "添加",
		"users.password_hint":         "至少 12 个字符",
		"users.tokens":                "API 令牌",
		"users.token_id":              "编号",
		"users.token_prefix":          "开头",
		"users.token_user":            "用户",
		"users.token_used":            "最近使用",
		"users.token_revoked":         "已吊销",
		"users.revoke":                "吊销",
		"users.confirm":               "确定吗？",
		"token.title":                 "新建 API 令牌",
		"token.once":                  "请立即复制 %s 的令牌：它只显示这一次，之后无法找回。",
		"token.usage":                 "使用方式：Authorization: Bearer <令牌>",
		"token.back":                  "返回我的账户",
		"notice.user_add":             "已添加用户 %s。",
		"notice.user_disable":         "已停用用户 %s，其会话和令牌立即失效。",
		"notice.user_enable":          "已启用用户 %s。",
		"notice.token_revoke":         "令牌已吊销。",
		"audit.title":                 "审计日志",
		"audit.time":                  "时间",
		"audit.actor":                 "操作人",
		"audit.role":                  "角色",
		"audit.action":                "操作",
		"audit.batch":                 "批次",
		"audit.stock":                 "券批次",
		"audit.source":                "来源",
		"audit.outcome":               "结果",
		"audit.detail":                "详情",
		"audit.filter":                "筛选",
		"audit.any":                   "全部",
		"audit.newer":                 "← 较新",
		"audit.older":                 "较旧 →",
		"audit.empty":                 "没有记录。",
		"error.title":                 "错误 %d",
		"error.back":                  "首页",
	},
}

// Catalogue is a Server's texts by language and key.
type Catalogue map[string]map[string]string

func newCatalogue() Catalogue {
	c := Catalogue{}
	for _, m := range []map[string]map[string]string{defaultMessages, homeMessages} {
		for lang, msgs := range m {
			c.Add(lang, msgs)
		}
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
