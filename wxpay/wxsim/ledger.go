package wxsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// Coupon is one ledger entry: a coupon the simulator issued, and what
// happened to it since.
type Coupon struct {
	CouponID      string    `json:"coupon_id"`
	Kind          Kind      `json:"kind"`
	StockID       string    `json:"stock_id"`
	OpenID        string    `json:"openid"`
	OutRequestNo  string    `json:"out_request_no"`
	MchID         string    `json:"mchid"` // the calling merchant
	AppID         string    `json:"appid"`
	CouponCode    string    `json:"coupon_code,omitempty"` // 商品券 only
	IssuedAt      time.Time `json:"issued_at"`
	CouponAmount  int64     `json:"coupon_amount"`  // fen
	CouponMinimum int64     `json:"coupon_minimum"` // fen
	// Status is SENDED or USED (a refunded coupon stays USED, with
	// RefundedAt set).
	Status     string     `json:"status"`
	Use        *Use       `json:"use,omitempty"`
	RefundedAt *time.Time `json:"refunded_at,omitempty"`
}

// Use is a simulated redemption.
type Use struct {
	At            time.Time `json:"at"`
	ConsumeMchID  string    `json:"consume_mchid"`
	TransactionID string    `json:"transaction_id"`
	OrderAmount   int64     `json:"order_amount"` // fen
	DeviceID      string    `json:"device_id,omitempty"`
	BankSerial    string    `json:"bank_serial,omitempty"`
}

// Ledger file records, one JSON object per line.
const (
	recordCoupon = "coupon"
	recordUse    = "use"
	recordRefund = "refund"
)

type ledgerRecord struct {
	Type     string     `json:"type"`
	Coupon   *Coupon    `json:"coupon,omitempty"`
	CouponID string     `json:"coupon_id,omitempty"`
	Use      *Use       `json:"use,omitempty"`
	At       *time.Time `json:"at,omitempty"`
}

// ledgerFile appends records, each fsynced before the append returns.
type ledgerFile struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// openLedger opens (creating) path and reads its records. A torn last line,
// left by a crash in the middle of an append, was never acknowledged: it is
// cut off. Any other unreadable line is an error.
func openLedger(path string) (*ledgerFile, []ledgerRecord, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open ledger: %w", err)
	}
	records, good, err := readLedger(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	return &ledgerFile{f: f, path: path}, records, nil
}

// readLedger returns the records and the length of the well-formed prefix.
func readLedger(r io.Reader) ([]ledgerRecord, int64, error) {
	br := bufio.NewReader(r)
	var (
		records []ledgerRecord
		good    int64
		line    int
	)
	for {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// No newline: an append that never completed (or nothing).
			return records, good, nil
		}
		if err != nil {
			return nil, 0, err
		}
		line++
		var rec ledgerRecord
		if err := json.Unmarshal(bytes.TrimSpace(b), &rec); err != nil {
			return nil, 0, fmt.Errorf("line %d: %w", line, err)
		}
		if err := rec.validate(); err != nil {
			return nil, 0, fmt.Errorf("line %d: %w", line, err)
		}
		records = append(records, rec)
		good += int64(len(b))
	}
}

func (r ledgerRecord) validate() error {
	switch r.Type {
	case recordCoupon:
		if r.Coupon == nil || r.Coupon.CouponID == "" || r.Coupon.StockID == "" {
			return errors.New("coupon record without coupon")
		}
	case recordUse:
		if r.CouponID == "" || r.Use == nil {
			return errors.New("use record without coupon_id or use")
		}
	case recordRefund:
		if r.CouponID == "" || r.At == nil {
			return errors.New("refund record without coupon_id or at")
		}
	default:
		return fmt.Errorf("unknown record type %q", r.Type)
	}
	return nil
}

func (l *ledgerFile) append(recs ...ledgerRecord) error {
	var buf bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("append ledger: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync ledger: %w", err)
	}
	return nil
}

// appendLedger persists records when the ledger is persisted.
func (s *Server) appendLedger(recs ...ledgerRecord) error {
	if s.ledger == nil {
		return nil
	}
	return s.ledger.append(recs...)
}

func (l *ledgerFile) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// replay rebuilds the in-memory state from ledger records.
func (s *Server) replay(records []ledgerRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range records {
		switch r.Type {
		case recordCoupon:
			c := *r.Coupon
			if _, dup := s.byID[c.CouponID]; dup {
				return fmt.Errorf("record %d: coupon %s twice", i+1, c.CouponID)
			}
			cp := &coupon{Coupon: c, ready: make(chan struct{})}
			close(cp.ready)
			s.indexLocked(cp)
			if n, err := strconv.ParseUint(c.CouponID, 10, 64); err == nil && n >= s.nextCoupon {
				s.nextCoupon = n + 1
			}
		case recordUse:
			cp, ok := s.byID[r.CouponID]
			if !ok {
				return fmt.Errorf("record %d: use of unknown coupon %s", i+1, r.CouponID)
			}
			u := *r.Use
			cp.Use, cp.Status = &u, "USED"
			s.nextTxn++
		case recordRefund:
			cp, ok := s.byID[r.CouponID]
			if !ok || cp.Use == nil {
				return fmt.Errorf("record %d: refund of unused coupon %s", i+1, r.CouponID)
			}
			at := *r.At
			cp.RefundedAt = &at
		}
	}
	return nil
}
