"""PATCH (RFC 7644 §3.5.2) applied to a resource's SCIM JSON; the result is then written as a full replace,
so a patch passes exactly the rules a PUT does. Accepts what identity providers send: ``Add``/``Replace``/
``Remove`` in any case, no path with an object value (keys may be paths), ``attr[filter].sub`` paths that
create the item they name when it is missing (``emails[type eq "work"].value``), and a ``members`` remove
with a list of values."""
from __future__ import annotations

import copy
from typing import Any

from rtmhub.scim.errors import ScimError, bad
from rtmhub.scim.filters import Compare, Logic, matches, parse_path
from rtmhub.scim.schemas import PATCH_OP

MAX_OPERATIONS = 1000


def _find_key(container: dict, name: str) -> str | None:
    return next((k for k in container if k.lower() == name.lower()), None)


def _equal_terms(node: Any) -> dict[str, Any] | None:
    if isinstance(node, Compare) and node.op == "eq":
        return {node.attr: node.value}
    if isinstance(node, Logic) and node.op == "and":
        left, right = _equal_terms(node.left), _equal_terms(node.right)
        return {**left, **right} if left is not None and right is not None else None
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        va, vb = _find_key(a, "value"), _find_key(b, "value")
        if va and vb:
            return str(a[va]) == str(b[vb])
    return a == b


def _fix_primary(items: list, added: list) -> None:
    if any(isinstance(i, dict) and str(i.get("primary")).lower() == "true" for i in added):
        for item in items:
            if isinstance(item, dict) and item not in added and "primary" in item:
                item["primary"] = False


