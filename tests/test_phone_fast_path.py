"""The phone fast path (a '+' and ASCII digits built into a PhoneNumber without phonenumbers' free-text parse,
and its validity told by ``validation.is_valid_number``) gives exactly phonenumbers' own answers: the same
PhoneNumber or the same parse error, the same validity, and so the same E.164 form or refusal, for random
digits, real country codes and every example number phonenumbers ships."""
from __future__ import annotations

from collections.abc import Iterator

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata

from rtmhub.domain import validation
from rtmhub.domain.validation import parse_plus_digits

fast_e164 = validation.e164_of.__wrapped__  # the function behind the cache


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    """Every test works its patterns and verdicts out afresh: caches an earlier test (or run) filled would
    otherwise answer for the code under test."""
    validation._TYPE_PATTERNS.clear()
    validation._PATTERNS.clear()
    validation.e164_of.cache_clear()


def reference_parse(text: str) -> object:
    try:
        return phonenumbers.parse(text, None)
    except NumberParseException as exc:
        return ("raised", exc.error_type)


def fast_parse(text: str) -> object:
    try:
        return parse_plus_digits(text)
    except NumberParseException as exc:
        return ("raised", exc.error_type)


def reference_e164(text: str) -> str | None:
    """What e164_of answered before the fast path: phonenumbers' full parse, validity check and format."""
    try:
        parsed = phonenumbers.parse(text, None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


def assert_same(text: str) -> None:
    parsed = reference_parse(text)
    assert fast_parse(text) == parsed, text
    if isinstance(parsed, phonenumbers.PhoneNumber):
        assert validation.is_valid_number(parsed) == phonenumbers.is_valid_number(parsed), text
    assert fast_e164(text) == reference_e164(text), text


def test_fast_path_is_in_use(monkeypatch) -> None:
    """Otherwise every test below would compare phonenumbers.parse with itself: '+digits' numbers of each kind
    (one region, a shared country code, a national prefix written after the code, Italian zeros, a
    non-geographic code) and the refusals are answered with phonenumbers' general parse switched off."""
    assert validation._FAST_PARSE
    texts = ["+358501234567", "+12125550123", "+4402079460000", "+390612345678", "+80012345678", "+3585",
             "+12", "+0123456789", "+99912345678"]
    expected = [reference_parse(text) for text in texts]

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the general parse was asked")

    monkeypatch.setattr(validation.phonenumbers, "parse", refuse)
    assert [fast_parse(text) for text in texts] == expected


def test_validity_fast_path_is_in_use(monkeypatch) -> None:
    """The validity of numbers of one region, of a shared country code decided by leading digits (+44 for
    Jersey, +358 18 for Åland) or by type (+1, +7), with Italian zeros, non-geographic and invalid ones, is
    answered with phonenumbers' own validity test switched off."""
    assert validation._FAST_VALIDITY
    texts = ["+358501234567", "+358181234567", "+3589123", "+12125550123", "+16135550123", "+12005550123",
             "+447700900123", "+447797123456", "+390612345678", "+79161234567", "+77012345678", "+80012345678",
             "+4420794600001"]
    numbers = [phonenumbers.parse(text, None) for text in texts]
    expected = [phonenumbers.is_valid_number(number) for number in numbers]
    assert True in expected and False in expected

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("phonenumbers' validity test was asked")

    monkeypatch.setattr(validation.phonenumbers, "is_valid_number", refuse)
    assert [validation.is_valid_number(number) for number in numbers] == expected


COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
# National prefixes and trunk digits written after the country code, Italian zeros, and nothing.
PREFIXES = ["", "", "0", "00", "000", "8", "1", "01", "06", "15", "9", "80"]


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.from_regex(r"\+[0-9]{0,20}", fullmatch=True))
@example(text="+")
@example(text="+1")
@example(text="+12")
@example(text="+0")
@example(text="+0123456789")
@example(text="+999123456")
def test_random_digits(text: str) -> None:
    assert_same(text)


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=st.sampled_from(COUNTRY_CODES), prefix=st.sampled_from(PREFIXES),
       digits=st.text("0123456789", min_size=1, max_size=17))
@example(code=39, prefix="06", digits="12345678")
@example(code=44, prefix="0", digits="2079460000")
@example(code=7, prefix="8", digits="9161234567")
@example(code=1, prefix="1", digits="2125551234")
@example(code=358, prefix="0", digits="501234567")
def test_real_country_codes(code: int, prefix: str, digits: str) -> None:
    assert_same(f"+{code}{prefix}{digits}")


def _variants(number: phonenumbers.PhoneNumber) -> Iterator[str]:
    """The example number in E.164 form, one digit longer and shorter, and written with the national number
    as dialled at home (its national prefix, carrier codes, Argentina's 15) after the country code."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    cc = str(number.country_code)
    yield from (e164, e164 + "5", e164 + "0", e164[:-1])
    national = phonenumbers.normalize_digits_only(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
    yield f"+{cc}{national}"
    region = phonenumbers.region_code_for_country_code(number.country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(number.country_code, region)
    nsn = e164[1 + len(cc):]
    if metadata is not None and metadata.national_prefix:
        yield f"+{cc}{metadata.national_prefix}{nsn}"
    yield from (f"+{cc}0{nsn}", f"+{cc}00{nsn}")


def test_every_example_number() -> None:
    seen = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for numtype in PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, numtype)
            if number is not None:
                for text in _variants(number):
                    assert_same(text)
                    seen += 1
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            for text in _variants(number):
                assert_same(text)
                seen += 1
    assert seen > 5000


def test_chosen_edges() -> None:
    texts = [
        "+", "+1", "+12", "+123", "+0", "+00", "+000", "+0123456789", "+999", "+999123456",
        # Italy: leading zeros belong to the number, however many.
        "+390612345678", "+39061234567", "+3906", "+39000", "+390001234", "+3900000000", "+39312345678",
        "+3903123456789",
        # National prefixes written after the country code.
        "+4402079460000", "+442079460000", "+44020", "+89161234567", "+79161234567", "+789161234567",
        "+112125551234", "+12125551234", "+1012125551234", "+3580501234567", "+358501234567", "+358401234567",
        "+4670123456", "+46070123456", "+5401115123456", "+54911123456", "+5491112345678", "+541115123456",
        # Lengths at and past the limits.
        "+358" + "1" * 17, "+358" + "1" * 18, "+1" + "2" * 17, "+1" + "2" * 18, "+80012345678",
        "+" + "9" * 249, "+" + "9" * 250, "+" + "1" * 251, "+" + "358" * 100,
    ]
    for text in texts:
        assert_same(text)


def test_other_text_takes_the_full_parse() -> None:
    for text in ["+358 50 1234567", "358501234567", "+\uff13\uff15\uff18501234567", "\uff0b358501234567",
                 "+358-50-1234567", "tel:+358501234567", "+358501234567 ext. 12", "", "++358501234567"]:
        assert fast_parse(text) == reference_parse(text), text
