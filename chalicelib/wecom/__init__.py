"""The WeCom adapter: callback crypto, typed events, the HTTP client and documented limits."""
