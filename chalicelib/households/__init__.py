"""Households: pooled points of up to five subscribers (DOMAIN.md "Households")."""
