package pages_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/shotlist"
)

// TestScreenshots saves PNGs of every page of shotlist.Pages, at every
// width of shotlist.Widths, in $ISSUER_SCREENSHOTS (scripts/screenshots.sh;
// docs/screenshots), over demoData, signed in as an admin in Chinese; and
// the upload's dry run of a list with bad lines.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("ISSUER_SCREENSHOTS")
	if dir == "" {
		t.Skip("set ISSUER_SCREENSHOTS=DIR to save the console's screenshots")
	}
	ctx := browser(t)
	b := setup(t, withSim)
	ids := demoData(t, b)
	list := filepath.Join(t.TempDir(), "会员名单.csv")
	require.NoError(t, os.WriteFile(list, []byte(csvOf("vip", 200, "bad openid!", "vip00003", "o-<script>", "")), 0o644))

	signInZh(t, ctx, b, "ada")
	for _, w := range shotlist.Widths {
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(w), 900)))
		for _, p := range shotlist.Pages {
			path, err := shotlist.Resolve(p.Path, ids)
			require.NoError(t, err)
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(b.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(p.Wait))), p.Name)
			t.Log("screenshot:", screenshot(t, ctx, shotlist.Name(p.Name, w)))
		}
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Navigate(b.srv.URL+"/upload"),
			chromedp.WaitVisible(chromedp.CSS(`#upload-form`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=stock]`), "S1"),
			chromedp.SetUploadFiles(chromedp.CSS(`input[name=file]`), []string{list}),
			chromedp.Click(chromedp.CSS(`#btn-dryrun`)),
			chromedp.WaitVisible(chromedp.CSS(`#dryrun`)),
		))
		t.Log("screenshot:", screenshot(t, ctx, shotlist.Name("upload-dryrun", w)))
	}
}
