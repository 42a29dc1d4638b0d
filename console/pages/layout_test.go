package pages_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/shotlist"
)

// TestLayoutsHold renders every page of shotlist.Pages over demoData at
// every width of shotlist.Widths: no page is wider than the screen (wide
// tables scroll inside their box), no heading takes more than two lines
// (the 276-character name is clamped), and no id (stock, openid, request
// number) wraps.
func TestLayoutsHold(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, withSim)
	ids := demoData(t, b)
	signInZh(t, ctx, b, "ada")
	const check = `(() => {
		const out = [];
		const w = document.documentElement.clientWidth;
		if (document.documentElement.scrollWidth > w) out.push("page " + document.documentElement.scrollWidth + "px wide in " + w);
		for (const h of document.querySelectorAll("main h1")) {
			const lh = parseFloat(getComputedStyle(h).lineHeight) || 1.2 * parseFloat(getComputedStyle(h).fontSize);
			if (h.getBoundingClientRect().height > 2.5 * lh) out.push("heading of " + Math.round(h.getBoundingClientRect().height / lh) + " lines");
		}
		for (const c of document.querySelectorAll("code.id")) {
			if (c.getClientRects().length > 1) out.push("id " + c.textContent + " wraps");
		}
		return out.join("; ");
	})()`
	for _, w := range shotlist.Widths {
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(w), 900)))
		for _, p := range shotlist.Pages {
			path, err := shotlist.Resolve(p.Path, ids)
			require.NoError(t, err)
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(p.Wait))), p.Name)
			if broken := evalString(t, ctx, check); broken != "" {
				t.Errorf("%s at %d px: %s", p.Name, w, broken)
			}
		}
	}
}
