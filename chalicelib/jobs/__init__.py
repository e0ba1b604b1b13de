"""Scheduled work that touches only the subscribers due, found through sparse
"due" indexes keyed `<date or month>#<shard>`; never a Scan."""

from chalicelib.jobs.due import expire_points, review_tiers, tenure_bonuses

__all__ = ["expire_points", "review_tiers", "tenure_bonuses"]
