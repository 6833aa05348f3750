"""WeChat protocol code: official account, OAuth, JS-SDK, WeCom, WeChat Pay v3. No business rules."""
