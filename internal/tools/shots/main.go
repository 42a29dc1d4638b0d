// Command shots saves PNGs of a running console's main pages, signed in as
// one account, with headless Chromium: what `make demo` shows of the
// daemon it started, on the demo's own data. The password is read from a
// file, never from the command line.
//
//	shots -url http://127.0.0.1:8080 -user alice -password-file F -dir out/screenshots \
//	      -page batch=/batches/3 -upload stock=9856000,file=list.csv
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/issuer-dev/issuer/internal/chromium"
)

// pageFlag collects NAME=PATH pairs, in order.
type pageFlag [][2]string

func (p *pageFlag) String() string { return fmt.Sprint(*p) }
func (p *pageFlag) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok || name == "" || !strings.HasPrefix(path, "/") {
		return fmt.Errorf("want NAME=/path, got %q", v)
	}
	*p = append(*p, [2]string{name, path})
	return nil
}

func main() {
	base := flag.String("url", "", "the console's URL (issuer run's http.addr)")
	user := flag.String("user", "", "account to sign in as")
	pwFile := flag.String("password-file", "", "file whose first line is the account's password")
	dir := flag.String("dir", "out/screenshots", "where to write the PNGs")
	lang := flag.String("lang", "zh", "console language: zh or en")
	upStock := flag.String("upload-stock", "", "also shoot the upload page's dry run of -upload-file for this stock")
	upFile := flag.String("upload-file", "", "the file the upload dry run checks")
	var pages pageFlag
	flag.Var(&pages, "page", "NAME=/path: a page to shoot as NAME.png (repeatable; waits for main h1)")
	flag.Parse()
	if *base == "" || *user == "" || *pwFile == "" || len(pages) == 0 {
		fmt.Fprintln(os.Stderr, "usage: shots -url URL -user NAME -password-file F [-dir D] -page NAME=/path… [-upload-stock S -upload-file F]")
		os.Exit(2)
	}
	if err := run(*base, *user, *pwFile, *dir, *lang, pages, *upStock, *upFile); err != nil {
		fmt.Fprintln(os.Stderr, "shots:", err)
		os.Exit(1)
	}
}

func run(base, user, pwFile, dir, lang string, pages pageFlag, upStock, upFile string) error {
	b, err := os.ReadFile(pwFile)
	if err != nil {
		return err
	}
	password, _, _ := strings.Cut(strings.TrimRight(string(b), "\r\n"), "\n")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	exe, err := chromium.Find()
	if err != nil {
		return fmt.Errorf("%w; scripts/screenshots.sh installs it", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("lang", "zh-CN"), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// A bound on a hung browser.
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	q := "?lang=" + lang
	if err := signIn(ctx, base, lang, user, password); err != nil {
		return err
	}
	for _, p := range pages {
		sep := q
		if strings.Contains(p[1], "?") {
			sep = "&" + q[1:]
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+p[1]+sep), chromedp.WaitVisible(chromedp.CSS(`main h1`))); err != nil {
			return fmt.Errorf("%s %s: %w", p[0], p[1], err)
		}
		if err := shoot(ctx, dir, p[0]); err != nil {
			return err
		}
	}
	if upStock != "" && upFile != "" {
		return uploadDryRun(ctx, base+"/upload"+q, dir, upStock, upFile)
	}
	return nil
}

// signIn signs in to the console at base as user, and sets the language
// cookie so that pages reached by a form (the upload's dry run) are in
// lang too.
func signIn(ctx context.Context, base, lang, user, password string) error {
	q := "?lang=" + lang
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/batches"+q),
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		// .who is on signed-in pages only.
		chromedp.WaitVisible(chromedp.CSS(`.who`)),
		chromedp.Navigate(base+"/lang?lang="+lang+"&next=/batches"),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)),
	); err != nil {
		return fmt.Errorf("sign in as %s: %w", user, err)
	}
	return nil
}

// shoot saves a screenshot of the whole page as dir/name.png.
func shoot(ctx context.Context, dir, name string) error {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

// uploadDryRun uploads upFile for upStock on the upload page at u, runs
// the dry run and saves its screenshot.
func uploadDryRun(ctx context.Context, u, dir, upStock, upFile string) error {
	abs, err := filepath.Abs(upFile)
	if err != nil {
		return err
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(u),
		chromedp.WaitVisible(chromedp.CSS(`#upload-form`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=stock]`), upStock),
		chromedp.SetUploadFiles(chromedp.CSS(`input[name=file]`), []string{abs}),
		chromedp.Click(chromedp.CSS(`#btn-dryrun`)),
		chromedp.WaitVisible(chromedp.CSS(`#dryrun`)),
	); err != nil {
		return fmt.Errorf("upload dry run: %w", err)
	}
	return shoot(ctx, dir, "upload-dryrun")
}
