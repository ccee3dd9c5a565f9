"""A short-lived, per-process cache of bearer-token look-ups (decision 38).

Every API and SCIM request authenticates its bearer token: a read transaction for the token row, the
administrator and the partner tree, before the request's own. Under load that was a second unit of work per
request. The cache keeps the resolved caller per token digest for ``TOKEN_CACHE_SECONDS``.

What it still honours:
- expiry: the cached expiry is compared with the clock on every request;
- revocation and any other change to tokens, administrator accounts or partners (scopes, role, deletion, a
  new sub-partner in the tree) made in this process: the cache is emptied when such a change is flushed,
  and again when it is committed, so the next request reads the database. A look-up that started before
  the change cannot put its older answer back (the generation check in ``put``);
- the same changes made by another process (the CLI, another app process): within ``TOKEN_CACHE_SECONDS``.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from rtmhub.domain.access.models import AdminAccount, ApiToken
from rtmhub.domain.access.schemas import Caller
from rtmhub.domain.partners.models import Partner

# The bound on how long a change made by another process may go unseen. Short enough for a revocation's
# "at once" in practice, long enough that a busy client's requests authenticate from memory.
TOKEN_CACHE_SECONDS = 5.0
MAX_ENTRIES = 10_000  # far more tokens than any installation uses at once; past it the cache starts over
# Rows whose change can change what a cached caller may do.
WATCHED = (ApiToken, AdminAccount, Partner)
_CHANGED = "rtmhub_access_changed"
# The option of the one statement that changes a watched row without changing what a caller may do (a
# token's last use): it leaves the cache as it is.
TOKEN_USE_ONLY = "rtmhub_token_use_only"


@dataclass
class CachedToken:
    caller: Caller  # without request_id: each request sets its own
    token_id: str
    expires: datetime | None
    last_used: datetime | None  # None: the use is to be recorded by the next request


class TokenCache:
    def __init__(self, seconds: float = TOKEN_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.generation = 0
        self._entries: dict[str, tuple[float, CachedToken]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> CachedToken | None:
        found = self._entries.get(digest)
        if found is None:
            return None
        stored, entry = found
        if self.clock() - stored >= self.seconds:
            self._entries.pop(digest, None)
            return None
        return entry

    def put(self, digest: str, generation: int, entry: CachedToken) -> None:
        """Kept only if nothing watched changed since ``generation`` was read, before the token's row was:
        otherwise the answer may predate a revocation."""
        if self.seconds <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (self.clock(), entry)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


token_cache = TokenCache()


def _touches_watched(objects: Any) -> bool:
    return any(isinstance(obj, WATCHED) for obj in objects)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if _touches_watched(session.new) or _touches_watched(session.dirty) or _touches_watched(session.deleted):
        session.info[_CHANGED] = True
        token_cache.clear()


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    # Bulk statements (update(ApiToken)…, as directory sync's revocation) do not pass through the flush.
    if (state.is_update or state.is_delete or state.is_insert) and not state.execution_options.get(
            TOKEN_USE_ONLY) and any(mapper.class_ in WATCHED for mapper in state.all_mappers):
        state.session.info[_CHANGED] = True
        token_cache.clear()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Again once committed: a look-up in another thread between the flush and the commit read the old row.
    if session.info.pop(_CHANGED, False):
        token_cache.clear()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
