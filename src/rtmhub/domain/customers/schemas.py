"""Customer inputs in the upstream wholesale shape (field names of the contract)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    # Strict: a JSON `false` is not the number 0 and `"3"` is not 3. Unknown fields are ignored,
    # as upstream clients send more than they need to.
    model_config = ConfigDict(strict=True, extra="ignore")


class Address(_In):
    addressLine1: str = Field(max_length=50)
    addressLine2: str | None = Field(default=None, max_length=50)
    city: str = Field(max_length=50)
    stateOrProvince: str | None = Field(default=None, max_length=50)
    zipOrPostalCode: str | None = Field(default=None, max_length=50)
    country: str = Field(max_length=2)


class CustomerInfo(_In):
    name: str = Field(max_length=255)
    primaryEmail: str = Field(max_length=161)
    language: str | None = Field(default=None, max_length=10)


class CustomerInfoPrecheck(_In):
    name: str | None = Field(default=None, max_length=255)
    primaryEmail: str = Field(max_length=161)
    language: str | None = Field(default=None, max_length=10)


class CallingLocation(_In):
    name: str = Field(max_length=256)
    address: Address
    timezone: str = Field(max_length=64)
    language: str = Field(max_length=10)
    emergencyLocationIdentifier: str | None = Field(default=None, max_length=64)


class CallingParameters(_In):
    location: CallingLocation


class MeetingsParameters(_In):
    timezone: str | None = Field(default=None, max_length=64)


class PackageLimits(_In):
    limits: dict[str, int | float] | None = None


class ProvisioningParameters(_In):
    calling: CallingParameters | None = None
    meetings: MeetingsParameters | None = None
    packages: PackageLimits | None = None


class CustomerCreate(_In):
    provisioningId: str = Field(max_length=64)
    packages: list[str] = Field(max_length=20)
    externalId: str = Field(max_length=255)
    address: Address
    orgId: str | None = Field(default=None, max_length=200)
    customerInfo: CustomerInfo | None = None
    provisioningParameters: ProvisioningParameters | None = None
    subPartnerAdminEmail: str | None = Field(default=None, max_length=161)


class CustomerUpdate(_In):
    packages: list[str] = Field(max_length=20)
    externalId: str | None = Field(default=None, max_length=255)
    address: Address | None = None
    provisioningParameters: ProvisioningParameters | None = None
    subPartnerAdminEmail: str | None = Field(default=None, max_length=161)


class CustomerPrecheck(_In):
    address: Address
    provisioningId: str | None = Field(default=None, max_length=64)
    packages: list[str] | None = Field(default=None, max_length=20)
    orgId: str | None = Field(default=None, max_length=200)
    externalId: str | None = Field(default=None, max_length=255)
    customerInfo: CustomerInfoPrecheck | None = None
    provisioningParameters: ProvisioningParameters | None = None


class CustomerFilter(BaseModel):
    external_id: str | None = None
    org_id: str | None = None
    statuses: list[str] | None = None
    search: str | None = None
