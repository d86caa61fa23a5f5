"""A local emulator of the RunComfy service, for offline use, this project's tests and users' own tests.

Start it with ``runcomfy emulator`` (a foreground server), ``runcomfy --local <command>`` (an embedded one per
command), or from a test with :mod:`runcomfy.emulator.testing` (a pytest plugin and a context manager). The
package is laid out by concern: the shared parts (``clock``, ``store``, ``accounts``, ``worker_queue``, ``state``,
``errors``, ``bodies``, ``hosts``, ``files``, ``routing``, the control plane in ``control`` and
``control_routes``), one routes module per emulated API (``web_login``, ``model_api``), the ``catalog`` of
models, and ``app``/``server`` to put them together and serve them.

This module imports nothing: the emulator needs the ``emulator`` extra (Starlette, uvicorn, Pillow), and the
pytest plugin is loaded in every pytest run of an environment that has ``runcomfy``, so importing the package
must cost nothing and never fail.
"""
