"""The WeChat platform simulator: official account, OAuth, WeCom, Pay v3, bills, phone page."""
