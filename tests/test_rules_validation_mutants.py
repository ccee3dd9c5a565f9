"""The shared format checks (domain/validation.py), each branch observed: the value returned, the message
word for word and the error code by value. Pure functions: no database (the rules that call them are tested
through the API and the CSV files elsewhere). Written against `make mutation` (docs/testing.md)."""
from __future__ import annotations

import pytest

from rtmhub.domain import validation as v
from rtmhub.errors import FieldProblems, ValidationFailed


def run(check, *args, **kwargs):
    """(value returned, [(message, code, field)]) of one check."""
    problems = FieldProblems()
    value = check(problems, *args, **kwargs)
    return value, [(str(e.description), e.error_code, e.field) for e in problems.errors]


# ---- e-mail (R35) ------------------------------------------------------------------------------------------

DOMAIN_100 = "b" * 40 + "." + "c" * 40 + "." + "d" * 15 + ".fi"


def test_email_normalised_and_returned():
    assert run(v.check_email, "email", "  First.Last@Example.COM ") == ("First.Last@example.com", [])
    assert v.normalise_email("First.Last@Example.COM") == "First.Last@example.com"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_email_missing(value):
    assert run(v.check_email, "email", value) == (None, [("email: an e-mail address is required.", None, "email")])


def test_email_length_limit_161():
    at_limit = "a" * 60 + "@" + DOMAIN_100
    assert len(at_limit) == v.EMAIL_MAX == 161
    assert run(v.check_email, "email", at_limit) == (at_limit, [])
    over = "a" + at_limit
    assert run(v.check_email, "email", over) == (
        None, [(f"email: '{over[:40]}…' is longer than 161 characters.", 4900, "email")])


def test_email_at_signs_coded_by_count():
    assert run(v.check_email, "mail", "nobody.example.com") == (
        None, [("mail: 'nobody.example.com' must contain exactly one '@' (username@domain).", 4802, "mail")])
    assert run(v.check_email, "mail", "a@b@example.com") == (
        None, [("mail: 'a@b@example.com' must contain exactly one '@' (username@domain).", 4803, "mail")])


def test_email_invalid_domain_reason_given():
    value, problems = run(v.check_email, "email", "someone@-bad-.example")
    assert value is None
    [(text, code, field)] = problems
    assert (code, field) == (4801, "email")
    with pytest.raises(v.EmailNotValidError) as reason:  # email-validator's own reason is quoted
        v.validate_email("someone@-bad-.example", check_deliverability=False)
    assert text == f"email: 'someone@-bad-.example' is not a valid e-mail address ({reason.value})."
    assert str(reason.value) and str(reason.value) != "None"


def test_normalise_email_raises_with_the_message():
    with pytest.raises(ValidationFailed) as caught:
        v.normalise_email("nobody")
    assert str(caught.value) == "email: 'nobody' must contain exactly one '@' (username@domain)."
    assert [(e.error_code, e.field) for e in caught.value.errors] == [(4802, "email")]


def test_email_fast_path_is_taken_and_agrees():
    """A plain ASCII local part takes the cached-domain path (one domain validation per domain)."""
    v._ascii_domain.cache_clear()
    assert v.validated_email("x.y@Fast-Path.Example") == "x.y@fast-path.example"
    assert v.validated_email("z@Fast-Path.Example") == "z@fast-path.example"
    info = v._ascii_domain.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert v.validated_email("w@Other.Example") == "w@other.example"
    assert v._ascii_domain.cache_info().currsize == 2  # one entry per domain
    assert v._ascii_domain("Example.COM") == "example.com"
    assert v._ascii_domain("-bad-.example") is None
    # Non-ASCII and quoted local parts take email-validator's full path (which refuses quoting).
    v._ascii_domain.cache_clear()
    assert v.validated_email("åsa@example.com") == "åsa@example.com"
    with pytest.raises(v.EmailNotValidError):
        v.validated_email('"a b"@example.com')
    assert v._ascii_domain.cache_info().misses == 0


