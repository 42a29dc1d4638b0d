package wxpay

// Endpoint paths, exactly as WeChat Pay publishes them (the seed pages: see
// the package doc's Sources).
const (
	PathFavorSend      = "/v3/marketing/favor/users/{openid}/coupons"
	PathProductSend    = "/v3/marketing/busifavor/product-coupons/send"
	PathStockCreate    = "/v3/marketing/favor/coupon-stocks"
	PathStocks         = "/v3/marketing/favor/stocks"
	PathStock          = "/v3/marketing/favor/stocks/{stock_id}"
	PathStockStart     = "/v3/marketing/favor/stocks/{stock_id}/start"
	PathStockPause     = "/v3/marketing/favor/stocks/{stock_id}/pause"
	PathStockRestart   = "/v3/marketing/favor/stocks/{stock_id}/restart"
	PathCoupon         = "/v3/marketing/favor/users/{openid}/coupons/{coupon_id}"
	PathUseFlow        = "/v3/marketing/favor/stocks/{stock_id}/use-flow"
	PathRefundFlow     = "/v3/marketing/favor/stocks/{stock_id}/refund-flow"
	PathStockStop      = "/v3/marketing/favor/stocks/{stock_id}/stop"
	PathStockMerchants = "/v3/marketing/favor/stocks/{stock_id}/merchants"
	PathStockItems     = "/v3/marketing/favor/stocks/{stock_id}/items"
	PathUserCoupons    = "/v3/marketing/favor/users/{openid}/coupons" // GET; POST is the send
	PathCallbacks      = "/v3/marketing/favor/callbacks"
)
