package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// encoder is what differs between channel types: how many queued items
// one request carries, its URL and body, and what a 2xx answer means.
type encoder interface {
	take(items []item) int // at least 1
	encode(items []item, now time.Time) (request, error)
	check(answer []byte) error
}

func encoderFor(ch Channel, loc *time.Location) encoder {
	if ch.Type == TypeWebhook {
		return webhookEncoder{url: ch.URL}
	}
	r := &robotEncoder{ch: ch, loc: loc, max: 4096}
	if ch.Type != TypeWeCom {
		r.max = 8000 // DingTalk and Feishu take 20 KB bodies; stay well clear
	}
	r.max -= len(r.mentionText())
	return r
}

// webhookEncoder posts each alert's JSON on its own, as alerts.webhook_url
// always has.
type webhookEncoder struct{ url string }

func (webhookEncoder) take([]item) int { return 1 }

func (e webhookEncoder) encode(items []item, _ time.Time) (request, error) {
	it := items[0]
	var v any = it.alert
	if m := it.msg; m != nil {
		v = struct {
			Kind     string    `json:"kind"`
			Severity string    `json:"severity"`
			Title    string    `json:"title"`
			Message  string    `json:"message"`
			Time     time.Time `json:"time"`
			Source   string    `json:"source,omitempty"`
		}{"message", m.Severity, m.Title, m.Markdown, m.Time, it.alert.Source}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return request{}, &finalError{"encode: " + err.Error()}
	}
	return request{url: e.url, body: body}, nil
}

func (webhookEncoder) check([]byte) error { return nil }

// robotEncoder renders Chinese markdown for the chat robots and folds
// several alerts into one message.
type robotEncoder struct {
	ch  Channel
	loc *time.Location
	max int // bytes of markdown one message carries
}

