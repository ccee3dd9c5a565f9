"""The e-mail fast path (a cached verdict per domain, a pattern for plain local parts) gives exactly
email-validator's verdicts: the same normalised address, or the same refusal with the same reason."""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rtmhub.domain.validation import validated_email

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
LOCAL_CHARS = ATEXT + '. "@\\äé(),:;<>[]\t'
DOMAIN_CHARS = "abz09-._XYä"
DOMAINS = ["example.com", "Example.COM", "x.fi", "x", "localhost", "a.invalid", "123.fi", "-x.fi", "x-.fi",
           "x_y.fi", "x.fi.", ".x.fi", "x..fi", "xn--bcher-kva.example", "bücher.example", "a.test", "a.local",
           "[127.0.0.1]", "e" * 63 + ".fi", "e" * 64 + ".fi", "example.com ", ""]


def reference(text: str) -> tuple[str, str]:
    try:
        return "ok", validate_email(text, check_deliverability=False, allow_smtputf8=True).normalized
    except EmailNotValidError as exc:
        return "refused", str(exc)


def fast(text: str) -> tuple[str, str]:
    try:
        return "ok", validated_email(text)
    except EmailNotValidError as exc:
        return "refused", str(exc)


locals_ = st.one_of(st.text(ATEXT + ".", min_size=0, max_size=70), st.text(LOCAL_CHARS, max_size=20))
domains = st.one_of(st.sampled_from(DOMAINS), st.text(DOMAIN_CHARS, max_size=30),
                    st.lists(st.text("abz09-", min_size=1, max_size=64), min_size=1, max_size=4).map(".".join))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local=locals_, domain=domains)
@example(local="aino.virtanen", domain="Example.COM")
@example(local="a..b", domain="x.fi")
@example(local="a" * 65, domain="x.fi")
@example(local='"quoted"', domain="x.fi")
@example(local="äiti", domain="x.fi")
@example(local="a", domain="x_y.fi")
def test_fast_path_gives_email_validators_verdicts(local: str, domain: str) -> None:
    text = f"{local}@{domain}"
    assert fast(text) == reference(text)
    assert fast(text) == reference(text)  # a second time: from the cached domain verdict
