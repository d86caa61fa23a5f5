"""Settings for the whole suite.

Hypothesis times each example against a 200 ms deadline by default. On a 2-core machine running four test
workers (CI), a perfectly correct example can take longer, and a timing assertion is not what these tests are
about (speed is measured in ``benchmarks/``), so examples have no deadline here.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("runcomfy", deadline=None)
settings.load_profile("runcomfy")