// take folds as many leading alerts as fit in one message; a message from
// Send always goes alone.
func (r *robotEncoder) take(items []item) int {
	n := 0
	for n < len(items) && items[n].msg == nil {
		n++
	}
	if n <= 1 {
		return 1
	}
	fits := func(k int) bool {
		_, md := r.compose(items[:k])
		return len(md) <= r.max
	}
	if fits(n) {
		return n
	}
	lo, hi := 1, n // fits(lo) is assumed: one alert is truncated to fit
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func (r *robotEncoder) compose(items []item) (string, string) {
	if m := items[0].msg; m != nil {
		head := m.Title
		return head, fmt.Sprintf("**%s**\n%s", m.Title, m.Markdown)
	}
	if len(items) == 1 {
		return full(items[0].alert, r.loc)
	}
	alerts := make([]Alert, len(items))
	for i, it := range items {
		alerts[i] = it.alert
	}
	return folded(alerts, r.loc)
}

func (r *robotEncoder) severity(items []item) string {
	best, rank := SeverityInfo, 0
	for _, it := range items {
		if k, _ := severityRank(it.severity); k > rank {
			best, rank = it.severity, k
		}
	}
	return best
}

func isAll(m string) bool { return m == "all" || m == "@all" }

// mentionText is what the markdown carries so that the robot notifies
// the people in Channel.Mention.
func (r *robotEncoder) mentionText() string {
	if len(r.ch.Mention) == 0 {
		return ""
	}
	var parts []string
	for _, m := range r.ch.Mention {
		switch r.ch.Type {
		case TypeWeCom:
			if isAll(m) {
				m = "all"
			}
			parts = append(parts, "<@"+m+">")
		case TypeDingTalk:
			if !isAll(m) { // isAtAll needs no text
				parts = append(parts, "@"+m)
			}
		case TypeFeishu:
			id := m
			if isAll(m) {
				id = "all"
			}
			if r.ch.Format == "text" {
				parts = append(parts, fmt.Sprintf(`<at user_id="%s"></at>`, id))
			} else {
				parts = append(parts, fmt.Sprintf("<at id=%s></at>", id))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "\n" + strings.Join(parts, " ")
}

func (r *robotEncoder) encode(items []item, now time.Time) (request, error) {
	head, md := r.compose(items)
	md = truncateBytes(strings.TrimRight(md, "\n"), r.max) + r.mentionText()
	var body any
	target := r.ch.URL
	switch r.ch.Type {
	case TypeWeCom:
		body = weComMarkdown{MsgType: "markdown", Markdown: weComContent{Content: md}}
	case TypeDingTalk:
		at := dingTalkAt{AtUserIDs: []string{}}
		for _, m := range r.ch.Mention {
			if isAll(m) {
				at.IsAtAll = true
			} else {
				at.AtUserIDs = append(at.AtUserIDs, m)
			}
		}
		body = dingTalkMarkdown{MsgType: "markdown", Markdown: dingTalkContent{Title: head, Text: md}, At: at}
		if r.ch.Secret != "" {
			ts, sign := DingTalkSign(r.ch.Secret, now)
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			target += sep + "timestamp=" + ts + "&sign=" + url.QueryEscape(sign)
		}
	case TypeFeishu:
		msg := feishuMessage{}
		if r.ch.Secret != "" {
			msg.Timestamp, msg.Sign = FeishuSign(r.ch.Secret, now)
		}
		if r.ch.Format == "text" {
			msg.MsgType = "text"
			msg.Content = &feishuText{Text: strings.ReplaceAll(md, "**", "")}
		} else {
			msg.MsgType = "interactive"
			msg.Card = &feishuCard{
				Config: feishuCardConfig{WideScreenMode: true},
				Header: feishuCardHeader{Template: feishuColor[r.severity(items)],
					Title: feishuPlainText{Tag: "plain_text", Content: head}},
				Elements: []feishuMarkdown{{Tag: "markdown", Content: strings.TrimPrefix(md, "**"+head+"**\n")}},
			}
		}
		body = msg
	}
	b, err := json.Marshal(body)
	if err != nil {
		return request{}, &finalError{"encode: " + err.Error()}
	}
	return request{url: target, body: b}, nil
}

// check reads a robot's answer: they answer 200 with an error code.
func (r *robotEncoder) check(answer []byte) error {
	var a struct {
		ErrCode    *int   `json:"errcode"` // WeCom, DingTalk
		ErrMsg     string `json:"errmsg"`
		Code       *int   `json:"code"` // Feishu
		Msg        string `json:"msg"`
		StatusCode *int   `json:"StatusCode"` // Feishu, older robots
	}
	if err := json.Unmarshal(answer, &a); err != nil {
		return &finalError{fmt.Sprintf("%s answered 2xx with something that is not its JSON", r.ch.Type)}
	}
	code, msg := -1, a.ErrMsg
	switch {
	case a.ErrCode != nil:
		code = *a.ErrCode
	case a.Code != nil:
		code, msg = *a.Code, a.Msg
	case a.StatusCode != nil:
		code = *a.StatusCode
	}
	if code == 0 {
		return nil
	}
	err := fmt.Errorf("%s answered code %d: %s", r.ch.Type, code, msg)
	if rateLimited[r.ch.Type][code] {
		return err // retried after the backoff
	}
	return &finalError{err.Error()}
}

// rateLimited are the robots' "too many messages" codes, worth retrying.
var rateLimited = map[string]map[int]bool{
	TypeWeCom:    {45009: true},                // api freq out of limit
	TypeDingTalk: {130101: true, 410100: true}, // send too fast
	TypeFeishu:   {11232: true},                // frequency limited
}

// DingTalkSign signs a DingTalk robot request (加签): the timestamp in
// milliseconds and base64(HMAC-SHA256 keyed with secret over
// "timestamp\nsecret"). The caller URL-encodes the signature into the sign
// query parameter.
func DingTalkSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "\n" + secret))
	return timestamp, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// FeishuSign signs a Feishu robot request (签名校验): the timestamp in
// seconds and base64(HMAC-SHA256 keyed with "timestamp\nsecret" over an
// empty message), both sent in the body.
func FeishuSign(secret string, now time.Time) (timestamp, sign string) {
	timestamp = strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return timestamp, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// The robots' documented bodies.
type (
	weComMarkdown struct {
		MsgType  string       `json:"msgtype"`
		Markdown weComContent `json:"markdown"`
	}
	weComContent struct {
		Content string `json:"content"`
	}
	dingTalkMarkdown struct {
		MsgType  string          `json:"msgtype"`
		Markdown dingTalkContent `json:"markdown"`
		At       dingTalkAt      `json:"at"`
	}
	dingTalkContent struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	}
	dingTalkAt struct {
		AtUserIDs []string `json:"atUserIds"`
		IsAtAll   bool     `json:"isAtAll"`
	}
	feishuMessage struct {
		Timestamp string      `json:"timestamp,omitempty"`
		Sign      string      `json:"sign,omitempty"`
		MsgType   string      `json:"msg_type"`
		Content   *feishuText `json:"content,omitempty"`
		Card      *feishuCard `json:"card,omitempty"`
	}
	feishuText struct {
		Text string `json:"text"`
	}
	feishuCard struct {
		Config   feishuCardConfig `json:"config"`
		Header   feishuCardHeader `json:"header"`
		Elements []feishuMarkdown `json:"elements"`
	}
	feishuCardConfig struct {
		WideScreenMode bool `json:"wide_screen_mode"`
	}
	feishuCardHeader struct {
		Template string          `json:"template"`
		Title    feishuPlainText `json:"title"`
	}
	feishuPlainText struct {
		Tag     string `json:"tag"`
		Content string `json:"content"`
	}
	feishuMarkdown struct {
		Tag     string `json:"tag"`
		Content string `json:"content"`
	}
)

var feishuColor = map[string]string{
	SeverityCritical: "red",
	SeverityError:    "orange",
	SeverityWarning:  "yellow",
	SeverityInfo:     "blue",
}
