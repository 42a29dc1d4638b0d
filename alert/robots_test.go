package alert_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/alert"
	"github.com/issuer-dev/issuer/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	robotKey    = "ROBOT-KEY-7c1d"       // in the robot URL's query, as WeCom and DingTalk do
	robotSecret = "SEC-SIGN-SECRET-0a9f" // the signing secret
)

// robot is a local stand-in for one chat robot: it records every request
// and answers like the robot does.
type robot struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []robotRequest
	gate   chan struct{} // when set, the first request waits for it
	gated  chan struct{} // closed when the first request arrived
	answer string
}

type robotRequest struct {
	query url.Values
	path  string
	body  []byte
}

func newRobot(t *testing.T, answer string) *robot {
	t.Helper()
	r := &robot{answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		first := len(r.reqs) == 0
		r.reqs = append(r.reqs, robotRequest{query: req.URL.Query(), path: req.URL.Path, body: body})
		r.mu.Unlock()
		if first && r.gate != nil {
			close(r.gated)
			<-r.gate
		}
		if req.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, r.answer)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *robot) requests() []robotRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]robotRequest(nil), r.reqs...)
}

var robotAnswers = map[string]string{
	alert.TypeWeCom:    `{"errcode":0,"errmsg":"ok"}`,
	alert.TypeDingTalk: `{"errcode":0,"errmsg":"ok"}`,
	alert.TypeFeishu:   `{"code":0,"msg":"success","data":{}}`,
}

func robotURL(r *robot, typ string) string {
	switch typ {
	case alert.TypeWeCom:
		return r.srv.URL + "/cgi-bin/webhook/send?key=" + robotKey
	case alert.TypeDingTalk:
		return r.srv.URL + "/robot/send?access_token=" + robotKey
	default:
		return r.srv.URL + "/open-apis/bot/v2/hook/" + robotKey
	}
}

var halted = alert.Alert{
	Kind: alert.KindBatchHalted, Severity: alert.SeverityCritical, BatchID: 12, StockID: "9856000", MchID: "1900012345",
	Message: "budget_exhausted: 批次预算不足 (NOT_ENOUGH)",
	Stakes:  &alert.Stakes{IssuedCoupons: 1200, IssuedFen: 1200000, PendingCoupons: 800, PendingFen: 800000, InDoubtCoupons: 3, InDoubtFen: 3000},
}

func robotConfig(logs io.Writer, clock *testutil.Clock, ch ...alert.Channel) alert.Config {
	return alert.Config{
		Channels: ch, Backoff: time.Millisecond, Timeout: time.Minute, DrainTimeout: time.Minute,
		Source: "issuer-1", Location: time.FixedZone("CST", 8*3600), Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// TestRobotMessages checks each robot's exact body against a golden file
// and its signature against the robot's documented recipe.
func TestRobotMessages(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 18, 10, 30, 0, 0, time.UTC)
	cases := []struct {
		name    string
		channel alert.Channel
	}{
		{"wecom", alert.Channel{Type: alert.TypeWeCom, Mention: []string{"zhangsan", "lisi"}}},
		{"dingtalk", alert.Channel{Type: alert.TypeDingTalk, Secret: robotSecret, Mention: []string{"manager7"}}},
		{"dingtalk_unsigned", alert.Channel{Type: alert.TypeDingTalk, Mention: []string{"all"}}},
		{"feishu_card", alert.Channel{Type: alert.TypeFeishu, Secret: robotSecret, Mention: []string{"ou_7d8a6e6df7621556ce0d21922b676706ccs"}}},
		{"feishu_text", alert.Channel{Type: alert.TypeFeishu, Format: "text", Secret: robotSecret}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRobot(t, robotAnswers[tc.channel.Type])
			ch := tc.channel
			ch.URL = robotURL(r, ch.Type)
			logs := &testutil.Buffer{}
			c := testutil.NewClock(now)
			n := alert.New(robotConfig(logs, c, ch))
			n.Notify(halted)
			flush(n)

			require.Equal(t, alert.Stats{Raised: 1, Delivered: 1}, n.Stats())
			reqs := r.requests()
			require.Len(t, reqs, 1)
			req := reqs[0]
			golden(t, filepath.Join("testdata", tc.name+".json"), indent(t, req.body))

			switch ch.Type {
			case alert.TypeDingTalk:
				require.Equal(t, robotKey, req.query.Get("access_token"))
				if ch.Secret == "" {
					require.False(t, req.query.Has("sign"))
					break
				}
				// 把 timestamp+"\n"+密钥 当做签名字符串，使用 HmacSHA256
				// 算法计算签名，然后进行 Base64 encode.
				ts := req.query.Get("timestamp")
				require.Equal(t, strconv.FormatInt(now.UnixMilli(), 10), ts)
				mac := hmac.New(sha256.New, []byte(robotSecret))
				mac.Write([]byte(ts + "\n" + robotSecret))
				require.Equal(t, base64.StdEncoding.EncodeToString(mac.Sum(nil)), req.query.Get("sign"))
			case alert.TypeFeishu:
				var body struct{ Timestamp, Sign string }
				require.NoError(t, json.Unmarshal(req.body, &body))
				// 把 timestamp + "\n" + 密钥 当做签名字符串，使用
				// HmacSHA256 算法计算签名(空消息)，再进行 Base64 编码.
				require.Equal(t, strconv.FormatInt(now.Unix(), 10), body.Timestamp)
				mac := hmac.New(sha256.New, []byte(body.Timestamp+"\n"+robotSecret))
				require.Equal(t, base64.StdEncoding.EncodeToString(mac.Sum(nil)), body.Sign)
			case alert.TypeWeCom:
				require.Equal(t, robotKey, req.query.Get("key"))
			}
			require.NotContains(t, logs.String(), robotKey)
			require.NotContains(t, logs.String(), robotSecret)
		})
	}
}

