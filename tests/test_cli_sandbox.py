"""The command line against a service that is not there, and ``serve`` as a lasting sandbox:
real processes, real sockets on loopback."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.local import LocalService, sample_contacts

from .test_cli import CLI, run

pytestmark = [pytest.mark.subprocess, pytest.mark.network]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    voters = LocalService(voters=5000)
    voters.stop()
    return sample_contacts(voters.voters, 20, seed=2).drop(columns="true_voterbase_id")


def test_match_against_a_refused_port_fails_at_once_and_leaves_no_job(
    people: pd.DataFrame, tmp_path: Path
) -> None:
    given = tmp_path / "list.csv"
    people.to_csv(given, index=False)
    port = free_port()
    env = {
        "SMARTMATCH_BASE_URL": f"http://127.0.0.1:{port}/",
        "TS_API_KEY": "cli-unreachable-key-123456",
        "SMARTMATCH_HOME": str(tmp_path / "home"),
    }
    start = time.monotonic()
    done = run("match", str(given), "-o", str(tmp_path / "out.csv"), env=env)
    took = time.monotonic() - start
    assert done.returncode == 1
    assert took < 15  # a Python start-up and a refused connection, not 51.9 s of retries
    assert f"127.0.0.1:{port}" in done.stderr
    assert "refused" in done.stderr
    assert "Traceback" not in done.stderr
    assert "cli-unreachable-key-123456" not in done.stdout + done.stderr
    assert not (tmp_path / "out.csv").exists()
    listed = run("jobs", env=env)
    assert "No jobs yet." in listed.stdout
    cleared = run("clear-cache", "--jobs", env=env)
    assert "forgot 0 finished jobs" in cleared.stdout


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """``smartmatch-pandas serve ARGS`` in a process; the environment it prints."""
    process = subprocess.Popen(
        [*CLI, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("TS_", "SMARTMATCH_"))},
    )
    assert process.stdout is not None
    env: dict[str, str] = {}
    for line in process.stdout:
        if line.startswith("# serving"):
            break
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            env[name] = value
    try:
        yield process, env
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_a_job_survives_a_restart_of_serve_with_a_data_dir(
    people: pd.DataFrame, tmp_path: Path
) -> None:
    data, port = tmp_path / "sandbox", free_port()
    args = ("--port", str(port), "--data-dir", str(data), "--voters", "5000", "--delay", "3")
    with serving(*args, "--poll-interval", "0.2") as (_, first):
        key = first["TS_API_KEY"]
        job = sm.submit(people, api_key=key, base_url=first["SMARTMATCH_BASE_URL"], progress=False)
    # Stopped (SIGTERM) before the job was ready: started again on the same folder and port.
    with serving(*args, "--poll-interval", "0.2") as (process, again):
        assert again["TS_API_KEY"] == key  # the key it generated is kept with the data
        assert again["SMARTMATCH_BASE_URL"] == first["SMARTMATCH_BASE_URL"]
        result = sm.resume(job.filename, people, api_key=key, progress=False, timeout=120)
        assert process.poll() is None
    assert len(result.frame) == len(people)
    assert result.frame["tsmart_match_code"].eq("Y").sum() >= len(people) // 2
    for path in [data, *data.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
