package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/internal/testutil"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/httpapi"
	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// notification is a COUPON.USE body as WeChat Pay sends it.
type notification struct {
	id   string
	use  *wxpay.CouponUse
	body []byte
}

func newNotification(t *testing.T, keys *wxsim.Keys, id string) notification {
	t.Helper()
	use := &wxpay.CouponUse{
		StockCreatorMchID: testMerchant, StockID: "9856000", CouponID: "98674556" + id[len(id)-1:],
		CouponName: "满100减10", Status: "USED", CreateTime: "2025-06-17T09:00:00+08:00", CouponType: "NORMAL",
		NormalCouponInformation: &wxpay.NormalCouponInformation{CouponAmount: 1000, TransactionMinimum: 10000},
		ConsumeInformation: &wxpay.ConsumeInformation{
			ConsumeTime: "2025-06-18T18:29:35+08:00", ConsumeMchID: testMerchant, TransactionID: "4200000523202506188425213470",
		},
	}
	body, err := wxpay.NewCouponUseNotification(id, testNow, use, keys.APIv3Key)
	require.NoError(t, err)
	return notification{id: id, use: use, body: body}
}

// signed returns WeChat Pay's signature headers for the body, made at at.
func (n notification) signed(t *testing.T, keys *wxsim.Keys, at time.Time) http.Header {
	t.Helper()
	return signBody(t, keys.PlatformKey, keys.PublicKeyID, n.body, at)
}

func signBody(t *testing.T, key *rsa.PrivateKey, serial string, body []byte, at time.Time) http.Header {
	t.Helper()
	h := http.Header{}
	require.NoError(t, wxpay.SignResponse(h, key, serial, body, at, ""))
	h.Set("Content-Type", "application/json")
	return h
}

// answer decodes WeChat Pay's {"code","message"} convention.
func answer(t *testing.T, body string) (code, message string) {
	t.Helper()
	var r struct{ Code, Message string }
	require.NoError(t, json.Unmarshal([]byte(body), &r), body)
	return r.Code, r.Message
}

func TestCallbackStoresOnceAcrossRedeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t, newKeys(t), nil)
	n := newNotification(t, b.keys, "EV-2025061810300001")

	// WeChat Pay delivers until it gets a 2xx, up to 9 more times; every
	// delivery is freshly signed.
	for i := range 9 {
		status, body, _ := b.do(t, http.MethodPost, "/callbacks/wxpay", n.signed(t, b.keys, testNow.Add(-time.Duration(i)*30*time.Second)), n.body)
		require.Equal(t, http.StatusOK, status, "delivery %d: %s", i+1, body)
		code, msg := answer(t, body)
		require.Equal(t, "SUCCESS", code)
		require.Equal(t, "成功", msg)
	}
	calls, uses := b.store.snapshot()
	require.Equal(t, 9, calls)
	require.Len(t, uses, 1)
	require.Equal(t, n.use, uses[n.id])
	// One line per callback at info, not two.
	require.Equal(t, 9, strings.Count(b.logs.String(), "level=INFO"), b.logs.String())
	require.Equal(t, 1, strings.Count(b.logs.String(), "level=INFO msg=\"coupon use stored\""))

	families := b.scrape(t)
	require.Equal(t, 1.0, counter(t, families, "issuer_callbacks_total", map[string]string{"result": httpapi.CallbackStored}))
	require.Equal(t, 8.0, counter(t, families, "issuer_callbacks_total", map[string]string{"result": httpapi.CallbackDuplicate}))
}

