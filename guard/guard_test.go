package guard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestApprovalReason(t *testing.T) {
	t.Parallel()
	day := Day{Date: "2030-01-02", Coupons: 3, Fen: 700}
	for _, tc := range []struct {
		name string
		a    Approval
		n    int
		fen  int64
		want string
	}{
		{"Off", Approval{}, 1000, 1_000_000, ""},
		{"UnderBoth", Approval{MinCoupons: 5, MinAmountFen: 1000}, 4, 999, ""},
		{"AtCoupons", Approval{MinCoupons: 5}, 5, 0, "5 recipients, at or over approval.min_coupons (5)"},
		{"AtAmount", Approval{MinAmountFen: 1000}, 1, 1000, "10.00 yuan, at or over approval.min_amount_yuan (10.00)"},
		{"DailyCoupons", Approval{DailyCoupons: 5}, 2, 0,
			"stock S1 on 2030-01-02: 5 recipients with the day's other batches (3), at or over approval.daily_coupons (5)"},
		{"UnderDailyCoupons", Approval{DailyCoupons: 6}, 2, 0, ""},
		{"DailyAmount", Approval{DailyAmountFen: 1000}, 1, 300,
			"stock S1 on 2030-01-02: 10.00 yuan with the day's other batches (7.00), at or over approval.daily_amount_yuan (10.00)"},
		{"BatchBeforeDaily", Approval{MinCoupons: 2, DailyCoupons: 2}, 2, 0, "2 recipients, at or over approval.min_coupons (2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.a.batchReason(tc.n, tc.fen)
			if got == "" && tc.a.daily() {
				got = tc.a.dailyReason("S1", tc.n, tc.fen, day)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestInitialStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		approval, paused bool
		want             string
	}{
		{false, false, "pending"},
		{false, true, "paused"},
		{true, false, "awaiting_approval"},
		{true, true, "awaiting_approval"}, // approved, it becomes paused (queue.Approve: start_paused)
	} {
		require.Equal(t, tc.want, InitialStatus(tc.approval, tc.paused), "%+v", tc)
	}
}

func TestColumns(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	start := time.Date(2030, 1, 2, 10, 0, 0, 0, shanghai)
	for _, tc := range []struct {
		name  string
		store func(*columns)
		sql   string
		args  []any
	}{
		{"NoCap", SpendCap{}.store, "UPDATE batches SET face_value_fen = $2, max_amount_fen = $3 WHERE id = $1", []any{(*int64)(nil), (*int64)(nil)}},
		{"Cap", SpendCap{MaxFen: 500, FaceValueFen: 100}.store, "UPDATE batches SET face_value_fen = $2, max_amount_fen = $3 WHERE id = $1",
			[]any{ptr(int64(100)), ptr(int64(500))}},
		{"Priority", Priority(3).store, "UPDATE batches SET priority = $2 WHERE id = $1", []any{3}},
		{"NoSchedule", Schedule{}.store, "UPDATE batches SET start_at = $2, window_start = $3, window_end = $4, window_tz = $5 WHERE id = $1",
			[]any{(*time.Time)(nil), (*int)(nil), (*int)(nil), (*string)(nil)}},
		{"Schedule", Schedule{StartAt: start, Window: &Window{Start: 22 * 60, End: 6 * 60, Loc: shanghai}}.store,
			"UPDATE batches SET start_at = $2, window_start = $3, window_end = $4, window_tz = $5 WHERE id = $1",
			[]any{&start, ptr(22 * 60), ptr(6 * 60), ptr("Asia/Shanghai")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c columns
			tc.store(&c)
			require.Equal(t, tc.sql, c.sql())
			require.Equal(t, tc.args, c.args)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRequest(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		fields map[string]string
		want   Import
		err    string
	}{
		{name: "Empty", fields: map[string]string{}, want: Import{}},
		{name: "All", fields: map[string]string{"paused": "on", "start_at": " 2030-01-02 10:00 ", "window": "09:00-21:00",
			"max_amount_yuan": "12.50", "priority": "3", "allow_duplicate": "true", "allow_repeats": "1"},
			want: Import{Paused: true, StartAt: time.Date(2030, 1, 2, 10, 0, 0, 0, shanghai), Window: &Window{Start: 9 * 60, End: 21 * 60, Loc: shanghai},
				MaxAmountFen: 1250, Priority: 3, AllowDuplicate: true, AllowRepeats: true}},
		{name: "BadBool", fields: map[string]string{"paused": "maybe"}, err: "paused must be true or false"},
		{name: "BadPriority", fields: map[string]string{"priority": "high"}, err: "priority must be a whole number"},
		{name: "BadWindow", fields: map[string]string{"window": "25:00-26:00"}, err: "want HH:MM-HH:MM"},
		{name: "BadStart", fields: map[string]string{"start_at": "tomorrow"}, err: "start at: \"tomorrow\": want RFC 3339"},
		{name: "BadAmount", fields: map[string]string{"max_amount_yuan": "ten"}, err: "max amount:"},
		{name: "Unknown", fields: map[string]string{"colour": "red"}, err: `no guard "colour"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var r Request
			var err error
			for name, v := range tc.fields {
				if err = r.Set(name, v); err != nil {
					break
				}
			}
			var g Import
			if err == nil {
				g, err = r.Parse(shanghai)
			}
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, g)
		})
	}
	for _, f := range Fields() {
		require.NotEmpty(t, f.Flag, f.Name)
		require.NoError(t, new(Request).Set(f.Name, ""), "an empty field leaves %s unset", f.Name)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	at := func(h, m int) time.Time { return time.Date(2030, 1, 2, h, m, 0, 0, shanghai) }
	for _, tc := range []struct {
		window string
		t      time.Time
		in     bool
		next   time.Time
	}{
		{"09:00-21:00", at(8, 59), false, at(9, 0)},
		{"09:00-21:00", at(9, 0), true, at(9, 0)},
		{"09:00-21:00", at(21, 0), false, at(9, 0).AddDate(0, 0, 1)},
		{"22:00-06:00", at(23, 0), true, at(23, 0)},
		{"22:00-06:00", at(5, 59), true, at(5, 59)},
		{"22:00-06:00", at(6, 0), false, at(22, 0)},
		{"00:00-00:00", at(12, 0), true, at(12, 0)},
	} {
		w, err := ParseWindow(tc.window, shanghai)
		require.NoError(t, err)
		require.Equal(t, tc.window, w.String())
		require.Equal(t, tc.in, w.Contains(tc.t), "%s at %s", tc.window, tc.t)
		require.Equal(t, tc.next, w.Next(tc.t), "%s at %s", tc.window, tc.t)
	}
}

func TestNote(t *testing.T) {
	t.Parallel()
	require.Empty(t, Import{Paused: true, ApprovalMinCoupons: 3}.Note())
	require.Equal(t, "; spend cap 20.00 yuan, window 09:00-21:00, priority 2, repeats allowed",
		Import{MaxAmountFen: 2000, Window: &Window{Start: 540, End: 1260, Loc: time.UTC}, Priority: 2, AllowRepeats: true}.Note())
}

func TestOpenSQL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "batch_open(b.status, b.start_at, b.window_start, b.window_end, b.window_tz, coalesce($5::timestamptz, now()))",
		OpenSQL("b", "$5"))
}
