package ops

import (
	"context"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
)

// AuditEntry and AuditFilter are the audit log's rows and the filter that
// selects them, as the audit page and its export take them.
type (
	AuditEntry  = audit.Entry
	AuditFilter = audit.Filter
)

// AuditLog is reading the audit log: one way for the audit page, its CSV
// export and the API. Reading is not an act, so it is not itself recorded.
type AuditLog struct {
	store *audit.Store
}

// NewAuditLog returns the audit log's reads on store.
func NewAuditLog(store *audit.Store) *AuditLog { return &AuditLog{store: store} }

// List returns the entries f selects, newest first, to an actor who may
// read the audit log (auth.ActReadAudit).
func (l *AuditLog) List(ctx context.Context, a auth.Actor, f AuditFilter) ([]AuditEntry, error) {
	if !a.Can(auth.ActReadAudit) {
		return nil, forbiddenf("%s may not read the audit log (needs the %s role)", describe(a), auth.MinRole(auth.ActReadAudit))
	}
	entries, err := l.store.List(ctx, f)
	if err != nil {
		return nil, Errorf(EINTERNAL, "read the audit log: %w", err)
	}
	return entries, nil
}