func TestCallbackRejectsUnauthenticated(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	n := newNotification(t, keys, "EV-2025061810300002")

	without := func(names ...string) func(*testing.T) (http.Header, []byte) {
		return func(t *testing.T) (http.Header, []byte) {
			h := n.signed(t, keys, testNow)
			for _, name := range names {
				h.Del(name)
			}
			return h, n.body
		}
	}
	cases := []struct {
		name    string
		request func(t *testing.T) (http.Header, []byte)
	}{
		{"no signature headers", without(wxpay.HeaderTimestamp, wxpay.HeaderNonce, wxpay.HeaderSignature, wxpay.HeaderSerial)},
		{"no timestamp", without(wxpay.HeaderTimestamp)},
		{"no nonce", without(wxpay.HeaderNonce)},
		{"no signature", without(wxpay.HeaderSignature)},
		{"no serial", without(wxpay.HeaderSerial)},
		{"signed with another key", func(t *testing.T) (http.Header, []byte) {
			return signBody(t, forger, keys.PublicKeyID, n.body, testNow), n.body
		}},
		{"unknown serial", func(t *testing.T) (http.Header, []byte) {
			return signBody(t, keys.PlatformKey, "PUB_KEY_ID_0199999999999999999999999999999999", n.body, testNow), n.body
		}},
		{"body changed after signing", func(t *testing.T) (http.Header, []byte) {
			return n.signed(t, keys, testNow), []byte(strings.Replace(string(n.body), n.id, "EV-2025061810309999", 1))
		}},
		{"stale timestamp", func(t *testing.T) (http.Header, []byte) {
			return n.signed(t, keys, testNow.Add(-wxpay.MaxClockSkew)), n.body
		}},
		{"future timestamp", func(t *testing.T) (http.Header, []byte) {
			return n.signed(t, keys, testNow.Add(wxpay.MaxClockSkew+time.Second)), n.body
		}},
		{"signature probe", func(t *testing.T) (http.Header, []byte) {
			h := n.signed(t, keys, testNow)
			h.Set(wxpay.HeaderSignature, wxpay.SignatureProbePrefix+h.Get(wxpay.HeaderSignature))
			return h, n.body
		}},
		{"garbage unsigned", func(*testing.T) (http.Header, []byte) { return http.Header{}, []byte("garbage") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, keys, nil)
			h, body := tc.request(t)
			status, got, _ := b.do(t, http.MethodPost, "/callbacks/wxpay", h, body)
			require.Equal(t, http.StatusUnauthorized, status, got)
			code, _ := answer(t, got)
			require.Equal(t, "FAIL", code)
			calls, _ := b.store.snapshot()
			require.Zero(t, calls, "the store must not be called")
			families := b.scrape(t)
			require.Equal(t, 1.0, counter(t, families, "issuer_callbacks_total", map[string]string{"result": httpapi.CallbackUnauthenticated}))
		})
	}
}

func TestCallbackRejectsAuthenticatedButUnusable(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)

	cases := []struct {
		name     string
		body     func(t *testing.T) []byte
		contains string
	}{
		{"garbage", func(*testing.T) []byte { return []byte("garbage") }, "malformed notification"},
		{"no id", func(*testing.T) []byte { return []byte(`{"event_type":"COUPON.USE"}`) }, "malformed notification"},
		{"other event type", func(*testing.T) []byte {
			return []byte(`{"id":"EV-3","event_type":"COUPON.SEND","resource_type":"encrypt-resource","resource":{}}`)
		}, `event type "COUPON.SEND" is not handled`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, keys, nil)
			body := tc.body(t)
			status, got, _ := b.do(t, http.MethodPost, "/callbacks/wxpay", signBody(t, keys.PlatformKey, keys.PublicKeyID, body, testNow), body)
			require.Equal(t, http.StatusBadRequest, status, got)
			code, msg := answer(t, got)
			require.Equal(t, "FAIL", code)
			require.Contains(t, msg, tc.contains)
			calls, _ := b.store.snapshot()
			require.Zero(t, calls)
		})
	}
}

// A callback WeChat Pay signed but that does not decrypt means our APIv3
// key is wrong: every coupon use goes unrecorded until an operator fixes
// it, so it is an alert and a metric, and a 5xx so that WeChat Pay delivers
// it again.
func TestCallbackThatDoesNotDecryptAlerts(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)

	cases := []struct {
		name string
		body func(t *testing.T) []byte
	}{
		{"encrypted with another APIv3 key", func(t *testing.T) []byte {
			other := *keys
			other.APIv3Key = wxpay.NewNonce()
			return newNotification(t, &other, "EV-2025061810300004").body
		}},
		{"ciphertext changed before signing", func(t *testing.T) []byte {
			n := newNotification(t, keys, "EV-2025061810300014")
			var env map[string]any
			require.NoError(t, json.Unmarshal(n.body, &env))
			res := env["resource"].(map[string]any)
			ct := []byte(res["ciphertext"].(string))
			ct[0] = map[bool]byte{true: 'B', false: 'A'}[ct[0] == 'A'] // still base64, no longer what was sealed
			res["ciphertext"] = string(ct)
			body, err := json.Marshal(env)
			require.NoError(t, err)
			return body
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			alertLog := &testutil.Buffer{}
			notifier := alert.New(alert.Config{Logger: slog.New(slog.NewTextHandler(alertLog, nil))})
			b := setup(t, keys, func(c *httpapi.Config) { c.Alerts = notifier })
			require.NoError(t, b.reg.Register(notifier))
			body := tc.body(t)

			// WeChat Pay delivers again after each failure.
			for range 2 {
				status, got, _ := b.do(t, http.MethodPost, "/callbacks/wxpay", signBody(t, keys.PlatformKey, keys.PublicKeyID, body, testNow), body)
				require.Equal(t, http.StatusInternalServerError, status, got)
				code, _ := answer(t, got)
				require.Equal(t, "FAIL", code)
			}

			calls, uses := b.store.snapshot()
			require.Zero(t, calls, "nothing stored")
			require.Empty(t, uses)
			families := b.scrape(t)
			require.Equal(t, 2.0, counter(t, families, "issuer_callbacks_total", map[string]string{"result": httpapi.CallbackDecryptFailed}))
			require.Equal(t, 0.0, counter(t, families, "issuer_callbacks_total", map[string]string{"result": httpapi.CallbackBadRequest}))
			require.Equal(t, 2.0, counter(t, families, "issuer_alerts_total", map[string]string{"kind": alert.KindConfigError}))
			require.Contains(t, alertLog.String(), "kind=config_error severity=critical")
			require.Contains(t, alertLog.String(), "apiv3_key_file")
			require.NotContains(t, alertLog.String()+b.logs.String(), keys.APIv3Key)
			require.Contains(t, b.logs.String(), "notification=EV-")
		})
	}
}

