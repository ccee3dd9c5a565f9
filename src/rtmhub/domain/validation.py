"""Formats shared by every concept: names, e-mail, numbers, extensions, languages, time zones.

Each check returns the normalised value or raises/records a message that says how to fix it.
"""
from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumber, ValidationResult
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

try:  # parse's own private steps (so the fast path follows the installed version); absent: the full parse
    from phonenumbers.phonenumberutil import (
        _MAX_INPUT_STRING_LENGTH,
        _MAX_LENGTH_FOR_NSN,
        _MIN_LENGTH_FOR_NSN,
        _extract_country_code,
        _maybe_strip_national_prefix_carrier_code,
        _set_italian_leading_zeros_for_phone_number,
        _test_number_length,
    )
    _FAST_PARSE = callable(getattr(PhoneMetadata, "metadata_for_region_or_calling_code", None))
except ImportError:
    _FAST_PARSE = False

from rtmhub.errors import FieldProblems, ValidationFailed, msg

# What the validity test reads of phonenumbers (public names; absent in some version: its own test is used).
_COUNTRY_CODE_TO_REGION_CODE = getattr(phonenumbers, "COUNTRY_CODE_TO_REGION_CODE", None) or {}
_NON_GEO = getattr(phonenumbers, "REGION_CODE_FOR_NON_GEO_ENTITY", "001")
_FAST_VALIDITY = bool(_COUNTRY_CODE_TO_REGION_CODE) and all(
    callable(getattr(owner, name, None)) for owner, name in (
        (phonenumbers, "national_significant_number"), (phonenumbers, "country_code_for_valid_region"),
        (PhoneMetadata, "metadata_for_region"), (PhoneMetadata, "metadata_for_region_or_calling_code")))

NAME_BANNED = set('%#<>\\/"')  # R34, D9
EMAIL_MAX = 161  # R35
CALLER_ID_NAME_MAX = 30  # D9
EXTENSION_RE = re.compile(r"^[0-9]{2,10}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LANGUAGE_RE = re.compile(r"^[a-z]{2}([_-][A-Za-z]{2})?$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_TIMEZONES: frozenset[str] | None = None
_PHONE_SPACING = re.compile(r"[\s\-]")
_PHONE_DIGITS = re.compile(r"\+?[0-9]+")
_PLUS_ASCII_DIGITS = re.compile(r"\+[0-9]*")


def normalise_email(value: str) -> str:
    problems = FieldProblems()
    result = check_email(problems, "email", value)
    problems.raise_if_any()
    return result or ""


def check_email(problems: FieldProblems, field: str, value: str | None) -> str | None:
    if value is None or not str(value).strip():
        problems.add(field, msg("{field}: an e-mail address is required.", field=field))
        return None
    text = str(value).strip()
    if len(text) > EMAIL_MAX:
        problems.add(field, msg("{field}: '{value}…' is longer than {max} characters.", field=field, value=text[:40],
                                max=EMAIL_MAX), 4900)
        return None
    if text.count("@") != 1:
        code = 4802 if "@" not in text else 4803
        problems.add(field, msg("{field}: '{value}' must contain exactly one '@' (username@domain).", field=field,
                                value=text), code)
        return None
    try:
        return validated_email(text)
    except EmailNotValidError as exc:
        problems.add(field, msg("{field}: '{value}' is not a valid e-mail address ({reason}).", field=field,
                                value=text, reason=exc), 4801)
        return None


# An unquoted ASCII local part (RFC 5322 dot-atom): the local part of nearly every address in a file.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
LOCAL_PART_MAX = 64  # RFC 5321, as email-validator checks it


def validated_email(text: str) -> str:
    """email-validator's normalised address, or its EmailNotValidError. A file of 50,000 addresses has a
    handful of domains: each ASCII domain is validated once (cached), and a plain ASCII local part needs no
    more than the dot-atom pattern. Everything else (quoted or non-ASCII local parts, international domains,
    any invalid domain, so that the reason is email-validator's own) takes email-validator's full path. A
    property-based test holds the two paths to the same verdicts and results."""
    local, _, domain = text.partition("@")
    if (len(text) <= EMAIL_MAX and len(local) <= LOCAL_PART_MAX and domain.isascii()
            and _PLAIN_LOCAL.fullmatch(local)):
        normalised_domain = _ascii_domain(domain)
        if normalised_domain is not None:
            return f"{local}@{normalised_domain}"
    return validate_email(text, check_deliverability=False, allow_smtputf8=True).normalized


@lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str | None:
    """The normalised domain when ``domain`` is valid in an address with a plain local part, else None."""
    try:
        return validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=True).domain
    except EmailNotValidError:
        return None


