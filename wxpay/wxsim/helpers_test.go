package wxsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// sharedKeys generates one key set per test binary: RSA key generation is
// the slowest part of a simulator's setup.
var sharedKeys = sync.OnceValues(wxsim.NewKeys)

func testKeys(t *testing.T) *wxsim.Keys {
	t.Helper()
	k, err := sharedKeys()
	require.NoError(t, err)
	return k
}

type testBundle struct {
	keys   *wxsim.Keys
	sim    *wxsim.Server
	url    string
	hc     *http.Client
	admin  *wxsim.AdminClient
	client *wxpay.Client
	now    func() time.Time
}

// setup starts a simulator over real HTTP on loopback. Options.Keys
// defaults to the shared keys.
func setup(t *testing.T, opts wxsim.Options) *testBundle {
	t.Helper()
	if opts.Keys == nil {
		opts.Keys = testKeys(t)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	sim, err := wxsim.New(opts)
	require.NoError(t, err)
	ts := httptest.NewServer(sim.Handler())
	// Cleanups run last-in first-out: the simulator releases held answers
	// before the test server waits for its handlers.
	t.Cleanup(ts.Close)
	t.Cleanup(func() { require.NoError(t, sim.Close()) })

	// The timeout only guards against deadlocks.
	hc := &http.Client{Transport: ts.Client().Transport, Timeout: 30 * time.Second}
	o := opts.Keys.ClientOptions(ts.URL)
	o.HTTPClient, o.Timeout, o.Now = &http.Client{Transport: ts.Client().Transport}, 30*time.Second, opts.Now
	client, err := wxpay.New(o)
	require.NoError(t, err)
	return &testBundle{
		keys:   opts.Keys,
		sim:    sim,
		url:    ts.URL,
		hc:     hc,
		admin:  wxsim.NewAdminClient(ts.URL, hc),
		client: client,
		now:    opts.Now,
	}
}

// answer is a raw API answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errorBody is the {"code","message","detail"} of an error answer.
func (a answer) errorBody(t *testing.T) (code, message string, detail map[string]any) {
	t.Helper()
	var e struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Detail  map[string]any `json:"detail"`
	}
	require.NoError(t, json.Unmarshal(a.body, &e), "body %s", a.body)
	require.NotNil(t, e.Detail, "error answers carry a detail object: %s", a.body)
	return e.Code, e.Message, e.Detail
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.body, v), "body %s", a.body)
}

type callOpt func(req *http.Request, body []byte)

// withAuth replaces the Authorization header.
func withAuth(value string) callOpt {
	return func(req *http.Request, _ []byte) { req.Header.Set("Authorization", value) }
}

// signedCall sends a request signed by the test merchant at b.now and
// returns the raw answer.
func (b *testBundle) signedCall(t *testing.T, method, uri string, in any, opts ...callOpt) answer {
	t.Helper()
	var body []byte
	switch v := in.(type) {
	case nil:
	case []byte:
		body = v
	default:
		var err error
		body, err = json.Marshal(v)
		require.NoError(t, err)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, b.url+uri, bytes.NewReader(body))
	require.NoError(t, err)
	a, err := b.keys.Signer().Authorize(method, uri, body, b.now(), "")
	require.NoError(t, err)
	req.Header.Set("Authorization", a.String())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	for _, o := range opts {
		o(req, body)
	}
	resp, err := b.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
}

// verified requires the answer to carry a valid platform signature.
func (b *testBundle) verified(t *testing.T, a answer) {
	t.Helper()
	require.NoError(t, b.keys.Verifier().Verify(a.header, a.body, b.now()), "answer %d %s", a.status, a.body)
	require.Equal(t, b.keys.PublicKeyID, a.header.Get(wxpay.HeaderSerial))
	require.NotEmpty(t, a.header.Get(wxpay.HeaderRequestID))
}

func favorPath(openid string) string {
	return strings.Replace(wxpay.PathFavorSend, "{openid}", openid, 1)
}

// sendFavor sends a 代金券 with the raw protocol.
func (b *testBundle) sendFavor(t *testing.T, stockID, openid, outRequestNo string) answer {
	t.Helper()
	return b.signedCall(t, http.MethodPost, favorPath(openid), map[string]any{
		"stock_id": stockID, "out_request_no": outRequestNo,
		"appid": b.keys.AppID, "stock_creator_mchid": b.keys.MchID,
	})
}

// sendProduct sends a 商品券 with the raw protocol.
func (b *testBundle) sendProduct(t *testing.T, stockID, openid, outRequestNo string) answer {
	t.Helper()
	return b.signedCall(t, http.MethodPost, wxpay.PathProductSend, map[string]any{
		"openid": openid, "appid": b.keys.AppID, "stock_id": stockID,
		"out_request_no": outRequestNo, "coupon_type": "NORMAL",
	})
}

// couponID reads coupon_id from a 代金券 send answer.
func couponID(t *testing.T, a answer) string {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, "body %s", a.body)
	var out struct {
		CouponID string `json:"coupon_id"`
	}
	a.decode(t, &out)
	require.NotEmpty(t, out.CouponID)
	return out.CouponID
}

// send issues one coupon of kind through the wxpay client.
func (b *testBundle) send(ctx context.Context, kind wxsim.Kind, stockID, openid, outRequestNo string) (wxpay.SendResult, error) {
	if kind == wxsim.KindProduct {
		return b.client.SendProduct(ctx, wxpay.ProductSendRequest{OpenID: openid, StockID: stockID, OutRequestNo: outRequestNo})
	}
	return b.client.SendFavor(ctx, wxpay.FavorSendRequest{OpenID: openid, StockID: stockID, OutRequestNo: outRequestNo})
}

// waitFor polls cond; the deadline only guards against deadlocks.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