// TestRobotBurstFolds raises 100 alerts while the robot is busy with the
// first: they arrive folded into a few messages, within the robot's limit,
// and every one of them is in the text.
func TestRobotBurstFolds(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{alert.TypeWeCom, alert.TypeDingTalk, alert.TypeFeishu} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			r := newRobot(t, robotAnswers[typ])
			r.gate, r.gated = make(chan struct{}), make(chan struct{})
			c := testutil.NewClock(time.Date(2025, 6, 18, 10, 30, 0, 0, time.UTC))
			cfg := robotConfig(io.Discard, c, alert.Channel{Type: typ, URL: robotURL(r, typ)})
			n := alert.New(cfg)

			stop := n.Start(t.Context())
			const burst = 100
			n.Notify(alert.Alert{Kind: alert.KindReview, Severity: alert.SeverityWarning, BatchID: 3, Message: "row-000"})
			<-r.gated // the robot holds the first message
			for i := 1; i < burst; i++ {
				n.Notify(alert.Alert{Kind: alert.KindReview, Severity: alert.SeverityWarning, BatchID: 3,
					Message: fmt.Sprintf("row-%03d openid oRun%06d out_request_no 190001234520250618%08d after 10 attempts: 系统超时", i, i, i)})
			}
			close(r.gate)
			stop()

			require.Equal(t, alert.Stats{Raised: burst, Delivered: burst}, n.Stats())
			reqs := r.requests()
			t.Logf("%d alerts in %d messages", burst, len(reqs))
			require.LessOrEqual(t, len(reqs), alert.DefaultRateLimit)
			require.Greater(t, len(reqs), 1)
			var all strings.Builder
			for _, req := range reqs {
				all.Write(req.body)
			}
			for i := range burst {
				require.Contains(t, all.String(), fmt.Sprintf("row-%03d", i))
			}
			// The next step is said once per message, not once per alert.
			require.Equal(t, len(reqs), strings.Count(all.String(), "issuer review resolve --batch 3"))
		})
	}
}

func TestRobotAnswerCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ, answer string
		attempts    int
		delivered   bool
		log         string
	}{
		{alert.TypeWeCom, `{"errcode":93000,"errmsg":"invalid webhook url"}`, 1, false, "wecom answered code 93000: invalid webhook url"},
		{alert.TypeWeCom, `{"errcode":45009,"errmsg":"api freq out of limit"}`, 3, false, "wecom answered code 45009"},
		{alert.TypeDingTalk, `{"errcode":310000,"errmsg":"sign not match"}`, 1, false, "dingtalk answered code 310000: sign not match"},
		{alert.TypeFeishu, `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`, 1, false, "feishu answered code 19021"},
		{alert.TypeFeishu, `{"StatusCode":0,"StatusMessage":"success"}`, 1, true, ""},
		{alert.TypeFeishu, `<html>proxy</html>`, 1, false, "not its JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.typ+" "+tc.answer, func(t *testing.T) {
			t.Parallel()
			r := newRobot(t, tc.answer)
			logs := &testutil.Buffer{}
			c := testutil.NewClock(time.Time{})
			cfg := robotConfig(logs, c, alert.Channel{Type: tc.typ, URL: robotURL(r, tc.typ)})
			cfg.Retries = 2
			n := alert.New(cfg)
			n.Notify(halted)
			flush(n)
			require.Len(t, r.requests(), tc.attempts)
			if tc.delivered {
				require.Equal(t, uint64(1), n.Stats().Delivered)
				return
			}
			require.Equal(t, uint64(1), n.Stats().Failed)
			require.Contains(t, logs.String(), tc.log)
			require.NotContains(t, logs.String(), robotKey)
		})
	}
}

