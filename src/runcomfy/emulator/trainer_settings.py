"""The Trainer API's settings: how long a dataset takes to process, how fast training runs, how long a job
queues and how long an upload URL lives; and how the control plane changes them (``POST /_emulator/config``).

| Key | Default | Meaning |
|---|---|---|
| ``dataset_processing_s`` | 2 | seconds of clock between a dataset's last upload and its READY/FAILED verdict (0-86400) |
| ``training_steps_per_s`` | 50 | training steps a job runs per second of clock (0.001-1e6) |
| ``training_queue_s`` | 1 | seconds a submitted (or resumed) job waits before it runs (0-86400) |
| ``upload_url_ttl_s`` | 3600 | seconds of clock a signed upload URL stays valid (1-604800) |

A job keeps the speed and queue time it started a run with, so a change applies to runs started after it
(what already happened stays as it was). Every value is checked before anything changes (a ``ValueError``
names the key), so a refused change changes nothing. This module knows nothing of HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from runcomfy.emulator.control import DAY_S, number

WEEK_S = 7 * DAY_S


@dataclass(frozen=True)
class TrainerSettings:
    """What the Trainer API was started with (a reset goes back to it) or has been changed to."""

    dataset_processing_s: float = 2.0
    training_steps_per_s: float = 50.0
    training_queue_s: float = 1.0
    upload_url_ttl_s: float = 3600.0

    def reading(self) -> dict[str, Any]:
        """The settings as ``GET /_emulator/config`` shows them."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


_RANGES = {
    "dataset_processing_s": (0.0, float(DAY_S)),
    "training_steps_per_s": (0.001, 1e6),
    "training_queue_s": (0.0, float(DAY_S)),
    "upload_url_ttl_s": (1.0, float(WEEK_S)),
}


def changed(settings: TrainerSettings, data: Any) -> TrainerSettings:
    """``settings`` with the keys of a config body this module owns applied; ValueError says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    changes = {
        key: number(data[key], key, low=low, high=high)
        for key, (low, high) in _RANGES.items()
        if data.get(key) is not None
    }
    return replace(settings, **changes)
