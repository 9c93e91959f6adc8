"""Qiwei Reach: the code packaged into every Lambda function."""
