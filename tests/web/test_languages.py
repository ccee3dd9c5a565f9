"""Issue 14: plural forms, field names in the reader's language, and the three languages of the pages."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from tests.web.test_pages import sign_in

from rtmhub.errors import Message, msg, msgn
from rtmhub.web import field_labels
from rtmhub.web.support import make_gettext

SRC = Path(__file__).resolve().parents[2] / "src" / "rtmhub"
LANGS = ("en", "fi", "sv")

# n = 0, 1, 2 for a page's own counted text and for a domain message, in each language.
USERS = {"en": ("0 users", "1 user", "2 users"), "fi": ("0 käyttäjää", "1 käyttäjä", "2 käyttäjää"),
         "sv": ("0 användare", "1 användare", "2 användare")}
ERRORS = {"en": ("0 errors", "1 error", "2 errors"), "fi": ("0 virhettä", "1 virhe", "2 virhettä"),
          "sv": ("0 fel", "1 fel", "2 fel")}
DAYS = {"en": ("0 days", "1 day", "2 days"), "fi": ("0 päivää", "1 päivä", "2 päivää"),
        "sv": ("0 dagar", "1 dag", "2 dagar")}
IN_LOCATION = {"en": ("0 calling users are in", "1 calling user is in", "2 calling users are in"),
               "fi": ("on 0 puhelukäyttäjää", "on 1 puhelukäyttäjä.", "on 2 puhelukäyttäjää"),
               "sv": ("0 samtalsanvändare", "1 samtalsanvändare", "2 samtalsanvändare")}
TOO_SHORT = {"en": ("(0 characters)", "(1 character)", "(2 characters)"),
             "fi": ("(0 merkkiä)", "(1 merkki)", "(2 merkkiä)"),
             "sv": ("(0 tecken)", "(1 tecken)", "(2 tecken)")}


@pytest.mark.parametrize("lang", LANGS)
def test_counted_texts_take_the_plural_form_of_the_number(lang):
    _ = make_gettext(lang)
    for n, (users, errors, days) in enumerate(zip(USERS[lang], ERRORS[lang], DAYS[lang], strict=True)):
        assert _.ngettext("{n} user", "{n} users", n) == users
        assert _.ngettext("{n} error", "{n} errors", n) == errors
        assert _.ngettext("{n} day", "{n} days", n) == days
    # Finnish says "1 käyttäjä lisättiin" but "2 käyttäjää lisättiin"
    added = [_.ngettext("{n} user was added.", "{n} users were added.", n) for n in (1, 2)]
    assert added[0] != added[1] and "1" in added[0] and "2" in added[1]


@pytest.mark.parametrize("lang", LANGS)
def test_domain_messages_that_count_take_the_plural_form(lang):
    _ = make_gettext(lang)
    for n in (0, 1, 2):
        where = msgn("{count} calling user is in location '{name}'; move or remove the user first.",
                     "{count} calling users are in location '{name}'; move or remove them first.",
                     "count", count=n, name="Helsinki")
        assert IN_LOCATION[lang][n] in _.say(where), _.say(where)
        short = msgn("The password is too short ({count} character): use at least {minimum} characters, for "
                     "example a short sentence of uncommon words that only you would write.",
                     "The password is too short ({count} characters): use at least {minimum} characters, for "
                     "example a short sentence of uncommon words that only you would write.",
                     "count", count=n, minimum=12)
        assert TOO_SHORT[lang][n] in _.say(short)
        # and the same after being stored with a task row (as_dict) and read back
        assert _.say(Message.from_dict(where.as_dict())) == _.say(where)
    # the API's English text is the English form for the number
    assert str(msgn("{count} user holds {package}; x", "{count} users hold {package}; x", "count", count=1,
                    package="Webex Calling")) == "1 user holds Webex Calling; x"


@pytest.mark.parametrize("lang", LANGS)
def test_the_users_page_counts_in_the_page_language(client, world, lang):
    sign_in(client, "full@a.example")
    base = f"/customers/{world.raw['ca']}/hub/users?lang={lang}"
    assert f">{USERS[lang][0]}<" in client.get(base + "&q=nobody-here").text
    assert f">{USERS[lang][1]}<" in client.get(base + "&q=matti").text
    assert f">{USERS[lang][2]}<" in client.get(base).text


# --- field names ------------------------------------------------------------------------------

def domain_templates() -> list[str]:
    found = set()
    for package in ("domain", "csvfile"):
        for _fn, _line, m, _c, _x in extract_from_dir(str(SRC / package), method_map=[("**.py", "python")],
                                                      keywords={"msg": None, "msgn": (1, 2)}):
            found.add(m[0] if isinstance(m, tuple) else m)
    return sorted(found)


def field_names_in_source() -> set[str]:
    """Every field name the services pass to a check or a message (string literals), and every label key."""
    names = set(field_labels.LABELS)
    for path in (SRC / "domain").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'check_\w+\(\s*\w+,\s*"([A-Za-z_.]+)"', text))
        names.update(re.findall(r'field="([A-Za-z_.]+)"', text))
    return {n for n in names if n}


def fill(template: str, field: str) -> Message:
    keys = set(re.findall(r"{(\w+)", template))
    values = {k: "x" for k in keys}
    values.update({k: 3 for k in keys & {"n", "count", "max", "minimum", "maximum", "used", "total"}})
    for key in keys & {"field", "column", "fields"}:
        values[key] = field
    if template in field_labels.NAME_IS_FIELD:
        values.update({k: field for k in keys & {"name", "to", "start"}})
    return msg(template, **values)


def test_every_domain_message_naming_a_field_says_the_finnish_label():
    _ = make_gettext("fi")
    templates = [t for t in domain_templates() if re.search(r"{(field|column|fields)}", t)
                 or t in field_labels.NAME_IS_FIELD]
    assert len(templates) > 30
    names = field_names_in_source()
    assert {"phoneNumber", "extension", "callerIdFirstName", "address.country", "timeZone"} <= names
    leaks = []
    for template in templates:
        for name in names:
            api = field_labels.api_name(name)
            for csv in (False, True):
                text = _.say(fill(template, name), csv=csv)
                if re.search(rf"(?<![\w/]){re.escape(api)}(?!\w)", text) and api.lower() != text.lower():
                    leaks.append(f"{name} in {text!r} (csv={csv})")
    # a camelCase API name never survives, whatever its case; plain words like "name" are checked above
    assert not leaks, "\n".join(leaks[:40])


def test_a_field_is_named_by_its_label_and_a_csv_column_as_the_file_has_it():
    fi, sv, en = make_gettext("fi"), make_gettext("sv"), make_gettext("en")
    problem = msg("{field} '{value}' must be 2 to 10 digits.", field="extension", value="1")
    assert fi.say(problem) == "Jatkonumero: arvossa '1' on oltava 2–10 numeroa."
    assert fi.say(problem, csv=True).startswith("Extension (jatkonumero): ")
    assert sv.say(problem).startswith("Anknytning: ")
    assert sv.say(problem, csv=True).startswith("Extension (anknytning): ")
    assert en.say(problem) == str(problem) == "extension '1' must be 2 to 10 digits."  # the API's text
    phone = msg("{field} '{value}' must be in E.164 form with a leading '+' and country code.",
                field="phoneNumber", value="0401")
    assert fi.say(phone).startswith("Puhelinnumero: arvon '0401' on oltava E.164-muodossa")
    assert fi.say(phone, csv=True).startswith("Phone Number (puhelinnumero): ")
    column = msg("{column} must be TRUE or FALSE (found '{value}').", column="Jabber Calling", value="kyllä")
    assert "Jabber Calling (Jabber-puhelut)" in fi.say(column)


def test_no_finnish_entry_names_an_api_field():
    """The Finnish catalogue itself says no camelCase API name, except where the API's own parameter is
    what the message is about (messages only the API gives)."""
    api_only = {"A template holds the settings new customers start from. Its provisioning ID is what the API "
                "asks for as provisioningId.",
                "sortBy '{value}' is not supported: use id, billingStartDate, billingEndDate or status.",
                "Sub-partner not found; check subPartnerOrgId (the orgId of one of your sub-partners)."}
    with open(SRC / "web" / "locale" / "fi" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale="fi")
    found = []
    for m in catalog:
        msgid = m.id[0] if isinstance(m.id, tuple) else m.id
        if not msgid or msgid in api_only:
            continue
        for text in (m.string if isinstance(m.string, tuple) else (m.string,)):
            hit = re.search(r"\b[a-z]+[A-Z]\w*\b", text)
            if hit:
                found.append(f"{hit.group()} in {text!r}")
    assert not found, "\n".join(found)


def test_swedish_is_chosen_like_finnish(client, world):
    assert "Logga in" in client.get("/signin", headers={"Accept-Language": "sv-FI,sv;q=0.9,fi;q=0.5"}).text
    sign_in(client, "full@a.example")
    page = client.get("/customers?lang=sv").text
    assert '<html lang="sv">' in page and "Starta Control Hub" in page and "Kunder" in page
    assert 'href="?lang=sv" lang="sv" aria-current="true"' in page
    assert "Starta Control Hub" in client.get("/customers").text  # remembered in a cookie
    assert "Käynnistä Control Hub" in client.get("/customers?lang=fi").text