func TestCallbackUnconfiguredAlerts(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)
	notifier := alert.New(alert.Config{})
	b := setup(t, keys, func(c *httpapi.Config) {
		c.APIv3Key = ""
		c.Alerts = notifier
	})
	n := newNotification(t, keys, "EV-2025061810300007")
	status, got, _ := b.do(t, http.MethodPost, "/callbacks/wxpay", n.signed(t, keys, testNow), n.body)
	require.Equal(t, http.StatusServiceUnavailable, status, got)
	require.Equal(t, uint64(1), notifier.Stats().Raised)
	calls, _ := b.store.snapshot()
	require.Zero(t, calls)
}

func TestCallbackStoreFailureIsRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, newKeys(t), nil)
	n := newNotification(t, b.keys, "EV-2025061810300005")

	b.store.setFail(errors.New("store coupon use: connection reset"))
	status, body, _ := b.do(t, http.MethodPost, "/callbacks/wxpay", n.signed(t, b.keys, testNow), n.body)
	require.Equal(t, http.StatusInternalServerError, status)
	code, msg := answer(t, body)
	require.Equal(t, "FAIL", code)
	require.NotContains(t, msg, "connection reset", "internal errors stay in the log")
	require.Contains(t, b.logs.String(), "connection reset")

	// WeChat Pay's next delivery finds the database back.
	b.store.setFail(nil)
	status, body, _ = b.do(t, http.MethodPost, "/callbacks/wxpay", n.signed(t, b.keys, testNow), n.body)
	require.Equal(t, http.StatusOK, status, body)
	_, uses := b.store.snapshot()
	require.Len(t, uses, 1)
}

func TestCallbackLimits(t *testing.T) {
	t.Parallel()
	keys := newKeys(t)

	t.Run("body too large", func(t *testing.T) {
		t.Parallel()
		b := setup(t, keys, nil)
		body := []byte(`{"id":"` + strings.Repeat("x", httpapi.MaxCallbackBytes) + `"}`)
		status, got, _ := b.do(t, http.MethodPost, "/callbacks/wxpay", signBody(t, keys.PlatformKey, keys.PublicKeyID, body, testNow), body)
		require.Equal(t, http.StatusRequestEntityTooLarge, status)
		code, _ := answer(t, got)
		require.Equal(t, "FAIL", code)
		calls, _ := b.store.snapshot()
		require.Zero(t, calls)
	})

	t.Run("store bounded by the callback timeout", func(t *testing.T) {
		t.Parallel()
		var hadDeadline atomic.Bool
		b := setup(t, keys, nil)
		b2 := setup(t, keys, func(c *httpapi.Config) {
			c.StoreCouponUse = func(ctx context.Context, n *wxpay.Notification, use *wxpay.CouponUse) (bool, error) {
				_, ok := ctx.Deadline()
				hadDeadline.Store(ok)
				return b.store.Store(ctx, n, use)
			}
		})
		n := newNotification(t, keys, "EV-2025061810300006")
		status, got, _ := b2.do(t, http.MethodPost, "/callbacks/wxpay", n.signed(t, keys, testNow), n.body)
		require.Equal(t, http.StatusOK, status, got)
		require.True(t, hadDeadline.Load())
	})

	t.Run("not configured", func(t *testing.T) {
		t.Parallel()
		b := setup(t, keys, func(c *httpapi.Config) { c.StoreCouponUse = nil })
		n := newNotification(t, keys, "EV-2025061810300007")
		status, got, _ := b.do(t, http.MethodPost, "/callbacks/wxpay", n.signed(t, keys, testNow), n.body)
		require.Equal(t, http.StatusServiceUnavailable, status)
		_, msg := answer(t, got)
		require.Equal(t, "callbacks are not configured", msg)
	})
}
