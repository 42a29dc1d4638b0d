package wxsim_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// The simulator is a real HTTP server speaking WeChat Pay's protocol: it
// checks the merchant's signatures, signs its answers, keeps a ledger of
// what it issued, and injects faults. Here every send is answered 500 after
// the coupon was issued: the client cannot tell, the answer classifies as
// unknown (in doubt), and only a resend with the same out_request_no (or a
// query) shows that the coupon exists.
func ExampleServer_SetFaults() {
	keys, err := wxsim.NewKeys()
	if err != nil {
		log.Fatal(err)
	}
	sim, err := wxsim.New(wxsim.Options{Keys: keys, Stocks: []wxsim.StockSpec{{ID: "9856000", Budget: 100}}})
	if err != nil {
		log.Fatal(err)
	}
	defer sim.Close()
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	client, err := wxpay.New(keys.ClientOptions(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	req := wxpay.FavorSendRequest{OpenID: "oUser", StockID: "9856000", OutRequestNo: keys.MchID + "20261206000001"}

	if err := sim.SetFaults(wxsim.Faults{After500: 1}); err != nil {
		log.Fatal(err)
	}
	res, err := client.SendFavor(ctx, req)
	fmt.Println("first send:", wxpay.Classify(res, err), "- ledger:", len(sim.Ledger("9856000")))

	if err := sim.SetFaults(wxsim.Faults{}); err != nil {
		log.Fatal(err)
	}
	res, err = client.SendFavor(ctx, req)
	fmt.Println("resend:", wxpay.Classify(res, err), "- same coupon:", res.CouponID == sim.Ledger("9856000")[0].CouponID)
	// Output:
	// first send: unknown - ledger: 1
	// resend: issued - same coupon: true
}
