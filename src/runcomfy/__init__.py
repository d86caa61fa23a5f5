"""runcomfy: a client library and CLI for RunComfy's Model API, with a local emulator of the service.

The public surface is re-exported here; the library never prints, prompts or exits.
"""

from runcomfy._version import __version__
from runcomfy.errors import RunComfyError

__all__ = ["RunComfyError", "__version__"]
