package audit_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/internal/dbtest"
)

func TestRecordList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := dbtest.New(t)
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	store := audit.NewStore(s.DB, func() time.Time { return t0 })
	batch := int64(7)

	entries := []audit.Entry{
		{Actor: "alice", Role: "operator", Action: "pause", BatchID: &batch, StockID: "9856000", Source: "10.0.0.1",
			Detail: audit.Fields(map[string]int{"rows": 3})},
		{Time: t0.Add(time.Minute), Actor: "bob", Role: "analyst", Action: "pause", BatchID: &batch, Source: "10.0.0.2",
			Outcome: audit.Denied, Message: "your role may not do this"},
		{Time: t0.Add(2 * time.Minute), Actor: "cli:root", Role: "admin", Action: "user_add", Source: "cli:root",
			Detail: json.RawMessage("free text, not JSON")},
	}
	for _, e := range entries {
		require.NoError(t, store.Record(ctx, e))
	}
	require.ErrorContains(t, store.Record(ctx, audit.Entry{Actor: "x"}), "required")

	all, err := store.List(ctx, audit.Filter{})
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Equal(t, "user_add", all[0].Action, "newest first")
	require.Equal(t, audit.Text("free text, not JSON"), all[0].Detail)
	require.Equal(t, audit.OK, all[2].Outcome)
	require.JSONEq(t, `{"rows":3}`, string(all[2].Detail))
	require.Nil(t, all[1].Detail)

	b, err := json.Marshal(all[1])
	require.NoError(t, err)
	require.JSONEq(t, `{"time":"2025-03-01T09:01:00Z","actor":"bob","role":"analyst","action":"pause","batch_id":7,
		"stock_id":"","source":"10.0.0.2","outcome":"denied","message":"your role may not do this","detail":null}`, string(b))

	for _, tc := range []struct {
		name string
		f    audit.Filter
		want int
	}{
		{"Actor", audit.Filter{Actor: "alice"}, 1},
		{"Action", audit.Filter{Action: "pause"}, 2},
		{"Batch", audit.Filter{BatchID: 7}, 2},
		{"Outcome", audit.Filter{Outcome: audit.Denied}, 1},
		{"Since", audit.Filter{Since: t0.Add(time.Minute)}, 2},
		{"Until", audit.Filter{Until: t0.Add(time.Minute)}, 1},
		{"Page", audit.Filter{Limit: 2, Offset: 2}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.List(ctx, tc.f)
			require.NoError(t, err)
			require.Len(t, got, tc.want)
		})
	}
}
