"""``runcomfy mcp``: a local MCP server over every RunComfy API, for coding agents.

Tools and resources over the library and the CLI's own steps (nothing of their own): :mod:`.server` builds and
serves it, :mod:`.workspace` holds what the tools share, ``*_tools`` are the tools per API, :mod:`.resources`
the resources, :mod:`.waiting` the wait with progress and cancellation, :mod:`.outcomes` and :mod:`.files` a
finished request's answer and files, :mod:`.replies` the answer and error shapes, :mod:`.bearer` the HTTP door.
Needs the ``mcp`` extra (``pip install 'runcomfy[mcp]'``).
"""
