"""`make run`'s own clamd (apps/files/local_clamd.py): started, used, and stopped with Enclave."""

from __future__ import annotations

import functools
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from apps.files.local_clamd import ADDRESS_VARIABLE, LocalClamd, run_with_local_clamd
from tests.files.clamd_server import ClamdServer, clamd_installed
from tests.files.support import EICAR

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024

# The command make run would start (daphne), reduced to: scan EICAR with the scanner we were given.
SCAN_EICAR = textwrap.dedent(
    f"""
    import os, sys
    from apps.files import clamd
    verdict = clamd.scan_stream([{EICAR!r}], address=os.environ["{ADDRESS_VARIABLE}"], timeout=10)
    print("verdict", verdict.signature)
    sys.exit(7)
    """
)

needs_clamd = pytest.mark.skipif(
    not clamd_installed(), reason="[clamav] needs ClamAV's clamd (apt-get install clamav-daemon)"
)


def _no_system_signatures(tmp_path: Path) -> functools.partial[LocalClamd]:
    empty = tmp_path / "system-db"
    empty.mkdir(exist_ok=True)
    return functools.partial(LocalClamd, system_database=empty)


def test_database_directory_links_freshclams_files_and_holds_our_signatures(
    tmp_path: Path,
) -> None:
    system = tmp_path / "var-lib-clamav"
    system.mkdir()
    for name in ("main.cvd", "daily.cld", "bytecode.cvd", "freshclam.dat", "mirrors.dat"):
        (system / name).write_bytes(b"x")
    local = LocalClamd(tmp_path / "clamd", stream_max_bytes=100 * MiB, system_database=system)

    local.prepare()

    database = tmp_path / "clamd" / "db"
    assert sorted(p.name for p in database.iterdir()) == [
        "bytecode.cvd",
        "daily.cld",
        "enclave-test.hdb",
        "enclave-test.ndb",
        "main.cvd",
    ]
    assert (database / "daily.cld").resolve() == system / "daily.cld"  # freshclam updates show
    assert "daily.cld" in local.signatures_description()
    conf = (tmp_path / "clamd" / "clamd.conf").read_text()
    assert f"LocalSocket {tmp_path}/clamd/clamd.sock" in conf
    assert "StreamMaxLength 100M" in conf  # every file the upload limit lets in can be scanned
    assert "AlertExceedsMax yes" in conf  # a file beyond a limit is reported, never OK
    assert "MaxFileSize 100M" in conf


def test_without_system_signatures_it_says_only_the_test_ones_are_loaded(tmp_path: Path) -> None:
    local = _no_system_signatures(tmp_path)(tmp_path / "clamd", stream_max_bytes=MiB)

    local.prepare()

    assert "test signatures only" in local.signatures_description()


@pytest.mark.clamav
@needs_clamd
def test_command_scans_with_the_local_clamd_which_stops_with_it(tmp_path: Path) -> None:
    out = io.StringIO()
    started: list[LocalClamd] = []

    def factory(*args: object, **kwargs: object) -> LocalClamd:
        started.append(_no_system_signatures(tmp_path)(*args, **kwargs))
        return started[-1]

    status = run_with_local_clamd(
        [sys.executable, "-c", SCAN_EICAR],
        var_dir=tmp_path,
        stream_max_bytes=MiB,
        out=out,
        environ={k: v for k, v in os.environ.items() if k != ADDRESS_VARIABLE},
        clamd_factory=factory,
    )

    assert status == 7  # the command's own exit status
    assert "Virus scanning: active" in out.getvalue()
    assert "test signatures only" in out.getvalue()
    (local,) = started
    assert local.process is None
    assert not local.socket_path.exists()
    assert not local.ping()


def test_command_still_runs_and_fails_closed_when_clamd_cannot_start(tmp_path: Path) -> None:
    out = io.StringIO()
    factory = functools.partial(LocalClamd, clamd=str(tmp_path / "no-clamd"))
    check = f"import os, sys; sys.exit(3 if os.environ['{ADDRESS_VARIABLE}'] else 1)"

    status = run_with_local_clamd(
        [sys.executable, "-c", check],
        var_dir=tmp_path,
        stream_max_bytes=MiB,
        out=out,
        environ={k: v for k, v in os.environ.items() if k != ADDRESS_VARIABLE},
        clamd_factory=factory,
    )

    assert status == 3  # it ran, with an address where nothing answers
    assert "Virus scanning: OFF" in out.getvalue()
    assert "fail closed" in out.getvalue()


def test_a_configured_clamd_address_is_used_and_none_is_started(tmp_path: Path) -> None:
    out = io.StringIO()
    configured = f"unix://{tmp_path}/elsewhere.sock"

    def factory(*args: object, **kwargs: object) -> LocalClamd:
        raise AssertionError("started a clamd although one is configured")

    status = run_with_local_clamd(
        [
            sys.executable,
            "-c",
            f"import os; assert os.environ['{ADDRESS_VARIABLE}'] == {configured!r}",
        ],
        var_dir=tmp_path,
        stream_max_bytes=MiB,
        out=out,
        environ={**os.environ, ADDRESS_VARIABLE: configured},
        clamd_factory=factory,
    )

    assert status == 0
    assert configured in out.getvalue()
    assert "NOT reachable" in out.getvalue()


@pytest.mark.clamav
def test_a_configured_clamd_that_does_not_report_exceeded_limits_is_called_out(
    clamd_server_without_limit_alerts: ClamdServer,
) -> None:
    out = io.StringIO()
    configured = clamd_server_without_limit_alerts.address

    status = run_with_local_clamd(
        [sys.executable, "-c", "pass"],
        var_dir=Path("/nonexistent"),
        stream_max_bytes=MiB,
        out=out,
        environ={**os.environ, ADDRESS_VARIABLE: configured},
    )

    assert status == 0
    assert "does NOT report exceeded limits" in out.getvalue()
    assert "AlertExceedsMax yes" in out.getvalue()


RUNNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from apps.files.local_clamd import LocalClamd, run_with_local_clamd
    var, system = Path(sys.argv[1]), Path(sys.argv[2])
    factory = lambda *a, **k: LocalClamd(*a, system_database=system, **k)
    command = [sys.executable, "-c", "import time; print('serving', flush=True); time.sleep(60)"]
    sys.exit(run_with_local_clamd(
        command, var_dir=var, stream_max_bytes=1 << 20, out=sys.stdout, clamd_factory=factory
    ))
    """
)


@pytest.mark.clamav
@needs_clamd
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_stopping_make_run_stops_enclave_and_its_clamd(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    (tmp_path / "system-db").mkdir()
    env = {k: v for k, v in os.environ.items() if k != ADDRESS_VARIABLE}
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(tmp_path), str(tmp_path / "system-db")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, like a terminal's job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert runner.stdout is not None
        lines = [runner.stdout.readline(), runner.stdout.readline()]
        assert "Virus scanning: active" in lines[0], lines
        assert lines[1].strip() == "serving"
        pid_file = tmp_path / "clamd" / "clamd.pid"
        clamd_pid = int(pid_file.read_text().split()[0])

        # Ctrl-C reaches the whole group; SIGTERM (a service manager) only the runner.
        if stop_signal == signal.SIGINT:
            os.killpg(runner.pid, stop_signal)
        else:
            runner.send_signal(stop_signal)
        runner.wait(timeout=30)

        deadline = time.monotonic() + 10
        while _alive(clamd_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(clamd_pid)
        assert not (tmp_path / "clamd" / "clamd.sock").exists()
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
