package wxpay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// EventCouponUse is the event type of a 代金券 redemption notification.
const EventCouponUse = "COUPON.USE"

// Notification is the envelope of a WeChat Pay event callback.
type Notification struct {
	ID           string               `json:"id"`
	CreateTime   string               `json:"create_time"`
	EventType    string               `json:"event_type"`
	ResourceType string               `json:"resource_type"` // encrypt-resource
	Summary      string               `json:"summary"`
	Resource     NotificationResource `json:"resource"`
}

// NotificationResource is the encrypted payload of a callback.
type NotificationResource struct {
	OriginalType   string `json:"original_type"` // coupon
	Algorithm      string `json:"algorithm"`     // AEAD_AES_256_GCM
	Ciphertext     string `json:"ciphertext"`
	Nonce          string `json:"nonce"`
	AssociatedData string `json:"associated_data"`
}

// ErrDecrypt marks an authenticated notification whose resource does not
// decrypt with the APIv3 key given. WeChat Pay signed it, so the usual
// cause is a wrong wxpay.apiv3_key_file, not a forger: it is a configuration
// error for an operator, not a bad request.
var ErrDecrypt = errors.New("wxpay: notification does not decrypt with the APIv3 key")

// CouponUse is the decrypted COUPON.USE payload: the redeemed coupon, with
// ConsumeInformation saying where and when.
type CouponUse = Coupon

// ParseNotification authenticates a callback (the same Wechatpay-* headers
// as an answer) and, for COUPON.USE, decrypts its resource with the APIv3
// key. Other event types return the envelope and a nil CouponUse, so the
// caller can acknowledge them. Signature failures wrap ErrSignature,
// decryption failures ErrDecrypt.
//
// WeChat Pay repeats notifications: store them idempotently by ID or
// coupon_id.
func ParseNotification(h http.Header, body []byte, v *Verifier, apiv3Key string, now time.Time) (*Notification, *CouponUse, error) {
	if err := v.Verify(h, body, now); err != nil {
		return nil, nil, fmt.Errorf("notification: %w", err)
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, nil, fmt.Errorf("notification: %w: %v", ErrMalformedResponse, err)
	}
	if n.ID == "" {
		return nil, nil, fmt.Errorf("notification: %w: no id", ErrMalformedResponse)
	}
	if n.EventType != EventCouponUse {
		return &n, nil, nil
	}
	if n.Resource.Algorithm != AEADAlgorithm {
		return &n, nil, fmt.Errorf("notification %s: %w: algorithm %q", n.ID, ErrMalformedResponse, n.Resource.Algorithm)
	}
	plain, err := DecryptAEAD(apiv3Key, n.Resource.Nonce, n.Resource.AssociatedData, n.Resource.Ciphertext)
	if err != nil {
		return &n, nil, fmt.Errorf("notification %s: %w: %w", n.ID, ErrDecrypt, err)
	}
	var use CouponUse
	if err := json.Unmarshal(plain, &use); err != nil {
		return &n, nil, fmt.Errorf("notification %s: %w: resource: %v", n.ID, ErrMalformedResponse, err)
	}
	if use.CouponID == "" || use.StockID == "" {
		return &n, nil, fmt.Errorf("notification %s: %w: resource lacks coupon_id or stock_id", n.ID, ErrMalformedResponse)
	}
	return &n, &use, nil
}

// NewCouponUseNotification builds the body of a COUPON.USE callback as
// WeChat Pay sends it: the coupon encrypted with the APIv3 key under a fresh
// 12-character nonce. Sign the body with SignResponse before posting it.
func NewCouponUseNotification(id string, createTime time.Time, use *CouponUse, apiv3Key string) ([]byte, error) {
	if use == nil {
		return nil, errors.New("coupon use notification: nil coupon")
	}
	plain, err := json.Marshal(use)
	if err != nil {
		return nil, fmt.Errorf("coupon use notification: %w", err)
	}
	nonce := NewNonce()[:12]
	const ad = "coupon"
	ct, err := EncryptAEAD(apiv3Key, nonce, ad, plain)
	if err != nil {
		return nil, fmt.Errorf("coupon use notification: %w", err)
	}
	n := Notification{
		ID:           id,
		CreateTime:   createTime.In(Beijing()).Format(time.RFC3339),
		EventType:    EventCouponUse,
		ResourceType: "encrypt-resource",
		Summary:      "代金券核销通知",
		Resource: NotificationResource{
			OriginalType: "coupon", Algorithm: AEADAlgorithm,
			Ciphertext: ct, Nonce: nonce, AssociatedData: ad,
		},
	}
	b, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("coupon use notification: %w", err)
	}
	return b, nil
}
