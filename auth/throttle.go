package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/issuer-dev/issuer/audit"
)

// Kinds of login_throttle rows.
const (
	throttleAccountAddress = "account_address" // one name from one address
	throttleAddress        = "address"         // any names from one address
)

// throttleKey is one counter an attempt counts against, and what counting
// it did.
type throttleKey struct {
	kind, key string
	limit     int
	failures  int          // after counting this attempt
	prevLock  sql.NullTime // locked_until before it
	lock      time.Time    // the lockout this attempt started; zero for none
}

// attempt is a login attempt counted as failed before its password is
// checked: a success takes it back.
type attempt struct {
	who  Actor
	now  time.Time
	keys []throttleKey
}

// errLocked rolls back the counting of an attempt that finds a lockout.
var errLocked = errors.New("locked out")

// accountAddressKey names one account at one address; an address has no
// space, so the key is unambiguous whatever name was typed.
func accountAddressKey(name, address string) string { return address + " " + name }

// begin counts a login attempt by name from address as failed, in one
// transaction that holds both its counters, before anything is checked:
// however many attempts arrive at once, at most the limit are checked and
// the rest find the lockout the limit-th one started. A locked counter
// refuses the attempt with a LockedError (audited) and counts nothing.
func (s *Store) begin(ctx context.Context, name, address string) (*attempt, error) {
	at := &attempt{who: Actor{Name: name, Source: address}, now: s.o.Now()}
	at.keys = []throttleKey{ // always in this order, so two attempts never wait on each other
		{kind: throttleAddress, key: address, limit: s.o.AddressLimit},
		{kind: throttleAccountAddress, key: accountAddressKey(name, address), limit: s.o.AccountLimit},
	}
	var locked time.Time
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		type row struct {
			Failures    int          `db:"failures"`
			LastFailure time.Time    `db:"last_failure_at"`
			LockedUntil sql.NullTime `db:"locked_until"`
		}
		rows := make([]row, len(at.keys))
		for i, k := range at.keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO login_throttle (kind, key, failures, last_failure_at)
				VALUES ($1, $2, 0, $3) ON CONFLICT (kind, key) DO NOTHING`, k.kind, k.key, at.now); err != nil {
				return err
			}
			if err := tx.GetContext(ctx, &rows[i], `SELECT failures, last_failure_at, locked_until FROM login_throttle
				WHERE kind = $1 AND key = $2 FOR UPDATE`, k.kind, k.key); err != nil {
				return err
			}
			if r := rows[i]; r.LockedUntil.Valid && r.LockedUntil.Time.After(at.now) && r.LockedUntil.Time.After(locked) {
				locked = r.LockedUntil.Time
			}
		}
		if !locked.IsZero() {
			return errLocked // counts nothing; the rollback drops any row made above
		}
		for i := range at.keys {
			k, r := &at.keys[i], rows[i]
			k.prevLock = r.LockedUntil
			k.failures = r.Failures + 1
			if r.LastFailure.Before(at.now.Add(-s.o.FailureMemory)) {
				k.failures = 1 // failures older than FailureMemory are forgotten
			}
			until := r.LockedUntil
			if k.failures >= k.limit {
				k.lock = at.now.Add(s.lockout(k.failures - k.limit))
				until = sql.NullTime{Time: k.lock, Valid: true}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE login_throttle SET failures = $3, last_failure_at = $4, locked_until = $5
				WHERE kind = $1 AND key = $2`, k.kind, k.key, k.failures, at.now, until); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errLocked) {
		return nil, fmt.Errorf("count login attempt: %w", err)
	}
	if err != nil {
		if err := s.record(ctx, nil, at.who, audit.ActLoginFailed, audit.Denied, "locked out",
			map[string]any{"locked_until": locked}); err != nil {
			return nil, err
		}
		return nil, &LockedError{Until: locked}
	}
	return at, nil
}

// failed records the attempt's failure, and the lockouts it started, in
// the audit log: it was counted already.
func (s *Store) failed(ctx context.Context, at *attempt, reason string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.record(ctx, tx, at.who, audit.ActLoginFailed, audit.Denied, reason, nil); err != nil {
			return err
		}
		for _, k := range at.keys {
			if k.lock.IsZero() {
				continue
			}
			what := "account locked out at this address"
			if k.kind == throttleAddress {
				what = "address locked out"
			}
			if err := s.record(ctx, tx, at.who, audit.ActLockout, audit.Denied, what,
				map[string]any{"address": at.who.Source, "failures": k.failures, "locked_until": k.lock,
					"lockout": k.lock.Sub(at.now).String()}); err != nil {
				return err
			}
		}
		return nil
	})
}

// succeeded takes back the attempt's count in tx: the name's failures at
// the address are forgotten, the address's count goes back down by this
// attempt, and a lockout this attempt started is undone.
func (s *Store) succeeded(ctx context.Context, tx *sqlx.Tx, at *attempt) error {
	for _, k := range at.keys {
		var err error
		if k.kind == throttleAccountAddress {
			_, err = tx.ExecContext(ctx, `DELETE FROM login_throttle WHERE kind = $1 AND key = $2`, k.kind, k.key)
		} else {
			var mine *time.Time
			if !k.lock.IsZero() {
				mine = &k.lock
			}
			_, err = tx.ExecContext(ctx, `UPDATE login_throttle SET failures = greatest(failures - 1, 0),
					locked_until = CASE WHEN locked_until = $3 THEN $4 ELSE locked_until END
				WHERE kind = $1 AND key = $2`, k.kind, k.key, mine, k.prevLock)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lockout is the n-th lockout's length (from 0): Lockout doubled n times,
// at most MaxLockout.
func (s *Store) lockout(n int) time.Duration {
	d := s.o.Lockout
	for range n {
		if d >= s.o.MaxLockout {
			break
		}
		d *= 2
	}
	return min(d, s.o.MaxLockout)
}
