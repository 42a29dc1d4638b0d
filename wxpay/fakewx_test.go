package wxpay_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
)

// fakeReply is what a fakeWX handler answers.
type fakeReply struct {
	status int
	body   string
	// unsigned leaves the Wechatpay-* headers out.
	unsigned bool
	// signAt signs with another clock (stale answers).
	signAt time.Time
	// header edits the headers after signing (forgeries).
	header func(h http.Header)
	// raw takes over the connection instead of answering.
	raw func(w http.ResponseWriter, r *http.Request)
}

type recorded struct {
	method, uri string
	header      http.Header
	body        []byte
}

// fakeWX is a minimal WeChat Pay for client unit tests: it checks every
// request's Authorization with the merchant's public key (401 SIGN_ERROR
// otherwise, as the real service) and signs answers with the platform key.
type fakeWX struct {
	k     testKeys
	srv   *httptest.Server
	reply func(r *http.Request, body []byte) fakeReply

	mu   sync.Mutex
	reqs []recorded
}

func newFakeWX(t testing.TB, k testKeys, reply func(r *http.Request, body []byte) fakeReply) *fakeWX {
	t.Helper()
	f := &fakeWX{k: k, reply: reply}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWX) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeWX) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: body})
	f.mu.Unlock()

	if msg := f.checkAuth(r, body); msg != "" {
		f.write(w, fakeReply{status: 401, body: `{"code":"SIGN_ERROR","message":"错误的签名,验签失败","detail":{"detail":{"issue":"` + msg + `"}}}`})
		return
	}
	rep := f.reply(r, body)
	if rep.raw != nil {
		rep.raw(w, r)
		return
	}
	f.write(w, rep)
}

func (f *fakeWX) checkAuth(r *http.Request, body []byte) string {
	a, err := wxpay.ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return "authorization"
	}
	if a.MchID != testMchID || a.SerialNo != testCertSerial {
		return "mchid or serial"
	}
	ts, err := strconv.ParseInt(a.Timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() >= wxpay.MaxClockSkew {
		return "timestamp"
	}
	msg := wxpay.RequestMessage(r.Method, r.RequestURI, a.Timestamp, a.Nonce, body)
	if wxpay.VerifySHA256RSA(f.k.merchantPub, msg, a.Signature) != nil {
		return "signature"
	}
	return ""
}

func (f *fakeWX) write(w http.ResponseWriter, rep fakeReply) {
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Request-Id", "08F78BB5AF0610D302A3F2FE0128B70F00000000")
	if !rep.unsigned {
		at := rep.signAt
		if at.IsZero() {
			at = time.Now()
		}
		if err := wxpay.SignResponse(h, f.k.platform, testPublicKeyID, []byte(rep.body), at, ""); err != nil {
			panic(err)
		}
	}
	if rep.header != nil {
		rep.header(h)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}
