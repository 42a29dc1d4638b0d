package wxpay_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/issuer-dev/issuer/wxpay"
	"github.com/issuer-dev/issuer/wxpay/wxsim"
)

// A request is signed over METHOD\nURI\nTIMESTAMP\nNONCE\nBODY\n with the
// merchant's API key; the Authorization header carries the signature, and
// WeChat Pay (here the platform side) checks it with the merchant's public
// key.
func ExampleSigner_Authorize() {
	keys, err := wxsim.NewKeys()
	if err != nil {
		log.Fatal(err)
	}
	signer := &wxpay.Signer{MchID: keys.MchID, SerialNo: keys.CertSerialNo, Key: keys.MerchantKey}
	body := []byte(`{"stock_id":"9856000","out_request_no":"190000010920261206000001","appid":"wx1"}`)
	uri := "/v3/marketing/favor/users/oUser/coupons"
	auth, err := signer.Authorize(http.MethodPost, uri, body, time.Now(), "")
	if err != nil {
		log.Fatal(err)
	}
	parsed, err := wxpay.ParseAuthorization(auth.String())
	if err != nil {
		log.Fatal(err)
	}
	msg := wxpay.RequestMessage(http.MethodPost, uri, parsed.Timestamp, parsed.Nonce, body)
	fmt.Println("scheme:", auth.String()[:len("WECHATPAY2-SHA256-RSA2048")])
	fmt.Println("verifies:", wxpay.VerifySHA256RSA(keys.MerchantPublic, msg, parsed.Signature) == nil)
	// Output:
	// scheme: WECHATPAY2-SHA256-RSA2048
	// verifies: true
}

// Sending a 代金券 is one signed POST; the answer is verified before it is
// read. Retrying with the same out_request_no replays the first answer, so
// a send whose answer was lost is simply sent again.
func ExampleClient_SendFavor() {
	keys, err := wxsim.NewKeys()
	if err != nil {
		log.Fatal(err)
	}
	sim, err := wxsim.New(wxsim.Options{Keys: keys, Stocks: []wxsim.StockSpec{{ID: "9856000", Budget: 10}}})
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
	req := wxpay.FavorSendRequest{OpenID: "oUser", StockID: "9856000", OutRequestNo: keys.MchID + "20261206000001"}
	first, err := client.SendFavor(context.Background(), req)
	if err != nil {
		log.Fatal(err)
	}
	again, err := client.SendFavor(context.Background(), req)
	fmt.Println("outcome:", wxpay.Classify(again, err))
	fmt.Println("same coupon:", first.CouponID == again.CouponID)
	fmt.Println("coupons in the ledger:", len(sim.Ledger("9856000")))
	// Output:
	// outcome: issued
	// same coupon: true
	// coupons in the ledger: 1
}

// A COUPON.USE callback is signed like an answer and its resource is
// encrypted with the APIv3 key: ParseNotification checks the one and opens
// the other.
func ExampleParseNotification() {
	keys, err := wxsim.NewKeys()
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	use := &wxpay.CouponUse{StockID: "9856000", CouponID: "98680001", Status: wxpay.CouponUsed}
	body, err := wxpay.NewCouponUseNotification("EV-1", now, use, keys.APIv3Key)
	if err != nil {
		log.Fatal(err)
	}
	h := http.Header{}
	if err := wxpay.SignResponse(h, keys.PlatformKey, keys.PublicKeyID, body, now, ""); err != nil {
		log.Fatal(err)
	}
	_, got, err := wxpay.ParseNotification(h, body, keys.Verifier(), keys.APIv3Key, now)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.CouponID, got.Status)

	body[len(body)-2] ^= 1 // one bit changed in transit
	_, _, err = wxpay.ParseNotification(h, body, keys.Verifier(), keys.APIv3Key, now)
	fmt.Println("tampered:", err != nil)
	// Output:
	// 98680001 USED
	// tampered: true
}
