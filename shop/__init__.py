"""Shop: stores, catalogue, per-store stock, customers and their WeChat sign-in, coupons, member cards."""
