"""The glossary (docs/glossary.md) is the one list of words the pages use: no Finnish entry may use a word
it marks "never" for Finnish, in any inflected form."""
from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
LOCALE = ROOT / "src" / "rtmhub" / "web" / "locale"


def glossary_rows() -> list[dict[str, str]]:
    lines = [line for line in GLOSSARY.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]


def never_stems() -> dict[str, str]:
    """Each "never" stem (without its trailing *) with the concept it belongs to."""
    stems = {}
    for row in glossary_rows():
        for word in filter(None, (w.strip() for w in row["Finnish: never"].split(","))):
            assert word.endswith("*"), f"write the never-term {word!r} as a stem ending in *"
            stems[word[:-1].lower()] = row["Concept (English)"]
    return stems


def finnish_strings() -> list[tuple[str, str]]:
    with open(LOCALE / "fi" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle, locale="fi")
    out = []
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        out.extend((msgid, s) for s in strings if s)
    return out


def never_terms_used(strings: list[tuple[str, str]]) -> list[str]:
    found = []
    for stem, concept in never_stems().items():
        pattern = re.compile(r"(?<!\w)" + re.escape(stem) + r"\w*", re.IGNORECASE)
        for msgid, text in strings:
            for hit in pattern.findall(text):
                found.append(f"{hit!r} ({concept}) in {text!r} (msgid {msgid!r})")
    return found


def test_the_glossary_has_every_concept_in_three_languages():
    rows = glossary_rows()
    assert len(rows) >= 30
    for row in rows:
        assert row["Finnish"] and row["Swedish"] and row["Concept (English)"], row
    stems = never_stems()
    for stem in ("alanumero", "varau", "anta", "käyttöönottomall", "toteut", "keskeyt", "titteli"):
        assert stem in stems


def test_no_finnish_entry_uses_a_never_term():
    found = never_terms_used(finnish_strings())
    assert not found, "Finnish entries using a word the glossary marks never:\n" + "\n".join(found)


def test_the_check_catches_inflected_forms():
    # The check itself: an inflected form of a never-term is caught, a word merely containing it is not.
    assert never_terms_used([("x", "Alanumeron 12 on jo käytössä.")])
    assert never_terms_used([("x", "Varausta ei voi kasvattaa.")])
    assert not never_terms_used([("x", "Jatkonumero on jo käytössä.")])
