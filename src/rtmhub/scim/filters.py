"""RFC 7644 filters (§3.4.2.2) and PATCH paths (§3.5.2), parsed and evaluated over SCIM JSON objects."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rtmhub.scim.errors import ScimError

_TOKEN = re.compile(r'\s*(?:(\()|(\))|(\[)|(\])|("(?:[^"\\]|\\.)*")|([^\s()\[\]"]+))')
COMPARE = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}


def invalid(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidFilter")


@dataclass
class Compare:
    attr: str  # as written (may carry a schema URN prefix and a sub-attribute)
    op: str
    value: Any = None


@dataclass
class Logic:
    op: str  # and / or
    left: Any
    right: Any


@dataclass
class Not:
    inner: Any


@dataclass
class ValuePath:
    attr: str
    filter: Any


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise invalid(f"Cannot read the filter at: {text[pos:pos + 30]!r}.")
        pos = m.end()
        out.append(next(g for g in m.groups() if g is not None))
    return out


class _Parser:
    MAX_DEPTH = 20

    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def nested(self) -> Any:
        self.depth += 1
        if self.depth > self.MAX_DEPTH:
            raise invalid(f"The filter nests more than {self.MAX_DEPTH} levels.")
        try:
            return self.or_()
        finally:
            self.depth -= 1

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise invalid("The filter ends too early.")
        self.i += 1
        return tok

    def parse(self) -> Any:
        node = self.or_()
        if self.peek() is not None:
            raise invalid(f"Unexpected {self.peek()!r} in the filter.")
        return node

    def or_(self) -> Any:
        node = self.and_()
        while (self.peek() or "").lower() == "or":
            self.take()
            node = Logic("or", node, self.and_())
        return node

    def and_(self) -> Any:
        node = self.atom()
        while (self.peek() or "").lower() == "and":
            self.take()
            node = Logic("and", node, self.atom())
        return node

    def atom(self) -> Any:
        tok = self.take()
        if tok == "(":
            node = self.nested()
            if self.take() != ")":
                raise invalid("A '(' in the filter is not closed.")
            return node
        if tok.lower() == "not":
            if self.take() != "(":
                raise invalid("'not' must be followed by '('.")
            node = self.nested()
            if self.take() != ")":
                raise invalid("A '(' in the filter is not closed.")
            return Not(node)
        attr = tok
        if not re.fullmatch(r"[A-Za-z$][\w$:.\-]*", attr):
            raise invalid(f"{attr!r} is not an attribute name.")
        if self.peek() == "[":
            self.take()
            inner = self.nested()
            if self.take() != "]":
                raise invalid("A '[' in the filter is not closed.")
            nxt = self.peek() or ""
            if nxt.startswith(".") and len(nxt) > 1:  # emails[type eq "work"].value eq "…"
                self.take()
                op = self.take().lower()
                if op == "pr":
                    return ValuePath(attr, Logic("and", inner, Compare(nxt[1:], "pr")))
                if op not in COMPARE:
                    raise invalid(f"{op!r} is not a filter operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr).")
                return ValuePath(attr, Logic("and", inner, Compare(nxt[1:], op, _literal(self.take()))))
            return ValuePath(attr, inner)
        op = self.take().lower()
        if op == "pr":
            return Compare(attr, "pr")
        if op not in COMPARE:
            raise invalid(f"{op!r} is not a filter operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr).")
        return Compare(attr, op, _literal(self.take()))


def _literal(tok: str) -> Any:
    if tok.startswith('"'):
        return re.sub(r'\\(.)', r'\1', tok[1:-1])
    low = tok.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    try:
        return int(tok)
    except ValueError:
        try:
            return float(tok)
        except ValueError:
            raise invalid(f"{tok!r} is not a filter value (quote strings).") from None


def parse_filter(text: str) -> Any:
    if len(text) > 2000:
        raise invalid("The filter is too long.")
    return _Parser(text).parse()


# --- evaluating ----------------------------------------------------------------------------

def split_attr(attr: str, default_urn: str, urns: tuple[str, ...]) -> tuple[str, list[str]]:
    """``urn:…:User:name.givenName`` → (urn, ["name", "givenName"]), names lower-cased."""
    low = attr.lower()
    for urn in sorted(urns, key=len, reverse=True):
        if low.startswith(urn.lower() + ":"):
            return urn, [p for p in attr[len(urn) + 1:].lower().split(".") if p]
        if low == urn.lower():
            return urn, []
    return default_urn, [p for p in low.split(".") if p]


def get_ci(obj: Any, key: str) -> Any:
    if not isinstance(obj, dict):
        return None
    for k, v in obj.items():
        if k.lower() == key:
            return v
    return None


def values_at(resource: dict, urn: str, parts: list[str], core_urn: str) -> list[Any]:
    base: Any = resource if urn == core_urn else get_ci(resource, urn.lower())
    current = [base]
    for part in parts:
        nxt = []
        for item in current:
            for one in (item if isinstance(item, list) else [item]):
                value = get_ci(one, part)
                if isinstance(value, list):
                    nxt.extend(value)
                elif value is not None:
                    nxt.append(value)
        current = nxt
    return [v for v in current if v is not None]


def _cmp(op: str, have: Any, want: Any, case_exact: bool) -> bool:
    if isinstance(have, (dict, list)):
        return False
    if isinstance(have, bool) or isinstance(want, bool):
        if isinstance(have, str):
            have = have.lower() == "true"
        return op == "eq" and have == want or op == "ne" and have != want
    if isinstance(have, str) and isinstance(want, str) and not case_exact:
        have, want = have.lower(), want.lower()
    if isinstance(have, str) != isinstance(want, str):
        have, want = str(have), str(want)
    if op == "eq":
        return have == want
    if op == "ne":
        return have != want
    if op == "co":
        return isinstance(have, str) and want in have
    if op == "sw":
        return isinstance(have, str) and have.startswith(want)
    if op == "ew":
        return isinstance(have, str) and have.endswith(want)
    try:
        return {"gt": have > want, "ge": have >= want, "lt": have < want, "le": have <= want}[op]
    except TypeError:
        return False


CASE_EXACT = {"id", "externalid", "value"}


def matches(node: Any, resource: dict, core_urn: str, urns: tuple[str, ...]) -> bool:
    if isinstance(node, Logic):
        if node.op == "and":
            return matches(node.left, resource, core_urn, urns) and matches(node.right, resource, core_urn, urns)
        return matches(node.left, resource, core_urn, urns) or matches(node.right, resource, core_urn, urns)
    if isinstance(node, Not):
        return not matches(node.inner, resource, core_urn, urns)
    if isinstance(node, ValuePath):
        urn, parts = split_attr(node.attr, core_urn, urns)
        return any(isinstance(item, dict) and matches(node.filter, item, "", ())
                   for item in values_at(resource, urn, parts, core_urn))
    urn, parts = split_attr(node.attr, core_urn, urns)
    found = values_at(resource, urn, parts, core_urn) if core_urn else values_at(resource, "", parts, "")
    if node.op == "pr":
        return any(v not in ("", [], {}) for v in found)
    if node.op == "ne" and not found:
        return True
    exact = bool(parts) and parts[-1] == "id" and len(parts) == 1
    if node.op == "ne":
        return all(_cmp("ne", v, node.value, exact) for v in found)
    return any(_cmp(node.op, v, node.value, exact) for v in found)


def simple_equals(node: Any) -> dict[str, Any]:
    """The ``attr eq "value"`` terms a filter requires (top level, joined by ``and``), for a database
    pre-selection: lower-cased attribute name → value."""
    if isinstance(node, Compare) and node.op == "eq" and isinstance(node.value, str):
        return {node.attr.lower(): node.value}
    if isinstance(node, Logic) and node.op == "and":
        return {**simple_equals(node.left), **simple_equals(node.right)}
    return {}


# --- PATCH paths ---------------------------------------------------------------------------

@dataclass
class PatchPath:
    urn: str
    attr: str  # lower-cased attribute name ("" for an extension as a whole)
    filter: Any = None
    sub: str | None = None  # lower-cased sub-attribute


def parse_path(text: str, core_urn: str, urns: tuple[str, ...]) -> PatchPath:
    raw = text.strip()
    m = re.fullmatch(r"(?P<head>[^\[\]]+?)(?:\[(?P<flt>.*)\])?(?:\.(?P<sub>[A-Za-z$][\w$]*))?", raw, re.S)
    if not m:
        raise ScimError(400, f"{text!r} is not a valid path.", "invalidPath")
    urn, parts = split_attr(m.group("head"), core_urn, urns)
    flt = None
    if m.group("flt") is not None:
        try:
            flt = parse_filter(m.group("flt"))
        except ScimError as exc:
            raise ScimError(400, f"{text!r}: {exc.detail}", "invalidPath") from None
    sub = m.group("sub").lower() if m.group("sub") else None
    if len(parts) > 2 or (len(parts) == 2 and (flt is not None or sub)):
        raise ScimError(400, f"{text!r} is not a valid path.", "invalidPath")
    if len(parts) == 2:
        return PatchPath(urn, parts[0], None, parts[1])
    if not parts:
        if urn == core_urn:
            raise ScimError(400, f"{text!r} is not a valid path.", "invalidPath")
        return PatchPath(urn, "", None, None)
    return PatchPath(urn, parts[0], flt, sub)