def test_email_fast_path_needs_a_plain_local_part():
    v._ascii_domain.cache_clear()
    long_local = "a" * 65 + "@example.com"
    assert v.validated_email(long_local) == long_local  # email-validator 2 checks the local length only when strict
    assert v._ascii_domain.cache_info().misses == 0
    with pytest.raises(v.EmailNotValidError):
        v.validated_email("a..b@example.com")
    assert v._ascii_domain.cache_info().misses == 0


def test_email_idn_domain():
    v._ascii_domain.cache_clear()
    assert v.validated_email("a@bücher.example") == "a@bücher.example"
    assert v._ascii_domain.cache_info().misses == 0


# ---- names (R34, D9) and text -----------------------------------------------------------------------------

def test_name_stripped_and_returned():
    assert run(v.check_name, "firstName", "  Matti ") == ("Matti", [])


@pytest.mark.parametrize("value", [None, "", "  "])
def test_name_missing(value):
    assert run(v.check_name, "firstName", value) == (None, [])
    assert run(v.check_name, "firstName", value, required=True) == (None, [("firstName is required.", None,
                                                                             "firstName")])


def test_name_banned_characters_listed_sorted():
    assert run(v.check_name, "lastName", "a/b%c#") == (None, [(
        "lastName 'a/b%c#' must not contain # % / (not allowed: % # < > \\ / \").", None, "lastName")])
    for char in '%#<>\\/"':
        value, problems = run(v.check_name, "n", f"x{char}y")
        assert value is None and problems[0][0].startswith(f"n 'x{char}y' must not contain {char} ")


@pytest.mark.parametrize("char", ["\x00", "\x1f", "\x7f", "\t", "\n"])
def test_name_control_characters(char):
    assert run(v.check_name, "displayName", f"Ma{char}tti") == (
        None, [("displayName must not contain control characters.", None, "displayName")])


def test_name_length_default_64_and_given():
    assert run(v.check_name, "n", "a" * 64) == ("a" * 64, [])
    assert run(v.check_name, "n", "a" * 65) == (None, [(f"n '{'a' * 40}' is longer than 64 characters.", None, "n")])
    assert run(v.check_name, "n", "a" * 30, max_len=30) == ("a" * 30, [])
    assert run(v.check_name, "n", "a" * 31, max_len=30) == (None, [(f"n '{'a' * 31}' is longer than 30 characters.",
                                                                    None, "n")])
    assert v.CALLER_ID_NAME_MAX == 30


def test_text_limits_and_control_characters():
    assert run(v.check_text, "t", None, 5) == (None, [])
    assert run(v.check_text, "t", "  ", 5) == (None, [])
    assert run(v.check_text, "t", " abcde ", 5) == ("abcde", [])
    assert run(v.check_text, "t", "abcdef", 5) == (None, [("t is longer than 5 characters.", None, "t")])
    assert run(v.check_text, "t", "a\x01b", 5) == (None, [("t must not contain control characters.", None, "t")])
    # Too long and with a control character: the length is said first (one message).
    assert run(v.check_text, "t", "a\x01bcdef", 5) == (None, [("t is longer than 5 characters.", None, "t")])


def test_require():
    assert run(v.require, "city", None) == (None, [("city is required.", None, "city")])
    assert run(v.require, "city", " ") == (None, [("city is required.", None, "city")])
    assert run(v.require, "city", " Oulu ") == ("Oulu", [])
    assert run(v.require, "city", "a" * 255) == ("a" * 255, [])
    assert run(v.require, "city", "a" * 256) == (None, [("city is longer than 255 characters.", None, "city")])
    assert run(v.require, "city", "abc", 2) == (None, [("city is longer than 2 characters.", None, "city")])


# ---- numbers and extensions -------------------------------------------------------------------------------

def test_e164_valid_number_normalised():
    assert run(v.check_e164, "phoneNumber", " +358 40-123 4567 ") == ("+358401234567", [])
    assert run(v.check_e164, "phoneNumber", None) == (None, [])
    assert run(v.check_e164, "phoneNumber", "  ") == (None, [])


