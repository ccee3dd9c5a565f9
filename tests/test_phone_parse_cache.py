"""A phone number's verdict is remembered per distinct text (a worker previews a file, then imports it):
asked first or again, ``check_e164`` gives exactly what phonenumbers itself says of the number, with the
same message when it refuses it."""
from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.test_phone_fast_path import reference_e164

from rtmhub.domain.validation import check_e164, e164_of
from rtmhub.errors import FieldProblems

# phonenumbers' own answer for a '+digits' text, asked afresh through its general parse (not our fast path for
# such text, which tests/test_phone_fast_path.py holds to it).
reference = reference_e164


def checked(value: str) -> tuple[str | None, list[str]]:
    problems = FieldProblems()
    result = check_e164(problems, "phoneNumber", value)
    return result, [str(e.description) for e in problems.errors]


# Country codes that exist and some that do not, then national digits of any length.
numbers = st.tuples(st.sampled_from(["358", "1", "44", "46", "49", "7", "86", "999", "0", "3", "35", "800"]),
                    st.text("0123456789", min_size=0, max_size=14)).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(digits=numbers, spaced=st.booleans())
@example(digits="358501000003", spaced=False)
@example(digits="35850100000", spaced=True)
@example(digits="4420794601", spaced=False)
def test_cached_verdict_is_phonenumbers_own(digits: str, spaced: bool) -> None:
    text = "+" + (" ".join(digits[i:i + 3] for i in range(0, len(digits), 3)) if spaced else digits)
    expected = reference("+" + digits) if digits else None
    for _ in range(2):  # first asked (parsed), then again (remembered)
        assert e164_of("+" + digits) == expected
        result, messages = checked(text)
        if expected is not None:
            assert (result, messages) == (expected, [])
        else:
            assert result is None and len(messages) == 1


def test_refusals_keep_their_messages() -> None:
    for _ in range(2):
        assert checked("+358 50 1000003") == ("+358501000003", [])
        assert checked("358501000003")[1] == [
            "phoneNumber '358501000003' must be in E.164 form with a leading '+' and country code. "
            "Did you mean '+358501000003'?"]
        assert checked("12")[1] == [
            "phoneNumber '12' must be in E.164 form with a leading '+' and country code."]
        assert checked("+999123")[1] == [
            "phoneNumber '+999123' is not a valid E.164 phone number (e.g. +358401234567)."]
