"""Subscribers: MSISDN normalisation and profiles pushed by the operator's CRM."""

from chalicelib.subscribers.msisdn import normalise_msisdn

__all__ = ["normalise_msisdn"]