def test_e164_parses_but_is_not_a_valid_number():
    """+3584012 parses (Finland, 5 digits) and is no number: refused by the validity check, not by parsing."""
    assert run(v.check_e164, "phoneNumber", "+3584012") == (None, [(
        "phoneNumber '+3584012' is not a valid E.164 phone number (e.g. +358401234567).", 4410, "phoneNumber")])
    assert v.e164_of("+3584012") is None
    assert v.e164_of("+1") is None  # too short to parse
    assert v.e164_of("+358401234567") == "+358401234567"


@pytest.mark.parametrize("value", ["+358 40 abc", "+358+401234567", "-+358401234567", "358.40"])
def test_e164_characters(value):
    assert run(v.check_e164, "n", value) == (
        None, [(f"n '{value}' may only contain digits, '-' and a leading '+'.", 4410, "n")])


def test_e164_without_plus_suggests_only_a_plausible_number():
    assert run(v.check_e164, "n", "358401234567") == (None, [(
        "n '358401234567' must be in E.164 form with a leading '+' and country code. Did you mean "
        "'+358401234567'?", 4410, "n")])
    assert run(v.check_e164, "n", "0401234567") == (None, [(
        "n '0401234567' must be in E.164 form with a leading '+' and country code.", 4410, "n")])
    assert v._plausible_without_plus("358401234567") is True
    assert v._plausible_without_plus("12") is False
    assert v._plausible_without_plus("") is False


def test_extension():
    assert run(v.check_extension, "extension", " 12 ") == ("12", [])
    assert run(v.check_extension, "extension", "1234567890") == ("1234567890", [])
    assert run(v.check_extension, "extension", None) == (None, [])
    assert run(v.check_extension, "extension", " ") == (None, [])
    for bad in ["1", "12345678901", "12a", "a12"]:
        assert run(v.check_extension, "extension", bad) == (
            None, [(f"extension '{bad}' must be 2 to 10 digits.", 4909, "extension")])


# ---- language, country, time zone -------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["en", "fi_FI", "en-us", " sv "])
def test_language_accepted(value):
    assert run(v.check_language, "language", value) == (value.strip(), [])


@pytest.mark.parametrize("value", ["english", "EN", "e", "fi_FIN", "fi_F1", "fi FI"])
def test_language_refused(value):
    assert run(v.check_language, "language", value) == (
        None, [(f"language '{value}' must be a language code like 'en', 'fi' or 'en_us'.", None, "language")])


def test_language_missing():
    assert run(v.check_language, "language", None) == (None, [])
    assert run(v.check_language, "language", " ", required=True) == (
        None, [("language is required (e.g. 'en' or 'fi_FI').", None, "language")])


def test_country():
    assert run(v.check_country, "country", " FI ") == ("FI", [])
    for bad, shown in [("fi", "fi"), ("FIN", "FIN"), (None, ""), ("F", "F")]:
        assert run(v.check_country, "country", bad) == (None, [(
            f"country '{shown}' must be a two-letter ISO 3166 country code in capitals, e.g. 'FI'.", None, "country")])


def test_timezone():
    assert run(v.check_timezone, "timeZone", " Europe/Helsinki ") == ("Europe/Helsinki", [])
    assert run(v.check_timezone, "timeZone", None) == (None, [])
    assert run(v.check_timezone, "timeZone", "", required=True) == (
        None, [("timeZone is required (an IANA time zone such as 'Europe/Helsinki').", None, "timeZone")])
    assert run(v.check_timezone, "timeZone", "Mars/Olympus") == (None, [(
        "timeZone 'Mars/Olympus' is not a known time zone; use an IANA name such as 'Europe/Helsinki'.", None,
        "timeZone")])
    assert run(v.check_timezone, "timeZone", "europe/helsinki")[0] is None


def test_timezone_list_loaded_on_first_use():
    v._TIMEZONES = None
    assert run(v.check_timezone, "tz", "Europe/Stockholm") == ("Europe/Stockholm", [])
    assert v._TIMEZONES is not None and "Europe/Helsinki" in v._TIMEZONES
