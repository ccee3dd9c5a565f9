"""Access service (domain/access/service.py) observed through its functions on the `db` fixture's session:
set-password links, the first administrator, administrator lists and deletion, reset links, password sign-in.
Every refusal by its type and its message word for word; every acceptance by what was written.
Written against `make mutation` (docs/testing.md)."""
from __future__ import annotations
