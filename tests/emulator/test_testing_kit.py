"""The test kit users get: the pytest plugin and its fixture, ``running_emulator``, the typed control client.

Where the kit meets pytest as a user's project does (entry-point loading, a missing ``emulator`` extra), a
real pytest runs in a subprocess on a throwaway project, with no ini file and no conftest of this project.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import runcomfy.emulator.testing as testing
from runcomfy.emulator.clock import FROZEN_EPOCH
from runcomfy.emulator.control_client import ControlClient, ControlPlaneError
from runcomfy.emulator.testkit import RunningEmulator, running_emulator
from runcomfy.errors import PermissionDeniedError

ECHO = "runcomfy/emulator/echo"
SLOW = "runcomfy/emulator/slow"

USER_TESTS = """
from runcomfy.emulator.testing import RunningEmulator


def test_uses_the_emulator(runcomfy_emulator: RunningEmulator) -> None:
    result = runcomfy_emulator.client.run("runcomfy/emulator/echo", {"hello": "world"})
    assert result.output == {"hello": "world"}


def test_never_touches_the_emulator() -> None:
    assert True
"""
WITHOUT_THE_EXTRA = """
import sys

for name in ("starlette", "uvicorn"):
    sys.modules[name] = None  # as if `pip install runcomfy` had been run without the [emulator] extra
"""


def run_user_pytest(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


# -- the plugin as a user's project meets it ------------------------------------------------------------------


def test_the_plugin_is_loaded_once_through_its_entry_point(request: pytest.FixtureRequest) -> None:
    manager = request.config.pluginmanager
    assert manager.get_plugin("runcomfy") is testing
    assert [name for name, plugin in manager.list_name_plugin() if plugin is testing] == ["runcomfy"]


def test_a_user_project_gets_the_fixture_without_any_conftest(tmp_path: Path) -> None:
    (tmp_path / "test_mine.py").write_text(USER_TESTS)
    done = run_user_pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_without_the_extra_the_fixture_fails_with_the_install_command_and_other_tests_pass(
    tmp_path: Path,
) -> None:
    (tmp_path / "conftest.py").write_text(WITHOUT_THE_EXTRA)
    (tmp_path / "test_mine.py").write_text(USER_TESTS)
    done = run_user_pytest(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 1 error" in done.stdout  # the fixture's setup fails: an error, as pytest calls it
    assert "pip install 'runcomfy[emulator]'" in done.stdout
    assert "Traceback" not in done.stdout


def test_outside_pytest_a_missing_extra_is_an_import_error_naming_the_install_command() -> None:
    probe = WITHOUT_THE_EXTRA + textwrap.dedent(
        """
        from runcomfy.emulator.testkit import EmulatorExtraMissing, running_emulator
        try:
            with running_emulator():
                pass
        except EmulatorExtraMissing as missing:
            print(isinstance(missing, ImportError), missing)
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "True the RunComfy emulator needs its extra: pip install 'runcomfy[emulator]'"
    )


