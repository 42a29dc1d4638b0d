package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/excelcsv"
)

// TestBrowserAuditFilterExport: an admin filters the audit log by actor
// and a date range on the page, and the export link downloads exactly what
// the filter shows, as CSV for Excel.
func TestBrowserAuditFilterExport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	otto := b.login(t, "otto")
	b.post(t, otto, "/logout", nil, nil)
	b.post(t, nil, "/login", url.Values{"username": {"ann"}, "password": {"=1+1 wrong"}}, nil)
	ctx := browser(t)
	today := time.Now().Format("2006-01-02")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.srv.URL+"/audit?lang=en"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#audit-csv`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=actor]`), "otto"),
		chromedp.SetValue(chromedp.CSS(`input[name=from]`), today),
		chromedp.SetValue(chromedp.CSS(`input[name=to]`), today),
		chromedp.Submit(chromedp.CSS(`input[name=actor]`)),
		chromedp.WaitVisible(chromedp.CSS(`#audit-csv[href*="actor=otto"]`)),
	))
	actors, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`[...document.querySelectorAll("table.audit tbody tr")].map(r => r.cells[1].textContent).join()`))
	require.NoError(t, err)
	require.Equal(t, "otto,otto", actors, "otto's logout and login, nobody else's")
	screenshot(t, ctx, "audit-filtered")

	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#audit-csv").getAttribute("href")`))
	require.NoError(t, err)
	require.Contains(t, href, "from="+today)
	csv := b.get(t, b.login(t, "ada"), href, nil)
	require.Equal(t, http.StatusOK, csv.Status)
	require.Contains(t, csv.Header.Get("Content-Disposition"), "attachment")
	require.True(t, strings.HasPrefix(csv.Body, excelcsv.BOM))
	rows, err := excelcsv.ReadAll(strings.NewReader(csv.Body))
	require.NoError(t, err)
	require.Len(t, rows, 3, "the header and otto's two rows")
	require.Equal(t, []string{"logout", "login"}, []string{rows[1][3], rows[2][3]})

	// A filter for another day selects nothing; a bad date is refused.
	ada := b.login(t, "ada")
	empty := b.get(t, ada, "/audit.csv?to=2000-01-01", nil)
	rows, err = excelcsv.ReadAll(strings.NewReader(empty.Body))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, http.StatusBadRequest, b.get(t, ada, "/audit?from=yesterday", nil).Status)
	// Only those who read the audit log export it.
	require.Equal(t, http.StatusForbidden, b.get(t, b.login(t, "ann"), "/audit.csv", nil).Status)
}
