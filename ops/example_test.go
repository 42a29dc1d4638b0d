package ops_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/issuer-dev/issuer/audit"
	"github.com/issuer-dev/issuer/auth"
	"github.com/issuer-dev/issuer/internal/config"
	"github.com/issuer-dev/issuer/internal/dbtest"
	"github.com/issuer-dev/issuer/ops"
)

// exampleService is a Service on a private, migrated schema of the
// database in ISSUER_DATABASE_URL (make test starts one), with lists of two
// recipients or more waiting for approval.
func exampleService() (*ops.Service, func()) {
	schema, done := dbtest.ForExample()
	cfg := config.Defaults()
	cfg.Location = time.FixedZone("CST", 8*3600)
	cfg.WXPay.MchID, cfg.WXPay.AppID = "1900000109", "wx233544546545989"
	cfg.Approval.MinCoupons = 2
	return ops.New(schema.DB, &cfg, nil, audit.NewStore(schema.DB, nil), nil), done
}

// Every front end (the command line, the API, the console) imports a list
// the same way: one call with the acting account and the guards as people
// typed them. The import is all or nothing and audited; a list at or over
// approval.min_coupons waits for a second person. The answer is the JSON
// object both import --json and POST /api/v1/batches print.
func ExampleService_Import() {
	svc, done := exampleService()
	defer done()
	ctx := context.Background()

	ann := auth.Actor{Name: "ann", Role: auth.RoleAnalyst, Source: "10.0.0.7"}
	rep, err := svc.Import(ctx, ann, ops.ImportRequest{
		Reader: strings.NewReader("openid,coupon_value\noUser0001,500\noUser0002,500\noUser0001,500\n"),
		Source: "march.csv", StockID: "9856000", Name: "三月会员",
		Guards: ops.ImportGuards{MaxAmountYuan: "20", Window: "09:00-21:00"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("batch %d: %d lines = %d accepted + %d duplicates; %s\n", rep.BatchID, rep.Lines, rep.Accepted, rep.Duplicates, rep.Status)
	fmt.Println(rep.ApprovalReason)

	// The same file again is refused, with a code every front end maps
	// the same way (409, exit status 1).
	_, err = svc.Import(ctx, ann, ops.ImportRequest{
		Reader: strings.NewReader("openid,coupon_value\noUser0001,500\noUser0002,500\noUser0001,500\n"),
		Source: "march.csv", StockID: "9856000",
	})
	fmt.Println(ops.ErrorCode(err), ops.HTTPStatus(err), ops.ExitCode(err))
	// Output:
	// batch 1: 3 lines = 2 accepted + 1 duplicates; awaiting_approval
	// 2 recipients, at or over approval.min_coupons (2)
	// conflict 409 1
}

// Approval is maker-checker: an operator other than the uploader, whoever's
// credential carries the request; the uploader is refused whatever their
// role. Approval is a money act: it commits with its audit row.
func ExampleService_ApproveBatch() {
	svc, done := exampleService()
	defer done()
	ctx := context.Background()
	olga := auth.Actor{Name: "olga", Role: auth.RoleOperator, Source: "10.0.0.8"}
	oscar := auth.Actor{Name: "oscar", Role: auth.RoleOperator, Source: "10.0.0.9"}
	rep, err := svc.Import(ctx, olga, ops.ImportRequest{
		Reader: strings.NewReader("openid\noUser0001\noUser0002\n"), Source: "april.csv", StockID: "9856000",
	})
	if err != nil {
		log.Fatal(err)
	}

	_, err = svc.ApproveBatch(ctx, olga, rep.BatchID)
	fmt.Println(ops.ErrorCode(err), ops.HTTPStatus(err))

	b, err := svc.ApproveBatch(ctx, oscar, rep.BatchID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Status, *b.ApprovedBy)
	// Output:
	// forbidden 403
	// pending oscar
}
