"""Outbound messages to subscribers' phones: GSM 03.38 text (`gsm`) and the SMS
sender (`sms`), shared by the channels' replies and the notifications."""