def check_name(problems: FieldProblems, field: str, value: str | None, max_len: int = 64,
               required: bool = False) -> str | None:
    if value is None or not str(value).strip():
        if required:
            problems.add(field, msg("{field} is required.", field=field))
        return None
    text = str(value).strip()
    # The disjointness test first: a name with no banned character (nearly every name) is not walked by
    # character.
    banned = [] if NAME_BANNED.isdisjoint(text) else sorted({c for c in text if c in NAME_BANNED})
    if banned:
        problems.add(field, msg("{field} '{value}' must not contain {chars} (not allowed: % # < > \\ / \").",
                                field=field, value=text, chars=" ".join(banned)))
    elif _CONTROL.search(text):
        problems.add(field, msg("{field} must not contain control characters.", field=field))
    elif len(text) > max_len:
        problems.add(field, msg("{field} '{value}' is longer than {max} characters.", field=field, value=text[:40],
                                max=max_len))
    else:
        return text
    return None


def check_text(problems: FieldProblems, field: str, value: str | None, max_len: int) -> str | None:
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if len(text) > max_len:
        problems.add(field, msg("{field} is longer than {max} characters.", field=field, max=max_len))
        return None
    if _CONTROL.search(text):
        problems.add(field, msg("{field} must not contain control characters.", field=field))
        return None
    return text


def check_e164(problems: FieldProblems, field: str, value: str | None) -> str | None:
    """A number in E.164 form. A number without its '+' is refused with the likely fix (never guessed)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    compact = _PHONE_SPACING.sub("", text)
    if not _PHONE_DIGITS.fullmatch(compact) or "+" in text[1:]:
        problems.add(field, msg("{field} '{value}' may only contain digits, '-' and a leading '+'.", field=field,
                                value=text), 4410)
        return None
    if not compact.startswith("+"):
        if _plausible_without_plus(compact):
            problems.add(field, msg("{field} '{value}' must be in E.164 form with a leading '+' and country code. "
                                    "Did you mean '{suggestion}'?", field=field, value=text,
                                    suggestion="+" + compact), 4410)
        else:
            problems.add(field, msg("{field} '{value}' must be in E.164 form with a leading '+' and country code.",
                                    field=field, value=text), 4410)
        return None
    formatted = e164_of(compact)
    if formatted is None:
        problems.add(field, msg("{field} '{value}' is not a valid E.164 phone number (e.g. +358401234567).",
                                field=field, value=text), 4410)
        return None
    return formatted


# phonenumbers' parse and validity check are the dearest step of a calling user's row; the verdict is a pure
# function of the compact text, so a worker that previews a file and then imports it (or a revert that meets
# the same numbers again) parses each distinct number once. Bounded: about 10 MB at its fullest.
@lru_cache(maxsize=65536)
def e164_of(compact: str) -> str | None:
    """The E.164 form of ``compact`` (digits after a '+'), or None when phonenumbers finds it invalid."""
    try:
        parsed = parse_plus_digits(compact)
    except NumberParseException:
        return None
    if not is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_valid_number(number: PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number(number)``, the same verdict at about a third of its cost.

    phonenumbers finds the region of a shared country code (+1, +7, +44, +358 …) by testing the number's type
    for each region in turn, and then tests the type again for its verdict; each test asks up to ten patterns
    one after the other, each through its own possible-length check and a compile-cache look-up. Here the
    verdict's steps are phonenumbers' own, in its order, and a region's type patterns for one length are one
    compiled alternation (``_type_patterns``). A property test holds it to phonenumbers for every example number
    phonenumbers ships and random digits."""
    if not _FAST_VALIDITY:
        return phonenumbers.is_valid_number(number)
    country_code = number.country_code
    regions = _COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if country_code is None or regions is None:
        return False
    nsn = phonenumbers.national_significant_number(number)
    if len(regions) == 1:
        return _valid_for_region(country_code, nsn, regions[0])
    for region in regions:  # as region_code_for_number: leading digits decide, else the number's type
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if _pattern(metadata.leading_digits).match(nsn):
                return _valid_for_region(country_code, nsn, region)
        elif _has_a_type(nsn, region, metadata):
            return _valid_for_region(country_code, nsn, region)
    return False


