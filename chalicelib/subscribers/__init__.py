"""Subscribers: MSISDN normalisation and profiles pushed by the operator's CRM."""

from chalicelib.subscribers.msisdn import msisdn_from_path, normalise_msisdn

__all__ = ["msisdn_from_path", "normalise_msisdn"]
