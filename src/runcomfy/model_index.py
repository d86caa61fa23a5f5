"""Which model ids the catalog holds, for "did you mean" when a model id is mistyped.

Owns a small on-disk index of catalog model ids (one JSON file per API namespace, beside the schema cache and
under the same rules: 0700 directory, atomic replace, every I/O or parsing problem reads as "not cached"), the
paging that fills it from ``GET /models``, and the choice of the closest ids to a wrong one.

Suggestions are a courtesy on a path that is already failing, so this module must never raise from
:func:`suggest_model_ids` and never make a failing command wait long: the catalog is fetched once, within a
hard time budget, without retries. It never prints and never stores anything but public model ids.
"""

from __future__ import annotations

import difflib
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runcomfy.catalog import read_cache_entry, write_cache_entry
from runcomfy.model_catalog import MAX_MODELS_PAGE

if TYPE_CHECKING:
    from runcomfy.client import Client

__all__ = [
    "DEFAULT_INDEX_TTL_S",
    "IndexedIds",
    "ModelIndex",
    "closest_model_ids",
    "fetch_model_ids",
    "suggest_model_ids",
]

DEFAULT_INDEX_TTL_S = 24 * 3600.0  # only feeds suggestions: a day-old list of ids is good enough
SUGGESTION_BUDGET_S = 2.0
MAX_INDEXED_IDS = 20_000
MAX_ID_CHARS = 300
MIN_CALL_S = 0.05  # below this, a call cannot succeed; better give up at once
CLOSE_MATCH_CUTOFF = 0.7  # catalog ids share long prefixes ("openai/..."): a low cutoff would suggest noise
CLOSE_MATCH_SPREAD = 0.1  # how far below the best match another one may score and still be shown
_INDEX_FORMAT = 1


@dataclass(frozen=True)
class IndexedIds:
    """The ids held for one namespace; ``complete`` when they came from paging through the whole catalog
    (ids seen on a filtered ``models list`` page are kept too, but cannot stand for the catalog)."""

    ids: tuple[str, ...]
    complete: bool
    saved_at: float = 0.0


