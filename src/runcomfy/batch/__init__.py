"""Batches: many inputs of one model, run concurrently, resumable, never submitting a line twice.

``inputs.py`` reads JSONL; ``limiter.py`` is the one rate gate shared by every worker; ``runner.py`` runs the
items and records each step in the journal so an interrupted batch resumes where it stopped.
"""

from runcomfy.batch.inputs import BatchInput, parse_jsonl
from runcomfy.batch.limiter import RateGate
from runcomfy.batch.runner import BatchEvent, ItemRecord, batch_key, run_many

__all__ = ["BatchEvent", "BatchInput", "ItemRecord", "RateGate", "batch_key", "parse_jsonl", "run_many"]
