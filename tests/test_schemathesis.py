"""Schemathesis 4 over every operation of OUR OpenAPI (/openapi.json), in process through ASGI.

Authenticated as partner A's full administrator, with the world loaded (so lists return real rows). Bounded: 25 generated cases per operation, examples + fuzzing phases only.
Checks: no 5xx, responses match the declared schema, status codes, content types and headers are declared,
and schema-invalid requests are rejected (positive and negative generation).
Runs on SQLite only (the API layer is the same on both databases; PostgreSQL would double the time).
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import skip_or_fail

# negative_data_rejection covers the two stock-FastAPI failures TOOLING.md names (lax `false` → 0 coercion,
# undocumented 400 for an unparseable body). positive_data_acceptance is left out on purpose: it counts every
# semantic 400 (empty names, unknown provisioningId, bad time strings...) as a failure, and upstream rejects those too.
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance,
          response_headers_conformance, negative_data_rejection]


def _upstream_check():
    """Our OpenAPI declares no 2xx body schemas, so every JSON body is also checked against the UPSTREAM
    component of its operation (and errors against the ErrorResponse shape), as in test_contract.py."""
    from tests.test_contract import GENERIC_ERROR, LOCATION, LOCATIONS, upstream_validator

    validate = upstream_validator()
    if validate is None:
        return []
    components = {
        ("GET", "/v1/wholesale/customers"): "CustomerListResponse",
        ("GET", "/v1/wholesale/customers/{customerId}"): "Customer",
        ("POST", "/v1/wholesale/customers"): "ResourceURL",
        ("PUT", "/v1/wholesale/customers/{customerId}"): "ResourceURL",
        ("POST", "/v1/wholesale/customers/validate"): "CustomerProvisioningPrecheckResponse",
        ("GET", "/v1/wholesale/subscribers"): "SubscriberListResponse",
        ("GET", "/v1/wholesale/subscribers/{subscriberId}"): "Subscriber",
        ("POST", "/v1/wholesale/subscribers"): "Subscriber",
        ("PUT", "/v1/wholesale/subscribers/{subscriberId}"): "Subscriber",
        ("GET", "/v1/wholesale/subPartners"): "SubPartnersListResponse",
        ("GET", "/v1/wholesale/billing/reports"): "WholesaleBillingReportsListResponse",
        ("POST", "/v1/wholesale/billing/reports"): "ReportId",
        ("GET", "/v1/wholesale/billing/reports/{id}"): "Report",
        ("GET", "/v1/people"): "PersonCollectionResponse",
        ("GET", "/v1/people/{personId}"): "Person",
        ("POST", "/v1/people"): "Person",
        ("PUT", "/v1/people/{personId}"): "Person",
        ("GET", "/v1/licenses"): "LicenseCollectionResponse",
        ("GET", "/v1/licenses/{licenseId}"): "LicensewithUsers",
        ("PATCH", "/v1/licenses/users"): "UserLicensesResponse",
        ("GET", "/v1/organizations"): "OrganizationCollectionResponse",
        ("GET", "/v1/organizations/{orgId}"): "Organization",
        ("GET", "/v1/locations"): LOCATIONS,
        ("GET", "/v1/locations/{locationId}"): LOCATION,
    }

    def upstream_schema_conformance(ctx, response, case):
        ctype = next((v[0] for k, v in response.headers.items() if k.lower() == "content-type" and v), "")
        if not response.content or "json" not in ctype:
            return None
        body = response.json()
        if response.status_code >= 400:
            validate(body, GENERIC_ERROR)
        elif (case.method.upper(), case.path) in components:
            validate(body, components[(case.method.upper(), case.path)])
        return None

    return [upstream_schema_conformance]


CHECKS += _upstream_check()
CONFIG = {
    "phases": {"examples": {"enabled": True}, "fuzzing": {"enabled": True},
               "coverage": {"enabled": False}, "stateful": {"enabled": False}},
    "generation": {"max-examples": 25, "mode": "all"},
}




def _schema():
    """The document comes from an app on a throwaway in-memory database (building /openapi.json touches no
    table); each case is then sent to the test's own `app` (ASGI, in process), which holds the world.
    (`schemathesis.pytest.from_fixture` would be the natural fit, but schemathesis 4.32 sets
    `Function._nodeid`, which pytest 9.2 no longer has.)"""
    from rtmhub.app import create_app
    from rtmhub.settings import Settings

    return schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(database_url="sqlite://", inprocess_worker=False)),
                                          config=schemathesis.Config.from_dict(CONFIG))


schema = _schema()


def test_upstream_schema_check_is_in_place():
    """Without the upstream file the upstream-schema check above is left out: say so (a failure in CI)."""
    from tests.test_contract import SPEC_PATH

    if not SPEC_PATH.exists():
        skip_or_fail(f"upstream contract not found at {SPEC_PATH}: test_api runs without the upstream-schema check")
    assert CHECKS[-1].__name__ == "upstream_schema_conformance"


# SQLite only: the HTTP layer under test is identical on PostgreSQL, which test_contract.py and test_sdks.py
# cover, and a second run would double this file's time.
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One app + world for the whole module (SQLite): building the world per operation would cost more than
    the fuzzing itself. State accumulates across operations, which only widens what the checks see."""
    from tests.conftest import build_world

    from rtmhub.app import create_app
    from rtmhub.db import Database
    from rtmhub.migrate import upgrade
    from rtmhub.settings import Settings

    url = f"sqlite:///{tmp_path_factory.mktemp('st') / 'rtmhub.db'}"
    upgrade(url)
    db = Database(url)
    world = build_world(db)
    yield create_app(Settings(database_url=url, inprocess_worker=False), database=db), world
    db.dispose()


@schema.parametrize()
@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_api(case, served):
    app, world = served
    case.call_and_validate(app=app, headers=world.auth("a_full"), checks=CHECKS)
