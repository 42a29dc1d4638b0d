package report_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/intake"
	"github.com/issuer-dev/issuer/report"
)

// digestSetup adds to setup's merchant a day of issuing (2025-03-02) and
// the things that wait for a person:
//
//	batch 4: on the day oH and oI issued (10 元 each), oJ failed, oK in
//	         doubt (pending after an unknown answer); oL issued the day
//	         before, oM failed the day after
//	batch 5: halted (budget exhausted) with oN and oO still pending, 5 元
//	batch 6: awaiting approval, uploaded by ann
func digestSetup(t *testing.T) *testBundle {
	t.Helper()
	b := setup(t)
	ctx := context.Background()
	imp := func(name string, openids ...string) int64 {
		list := "openid\n" + strings.Join(openids, "\n") + "\n"
		rep, err := intake.Import(ctx, b.db, strings.NewReader(list), intake.Options{
			StockID: stock, Kind: "favor", Name: name, MchID: "1900000109", AppID: "wx233544546545989", Source: name + ".csv",
		})
		require.NoError(t, err)
		return rep.BatchID
	}
	exec := func(q string, args ...any) {
		_, err := b.db.Exec(q, args...)
		require.NoError(t, err)
	}
	day := imp("三月活动", "oH", "oI", "oJ", "oK", "oL", "oM")
	halted := imp("会员日", "oN", "oO")
	waiting := imp("大促预热", "oR", "oS", "oT")
	// Every row's updated_at as its history says, not the test's clock.
	exec(`UPDATE recipients SET updated_at = coalesce(last_attempt_at, '2020-03-09 08:00:00+08')`)
	exec(`UPDATE batches SET face_value_fen = 1000 WHERE id = $1`, day)
	row := func(openid, status, outcome, coupon, at string) {
		exec(`UPDATE recipients SET status = $2, outcome = $3, coupon_id = nullif($4, ''), attempts = 1,
			issued_at = CASE WHEN $2 = 'issued' THEN $5::timestamptz END, last_attempt_at = $5::timestamptz,
			doubt_since = CASE WHEN $3 IN ('unknown', 'unclassified') THEN $5::timestamptz END,
			updated_at = $5::timestamptz WHERE openid = $1`, openid, status, outcome, coupon, at)
	}
	row("oH", "issued", "issued", "98680001", "2025-03-02 09:00:00+08")
	row("oI", "issued", "issued", "98680002", "2025-03-02 23:59:59+08")
	row("oJ", "failed", "user_limited", "", "2025-03-02 09:00:01+08")
	row("oK", "pending", "unknown", "", "2025-03-02 09:00:02+08")
	row("oL", "issued", "issued", "98680003", "2025-03-01 23:59:59+08")
	row("oM", "failed", "user_limited", "", "2025-03-03 00:00:00+08")
	exec(`UPDATE recipients SET coupon_value = 500 WHERE batch_id = $1`, halted)
	exec(`UPDATE batches SET status = 'halted', halt_reason = 'budget_exhausted: NOT_ENOUGH 批次预算不足',
		updated_at = '2025-03-02 15:00:00+08' WHERE id = $1`, halted)
	exec(`UPDATE batches SET status = 'awaiting_approval', uploaded_by = 'ann', amount_fen = 300000,
		created_at = '2025-03-02 18:00:00+08' WHERE id = $1`, waiting)
	return b
}

