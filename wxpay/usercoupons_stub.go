package wxpay

import "context"

// UserCouponsRequest is §3.2.11 (placeholder until the endpoint lands).
type UserCouponsRequest struct {
	OpenID, AppID                             string
	StockID                                   string
	CreatorMchID, SenderMchID, AvailableMchID string
	Status                                    string
	Offset, Limit                             int
}

// AllUserCoupons is a placeholder.
func (c *Client) AllUserCoupons(ctx context.Context, req UserCouponsRequest) ([]Coupon, error) {
	return nil, ErrInvalidRequest
}
