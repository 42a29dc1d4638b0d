package intake

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// Encodings accepted by --encoding.
const (
	EncodingAuto = "auto"
	EncodingUTF8 = "utf-8"
	EncodingGBK  = "gbk"
)

// sniffBytes is how much of the file auto-detection looks at. Files that
// are valid UTF-8 there but not later get per-line rejections that say to
// use --encoding gbk, so nothing is silently mis-decoded.
const sniffBytes = 64 << 10

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// decode wraps r so that it yields UTF-8, detecting the encoding when enc is
// auto. It returns the encoding used. GBK is decoded as GB18030, its
// superset, which is what Excel on Chinese Windows writes.
func decode(r io.Reader, enc string) (io.Reader, string, error) {
	br := bufio.NewReaderSize(r, sniffBytes)
	head, err := br.Peek(sniffBytes)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, "", fmt.Errorf("read: %w", err)
	}
	if isUTF16(head) {
		return nil, "", errors.New(`the file is UTF-16 (what Excel saves as "Unicode text" / Unicode 文本), not CSV: ` +
			`in Excel choose File › Save As › "CSV UTF-8 (逗号分隔)" (or "CSV (逗号分隔)") and import that file`)
	}
	switch enc {
	case EncodingAuto, "":
		if validUTF8Prefix(head, len(head) == sniffBytes) {
			enc = EncodingUTF8
		} else {
			enc = EncodingGBK
		}
	case EncodingUTF8, "utf8":
		enc = EncodingUTF8
	case EncodingGBK, "gb18030", "gb2312":
		enc = EncodingGBK
	default:
		return nil, "", fmt.Errorf("unknown encoding %q (want auto, utf-8 or gbk)", enc)
	}
	if enc == EncodingUTF8 {
		if bytes.HasPrefix(head, utf8BOM) {
			_, _ = br.Discard(len(utf8BOM))
		}
		return br, enc, nil
	}
	return transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder()), enc, nil
}

// isUTF16 reports whether b starts like UTF-16 text: a UTF-16 byte-order
// mark, or ASCII with a zero byte beside every character (no CSV of
// openids has zero bytes otherwise).
func isUTF16(b []byte) bool {
	if bytes.HasPrefix(b, []byte{0xFF, 0xFE}) || bytes.HasPrefix(b, []byte{0xFE, 0xFF}) {
		return true
	}
	n := min(len(b), 64)
	if n < 4 {
		return false
	}
	zeros := bytes.Count(b[:n], []byte{0})
	return zeros*3 >= n // about every other byte
}

// validUTF8Prefix reports whether b is UTF-8, allowing a rune cut off at
// the end when b is only the start of the file.
func validUTF8Prefix(b []byte, truncated bool) bool {
	if truncated {
		for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
			if utf8.Valid(b) {
				return true
			}
			b = b[:len(b)-1]
		}
	}
	return utf8.Valid(b)
}
