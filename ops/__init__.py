"""Offline operations tools (never imported by the Lambda functions)."""
