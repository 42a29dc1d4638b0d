package cmdline

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ErrNoTerminal: nobody can be asked for a password here.
var ErrNoTerminal = errors.New("no terminal to type a password at")

// TerminalPassword asks for a password at the controlling terminal (not
// stdin, which may carry other input), without echo. With no terminal
// (cron, CI, a pipe) it fails at once with ErrNoTerminal instead of
// waiting.
func TerminalPassword(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", ErrNoTerminal
	}
	defer tty.Close()
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return "", ErrNoTerminal
	}
	fmt.Fprint(tty, prompt)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(tty)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(pw), nil
}

// NewPassword reads a new password of at most maxLen bytes: the first
// line of file when given, else typed twice at the terminal (ask, with
// prompt first) when stdin is one, else the first line of stdin. where
// says which, for messages.
func NewPassword(file string, stdin io.Reader, ask func(prompt string) (string, error), prompt string, maxLen int) (pw, where string, err error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", file, err
		}
		defer f.Close()
		pw, err = firstLine(f, maxLen)
		return pw, file, err
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pw, err := ask(prompt)
		if err != nil {
			return "", "the terminal", err
		}
		again, err := ask("again: ")
		if err != nil {
			return "", "the terminal", err
		}
		if pw != again {
			return "", "the terminal", errors.New("the two passwords differ; nothing was changed")
		}
		return pw, "the terminal", nil
	}
	pw, err = firstLine(stdin, maxLen)
	return pw, "stdin", err
}

// firstLine reads up to the first newline, without it or a trailing \r.
func firstLine(r io.Reader, maxLen int) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, int64(maxLen)+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
