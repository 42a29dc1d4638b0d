package console

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// Redirect-after-POST: every form of the console answers a post with a
// 303 to a page, so that Back and reload never post again. What the act
// did (a notice) or why it failed (an error) rides along in a short-lived
// cookie the next page shows once.

// flashCookie carries one notice or error across a redirect.
const flashCookie = "issuer_flash"

// maxFlash bounds a flash message, in bytes, to keep the cookie small.
const maxFlash = 1500

type flash struct {
	Notice string `json:"n,omitempty"`
	Error  string `json:"e,omitempty"`
}

// Redirect answers a form post with 303 See Other to url, and shows
// notice or errMsg (either may be "") once on the page there.
func (s *Server) Redirect(w http.ResponseWriter, r *http.Request, url, notice, errMsg string) {
	if notice != "" || errMsg != "" {
		b, _ := json.Marshal(flash{Notice: clip(notice), Error: clip(errMsg)}) // strings only: never fails
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: "/",
			MaxAge: 120, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}

// TakeFlash returns the notice and error a redirect left for this page,
// and clears them so a reload does not show them again. The cookie is
// the browser's: its text is shown escaped, as any text is.
func (s *Server) TakeFlash(w http.ResponseWriter, r *http.Request) (notice, errMsg string) {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return "", ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return "", ""
	}
	var f flash
	if json.Unmarshal(b, &f) != nil {
		return "", ""
	}
	return f.Notice, f.Error
}

func clip(s string) string {
	if len(s) <= maxFlash {
		return s
	}
	return strings.ToValidUTF8(s[:maxFlash], "") + "…" // a character cut in two is dropped
}
