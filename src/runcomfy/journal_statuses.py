"""The statuses the request journal records, grouped for people: what ``requests list --status`` accepts and
which statuses are final.

Kept apart from ``journal.py`` (SQLite) so the CLI can build its options without importing the database layer.
"""

from __future__ import annotations

# What ``requests list --status`` accepts, and the recorded spellings each one stands for.
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "submitted": ("submitted", "submitting"),
    "in_queue": ("in_queue", "queued", "pending", "waiting"),
    "in_progress": ("in_progress", "running", "processing", "starting"),
    "completed": ("completed", "succeeded"),
    "failed": ("failed",),
    "cancelled": ("cancelled", "canceled"),
    "timed_out": ("timed_out",),
    "interrupted": ("interrupted",),
    "download_failed": ("download_failed",),
}
# Statuses after which the service has nothing new to say about a request.
FINAL_STATUSES = frozenset({"completed", "succeeded", "failed", "cancelled", "canceled", "download_failed"})
