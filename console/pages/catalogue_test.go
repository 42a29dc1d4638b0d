package pages_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/console/pages"
	"github.com/issuer-dev/issuer/daemon"
	"github.com/issuer-dev/issuer/queue"
	"github.com/issuer-dev/issuer/wxpay"
)

// TestCatalogues: every text a template names, and every code a page
// shows through View.Word, has its words in Chinese and in English.
func TestCatalogues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	con := b.con

	key := regexp.MustCompile(`\.T "([a-z_.]+)"`)
	for _, dir := range []string{"templates", "../templates"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			src, err := os.ReadFile(path)
			require.NoError(t, err)
			for _, m := range key.FindAllStringSubmatch(string(src), -1) {
				for _, lang := range []string{"zh", "en"} {
					require.True(t, con.Has(lang, m[1]), "%s: %s has no %s text", path, m[1], lang)
				}
			}
			return nil
		})
		require.NoError(t, err)
	}

	codes := map[string][]string{
		"bstatus": pages.BatchStatuses,
		"status":  append(append([]string{}, queue.RecipientStatuses...), "in_doubt"),
		"outcome": {queue.OutcomeConfirmedByQuery, queue.OutcomeNotIssuedByQuery, "spend_cap"},
		"stockst": {wxpay.StockUnactivated, wxpay.StockAudit, wxpay.StockRunning, wxpay.StockStopped, wxpay.StockPaused},
		"role":    {"system"},
		"action": {audit.ActLogin, audit.ActLoginFailed, audit.ActLockout, audit.ActLogout, audit.ActUserAdd,
			audit.ActUserDisable, audit.ActUserEnable, audit.ActTokenCreate, audit.ActTokenRevoke, audit.ActPassword,
			audit.ActUserRole, audit.ActSessionsEnd, "halt"},
		"aoutcome": {string(audit.OK), string(audit.Denied), string(audit.Error)},
		"job":      {"issue", "reconcile", "housekeeping", "digest"},
		"jobres":   {daemon.RunSuccess, daemon.RunFailure, daemon.RunPanic, daemon.RunInterrupted},
	}
	for _, o := range wxpay.Outcomes() {
		codes["outcome"] = append(codes["outcome"], string(o))
	}
	for _, r := range auth.Roles() {
		codes["role"] = append(codes["role"], string(r))
	}
	for _, a := range []auth.Action{auth.ActRead, auth.ActImport, auth.ActExport, auth.ActPause, auth.ActResume, auth.ActCancel,
		auth.ActApprove, auth.ActReject, auth.ActPriority, auth.ActGuards, auth.ActSettle, auth.ActStock, auth.ActPluginSign,
		auth.ActReconcile, auth.ActReadAudit, auth.ActManageUsers, auth.ActReadUsers, auth.ActReadStockInfo} {
		codes["action"] = append(codes["action"], string(a))
	}
	for prefix, list := range codes {
		for _, c := range list {
			for _, lang := range []string{"zh", "en"} {
				require.True(t, con.Has(lang, prefix+"."+c), "no %s words for %s.%s", lang, prefix, c)
			}
		}
	}
}
