"""Vouchers: codes, claims, grants, the wallet and the expiry job."""
