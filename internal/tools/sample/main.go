// Command sample writes realistic recipient lists for the demo and the
// benchmarks: openids shaped like WeChat's (28 characters, "o" + base64url),
// a few duplicate lines, and optionally a GBK-encoded variant such as Excel
// on Chinese Windows saves.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func main() {
	n := flag.Int("n", 10000, "distinct recipients")
	dups := flag.Int("dups", 0, "extra lines repeating an earlier openid")
	out := flag.String("o", "recipients.csv", "UTF-8 CSV to write")
	gbk := flag.String("gbk", "", "also write a GBK variant with -gbk-n recipients and one line an analyst got wrong")
	gbkN := flag.Int("gbk-n", 500, "recipients in the GBK variant")
	copyOut := flag.String("copy", "", "also write the same recipients as psql \\copy input for a recipients-shaped table")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*n, *dups, *out, *gbk, *gbkN, *copyOut, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "sample:", err)
		os.Exit(1)
	}
}

func openid(r *rand.Rand, b []byte) string {
	b[0] = 'o'
	for i := 1; i < len(b); i++ {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func run(n, dups int, out, gbk string, gbkN int, copyOut string, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var cw *bufio.Writer
	if copyOut != "" {
		cf, err := os.Create(copyOut)
		if err != nil {
			return err
		}
		defer cf.Close()
		cw = bufio.NewWriterSize(cf, 1<<20)
	}
	fmt.Fprint(w, "openid\r\n")
	buf := make([]byte, 28)
	// Duplicates repeat openids from a small ring of recent lines, as when
	// an analyst pastes a block twice.
	ring := make([]string, 0, 64)
	dupEvery := 0
	if dups > 0 {
		dupEvery = max(1, n/dups)
	}
	line := 1
	for i := 0; i < n; i++ {
		id := openid(r, buf)
		fmt.Fprintf(w, "%s\r\n", id)
		line++
		if cw != nil {
			// batch_id, mchid, openid, out_request_no, source_line
			fmt.Fprintf(cw, "1,1900000109,%s,190000010920261122%010d,%d\n", id, i+1, line)
		}
		if len(ring) < cap(ring) {
			ring = append(ring, id)
		} else {
			ring[i%cap(ring)] = id
		}
		if dupEvery > 0 && i%dupEvery == dupEvery-1 && dups > 0 {
			fmt.Fprintf(w, "%s\r\n", ring[r.IntN(len(ring))])
			line++
			dups--
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if cw != nil {
		if err := cw.Flush(); err != nil {
			return err
		}
	}
	if gbk == "" {
		return nil
	}
	g, err := os.Create(gbk)
	if err != nil {
		return err
	}
	defer g.Close()
	gw := bufio.NewWriter(g)
	tw := transform.NewWriter(gw, simplifiedchinese.GBK.NewEncoder())
	io.WriteString(tw, "openid\r\n")
	for i := 0; i < gbkN; i++ {
		if i == gbkN/2 {
			io.WriteString(tw, "张三（会员）\r\n") // a name pasted where an openid belongs
		}
		io.WriteString(tw, openid(r, buf)+"\r\n")
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gw.Flush()
}
