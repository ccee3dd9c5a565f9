"""``db.DriverEntities`` (decision 68): a query of whole objects run on the session's DBAPI connection gives the
objects the ORM's own loading gives, as the session's own: every column the same (datetimes aware, dates as
dates), an object the session already holds returned as it is, a loaded one persistent with nothing pending,
pending changes flushed first unless autoflush is off, an outer join's missing entity as None; and a
``DriverStatement`` keeps the values a statement holds itself (a caller's scope of several partners). On SQLite
and PostgreSQL."""
from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, literal, select
from sqlalchemy import inspect as sa_inspect

from rtmhub.db import DriverEntities, DriverStatement
from rtmhub.domain.customers.models import Customer
from rtmhub.domain.partners.models import Partner

BOTH = DriverEntities(select(Customer, Partner).outerjoin(Partner, Partner.id == Customer.partner_id)
                      .where(Customer.id == bindparam("ref")), Customer, Partner)
# An outer join that finds no partner: the world's customers have no template that is a partner's id.
NO_PARTNER = DriverEntities(select(Customer, Partner).outerjoin(Partner, Partner.id == Customer.template_id)
                            .where(Customer.id == bindparam("ref")), Customer, Partner)


def _columns(obj) -> dict:
    return {attr.key: getattr(obj, attr.key) for attr in sa_inspect(type(obj)).column_attrs}


def test_the_objects_are_the_ones_the_orm_loads(world, db):
    with db.unit_of_work() as s:
        s.get(Partner, world.raw["pa"]).billing_start_date = date(2026, 3, 1)
    with db.unit_of_work(write=False) as s:
        customer, partner = s.execute(select(Customer, Partner).join(Partner, Partner.id == Customer.partner_id)
                                      .where(Customer.id == world.raw["ca"])).one()
        expected = (_columns(customer), _columns(partner))
    with db.unit_of_work(write=False) as s:
        found = BOTH.first(s, {"ref": world.raw["ca"]})
        assert found is not None
        assert (_columns(found[0]), _columns(found[1])) == expected
        assert found[0].created.tzinfo is not None and found[1].billing_start_date.isoformat() == "2026-03-01"
        assert all(sa_inspect(obj).persistent for obj in found)
        assert s.get(Customer, world.raw["ca"]) is found[0]  # in the identity map: no second read
        assert not s.dirty and not s.new


def test_nothing_found_is_none_and_a_missing_outer_entity_is_none(world, db):
    with db.unit_of_work(write=False) as s:
        assert BOTH.first(s, {"ref": "no-such-customer"}) is None
        customer, partner = NO_PARTNER.first(s, {"ref": world.raw["ca"]})
        assert customer.id == world.raw["ca"] and partner is None


def test_an_object_the_session_holds_is_returned_as_it_is(world, db):
    with db.unit_of_work() as s:
        held = s.get(Customer, world.raw["ca"])
        with s.no_autoflush:
            held.name = "Changed, not flushed"
            customer, _partner = BOTH.first(s, {"ref": world.raw["ca"]})
        assert customer is held and customer.name == "Changed, not flushed"
        s.rollback()


def test_a_loaded_object_is_the_sessions_own_and_its_changes_are_written(world, db):
    with db.unit_of_work() as s:
        customer, _partner = BOTH.first(s, {"ref": world.raw["ca"]})
        customer.name = "Asiakas Oyj"
    with db.unit_of_work(write=False) as s:
        assert s.get(Customer, world.raw["ca"]).name == "Asiakas Oyj"


def _stored_name(session, customer_id: str) -> str:
    """The row's name as the database holds it in the transaction, past the session's objects."""
    return session.connection().execute(select(Customer.__table__.c.name).where(
        Customer.__table__.c.id == customer_id)).scalar_one()


def test_pending_changes_are_flushed_first_unless_autoflush_is_off(world, db):
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        customer.name = "Flushed first"
        s.expunge(customer)  # only the database's row can answer now
        s.add(customer)
        found, _partner = BOTH.first(s, {"ref": world.raw["ca"]})
        assert found is customer
        # The row was written before the query: a fresh look at the row in the same transaction sees it.
        assert _stored_name(s, world.raw["ca"]) == "Flushed first"
        s.rollback()
    with db.unit_of_work() as s:
        customer = s.get(Customer, world.raw["ca"])
        with s.no_autoflush:
            customer.name = "Not flushed"
            BOTH.first(s, {"ref": world.raw["ca"]})
            assert _stored_name(s, world.raw["ca"]) != "Not flushed"
        s.rollback()


def test_a_statement_keeps_the_values_it_holds_itself(world, db):
    """The values of a caller's scope are the statement's own (``literal``); the caller gives the rest."""
    scoped = DriverStatement(select(Customer.id).where(
        Customer.partner_id.in_([literal(world.raw["pa"]), literal(world.raw["pa1"])]),
        Customer.external_id != bindparam("not_this")).order_by(Customer.id))
    with db.unit_of_work(write=False) as s:
        found = {row[0] for row in scoped.rows(s, {"not_this": "nothing"})}
        assert found == {world.raw["ca"], world.raw["ca1"]}
        assert {row[0] for row in scoped.rows(s, {"not_this": "A-CUST-1"})} == {world.raw["ca1"]}


def test_an_object_of_a_composite_key_is_found_in_the_identity_map(world, db):
    """A membership's key is (group, user): the object the session holds is the one returned, and a new one
    is identified by both columns."""
    from rtmhub.domain.directory.models import DirectoryGroup, DirectoryGroupMember

    with db.unit_of_work() as s:
        group = DirectoryGroup(customer_id=world.raw["ca"], display_name="Myynti", display_key="myynti")
        s.add(group)
        s.flush()
        s.add(DirectoryGroupMember(group_id=group.id, user_id=world.raw["ua"]))
        group_id = group.id
    members = DriverEntities(select(DirectoryGroupMember).where(DirectoryGroupMember.group_id == bindparam("g")),
                             DirectoryGroupMember)
    with db.unit_of_work(write=False) as s:
        held = s.get(DirectoryGroupMember, (group_id, world.raw["ua"]))
        assert members.first(s, {"g": group_id}) == (held,)
    with db.unit_of_work(write=False) as s:
        (found,) = members.first(s, {"g": group_id})
        assert (found.group_id, found.user_id) == (group_id, world.raw["ua"])
        assert s.get(DirectoryGroupMember, (group_id, world.raw["ua"])) is found
        assert found.joined.tzinfo is not None
