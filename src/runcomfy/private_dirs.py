"""Directories only this user may enter: the config, state and cache directories and their missing parents.

``Path.mkdir(parents=True, mode=0o700)`` gives the mode to the last directory only; the parents it creates get
``0o777`` minus the umask, which under ``umask 000`` is world-writable, and a world-writable parent lets anyone
replace the private directory beneath it. Every directory created here is 0700 whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and each missing parent with mode 0700; an existing directory is left as it is.

    Raises ``OSError`` when one cannot be created (callers turn it into their own error).
    """
    if directory.is_dir():
        return
    missing: list[Path] = []
    probe = directory
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            folder.mkdir(mode=0o700)
            if os.name == "posix":
                os.chmod(folder, 0o700)  # the umask may have removed bits: make it exact
