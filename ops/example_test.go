package ops_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/ops"
)

// Every front end (the command line, the API, the console) imports a list
// the same way: one call with the acting account and the guards as people
// typed them. The import is all or nothing and audited; a list at or over
// approval.min_coupons waits for a second person. (Not run: it needs a
// migrated database in ISSUER_DATABASE_URL.)
func ExampleService_Import() {
	ctx := context.Background()
	db := sqlx.MustOpen("postgres", os.Getenv("ISSUER_DATABASE_URL"))
	cfg := config.Defaults()
	cfg.WXPay.MchID, cfg.WXPay.AppID = "1900000109", "wx233544546545989"
	cfg.Approval.MinCoupons = 2
	svc := ops.New(db, &cfg, nil, audit.NewStore(db, nil), nil)

	ann := auth.Actor{Name: "ann", Role: auth.RoleAnalyst, Source: "10.0.0.7"}
	rep, err := svc.Import(ctx, ann, ops.ImportRequest{
		Reader: strings.NewReader("openid\noUser0001\noUser0002\n"), Source: "march.csv",
		StockID: "9856000", Name: "三月会员", Guards: ops.ImportGuards{MaxAmountYuan: "20", Window: "09:00-21:00"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.BatchID, rep.Accepted, rep.Status)
}

// Approval is maker-checker: an operator other than the uploader, whoever's
// credential carries the request; the queue refuses the uploader itself.
// (Not run: it needs a migrated database in ISSUER_DATABASE_URL.)
func ExampleService_ApproveBatch() {
	ctx := context.Background()
	db := sqlx.MustOpen("postgres", os.Getenv("ISSUER_DATABASE_URL"))
	cfg := config.Defaults()
	svc := ops.New(db, &cfg, nil, audit.NewStore(db, nil), nil)

	olga := auth.Actor{Name: "olga", Role: auth.RoleOperator, Source: "10.0.0.8"}
	b, err := svc.ApproveBatch(ctx, olga, 7)
	if err != nil {
		log.Fatal(err) // code ops.EFORBIDDEN if olga uploaded batch 7
	}
	fmt.Println(b.Status, *b.ApprovedBy)
}
