"""Authentication: the token store (``credentials``) and the device-code protocol (``device``).

Neither module prints, prompts, opens a browser or exits; the CLI's ``login``/``logout``/``whoami`` do that.
"""

from runcomfy.auth.credentials import (
    Token,
    TokenLookup,
    delete_token,
    find_token,
    require_token,
    save_token,
    token_path,
)

__all__ = ["Token", "TokenLookup", "delete_token", "find_token", "require_token", "save_token", "token_path"]
