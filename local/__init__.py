"""The embedded local stack and the WeCom simulator. Never packaged into Lambda."""
