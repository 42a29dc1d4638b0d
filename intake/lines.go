package intake

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxLineBytes bounds one logical line so a file with a runaway quote
// cannot make the import hold the rest of the file in memory.
const maxLineBytes = 64 << 10

// lineReader yields logical CSV lines: physical lines joined while a quoted
// field is open (RFC 4180 allows newlines inside quotes), with the number of
// the physical line each starts on. Line terminators are stripped.
type lineReader struct {
	r    *bufio.Reader
	next int // physical line number of the next line to read
	buf  []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 256<<10), next: 1}
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes (an unclosed quote?)", maxLineBytes)

// read returns the next logical line and its first physical line number.
// At the end it returns io.EOF. errLineTooLong is returned after skipping
// the rest of the offending logical line; reading may continue.
func (lr *lineReader) read() (line []byte, lineNo int, err error) {
	lr.buf = lr.buf[:0]
	lineNo = lr.next
	var q quoteState
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			lr.next++
		}
		if !tooLong {
			if len(lr.buf)+len(chunk) > maxLineBytes {
				tooLong = true
				lr.buf = lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		q.scan(chunk)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(lr.buf) == 0 && !tooLong && lineNo == lr.next && len(chunk) == 0 {
				return nil, lineNo, io.EOF
			}
			if tooLong {
				return nil, lineNo, errLineTooLong
			}
			return trimEOL(lr.buf), lineNo, nil
		case err != nil:
			return nil, lineNo, err
		}
		if q.open {
			continue // inside a quoted field: the newline is data
		}
		if tooLong {
			return nil, lineNo, errLineTooLong
		}
		return trimEOL(lr.buf), lineNo, nil
	}
}

// quoteState tracks whether a quoted field is open, per RFC 4180: a quote
// opens one only at the start of a field (or right after a closing quote,
// which makes a doubled quote); elsewhere it is a bare quote that
// splitFields rejects, and must not swallow the following lines.
type quoteState struct {
	open       bool
	fieldStart bool
	justClosed bool
	started    bool
}

func (q *quoteState) scan(b []byte) {
	if !q.started {
		q.started, q.fieldStart = true, true
	}
	for _, c := range b {
		switch {
		case q.open:
			if c == '"' {
				q.open, q.justClosed = false, true
			}
			continue
		case c == '"' && (q.fieldStart || q.justClosed):
			q.open = true
		case c == ',' || c == '\n':
			q.fieldStart = true
			q.justClosed = false
			continue
		}
		q.fieldStart, q.justClosed = false, false
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte{'\n'})
	return bytes.TrimSuffix(b, []byte{'\r'})
}

// splitFields parses one logical line per RFC 4180 into fields, appending
// to dst. Quoted fields may contain commas, doubled quotes and newlines.
func splitFields(dst []string, line []byte) ([]string, error) {
	i := 0
	for {
		if i < len(line) && line[i] == '"' {
			var field []byte
			i++
			for {
				j := bytes.IndexByte(line[i:], '"')
				if j < 0 {
					return dst, errors.New("unterminated quoted field")
				}
				field = append(field, line[i:i+j]...)
				i += j + 1
				if i < len(line) && line[i] == '"' {
					field = append(field, '"')
					i++
					continue
				}
				break
			}
			// Normalise CRLF inside quotes the way encoding/csv does.
			field = bytes.ReplaceAll(field, []byte("\r\n"), []byte("\n"))
			dst = append(dst, string(field))
			if i == len(line) {
				return dst, nil
			}
			if line[i] != ',' {
				return dst, fmt.Errorf("unexpected %q after closing quote in field %d", line[i], len(dst))
			}
			i++
			continue
		}
		j := bytes.IndexByte(line[i:], ',')
		end := len(line)
		if j >= 0 {
			end = i + j
		}
		field := line[i:end]
		if bytes.IndexByte(field, '"') >= 0 {
			return dst, fmt.Errorf("bare quote in unquoted field %d", len(dst)+1)
		}
		dst = append(dst, string(field))
		if j < 0 {
			return dst, nil
		}
		i = end + 1
	}
}
