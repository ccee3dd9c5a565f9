from __future__ import annotations

from dataclasses import dataclass, field

# Upstream scope names (webex-wholesale-api.md section 12).
SCOPES = (
    "spark-admin:wholesale_customers_read",
    "spark-admin:wholesale_customers_write",
    "spark-admin:wholesale_subscribers_read",
    "spark-admin:wholesale_subscribers_write",
    "spark-admin:wholesale_sub_partners_read",
    "spark-admin:wholesale_billing_reports_read",
    "spark-admin:wholesale_billing_reports_write",
    "spark-admin:people_read",
    "spark-admin:people_write",
    "spark-admin:licenses_read",
    "spark-admin:locations_read",
    "spark-admin:locations_write",
    "spark-admin:organizations_read",
    "identity:people_rw",
    "identity:people_read",
)
PARTNER_ROLES = ("partner_full_admin", "partner_readonly_admin")


@dataclass(frozen=True)
class Caller:
    """Who is acting and what they may reach; resolved once per request, command or task.

    ``partner_ids`` are the partner orgs whose customers the caller reaches (its own and its
    sub-partners'); a customer admin has none and reaches ``customer_id`` only.
    """

    actor: str
    role: str
    admin_id: str | None = None
    partner_id: str | None = None
    partner_ids: tuple[str, ...] = ()
    customer_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    request_id: str | None = None
    system: bool = False
    directory: bool = False  # acting as the organisation's directory (SCIM): exempt from R12

    @property
    def read_only(self) -> bool:
        return self.role == "partner_readonly_admin"

    @property
    def is_partner(self) -> bool:
        return self.system or self.role in PARTNER_ROLES

    @classmethod
    def operator(cls, actor: str = "cli") -> Caller:
        """The local operator (CLI, demo loader): every scope, every partner."""
        return cls(actor=actor, role="operator", scopes=frozenset(SCOPES), system=True)
