package console_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/stretchr/testify/require"
)

// browser starts headless Chromium for the test, or skips it when none is
// installed (see testutil.Chromium).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := testutil.Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("lang", "en-US"), chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// A bound on a hung browser, not a timing assertion.
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// screenshot saves the page as name.png in $ISSUER_SCREENSHOTS, or in the
// test's temporary directory, and returns the file's path.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	dir := os.Getenv("ISSUER_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	require.NoError(t, err)
	path := filepath.Join(dir, name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	return path
}

// TestBrowserLogin signs in with a real browser: the CSP, the cookie and
// the cross-origin check all let the ordinary path through.
func TestBrowserLogin(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	b := setup(t)
	ctx := browser(t)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(b.srv.URL+"/users?lang=en"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
	))
	screenshot(t, ctx, "login")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`main table`)),
	))
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main h1`)))
	require.NoError(t, err)
	who, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.who`)))
	require.NoError(t, err)
	require.Equal(t, "Users", heading, "back at the page asked for")
	require.Contains(t, who, "ada")
	t.Log("screenshot:", screenshot(t, ctx, "users"))
}
