"""Notification SMS to subscribers (DOMAIN.md "Channels and notifications"):
a voucher issued (with its code), points expiring within 7 days, a tier
upgrade; never between 21:00 and 08:00 local time (held until 08:00), never
to a subscriber who opted out (`sms_opt_out`), at most once per cause."""
