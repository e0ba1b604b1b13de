"""Outbound messages to subscribers' phones: GSM 03.38 text (`gsm`), the SMS
sender (`sms`), shared by the channels' replies and the notifications
(`service`, `messages`): a voucher issued (with its code), points expiring
within 7 days, a tier upgrade; never between 21:00 and 08:00 local time (held
until 08:00), never after `TC` until `DK`, at most once per cause."""
