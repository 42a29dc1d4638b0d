package guard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStockState(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		s    StockState
		want string
	}{
		{"Running", StockState{StockID: "1", Status: "running", AvailableEndTime: "2030-01-31T23:59:59+08:00"}, ""},
		{"NoStatus", StockState{StockID: "1"}, ""},
		{"Paused", StockState{StockID: "1", Status: "paused"}, "stock_unavailable: stock 1 is paused in WeChat Pay: restart it (issuer stock restart 1)"},
		{"Stopped", StockState{StockID: "1", Status: "stoped"}, "stock_unavailable: stock 1 is stopped in WeChat Pay and cannot issue again: import the list for another stock"},
		{"Unactivated", StockState{StockID: "1", Status: "unactivated"}, "stock_unavailable: stock 1 is not activated yet: start it (issuer stock start 1)"},
		{"Audit", StockState{StockID: "1", Status: "audit"}, "stock_unavailable: stock 1 is still being reviewed by WeChat Pay: wait until it runs"},
		{"Unknown", StockState{StockID: "1", Status: "frozen"}, "stock_unavailable: stock 1 is frozen in WeChat Pay, not running"},
		{"Ended", StockState{StockID: "1", Status: "running", AvailableEndTime: "2030-01-01T23:59:59+08:00"},
			"stock_unavailable: stock 1 ended at 2030-01-01T23:59:59+08:00: import the list for another stock"},
		{"BadEnd", StockState{StockID: "1", Status: "running", AvailableEndTime: "soon"}, ""},
	} {
		require.Equal(t, tc.want, tc.s.Unavailable(now), tc.name)
	}
}