func TestDigest(t *testing.T) {
	t.Parallel()
	b := digestSetup(t)
	d, err := report.BuildDigest(context.Background(), b.db, report.DigestOptions{Day: "2025-03-02", Location: b.loc})
	require.NoError(t, err)

	// The day's figures, by their definitions.
	require.Len(t, d.Batches, 1, "only batch 4 issued, failed or left rows in doubt on the day")
	require.Equal(t, report.DigestBatch{BatchID: 4, Name: "三月活动", StockID: stock, Status: "pending",
		Issued: 2, IssuedFen: 2000, Failed: 1, InDoubt: 1, InDoubtFen: 1000}, d.Batches[0])
	require.Equal(t, 2, d.Total.Issued)
	require.Len(t, d.Halts, 1)
	require.Equal(t, 2, d.Halts[0].Pending)
	require.Equal(t, int64(1000), d.Halts[0].PendingFen)
	require.Len(t, d.AwaitingApproval, 1)
	require.Equal(t, 1, d.Review.Review)
	require.Equal(t, 2, d.Review.InDoubt, "oE in review and oK pending")
	require.True(t, d.NeedsAttention())

	// Redemptions agree with the reconciliation report as of the same day:
	// every use counts, the use rate is of what issuer issued.
	r, err := report.Reconciliation(context.Background(), b.db, report.Options{AsOf: "2025-03-02", Location: b.loc})
	require.NoError(t, err)
	require.Len(t, d.Stocks, 1)
	var used, usedOfIssued, issued int
	for _, l := range r.Lines {
		used += l.Used
		if l.BatchID != 0 {
			usedOfIssued += l.Used
			issued += l.Issued
		}
	}
	require.Positive(t, used-usedOfIssued, "the fixture has uses of coupons issuer never issued")
	require.Equal(t, []int{issued, used, usedOfIssued}, []int{d.Stocks[0].Issued, d.Stocks[0].Used, d.Stocks[0].UsedOfIssued})
	require.Equal(t, report.Line{Used: usedOfIssued, Issued: issued}.UseRatePercent(), d.Stocks[0].UseRatePercent())

	var text bytes.Buffer
	require.NoError(t, d.WriteText(&text))
	title, md := d.Markdown()
	require.Equal(t, "发券日报 2025-03-02", title)
	checkGolden(t, "digest_2025-03-02.txt", text.String())
	checkGolden(t, "digest_2025-03-02.md", md)
	require.Less(t, len(md), 4096, "fits a WeCom markdown message")
}

func TestDigestQuietDay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.db.Exec(`DELETE FROM recipients WHERE status IN ('review', 'pending')`)
	require.NoError(t, err)
	d, err := report.BuildDigest(context.Background(), b.db, report.DigestOptions{Day: "2019-01-01", Location: b.loc})
	require.NoError(t, err)
	require.Empty(t, d.Batches)
	require.Empty(t, d.Anomalies, "nothing was in the files as of that day")
	_, md := d.Markdown()
	require.Contains(t, md, "当日无发放、失败或结果不明的记录")
	require.Contains(t, md, "无待审批、中止、待核实或对账异常")

	_, err = report.BuildDigest(context.Background(), b.db, report.DigestOptions{Day: "yesterday", Location: b.loc})
	require.ErrorContains(t, err, "not YYYY-MM-DD")
}

// A batch name is text in the digest: in the robots' markdown it makes no
// link, mention, emphasis or line of its own, and in the terminal's tables
// no control sequence, even for names stored before names were checked.
func TestDigestHostileNames(t *testing.T) {
	t.Parallel()
	b := digestSetup(t)
	hostile := map[int]string{
		4: "[点我领券](http://evil.example/steal) <@all> @13800000000 **紧急**\n# 标题\x1b[2J",
		5: "<at user_id=\"all\">所有人</at> ![img](http://evil.example/x.png) `code` \\* _x_ ~~y~~ |t|",
		6: "\x1b]8;;http://evil.example\x07link\x1b]8;;\x07 \u202egpj.exe",
	}
	for id, name := range hostile {
		_, err := b.db.Exec(`UPDATE batches SET name = $2 WHERE id = $1`, id, name)
		require.NoError(t, err)
	}
	_, err := b.db.Exec(`UPDATE batches SET halt_reason = 'budget_exhausted: [x](http://evil.example) <@all>' WHERE id = 5`)
	require.NoError(t, err)
	d, err := report.BuildDigest(context.Background(), b.db, report.DigestOptions{Day: "2025-03-02", Location: b.loc})
	require.NoError(t, err)

	_, md := d.Markdown()
	for _, bad := range []string{"](", "[点我", "<@", "<at", "@138", "**紧急", "\n# ", "http://", "![", "`code`", "~~", "|t|", "\x1b", "\u202e"} {
		require.NotContains(t, md, bad)
	}
	require.Contains(t, md, "批次 4 ［点我领券］（http：//evil.example/steal） ＜＠all＞ ＠13800000000 ＊＊紧急＊＊ ＃ 标题 ［2J(9856000)")
	for _, line := range strings.Split(md, "\n") {
		require.False(t, strings.HasPrefix(line, "#"), "no heading of a name's making: %q", line)
	}

	var text bytes.Buffer
	require.NoError(t, d.WriteText(&text))
	require.NotContains(t, text.String(), "\x1b")
	require.NotContains(t, text.String(), "\x07")
	require.NotContains(t, text.String(), "\u202e")
	require.Contains(t, text.String(), `\x1b]8;;http://evil.example\x07link`)
}
