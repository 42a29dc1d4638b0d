package console_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/issuer-dev/issuer/internal/testutil"
	"github.com/stretchr/testify/require"
)

func browser(t *testing.T) context.Context { return testutil.Browser(t, 800) }

func screenshot(t *testing.T, ctx context.Context, name string) string {
	return testutil.Screenshot(t, ctx, name)
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
