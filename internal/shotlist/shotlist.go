// Package shotlist is the one list of the console's pages that the
// screenshots (internal/tools/shots, scripts/screenshots.sh, the console's
// TestScreenshots) and the test that no Chinese page shows an English code
// (console/pages) go through. A new page is one more line in Pages.
package shotlist

import (
	"fmt"
	"strings"
)

// Page is a console page: its screenshot's name, its path and query, and
// the CSS selector that is visible once it has rendered. A path names the
// demo data's batches and stocks by placeholder ({halted}, {stock}…),
// which Resolve fills in.
type Page struct {
	Name string
	Path string
	Wait string
}

// Pages are the pages shot at every width and crawled in Chinese, signed
// in as an admin.
var Pages = []Page{
	{"home", "/", "main h1"},
	{"batches", "/batches", "main table"},
	{"batches-bulk-pause", "/batches/bulk?action=pause&id={paused}&id={awaiting}", "main h1"},
	{"search-openid", "/search?openid={openid}", "main h1"},
	{"notifications", "/notifications", "main h1"},
	{"batch-halted", "/batches/{halted}", "#progress"},
	{"batch-completed", "/batches/{completed}", "#progress"},
	{"batch-paused", "/batches/{paused}", "#progress"},
	{"batch-awaiting-approval", "/batches/{awaiting}", "#progress"},
	{"batch-stock-stopped", "/batches/{stock_halted}", "#progress"},
	{"batch-spend-cap", "/batches/{spend_cap}", "#progress"},
	{"batch-long-name", "/batches/{long_name}", "#progress"},
	{"batch-lookup", "/batches/{halted}?openid={openid}", "#progress"},
	{"upload", "/upload", "#upload-form"},
	{"reconciliation", "/reconciliation", "main table"},
	{"stocks", "/stocks", "main table"},
	{"stock", "/stocks/{stock}", "main h1"},
	{"coupons", "/coupons?openid={openid}", "main h1"},
	{"operations", "/operations", "main table"},
	{"users", "/users", "main table"},
	{"account", "/account", "main h1"},
	{"audit", "/audit", "main table"},
	{"not-found", "/no-such-page", "main h1"},
}

// Widths are the viewport widths every page is shot at: a laptop and a
// phone.
var Widths = []int{1280, 390}

// Resolve fills a path's placeholders from ids; it fails on one left.
func Resolve(path string, ids map[string]string) (string, error) {
	var pairs []string
	for k, v := range ids {
		pairs = append(pairs, "{"+k+"}", v)
	}
	out := strings.NewReplacer(pairs...).Replace(path)
	if i := strings.Index(out, "{"); i >= 0 {
		return "", fmt.Errorf("shotlist: %s: no value for %s", path, out[i:])
	}
	return out, nil
}

// Name is the screenshot's name of the page called name at width, without
// the .png.
func Name(name string, width int) string { return fmt.Sprintf("%s-%d", name, width) }
