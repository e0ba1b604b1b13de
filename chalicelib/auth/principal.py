"""The authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("subscriber", "marketer", "operator", "partner")


@dataclass(frozen=True)
class Principal:
    role: str
    subject: str  # MSISDN for subscribers, partner_id for partners, staff id otherwise

    def to_context(self) -> dict[str, str]:
        return {"role": self.role, "sub": self.subject}

    @classmethod
    def from_context(cls, context: dict[str, str] | None) -> Principal | None:
        if context and context.get("role") in ROLES and context.get("sub"):
            return cls(context["role"], context["sub"])
        return None