def _valid_for_region(country_code: int, nsn: str, region: str) -> bool:
    """``phonenumbers.is_valid_number_for_region``, its type test answered by ``_has_a_type``."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
    if metadata is None or (region != _NON_GEO and country_code != phonenumbers.country_code_for_valid_region(region)):
        return False
    return _has_a_type(nsn, region, metadata)


def _has_a_type(nsn: str, region: str, metadata: PhoneMetadata) -> bool:
    """phonenumbers' number type of ``nsn`` is not UNKNOWN: the general pattern matches, and so does one of the
    type patterns it tries (mobile only when its pattern is not the fixed line's)."""
    key = (region, metadata.country_code, len(nsn))
    patterns = _TYPE_PATTERNS.get(key)
    if patterns is None:
        patterns = _TYPE_PATTERNS[key] = _type_patterns(metadata, len(nsn))
    general, types = patterns
    return (general is not None and types is not None and general.fullmatch(nsn) is not None
            and types.fullmatch(nsn) is not None)


# The descriptions phonenumbers' number-type test tries after the general one, in its order.
_TYPE_DESCRIPTIONS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
                      "voicemail", "fixed_line")
_TYPE_PATTERNS: dict[tuple[str, int | None, int], tuple[re.Pattern[str] | None, re.Pattern[str] | None]] = {}
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(text: str) -> re.Pattern[str]:
    pattern = _PATTERNS.get(text)
    if pattern is None:
        pattern = _PATTERNS[text] = re.compile(text)
    return pattern


def _type_patterns(metadata: PhoneMetadata, length: int) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """For numbers of ``length`` digits: the general pattern, and every type pattern phonenumbers would try as
    one alternation; None where no description admits that length (phonenumbers: no match)."""
    def admits(description: PhoneNumberDesc | None) -> str | None:
        if description is None or not description.national_number_pattern:
            return None
        if description.possible_length and length not in description.possible_length:
            return None
        return description.national_number_pattern

    general = admits(metadata.general_desc)
    names = list(_TYPE_DESCRIPTIONS) + ([] if metadata.same_mobile_and_fixed_line_pattern else ["mobile"])
    texts = [text for name in names if (text := admits(getattr(metadata, name))) is not None]
    return (_pattern(general) if general is not None else None,
            re.compile("|".join(f"(?:{text})" for text in texts)) if texts else None)


_SHORT_RANGES = (ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY, ValidationResult.INVALID_LENGTH)


def parse_plus_digits(compact: str) -> PhoneNumber:
    """``phonenumbers.parse(compact, None)``: the same PhoneNumber, or NumberParseException of the same type.

    Most of parse's ~11 µs is for free text (RFC 3966, leading junk, extensions, unicode digits, vanity
    letters), none of which a '+' and ASCII digits can hold. For that text alone this takes parse's remaining
    steps in parse's order, with phonenumbers' own helpers; any other text (or an older phonenumbers without
    those helpers) goes to parse itself. A property test holds the two to the same result."""
    if not _FAST_PARSE or not _PLUS_ASCII_DIGITS.fullmatch(compact):
        return phonenumbers.parse(compact, None)
    if len(compact) > _MAX_INPUT_STRING_LENGTH:
        raise _refused(NumberParseException.TOO_LONG)
    digits = compact[1:]
    if len(digits) <= _MIN_LENGTH_FOR_NSN:  # parse's viability test wants 3 digits after a '+'
        raise _refused(NumberParseException.NOT_A_NUMBER)
    country_code, national = _extract_country_code(digits)
    if country_code == 0:  # unknown, or starts with 0: parse retries without the '+' and gives up
        raise _refused(NumberParseException.INVALID_COUNTRY_CODE)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, phonenumbers.region_code_for_country_code(country_code))
    if metadata is None:  # parse asserts here; let it
        return phonenumbers.parse(compact, None)
    if len(national) < _MIN_LENGTH_FOR_NSN:
        raise _refused(NumberParseException.TOO_SHORT_NSN)
    # A national prefix written after the country code (+44 0 20…) is dropped unless that leaves too short
    # a number for the region: as parse does.
    _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
    if _test_number_length(stripped, metadata) not in _SHORT_RANGES:
        national = stripped
    if len(national) < _MIN_LENGTH_FOR_NSN:  # parse's own check, which its data never meets (no cover there)
        raise _refused(NumberParseException.TOO_SHORT_NSN)
    if len(national) > _MAX_LENGTH_FOR_NSN:
        raise _refused(NumberParseException.TOO_LONG)
    parsed = PhoneNumber(country_code=country_code)
    _set_italian_leading_zeros_for_phone_number(national, parsed)  # +39 06…: the 0 is part of the number
    parsed.national_number = int(national)
    return parsed