class ModelIndex:
    """Catalog model ids kept on disk for ``ttl_s`` seconds (``clock`` is wall-clock time: the file outlives
    the process; a file stamped in the future counts as expired)."""

    def __init__(
        self, directory: Path, *, ttl_s: float = DEFAULT_INDEX_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = Path(directory)
        self.ttl_s = ttl_s
        self._clock = clock

    def __repr__(self) -> str:
        return f"ModelIndex(directory={str(self.directory)!r}, ttl_s={self.ttl_s!r})"

    def path_for(self, namespace: str) -> Path:
        """The index file of one namespace (the ``index-`` prefix keeps it apart from cached records)."""
        return self.directory / f"index-{hashlib.sha256(namespace.encode()).hexdigest()}.json"

    def get(self, namespace: str) -> IndexedIds | None:
        """The fresh ids of ``namespace``, or ``None`` when missing, expired, unreadable or corrupt."""
        entry = read_cache_entry(self.path_for(namespace))
        if entry is None:
            return None
        ids, saved_at, complete = entry.get("ids"), entry.get("saved_at"), entry.get("complete")
        if (
            entry.get("format") != _INDEX_FORMAT
            or entry.get("namespace") != namespace
            or not isinstance(ids, list)
            or not isinstance(complete, bool)
            or not isinstance(saved_at, int | float)
            or isinstance(saved_at, bool)
        ):
            return None
        age = self._clock() - saved_at
        if not 0 <= age < self.ttl_s:
            return None
        return IndexedIds(tuple(clean_ids(ids)), complete, float(saved_at))

    def put(self, namespace: str, ids: Iterable[Any], *, complete: bool) -> None:
        """Replace the ids of ``namespace``; failures are dropped."""
        self._write(namespace, clean_ids(ids), complete=complete, saved_at=self._clock())

    def add(self, namespace: str, ids: Iterable[Any]) -> None:
        """Ids seen in passing (a ``models list`` page): merged into a fresh index without renewing its age,
        so a partial view never keeps a full list alive past its time; else they start a partial index."""
        seen = clean_ids(ids)
        if not seen:
            return
        current = self.get(namespace)
        if current is None:
            self._write(namespace, seen, complete=False, saved_at=self._clock())
            return
        merged = clean_ids([*current.ids, *seen])
        if len(merged) > len(current.ids):  # only when something is new: spare the disk a write
            self._write(namespace, merged, complete=current.complete, saved_at=current.saved_at)

    def _write(self, namespace: str, ids: list[str], *, complete: bool, saved_at: float) -> None:
        entry = {
            "format": _INDEX_FORMAT,
            "namespace": namespace,
            "saved_at": saved_at,
            "complete": complete,
            "ids": ids,
        }
        write_cache_entry(self.path_for(namespace), entry)


def clean_ids(values: Iterable[Any]) -> list[str]:
    """Usable ids in first-seen order: non-empty strings of bounded length, no duplicates, at most
    :data:`MAX_INDEXED_IDS` (a hostile catalog cannot grow the file without bound)."""
    kept: dict[str, None] = {}
    for value in values:
        if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value.strip():
            kept.setdefault(value, None)
            if len(kept) >= MAX_INDEXED_IDS:
                break
    return list(kept)


def ids_of_page(page: Mapping[str, Any]) -> list[str]:
    """The model ids of one ``GET /models`` page (anything malformed is skipped)."""
    models = page.get("models")
    if not isinstance(models, list):
        return []
    return clean_ids(m.get("model_id") for m in models if isinstance(m, Mapping))


def fetch_model_ids(
    client: Client, *, budget_s: float = SUGGESTION_BUDGET_S, clock: Callable[[], float] = time.monotonic
) -> IndexedIds:
    """Page through ``GET /models`` until the end or until ``budget_s`` is spent; the ids found so far.

    Each call is tried once, with a timeout of half the time left: connecting and reading each get that
    long at most, so together they stay within the budget. Any failure ends the paging where it is.
    """
    from runcomfy.errors import RunComfyError

    deadline = clock() + budget_s
    ids: list[str] = []
    offset = 0
    while True:
        remaining = deadline - clock()
        if remaining < MIN_CALL_S or len(ids) >= MAX_INDEXED_IDS:
            return IndexedIds(tuple(ids), complete=False)
        try:
            page = client.list_models(
                limit=MAX_MODELS_PAGE, offset=offset, timeout_s=remaining / 2, retry=False
            )
        except RunComfyError:
            return IndexedIds(tuple(ids), complete=False)
        models = page.get("models")
        if not isinstance(models, list):
            return IndexedIds(tuple(ids), complete=False)
        ids = clean_ids([*ids, *ids_of_page(page)])
        offset += len(models)
        total = page.get("total")
        if not models or len(models) < MAX_MODELS_PAGE or (isinstance(total, int) and offset >= total):
            return IndexedIds(tuple(ids), complete=True)


def closest_model_ids(wrong_id: str, ids: Iterable[str], *, limit: int = 3) -> list[str]:
    """Up to ``limit`` ids closest to ``wrong_id``, best first, compared without regard to case; then ids
    that contain it (someone who typed ``flux-1-kontext`` wants the full id)."""
    wanted = wrong_id.strip().strip("/")
    by_folded: dict[str, str] = {}
    for model_id in ids:
        if model_id != wanted:  # the id that was just refused is no suggestion (a stale index may hold it)
            by_folded.setdefault(model_id.casefold(), model_id)
    folded = wanted.casefold()
    if not folded or limit < 1:
        return []
    close = _best_matches(folded, by_folded, limit)
    if len(close) < limit and len(folded) >= 4:
        containing = sorted((key for key in by_folded if folded in key and key not in close), key=len)
        close += containing[: limit - len(close)]
    return [by_folded[key] for key in close]


def _best_matches(wanted: str, candidates: Iterable[str], limit: int) -> list[str]:
    """The candidates most like ``wanted``, best first: above the cutoff and near the best score, so one clear
    match is not diluted by ids that merely share its vendor prefix."""
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(wanted)
    scored: list[tuple[float, str]] = []
    for candidate in candidates:
        matcher.set_seq1(candidate)
        if (
            matcher.real_quick_ratio() >= CLOSE_MATCH_CUTOFF
            and matcher.quick_ratio() >= CLOSE_MATCH_CUTOFF
            and (score := matcher.ratio()) >= CLOSE_MATCH_CUTOFF
        ):
            scored.append((score, candidate))
    if not scored:
        return []
    scored.sort(key=lambda item: (-item[0], item[1]))
    best = scored[0][0]
    return [candidate for score, candidate in scored if score >= best - CLOSE_MATCH_SPREAD][:limit]


def suggest_model_ids(
    client: Client,
    index: ModelIndex | None,
    namespace: str,
    wrong_id: str,
    *,
    budget_s: float = SUGGESTION_BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
) -> list[str]:
    """Up to three catalog ids close to ``wrong_id``; ``[]`` on any failure.

    A fresh complete index answers without a call; otherwise the catalog is paged within ``budget_s``
    (``clock`` measures it) and a complete listing refreshes the index. Ids seen earlier still count when
    the catalog cannot be reached.
    """
    try:
        cached = index.get(namespace) if index is not None else None
        if cached is not None and cached.complete:
            return closest_model_ids(wrong_id, cached.ids)
        fetched = fetch_model_ids(client, budget_s=budget_s, clock=clock)
        if fetched.complete and index is not None:
            index.put(namespace, fetched.ids, complete=True)
        known = [*fetched.ids, *(cached.ids if cached is not None else ())]
        return closest_model_ids(wrong_id, known)
    except Exception:  # a suggestion must never turn one error into another
        return []
