"""Campaigns: lifecycle, eligibility, inventory shards (rules are pure; `service` holds the use cases)."""
