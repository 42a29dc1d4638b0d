package main

import "context"

func benchLimiterWxsim(ctx context.Context) error { return nil }
