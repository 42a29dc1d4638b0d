package intake

import (
	"bufio"
	"bytes"
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