class Patcher:
    def __init__(self, doc: dict, core_urn: str, urns: tuple[str, ...], attrs: dict[str, dict]):
        self.doc = copy.deepcopy(doc)
        self.core_urn = core_urn
        self.urns = urns
        self.attrs = attrs  # urn → lower-cased name → definition

    def apply(self, body: Any) -> dict:
        if not isinstance(body, dict):
            raise bad("The body must be a JSON object.", "invalidSyntax")
        schemas = body.get("schemas")
        if schemas is not None and PATCH_OP not in (schemas if isinstance(schemas, list) else []):
            raise bad(f"schemas must be [\"{PATCH_OP}\"].", "invalidSyntax")
        ops = next((v for k, v in body.items() if k.lower() == "operations"), None)
        if not isinstance(ops, list) or not ops:
            raise bad("Operations must be a non-empty list.", "invalidSyntax")
        if len(ops) > MAX_OPERATIONS:
            raise bad(f"At most {MAX_OPERATIONS} operations in one PATCH.", "invalidSyntax")
        for op in ops:
            if not isinstance(op, dict):
                raise bad("Each operation must be an object.", "invalidSyntax")
            name = str(next((v for k, v in op.items() if k.lower() == "op"), "")).lower()
            path = next((v for k, v in op.items() if k.lower() == "path"), None)
            has_value = any(k.lower() == "value" for k in op)
            value = next((v for k, v in op.items() if k.lower() == "value"), None)
            if name not in ("add", "replace", "remove"):
                raise bad(f"op must be add, replace or remove, not {name!r}.", "invalidSyntax")
            if path is not None and not isinstance(path, str):
                raise bad("path must be a string.", "invalidPath")
            if name != "remove" and not has_value:
                raise bad(f"A {name} operation needs a value.", "invalidValue")
            if not path:
                if name == "remove":
                    raise ScimError(400, "A remove operation needs a path.", "noTarget")
                if not isinstance(value, dict):
                    raise bad("An operation without a path needs an object value.", "invalidValue")
                for key, item in value.items():
                    if key.lower() in ("schemas", "id", "meta"):
                        continue
                    urn = next((u for u in self.urns if u.lower() == key.lower()), None)
                    if urn is not None and urn != self.core_urn and isinstance(item, dict):
                        for sub_key, sub_value in item.items():
                            self._one(name, f"{urn}:{sub_key}", sub_value, True)
                    else:
                        self._one(name, key, item, True)
            else:
                self._one(name, path, value, has_value)
        return self.doc

    def _container(self, urn: str, create: bool) -> dict | None:
        if urn == self.core_urn:
            return self.doc
        key = _find_key(self.doc, urn)
        if key is None:
            if not create:
                return None
            self.doc[urn] = {}
            key = urn
        if not isinstance(self.doc[key], dict):
            self.doc[key] = {}
        return self.doc[key]

    def _one(self, op: str, path_text: str, value: Any, has_value: bool) -> None:
        p = parse_path(path_text, self.core_urn, self.urns)
        if not p.attr:  # a whole extension
            container = self._container(p.urn, op != "remove")
            if op == "remove":
                key = _find_key(self.doc, p.urn)
                if key:
                    self.doc.pop(key)
            elif isinstance(value, dict) and container is not None:
                container.update(value)
            else:
                raise bad(f"{path_text}: the value must be an object.")
            return
        definition = self.attrs.get(p.urn, {}).get(p.attr)
        if definition is None:
            if p.attr in ("id", "meta", "schemas"):
                raise ScimError(400, f"{path_text} cannot be changed.", "mutability")
            return  # an attribute rtmhub does not keep: ignored, as upstream
        if definition.get("mutability") == "readOnly":
            return
        container = self._container(p.urn, op != "remove")
        if container is None:
            return
        name = definition["name"]
        key = _find_key(container, name) or name
        if definition.get("multiValued"):
            self._multi(op, p, container, key, value, has_value, path_text, definition)
        elif definition["type"] == "complex":
            current = container.get(key)
            if p.sub:
                if op == "remove":
                    if isinstance(current, dict):
                        sub_key = _find_key(current, p.sub)
                        if sub_key:
                            current.pop(sub_key)
                else:
                    if not isinstance(current, dict):
                        current = container[key] = {}
                    current[_find_key(current, p.sub) or p.sub] = value
            elif op == "remove":
                container.pop(key, None)
            elif not isinstance(value, (dict, list)) and any(
                    sub["name"] == "value" for sub in definition.get("subAttributes", [])):
                container[key] = {"value": value}  # Entra ID sends the manager as its id alone
            elif isinstance(value, dict):
                merged = dict(current) if isinstance(current, dict) and op == "add" else {}
                if op == "replace" and isinstance(current, dict):
                    merged = dict(current)
                merged.update(value)
                container[key] = merged
            else:
                raise bad(f"{path_text}: the value must be an object.")
        else:
            if p.sub or p.filter is not None:
                raise ScimError(400, f"{path_text}: {name} has no sub-attributes.", "invalidPath")
            if op == "remove":
                container.pop(key, None)
            else:
                container[key] = value

    def _multi(self, op: str, p: Any, container: dict, key: str, value: Any, has_value: bool, path_text: str,
               definition: dict) -> None:
        items = container.get(key)
        items = list(items) if isinstance(items, list) else []
        if p.filter is not None:
            hit = [i for i in items if isinstance(i, dict) and matches(p.filter, i, "", ())]
            if op == "remove":
                if p.sub:
                    for item in hit:
                        sub_key = _find_key(item, p.sub)
                        if sub_key:
                            item.pop(sub_key)
                else:
                    items = [i for i in items if not any(i is h for h in hit)]
            elif not hit:
                terms = _equal_terms(p.filter)
                if terms is None:
                    raise ScimError(400, f"{path_text}: no value matches the filter.", "noTarget")
                item = {k: v for k, v in terms.items()}
                if p.sub:
                    item[p.sub if p.sub != "value" else "value"] = value
                elif isinstance(value, dict):
                    item.update(value)
                items.append(item)
                _fix_primary(items, [item])
            else:
                for item in hit:
                    if p.sub:
                        item[_find_key(item, p.sub) or p.sub] = value
                    elif isinstance(value, dict):
                        if op == "replace":
                            item.clear()
                        item.update(value)
                    else:
                        raise bad(f"{path_text}: the value must be an object.")
                _fix_primary(items, hit)
            container[key] = items
            return
        if p.sub:
            if op == "remove":
                for item in items:
                    if isinstance(item, dict):
                        sub_key = _find_key(item, p.sub)
                        if sub_key:
                            item.pop(sub_key)
            else:
                for item in items:
                    if isinstance(item, dict):
                        item[_find_key(item, p.sub) or p.sub] = value
            container[key] = items
            return
        given = value if isinstance(value, list) else ([value] if value is not None else [])
        if op == "remove":
            if has_value and given:
                items = [i for i in items if not any(_same(i, g) for g in given)]
                container[key] = items
            else:
                container.pop(key, None)
            return
        if op == "replace":
            container[key] = list(given)
            _fix_primary(container[key], [g for g in given])
            return
        added = [g for g in given if not any(_same(i, g) for i in items)]
        items.extend(added)
        _fix_primary(items, added)
        container[key] = items
