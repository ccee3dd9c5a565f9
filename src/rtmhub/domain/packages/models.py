"""The package catalogue (D1, D2, R4, R6, R7, facts section 5). Not a table: it is fixed by the contract."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PackageInfo:
    id: str
    display_name: str
    user_assignable: bool = False
    calling: bool = False
    meetings: bool = False
    limit_key: bool = False
    base_licence: bool = False


_CATALOGUE = [
    PackageInfo("webex_calling", "Webex Calling", True, True, True, True),
    PackageInfo("webex_calling_standard", "Webex Calling Standard", True, True, True, True),
    PackageInfo("webex_suite", "Webex Suite", True, True, True, True),
    PackageInfo("webex_voice", "Webex Voice", True, True, False, True),
    PackageInfo("webex_meetings", "Webex Meetings", True, False, True, True),
    PackageInfo("cx_essentials", "Customer Assist", True, True, True, True),
    PackageInfo("common_area_calling", "Webex Common Area Calling", limit_key=True),
    PackageInfo("attendant_console", "Attendant Console", limit_key=True),
    PackageInfo("cisco_calling_plan", "Cisco Calling Plan"),
    PackageInfo("cx_premium_agent", "Contact Center Premium Agent"),
    PackageInfo("cx_standard_agent", "Contact Center Standard Agent"),
    PackageInfo("cx_voice_ports", "Contact Center Voice Ports"),
    PackageInfo("cx_ai_assistant", "Contact Center AI Assistant"),
    PackageInfo("webex_ai_agent", "Webex AI Agent"),
    PackageInfo("basic_messaging", "Basic Messaging", base_licence=True),
    PackageInfo("basic_space_meetings", "Basic Space Meetings", base_licence=True),
    PackageInfo("call_on_webex", "Call on Webex (1:1 call, non-PSTN)", base_licence=True),
]

PACKAGES: dict[str, PackageInfo] = {p.id: p for p in _CATALOGUE}
USER_PACKAGES: tuple[str, ...] = tuple(p.id for p in _CATALOGUE if p.user_assignable)
CALLING_PACKAGES: frozenset[str] = frozenset(p.id for p in _CATALOGUE if p.calling)
CUSTOMER_PACKAGES: tuple[str, ...] = tuple(p.id for p in _CATALOGUE if not p.base_licence)
LIMIT_KEYS: tuple[str, ...] = tuple(p.id for p in _CATALOGUE if p.limit_key)
BASE_LICENCES: tuple[str, ...] = tuple(p.id for p in _CATALOGUE if p.base_licence)
# Upstream subscriber enum values that rtmhub does not let a user hold (D1).
SUBSCRIBER_ONLY_UPSTREAM: tuple[str, ...] = ("attendant_console", "cx_premium_agent", "cx_standard_agent")

# R6, R7: customer-level package -> at least one of these must be on the same customer.
DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "cisco_calling_plan": (
        "common_area_calling", "webex_calling", "webex_suite", "webex_voice", "cx_essentials",
        "webex_calling_standard",
    ),
    "attendant_console": ("webex_calling", "webex_suite", "cx_essentials"),
}


# R8: package changes upstream refuses (old, new) -> its error code (facts 6c). Calling Professional is
# `webex_calling`, Customer Assist (CX Essentials) is `cx_essentials`.
REFUSED_CHANGES: dict[tuple[str, str], int] = {
    ("webex_calling", "webex_calling_standard"): 400112,
    ("cx_essentials", "webex_calling_standard"): 400410,
}
# R8: user packages upstream refuses to hold together, with their own code rather than R1's generic 400413.
# Attendant Console's pairs (400406, 400408) cannot arise: no user holds it here (D1, decision "## 26.").
EXCLUSIVE_PAIRS: dict[frozenset[str], int] = {
    frozenset({"webex_calling", "webex_calling_standard"}): 400404,
    frozenset({"webex_calling_standard", "cx_essentials"}): 400407,
}


def display_name(package: str) -> str:
    info = PACKAGES.get(package)
    return info.display_name if info else package
