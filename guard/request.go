package guard

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/internal/money"
)

// Request is an import's guards as people type them, the same for every
// front end: the upload form and the API's fields, the import command's
// flags. Front ends pass them through (Set, or the fields directly) and
// Parse reads them one way.
type Request struct {
	Paused         bool   // created paused
	StartAt        string // not claimed before: RFC 3339, or YYYY-MM-DD HH:MM[:SS] in the configured time zone
	Window         string // claimed only inside HH:MM-HH:MM daily, in the configured time zone
	MaxAmountYuan  string // spend cap in yuan (face value issued, in flight or in doubt)
	Priority       int    // higher is claimed first
	AllowDuplicate bool   // store a file already imported as a live batch of the stock
	AllowRepeats   bool   // keep openids that already have a coupon of the stock
}

// Field is one guard of a Request as a form field (Name) and a command
// line flag (Flag).
type Field struct {
	Name, Flag string
	Bool       bool   // a switch: true or false
	Help       string // the flag's help; a `word` in it names the value
	set        func(r *Request, v string) error
}

// Fields returns the guards an import takes, as form fields and flags.
func Fields() []Field {
	return []Field{
		{Name: "paused", Flag: "paused", Bool: true, Help: "create the batch paused (issuer batch resume ID starts it)",
			set: func(r *Request, v string) (err error) { r.Paused, err = parseBool(v); return err }},
		{Name: "start_at", Flag: "start-at", Help: "do not issue before `T`: RFC 3339, or YYYY-MM-DD HH:MM in the configured timezone",
			set: func(r *Request, v string) error { r.StartAt = strings.TrimSpace(v); return nil }},
		{Name: "window", Flag: "window", Help: "issue only inside `HH:MM-HH:MM` each day in the configured timezone (22:00-06:00 spans midnight)",
			set: func(r *Request, v string) error { r.Window = strings.TrimSpace(v); return nil }},
		{Name: "max_amount_yuan", Flag: "max-amount-yuan", Help: "spend cap: never issue more than `Y` yuan of face value",
			set: func(r *Request, v string) error { r.MaxAmountYuan = strings.TrimSpace(v); return nil }},
		{Name: "priority", Flag: "priority", Help: "a batch of higher `N` is issued first; equal priorities share the rate",
			set: func(r *Request, v string) error {
				v = strings.TrimSpace(v)
				if v == "" {
					r.Priority = 0
					return nil
				}
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("priority must be a whole number")
				}
				r.Priority = n
				return nil
			}},
		{Name: "allow_duplicate", Flag: "allow-duplicate", Bool: true, Help: "store a file already imported as a live batch of this stock",
			set: func(r *Request, v string) (err error) { r.AllowDuplicate, err = parseBool(v); return err }},
		{Name: "allow_repeats", Flag: "allow-repeats", Bool: true, Help: "keep openids that already have a coupon of this stock issued or on its way",
			set: func(r *Request, v string) (err error) { r.AllowRepeats, err = parseBool(v); return err }},
	}
}

// Set sets the guard of the form field name from v as typed.
func (r *Request) Set(name, v string) error {
	for _, f := range Fields() {
		if f.Name == name {
			if err := f.set(r, v); err != nil {
				if f.Bool {
					return fmt.Errorf("%s must be true or false", name)
				}
				return err
			}
			return nil
		}
	}
	return fmt.Errorf("no guard %q", name)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "false", "0", "off", "no":
		return false, nil
	case "true", "1", "on", "yes":
		return true, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

// Parse reads the guards as typed into an Import, in loc; the approval
// thresholds, the uploader and the face value are the caller's to fill
// in. Its errors say what to change.
func (r Request) Parse(loc *time.Location) (Import, error) {
	g := Import{Paused: r.Paused, Priority: r.Priority, AllowDuplicate: r.AllowDuplicate, AllowRepeats: r.AllowRepeats}
	if r.StartAt != "" {
		t, err := ParseTime(r.StartAt, loc)
		if err != nil {
			return g, fmt.Errorf("start at: %w", err)
		}
		g.StartAt = t
	}
	if r.Window != "" {
		w, err := ParseWindow(r.Window, loc)
		if err != nil {
			return g, err
		}
		g.Window = &w
	}
	if r.MaxAmountYuan != "" {
		fen, err := money.ParseYuan(r.MaxAmountYuan)
		if err != nil {
			return g, fmt.Errorf("max amount: %w", err)
		}
		g.MaxAmountFen = fen
	}
	return g, nil
}

// ParseTime reads a time as people give it: RFC 3339, or YYYY-MM-DD HH:MM,
// YYYY-MM-DD HH:MM:SS or YYYY-MM-DD in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 or YYYY-MM-DD HH:MM in %s", s, loc)
}
