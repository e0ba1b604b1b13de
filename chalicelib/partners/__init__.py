"""Partners: API keys, voucher look-up, redemption, reversal and the enumeration defence."""
