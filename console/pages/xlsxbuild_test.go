package pages_test

import (
	"archive/zip"
	"bytes"
	"net/http"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

func withBackgroundReports(rows int) func(*options) {
	return func(o *options) { o.pages.BackgroundReportRows = rows }
}

// TestBrowserReportBuild: a batch above the threshold offers its Excel
// report built in the background: the page starts the build, shows its
// progress and then the download, which is the report; a small batch
// downloads at once as before.
func TestBrowserReportBuild(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	b := setup(t, withSim, withBackgroundReports(20))
	big := b.importBatch(t, "big", 50)
	b.issue(t, big)
	small := b.importBatch(t, "small", 5)
	id := strconv.FormatInt(big, 10)

	chinese(t, ctx, b)
	signIn(t, ctx, b, "ann", "/batches/"+id)
	require.Equal(t, "/batches/"+id+"/report-build", evalString(t, ctx, `document.querySelector("#dl-xlsx").getAttribute("href")`))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#dl-xlsx`)),
		chromedp.WaitVisible(chromedp.CSS(`#btn-build`)),
		chromedp.Click(chromedp.CSS(`#btn-build`)),
		// The page refreshes itself until the file is built.
		chromedp.WaitVisible(chromedp.CSS(`#dl-built`)),
	))
	require.Equal(t, "50", evalString(t, ctx, `document.querySelector("#build-progress").dataset.done`))
	require.Equal(t, "50", evalString(t, ctx, `document.querySelector("#build-progress").dataset.total`))
	screenshot(t, ctx, "report-build")

	ann := b.login(t, "ann")
	file := b.get(t, ann, "/batches/"+id+"/report-build/file", nil)
	require.Equal(t, http.StatusOK, file.Status)
	require.Contains(t, file.Header.Get("Content-Disposition"), "batch-"+id+"-report.xlsx")
	_, err := zip.NewReader(bytes.NewReader([]byte(file.Body)), int64(len(file.Body)))
	require.NoError(t, err, "an xlsx is a zip")

	page := b.get(t, ann, "/batches/"+strconv.FormatInt(small, 10), nil)
	require.Contains(t, page.Body, `/api/v1/batches/`+strconv.FormatInt(small, 10)+`/report?format=xlsx`)
	require.Equal(t, http.StatusNotFound, b.get(t, ann, "/batches/"+strconv.FormatInt(small, 10)+"/report-build/file", nil).Status)
	// Building is an export: an analyst may, someone signed out may not.
	require.NotEqual(t, http.StatusOK, b.post(t, nil, "/batches/"+id+"/report-build", nil, nil).Status)
}
