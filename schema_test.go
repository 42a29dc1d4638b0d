package issuer_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	issuer "github.com/issuer-dev/issuer"
	"github.com/issuer-dev/issuer/internal/dbtest"
)

func TestMigrate(t *testing.T) {
	t.Parallel()

	t.Run("IdempotentAndVersioned", func(t *testing.T) {
		t.Parallel()
		s := dbtest.NewEmpty(t)
		ctx := context.Background()

		applied, err := issuer.Migrate(ctx, s.DB)
		require.NoError(t, err)
		require.Len(t, applied, issuer.SchemaVersion())

		applied, err = issuer.Migrate(ctx, s.DB)
		require.NoError(t, err)
		require.Empty(t, applied)

		var n int
		require.NoError(t, s.DB.Get(&n, `SELECT count(*) FROM schema_migrations`))
		require.Equal(t, issuer.SchemaVersion(), n)
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		s := dbtest.NewEmpty(t)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				_, err := issuer.Migrate(context.Background(), s.DB)
				errs <- err
			}()
		}
		for range 4 {
			require.NoError(t, <-errs)
		}
	})

	t.Run("ConstraintsForbidDuplicates", func(t *testing.T) {
		t.Parallel()
		s := dbtest.New(t)
		db := s.DB
		_, err := db.Exec(`INSERT INTO batches (id, name, stock_id, kind, mchid, appid, stock_creator_mchid)
			VALUES (1, 'b', 's', 'favor', '1900000109', 'wx1', '1900000109'), (2, 'b2', 's', 'favor', '1900000109', 'wx1', '1900000109')`)
		require.NoError(t, err)
		ins := `INSERT INTO recipients (batch_id, mchid, openid, out_request_no, source_line) VALUES ($1, '1900000109', $2, $3, 2)`
		_, err = db.Exec(ins, 1, "o1", "r1")
		require.NoError(t, err)
		_, err = db.Exec(ins, 1, "o1", "r2")
		require.ErrorContains(t, err, "recipients_batch_openid_key")
		_, err = db.Exec(ins, 2, "o2", "r1")
		require.ErrorContains(t, err, "recipients_out_request_no_key")
		_, err = db.Exec(ins, 2, "bad openid", "r3")
		require.ErrorContains(t, err, "violates check constraint")
	})
}
