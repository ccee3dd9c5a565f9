from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class LocationAddress(_In):
    address1: str = Field(max_length=255)
    address2: str | None = Field(default=None, max_length=255)
    city: str = Field(max_length=255)
    state: str | None = Field(default=None, max_length=255)
    postalCode: str | None = Field(default=None, max_length=32)
    country: str = Field(max_length=2)


class LocationCreate(_In):
    name: str = Field(max_length=256)
    timeZone: str = Field(max_length=64)
    preferredLanguage: str = Field(max_length=10)
    announcementLanguage: str = Field(max_length=10)
    address: LocationAddress
    latitude: str | None = Field(default=None, max_length=32)
    longitude: str | None = Field(default=None, max_length=32)
    notes: str | None = Field(default=None, max_length=1024)


class LocationUpdate(_In):
    name: str | None = Field(default=None, max_length=256)
    timeZone: str | None = Field(default=None, max_length=64)
    preferredLanguage: str | None = Field(default=None, max_length=10)
    announcementLanguage: str | None = Field(default=None, max_length=10)
    address: LocationAddress | None = None
    latitude: str | None = Field(default=None, max_length=32)
    longitude: str | None = Field(default=None, max_length=32)
    notes: str | None = Field(default=None, max_length=1024)
