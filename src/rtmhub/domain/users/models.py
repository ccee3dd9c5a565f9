from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint, column, func, text, true
from sqlalchemy.orm import Mapped, mapped_column

from rtmhub.db import Base, UTCDateTime, utcnow
from rtmhub.ids import new_uuid


class User(Base):
    """A person listed in a customer org. ``home_org_id`` differs from the customer's org for an
    external user (D5). The subscriber of the wholesale API is this row while it holds a package."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email_key"),
        UniqueConstraint("phone_number"),
        UniqueConstraint("location_id", "extension"),
        # Each list reads its page in its sort order (created, id) or (package_assigned, id), and finds a
        # deep page's first key in the index alone (domain/paging.py, decision 39).
        Index("ix_users_customer_package", "customer_id", "package", "created", "id"),
        Index("ix_users_customer_created", "customer_id", "created", "id"),
        Index("ix_users_subscribers", "package_assigned", "id", "customer_id",
              postgresql_where=text("package IS NOT NULL"), sqlite_where=text("package IS NOT NULL")),
        # The first key of a deep page of all subscribers, walked in an index of the key alone: 58 MB where
        # the one above is 98 MB at 900,000 subscribers, so 500,000 entries take 26 ms instead of 36 ms. The
        # one above still serves a walk joined to the customers (decision 65).
        Index("ix_users_subscriber_key", "package_assigned", "id",
              postgresql_where=text("package IS NOT NULL")).ddl_if(dialect="postgresql"),
        Index("ix_users_customer_subscribers", "customer_id", "package_assigned", "id",
              postgresql_where=text("package IS NOT NULL"), sqlite_where=text("package IS NOT NULL")),
        Index("ix_users_customer_display", "customer_id", "display_name"),
        Index("ix_users_customer_external", "customer_id", "external_id"),
        Index("ix_users_user_name", "user_name"),
        # A licence's use counts the holders of each base licence: read from the index alone.
        Index("ix_users_customer_base", "customer_id", "basic_messaging", "basic_space_meetings", "call_on_webex"),
        # `displayName` is a case-insensitive prefix; PostgreSQL needs a pattern index for LIKE 'x%'.
        Index("ix_users_customer_display_key", "customer_id", func.lower(column("display_name")).label("key"),
              postgresql_ops={"key": "varchar_pattern_ops"}).ddl_if(dialect="postgresql"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    # No index of its own on customer_id, location_id or created: the composite indexes above that are not of the
    # subscribers' key start with customer_id, the unique (location_id, extension) with location_id, and no query
    # orders all users by created; an index that only repeats another one's first column costs every write of a
    # user a page more (decision 66).
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    home_org_id: Mapped[str] = mapped_column(String(36))
    email: Mapped[str] = mapped_column(String(161))
    email_key: Mapped[str] = mapped_column(String(161))  # lower-cased: D6 compares case-insensitively
    first_name: Mapped[str | None] = mapped_column(String(64))
    last_name: Mapped[str | None] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(256))
    package: Mapped[str | None] = mapped_column(String(40))
    basic_messaging: Mapped[bool] = mapped_column(Boolean, default=False)
    basic_space_meetings: Mapped[bool] = mapped_column(Boolean, default=False)
    call_on_webex: Mapped[bool] = mapped_column(Boolean, default=False)
    extension: Mapped[str | None] = mapped_column(String(10))
    phone_number: Mapped[str | None] = mapped_column(String(20))
    caller_id_number: Mapped[str | None] = mapped_column(String(20))
    caller_id_first_name: Mapped[str | None] = mapped_column(String(30))
    caller_id_last_name: Mapped[str | None] = mapped_column(String(30))
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"))
    preferred_site_url: Mapped[str | None] = mapped_column(String(255))
    jabber_calling: Mapped[bool] = mapped_column(Boolean, default=False)
    jabber_with_teams: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str | None] = mapped_column(String(128))
    department: Mapped[str | None] = mapped_column(String(128))
    manager: Mapped[str | None] = mapped_column(String(161))
    language: Mapped[str | None] = mapped_column(String(10))
    timezone: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(30), default="provisioned")
    package_assigned: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Directory sync (SCIM): the identity provider's id, the soft-delete flag, the directory's E.164 work
    # number (the calling number a group mapping can use) and what the directory sent that has no column
    # (the e-mail and phone lists as given).
    external_id: Mapped[str | None] = mapped_column(String(255))
    user_name: Mapped[str | None] = mapped_column(String(255))  # the SCIM userName when it is not the e-mail
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    directory_number: Mapped[str | None] = mapped_column(String(40))
    directory_data: Mapped[dict | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# The order a customer's users are listed in, as a licence's holders too: as they came, the id breaking ties
# (the paging keys of domain/paging.py: (column, descending)).
USER_ORDER = ((User.created, False), (User.id, False))