// TestChannelsBySeverity sends to every channel whose minimum the alert
// meets, and Send reaches them with a free message.
func TestChannelsBySeverity(t *testing.T) {
	t.Parallel()
	wecom := newRobot(t, robotAnswers[alert.TypeWeCom])
	feishu := newRobot(t, robotAnswers[alert.TypeFeishu])
	b := setup(t, ok)
	logs := &testutil.Buffer{}
	cfg := robotConfig(logs, b.clock,
		alert.Channel{Type: alert.TypeWeCom, URL: robotURL(wecom, alert.TypeWeCom), MinSeverity: alert.SeverityCritical},
		alert.Channel{Name: "oncall", Type: alert.TypeFeishu, URL: robotURL(feishu, alert.TypeFeishu), MinSeverity: alert.SeverityWarning},
	)
	cfg.WebhookURL = b.url
	n := alert.New(cfg)

	stop := n.Start(t.Context())
	require.NoError(t, n.Send(t.Context(), alert.Message{Title: "发券日报", Markdown: "- 昨日发出 1,200 张"}))
	n.Notify(halted)
	n.Notify(alert.Alert{Kind: alert.KindReview, Severity: alert.SeverityWarning, BatchID: 3, Message: "openid o1"})
	stop()

	require.Contains(t, logs.String(), `webhook="webhook: queued; wecom: queued; oncall: queued"`)
	require.Contains(t, logs.String(), `webhook="webhook: queued; wecom: below min severity; oncall: queued"`)
	require.Len(t, wecom.requests(), 1) // the critical alert only
	require.Contains(t, string(wecom.requests()[0].body), "批次 12 已停止发券")
	var fs strings.Builder // the halt and the review, each alone or folded
	for _, r := range feishu.requests() {
		fs.Write(r.body)
	}
	require.Contains(t, fs.String(), "批次 12 已停止发券")
	require.Contains(t, fs.String(), "批次 3 有收件人发券结果不明")
	require.NotContains(t, fs.String(), "发券日报") // info is below its minimum
	var webhook []string
	for _, a := range b.bodies(t) {
		webhook = append(webhook, a.Kind)
	}
	require.Equal(t, []string{"message", "batch_halted", "review"}, webhook)

	// Nothing takes an info message below every minimum but the webhook.
	n2 := alert.New(robotConfig(logs, b.clock, alert.Channel{Type: alert.TypeWeCom, URL: robotURL(wecom, alert.TypeWeCom), MinSeverity: alert.SeverityError}))
	require.ErrorIs(t, n2.Send(t.Context(), alert.Message{Title: "x"}), alert.ErrNoChannels)
}

func TestChannelValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ch  alert.Channel
		err string
	}{
		{ch: alert.Channel{Type: alert.TypeWeCom, URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET"}},
		{ch: alert.Channel{Type: alert.TypeDingTalk, URL: "https://oapi.dingtalk.com/robot/send?access_token=SECRET", Secret: "SECRET"}},
		{ch: alert.Channel{Type: "slack", URL: "https://x"}, err: `type must be webhook, wecom, dingtalk or feishu, got "slack"`},
		{ch: alert.Channel{Type: alert.TypeFeishu}, err: "no URL"},
		{ch: alert.Channel{Type: alert.TypeFeishu, URL: "ftp://x/SECRET"}, err: `got scheme "ftp"`},
		{ch: alert.Channel{Type: alert.TypeWeCom, URL: "https://x/SECRET", Secret: "SECRET"}, err: "only dingtalk and feishu take a secret"},
		{ch: alert.Channel{Type: alert.TypeWeCom, URL: "https://x/SECRET", MinSeverity: "fatal"}, err: "min_severity must be"},
		{ch: alert.Channel{Type: alert.TypeDingTalk, URL: "https://x/SECRET", Format: "card"}, err: "only for feishu"},
	}
	for _, tc := range cases {
		t.Run(tc.ch.Type+tc.err, func(t *testing.T) {
			t.Parallel()
			err := alert.Config{Channels: []alert.Channel{tc.ch}}.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "alerts.channels[0]")
			require.ErrorContains(t, err, tc.err)
			require.NotContains(t, err.Error(), "SECRET")
		})
	}
}

func indent(t *testing.T, raw []byte) []byte {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(raw, &v))
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // keep <@userid> readable
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(v))
	return []byte(out.String())
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./alert -update to create it")
	require.Equal(t, string(want), string(got))
}
