"""Batches: many inputs of one model (or one ComfyUI deployment, see ``targets.py``), run concurrently, resumable, never submitting a line twice.

``inputs.py`` reads JSONL; ``limiter.py`` is the one rate gate shared by every worker; ``runner.py`` runs the
items; ``ledger.py`` records each step in the journal (and holds the batch's locks) so an interrupted batch
resumes where it stopped.
"""

from runcomfy.batch.inputs import BatchInput, parse_jsonl
from runcomfy.batch.ledger import BatchLedger, batch_key
from runcomfy.batch.limiter import RateGate
from runcomfy.batch.runner import BatchEvent, BatchRun, ItemRecord
from runcomfy.batch.targets import BatchTarget, DeploymentTarget, ModelTarget

__all__ = [
    "BatchEvent",
    "BatchInput",
    "BatchLedger",
    "BatchRun",
    "BatchTarget",
    "DeploymentTarget",
    "ItemRecord",
    "ModelTarget",
    "RateGate",
    "batch_key",
    "parse_jsonl",
]
