// Package auth holds who may do what: accounts and their roles, passwords,
// console sessions and API tokens, and the permission table every front
// end's operations are checked against (in package ops, never in a front
// end).
package auth

// Role is an account's role. Each role can do what the one before it can.
type Role string

// Roles, in increasing power.
const (
	RoleAnalyst  Role = "analyst"  // read, upload, export, reports
	RoleOperator Role = "operator" // + pause, resume, cancel, approve, reject, priority, guards, review settlement, stock actions
	RoleAdmin    Role = "admin"    // + users
)

// Roles lists the roles in increasing power.
func Roles() []Role { return []Role{RoleAnalyst, RoleOperator, RoleAdmin} }

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", invalidf("unknown role %q: want analyst, operator or admin", s)
}

func (r Role) rank() int {
	for i, x := range Roles() {
		if x == r {
			return i + 1
		}
	}
	return 0
}

// AtLeast reports whether r has every permission of min.
func (r Role) AtLeast(min Role) bool { return r.rank() >= min.rank() && r.rank() > 0 }

// Action is something a person asks issuer to do.
type Action string

// Actions. The permission table below is the only place that says which
// role may do each.
const (
	ActRead          Action = "read"         // batches, reports, reconciliation, operations pages
	ActImport        Action = "import"       // upload a recipient list
	ActExport        Action = "export"       // batch export, report downloads
	ActPause         Action = "pause"        // pause a batch
	ActResume        Action = "resume"       // resume a batch
	ActCancel        Action = "cancel"       // cancel a batch
	ActApprove       Action = "approve"      // approve a batch awaiting approval
	ActReject        Action = "reject"       // reject a batch awaiting approval
	ActPriority      Action = "priority"     // change a batch's priority
	ActGuards        Action = "guards"       // change a batch's money guards (cap, window, start, priority)
	ActSettle        Action = "settle"       // review list/resolve
	ActStock         Action = "stock"        // stock create/start/pause/restart/stop, callback set
	ActPluginSign    Action = "plugin_sign"  // sign plugin parameters
	ActReconcile     Action = "reconcile"    // fetch flow files now
	ActReadAudit     Action = "read_audit"   // the audit log
	ActManageUsers   Action = "manage_users" // add, disable, enable users; tokens
	ActReadUsers     Action = "read_users"   // list users
	ActReadStockInfo Action = "read_stock"   // stock show/list/merchants/items, user coupons
)

var permissions = map[Action]Role{
	ActRead: RoleAnalyst, ActImport: RoleAnalyst, ActExport: RoleAnalyst, ActReadStockInfo: RoleAnalyst,
	ActPause: RoleOperator, ActResume: RoleOperator, ActCancel: RoleOperator, ActApprove: RoleOperator,
	ActReject: RoleOperator, ActPriority: RoleOperator, ActGuards: RoleOperator, ActSettle: RoleOperator, ActStock: RoleOperator,
	ActPluginSign: RoleOperator, ActReconcile: RoleOperator, ActReadAudit: RoleOperator,
	ActManageUsers: RoleAdmin, ActReadUsers: RoleAdmin,
}

// credentialed are the actions that approve a batch or loosen its money
// guards. Whatever its role, an actor without a credential (the shell's
// cli:<os user>, see Actor.Account) may not perform them: maker-checker
// must know who did. Without a credential the shell still imports,
// pauses and cancels (an emergency stop needs no token).
var credentialed = map[Action]bool{ActApprove: true, ActReject: true, ActResume: true, ActPriority: true}

// NeedsCredential reports whether act is one only an account that proved
// who it is may perform.
func NeedsCredential(act Action) bool { return credentialed[act] }

// Allowed reports whether role may perform act. An action missing from the
// table is allowed to nobody.
func Allowed(role Role, act Action) bool {
	min, ok := permissions[act]
	return ok && role.AtLeast(min)
}

// MinRole is the least role that may perform act ("" when nobody may).
func MinRole(act Action) Role { return permissions[act] }

// Actor is who performs an operation: every operation takes one, checks it
// against the permission table and records it in the audit log.
type Actor struct {
	Name   string // account name; for the CLI without a credential, "cli:<os user>"
	Role   Role
	Source string // client address for the console and API, "cli:<os user>" for the CLI
}

// Can reports whether the actor may perform act: its role may, and it is
// an account when act needs a credential.
func (a Actor) Can(act Action) bool {
	return Allowed(a.Role, act) && (!credentialed[act] || a.Account())
}

// Account reports whether the actor is an account that proved who it is
// (a password, a session, an API token, a trusted proxy's header), as
// opposed to the shell's cli:<os user>, who holds no credential. Account
// names cannot contain ':', so no account is ever taken for the shell or
// the shell for an account: a batch the shell imported is uploaded by
// nobody who can approve it.
func (a Actor) Account() bool { return CheckName(a.Name) == nil }

// ShellActor is the command line without a credential, run by the OS user
// osUser on the host that holds the merchant's keys and the database URL:
// it keeps the admin role for what the host's operator does (accounts,
// stocks, reconciliation), but as no account it never approves, rejects
// or loosens a guard (package ops refuses it).
func ShellActor(osUser string) Actor {
	if osUser == "" {
		osUser = "unknown"
	}
	return Actor{Name: "cli:" + osUser, Role: RoleAdmin, Source: "cli:" + osUser}
}
