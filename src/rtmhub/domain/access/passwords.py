"""The password policy for administrator accounts (issue 8): every password an account gets, at creation
or later, passes ``check_password`` first.

A password must have at least 12 characters, must not contain the local part of the account's e-mail
address, and must not be guessable: zxcvbn (a maintained port of Dropbox's strength estimator, which knows
common passwords, names, dictionary words, keyboard patterns, dates and repeats) must score it at least 3
of 4, with the e-mail address and its parts counted as known words. Each refusal says what is wrong and
what to do, so the operator can fix it at once.
"""
from __future__ import annotations

import re
import threading

from zxcvbn import zxcvbn

from rtmhub.errors import ValidationFailed, msg, msgn

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 takes any length; a cap keeps one request from hashing megabytes
MIN_SCORE = 3
# zxcvbn refuses inputs longer than 72 characters and its matching grows fast with length: the first 72
# characters are scored (a passphrase whose first 72 characters are guessable is weak anyway).
_SCORED = 72
# zxcvbn keeps the user inputs of a call in a module-level dictionary: one call at a time per process.
_lock = threading.Lock()



def check_password(password: str, email: str) -> None:
    """Refuse a password that breaks the policy, with the reason and the policy in the message."""
    local = email.split("@", 1)[0].strip().lower()
    domain = email.split("@", 1)[1].strip().lower() if "@" in email else ""
    if len(password) < MIN_LENGTH:
        raise _refused(msgn("The password is too short ({count} character): use at least {minimum} characters, "
                            "for example a short sentence of uncommon words that only you would write.",
                            "The password is too short ({count} characters): use at least {minimum} characters, "
                            "for example a short sentence of uncommon words that only you would write.",
                            "count", count=len(password), minimum=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        raise _refused(msg("The password is too long: at most {maximum} characters.", maximum=MAX_LENGTH))
    if "\x00" in password:
        raise _refused(msg("The password must not contain the NUL character."))
    if len(local) >= 3 and local in password.lower():
        raise _refused(msg("The password contains '{local}' from the e-mail address: choose one without it, "
                           "at least 12 characters long.", local=local))
    words = [local, domain, *re.split(r"[^a-z0-9]+", f"{local} {domain}")]
    with _lock:
        result = zxcvbn(password[:_SCORED], user_inputs=[w for w in words if len(w) >= 3])
    if result["score"] < MIN_SCORE:
        warning = result["feedback"]["warning"] or "It is easy to guess."
        raise _refused(msg("The password is too easy to guess ({warning}). Use at least 12 characters made of a "
                           "few uncommon words, without names, dates, keyboard rows or repeats.",
                           warning=msg(warning.rstrip("."))))  # zxcvbn's own sentence: the pages translate it


def _refused(message: str) -> ValidationFailed:
    error = ValidationFailed(message)
    error.errors[0].field = "password"
    return error
