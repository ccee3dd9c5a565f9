"""The SCIM schemas rtmhub serves (what ``/Schemas`` publishes is exactly what the resources hold), the
resource types and the service provider configuration (RFC 7643 §5-7)."""
from __future__ import annotations

from typing import Any

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
WEBEX_USER = "urn:scim:schemas:extension:cisco:webexidentity:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
USER_URNS = (USER, ENTERPRISE, WEBEX_USER)
GROUP_URNS = (GROUP,)
MAX_BULK = 100
MAX_RESULTS = 1000
LANGUAGES = ("en", "en_US", "en_GB", "fi", "fi_FI", "sv", "sv_SE", "de", "de_DE", "fr", "fr_FR", "es", "es_ES",
             "nb", "da", "nl", "it", "pl", "pt", "ja", "zh_CN")
TIMEZONES = ("Europe/Helsinki", "Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen", "Europe/Berlin",
             "Europe/London", "Europe/Paris", "America/New_York", "America/Chicago", "America/Los_Angeles",
             "Asia/Tokyo", "Australia/Sydney", "UTC")


def attr(name: str, type_: str = "string", *, multi: bool = False, required: bool = False,
         mutability: str = "readWrite", returned: str = "default", uniqueness: str = "none",
         case_exact: bool = False, sub: list[dict] | None = None, canonical: tuple[str, ...] | None = None,
         refs: list[str] | None = None, description: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "type": type_, "multiValued": multi, "description": description or name,
                            "required": required, "caseExact": case_exact, "mutability": mutability,
                            "returned": returned, "uniqueness": uniqueness}
    if sub is not None:
        data["subAttributes"] = sub
    if canonical:
        data["canonicalValues"] = list(canonical)
    if refs:
        data["referenceTypes"] = refs
    return data


def _multi(value_description: str, types: tuple[str, ...], required: bool = False) -> list[dict]:
    return [attr("value", required=required, description=value_description),
            attr("type", canonical=types),
            attr("primary", "boolean")]


USER_ATTRIBUTES = [
    attr("userName", required=True, uniqueness="server",
         description="Unique identifier; an e-mail address (the user's e-mail) unless emails gives one."),
    attr("name", "complex", sub=[attr("givenName"), attr("familyName")]),
    attr("displayName"),
    attr("title"),
    attr("preferredLanguage", canonical=LANGUAGES),
    attr("timezone", canonical=TIMEZONES),
    attr("active", "boolean", description="false: a soft delete; the user keeps its package until deleted."),
    attr("emails", "complex", multi=True, required=True,
         description="E-mail addresses; required unless userName is the user's e-mail address.",
         sub=_multi("E-mail address", ("work", "home", "other"), required=True)),
    attr("phoneNumbers", "complex", multi=True,
         sub=_multi("Phone number; a work number in E.164 form is the user's calling number",
                    ("work", "mobile", "home", "work_extension", "fax", "other"))),
]
ENTERPRISE_ATTRIBUTES = [
    attr("department"),
    attr("manager", "complex", sub=[
        attr("value", description="The id of the manager, a user of the same organisation."),
        attr("$ref", "reference", refs=["User"]),
    ]),
]
WEBEX_USER_ATTRIBUTES = [
    attr("accountStatus", multi=True, mutability="readOnly",
         canonical=("active", "pending", "disabled")),
]
GROUP_ATTRIBUTES = [
    attr("displayName", required=True, uniqueness="server"),
    attr("members", "complex", multi=True, sub=[
        attr("value", mutability="immutable", case_exact=True),
        attr("$ref", "reference", mutability="immutable", refs=["User"]),
        attr("type", mutability="immutable", canonical=("User",)),
    ]),
]

_SCHEMAS = {
    USER: ("User", "User Account", USER_ATTRIBUTES),
    ENTERPRISE: ("EnterpriseUser", "Enterprise User", ENTERPRISE_ATTRIBUTES),
    WEBEX_USER: ("WebexUser", "Webex user extension: returned when asked for with attributes=" + WEBEX_USER,
                 WEBEX_USER_ATTRIBUTES),
    GROUP: ("Group", "Group", GROUP_ATTRIBUTES),
}


def schema_docs(base: str) -> list[dict]:
    return [{"schemas": [SCHEMA], "id": urn, "name": name, "description": description, "attributes": attributes,
             "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{urn}"}}
            for urn, (name, description, attributes) in _SCHEMAS.items()]


def resource_type_docs(base: str) -> list[dict]:
    return [
        {"schemas": [RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users",
         "description": "User Account", "schema": USER,
         "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
         "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"}},
        {"schemas": [RESOURCE_TYPE], "id": "Group", "name": "Group", "endpoint": "/Groups",
         "description": "Group", "schema": GROUP, "schemaExtensions": [],
         "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"}},
    ]


def service_provider_config(base: str, max_payload: int) -> dict:
    return {
        "schemas": [SPC],
        "documentationUri": "https://github.com/rtmhub/rtmhub#directory-sync-scim",
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": MAX_BULK, "maxPayloadSize": max_payload},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": True,
                                   "description": "A bearer token with the scope identity:people_rw "
                                                  "(identity:people_read reads only)."}],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"},
    }


def attribute_index(urn: str) -> dict[str, dict]:
    """Lower-cased attribute name → its definition, for one schema."""
    return {a["name"].lower(): a for a in _SCHEMAS[urn][2]}