def test_importing_the_plugin_loads_nothing_heavy() -> None:
    probe = textwrap.dedent(
        """
        import sys
        import runcomfy.emulator.testing
        heavy = ("starlette", "uvicorn", "httpx", "PIL", "jsonschema", "runcomfy.client")
        print(sorted(name for name in heavy if name in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- running_emulator ---------------------------------------------------------------------------------------------


def test_running_emulator_serves_its_token_and_bases_and_stops_at_the_end_of_the_block() -> None:
    with running_emulator() as emulator:
        port = emulator.server.port
        assert emulator.env == {
            "RUNCOMFY_MODEL_API_BASE": f"http://127.0.0.1:{port}/v1",
            "RUNCOMFY_WEB_BASE": f"http://127.0.0.1:{port}",
            "RUNCOMFY_TOKEN": emulator.token,
            "RUNCOMFY_SERVERLESS_API_BASE": f"http://127.0.0.1:{port}/prod/v2",
            "RUNCOMFY_TRAINER_API_BASE": f"http://127.0.0.1:{port}/prod/v1",
        }
        me = emulator.http.get(
            f"{emulator.web_base}/api/auth/me", headers={"Authorization": f"Bearer {emulator.token}"}
        )
        assert me.status_code == 200
        assert emulator.client.run(ECHO, {"n": 1}).output == {"n": 1}  # zero run time: done at once
    assert not accepts_connections(port)


def test_each_emulator_has_its_own_random_token_unless_given_one() -> None:
    with running_emulator() as first, running_emulator() as second, running_emulator(token="mine") as third:
        assert first.token != second.token and first.token.startswith("rc-test-")
        assert third.token == "mine"


def test_a_frozen_clock_stands_still_until_advanced() -> None:
    with running_emulator(frozen_clock=True, durations={SLOW: 30}) as emulator:
        assert emulator.control.clock.now() == FROZEN_EPOCH
        handle = emulator.client.submit(SLOW, {})
        time.sleep(0.05)
        assert emulator.control.clock.now() == FROZEN_EPOCH
        assert emulator.control.clock.advance(30) == {"now": FROZEN_EPOCH + 30, "offset": 30}
        assert handle.result().ok


def test_the_default_clock_runs_with_the_wall_clock_and_jumps_when_advanced() -> None:
    with running_emulator() as emulator:
        assert abs(emulator.control.clock.now() - time.time()) < 5
        emulator.control.clock.advance(3600)
        assert abs(emulator.control.clock.now() - (time.time() + 3600)) < 5


def test_more_tokens_are_more_users() -> None:
    with running_emulator(tokens=["second-user"]) as emulator:
        theirs = emulator.new_client("second-user").submit(ECHO, {})
        with pytest.raises(PermissionDeniedError):
            emulator.client.status(theirs.request_id, retry=False)


# -- the typed control client -----------------------------------------------------------------------------------


@pytest.fixture
def control(runcomfy_emulator: RunningEmulator) -> ControlClient:
    return runcomfy_emulator.control


def test_faults_are_added_listed_and_cleared_as_records(control: ControlClient) -> None:
    added = control.faults.add(route="status", status=429, retry_after=2, times=None)
    assert [(f.route, f.kind, f.status, f.retry_after, f.times) for f in added] == [
        ("status", "error", 429, "2", None)
    ]
    assert control.faults.list() == added
    control.faults.clear()
    assert control.faults.list() == []


def test_a_refused_control_request_raises_with_the_emulators_reason(control: ControlClient) -> None:
    with pytest.raises(ControlPlaneError) as refused:
        control.faults.add(route="no-such-route")
    assert refused.value.status == 400 and "unknown route" in str(refused.value)


def test_calls_are_listed_by_route_and_cleared(
    runcomfy_emulator: RunningEmulator, control: ControlClient
) -> None:
    handle = runcomfy_emulator.client.submit(ECHO, {})
    handle.status()
    assert [call.route for call in control.calls.list()] == ["submit", "status"]
    (status,) = control.calls.list("status")
    assert status.status == 200 and status.authorized and status.request_id == handle.request_id
    assert control.calls.list(since=status.seq) == []
    control.calls.clear()
    assert control.calls.list() == []


def test_config_requests_fail_tokens_and_reset(
    runcomfy_emulator: RunningEmulator, control: ControlClient
) -> None:
    settings = control.config.set(workers=1, durations={SLOW: 60})
    assert settings["workers"] == 1 and settings["durations"] == {"*": 0.0, SLOW: 60}
    assert control.config.get() == settings
    handle = runcomfy_emulator.client.submit(SLOW, {})
    failed = control.fail(handle.request_id, message="out of memory")
    assert failed["status"] == "failed" and failed["error"] == {
        "type": "model_error",
        "message": "out of memory",
    }
    assert [record["request_id"] for record in control.requests()] == [handle.request_id]
    assert control.add_token("another")["token_type"] == "api"
    control.reset()
    assert control.requests() == [] and control.config.get()["workers"] == 2


def test_the_control_client_also_drives_an_emulator_it_did_not_start(
    runcomfy_emulator: RunningEmulator,
) -> None:
    with ControlClient(runcomfy_emulator.origin) as control:
        assert control.info()["emulator"] == "runcomfy"
    assert runcomfy_emulator.control.request("GET", "no-such-thing").status_code == 404


@pytest.mark.runcomfy_emulator(workers=3, frozen_clock=True, start_time=1_900_000_000)
def test_the_marker_configures_the_fixture(runcomfy_emulator: RunningEmulator) -> None:
    assert runcomfy_emulator.control.config.get()["workers"] == 3
    assert runcomfy_emulator.control.clock.now() == 1_900_000_000


def test_a_client_made_by_the_kit_is_closed_when_the_emulator_stops() -> None:
    with running_emulator() as emulator:
        extra = emulator.new_client()
        emulator.client.whoami()
    with pytest.raises(RuntimeError, match="closed"):
        extra.whoami()
