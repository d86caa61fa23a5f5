"""The statuses the request journal records, grouped for people: what ``requests list --status`` accepts and
which statuses are final.

Kept apart from ``journal.py`` (SQLite) so the CLI can build its options without importing the database layer.
"""

from __future__ import annotations

from runcomfy.lifecycle.apis import MODEL_API_STATUSES

# What ``requests list --status`` accepts, and the recorded spellings each one stands for: the queue APIs' own
# words (from their descriptions) and the states only this client records.
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "submitted": ("submitted", "submitting"),
    "in_queue": tuple(sorted(MODEL_API_STATUSES.queued)),
    "in_progress": tuple(sorted(MODEL_API_STATUSES.running)),
    "completed": tuple(sorted(MODEL_API_STATUSES.succeeded)),
    "failed": tuple(sorted(MODEL_API_STATUSES.failed)),
    "cancelled": tuple(sorted(MODEL_API_STATUSES.cancelled)),
    "timed_out": ("timed_out",),
    "interrupted": ("interrupted",),
    "download_failed": ("download_failed",),
}
SUCCEEDED = frozenset(MODEL_API_STATUSES.succeeded)
CANCELLED = frozenset(MODEL_API_STATUSES.cancelled)
# Statuses after which the service has nothing new to say about a request.
FINAL_STATUSES = MODEL_API_STATUSES.terminal | {"download_failed"}