# What parse_plus_digits refuses with, by parse's error type. The type is what parse would answer (the tests
# compare it); no caller reads the text, which says it for a person reading a log.
_REFUSALS = {
    NumberParseException.TOO_LONG: "The number has too many digits.",
    NumberParseException.NOT_A_NUMBER: "A '+' needs at least three digits after it.",
    NumberParseException.INVALID_COUNTRY_CODE: "The digits after the '+' do not start with a country code.",
    NumberParseException.TOO_SHORT_NSN: "The number is too short after its country code.",
}


def _refused(error_type: int) -> NumberParseException:
    return NumberParseException(error_type, _REFUSALS[error_type])


def _plausible_without_plus(compact: str) -> bool:
    """Digits that are a valid number once a '+' is put before them (a number a spreadsheet took the '+' of)."""
    return e164_of("+" + compact) is not None


def check_extension(problems: FieldProblems, field: str, value: str | None) -> str | None:
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if not EXTENSION_RE.match(text):
        problems.add(field, msg("{field} '{value}' must be 2 to 10 digits.", field=field, value=text), 4909)
        return None
    return text


def check_language(problems: FieldProblems, field: str, value: str | None, required: bool = False) -> str | None:
    if value is None or not str(value).strip():
        if required:
            problems.add(field, msg("{field} is required (e.g. 'en' or 'fi_FI').", field=field))
        return None
    text = str(value).strip()
    if not LANGUAGE_RE.match(text):
        problems.add(field, msg("{field} '{value}' must be a language code like 'en', 'fi' or 'en_us'.", field=field,
                                value=text))
        return None
    return text


def check_country(problems: FieldProblems, field: str, value: str | None) -> str | None:
    text = (value or "").strip()
    if not COUNTRY_RE.match(text):
        problems.add(field,
                     msg("{field} '{value}' must be a two-letter ISO 3166 country code in capitals, e.g. 'FI'.",
                         field=field, value=text))
        return None
    return text


def check_timezone(problems: FieldProblems, field: str, value: str | None, required: bool = False) -> str | None:
    global _TIMEZONES
    if value is None or not str(value).strip():
        if required:
            problems.add(field, msg("{field} is required (an IANA time zone such as 'Europe/Helsinki').", field=field))
        return None
    if _TIMEZONES is None:
        _TIMEZONES = frozenset(available_timezones())
    text = str(value).strip()
    if text not in _TIMEZONES:
        problems.add(field,
                     msg("{field} '{value}' is not a known time zone; use an IANA name such as 'Europe/Helsinki'.",
                         field=field, value=text))
        return None
    return text


def require(problems: FieldProblems, field: str, value: str | None, max_len: int = 255) -> str | None:
    if value is None or not str(value).strip():
        problems.add(field, msg("{field} is required.", field=field))
        return None
    return check_text(problems, field, value, max_len)


__all__ = [
    "FieldProblems", "ValidationFailed", "check_country", "check_e164", "check_email", "check_extension",
    "check_language", "check_name", "check_text", "check_timezone", "normalise_email", "require",
]
