"""The command line against a service that is not there, and ``serve`` as a lasting sandbox:
real processes, real sockets on loopback."""

from __future__ import annotations

import os
import re
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
from smartmatch_pandas.cli.serve import API_KEY_ENV
from smartmatch_pandas.local import LocalService, sample_contacts, server

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
def serving(
    *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """``smartmatch-pandas serve ARGS`` in a process; the environment it prints."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "SMARTMATCH_"))}
    process = subprocess.Popen(
        [*CLI, "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean, **(env or {})},
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
    assert process.stderr is not None
    said = process.stderr.read()
    assert "the API key kept in" in said
    assert "1 job kept in" in said
    assert len(result.frame) == len(people)
    assert result.frame["tsmart_match_code"].eq("Y").sum() >= len(people) // 2
    for path in [data, *data.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_serve_on_a_port_in_use_says_so_in_one_line() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run("serve", "--port", str(port), "--voters", "5000", timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "in use" in lines[0]
    assert "--port 0 picks a free one" in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_serve_keeps_the_key_it_is_given() -> None:
    with serving("--port", "0", "--voters", "5000", "--api-key", "sandbox-given-key") as (
        process,
        printed,
    ):
        assert printed["TS_API_KEY"] == "sandbox-given-key"
    assert process.stderr is not None
    assert "the API key given with --api-key" in process.stderr.read()
    with serving("--port", "0", "--voters", "5000", env={API_KEY_ENV: "from-the-env"}) as (
        process,
        printed,
    ):
        assert printed["TS_API_KEY"] == "from-the-env"
    assert API_KEY_ENV == server.API_KEY_ENV


def test_a_refused_key_on_a_local_service_points_at_serve(
    people: pd.DataFrame, tmp_path: Path
) -> None:
    given = tmp_path / "list.csv"
    people.to_csv(given, index=False)
    with serving("--port", "0", "--voters", "5000") as (_, printed):
        stale = {**printed, "TS_API_KEY": "a-key-from-an-earlier-start"}
        done = run("match", str(given), "-o", str(tmp_path / "out.csv"), env=stale)
    assert done.returncode == 1
    assert "export" in done.stderr
    assert "smartmatch-pandas serve" in done.stderr
    assert "provisioned" not in done.stderr


@pytest.mark.slow  # a service, a command line's start-up and a few polls: about 5 s
def test_a_service_stopped_during_the_wait_ends_the_command_with_how_to_resume(
    people: pd.DataFrame, tmp_path: Path
) -> None:
    given = tmp_path / "list.csv"
    people.to_csv(given, index=False)
    service = LocalService(voters=2_000, poll_interval=0.2, delay=600).start()
    env = {**service.environ, "SMARTMATCH_HOME": str(tmp_path / "home")}
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "SMARTMATCH_"))}
    command = [*CLI, "match", str(given), "-o", str(tmp_path / "out.csv")]
    process = subprocess.Popen(
        command, env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while service.stats.get("polls", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # registered, uploaded, polled: "not ready"
        service.stop()
        stopped = time.monotonic()
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        service.stop()
    assert time.monotonic() - stopped < 15  # two refused polls, not ten
    assert process.returncode == 1
    # On a line of its own, under the finished progress bar.
    assert re.search(r"^smartmatch-pandas: the service is not running: 2 polls", stderr, re.M)
    assert re.search(r"smartmatch-pandas resume sm_\w+", stderr), stderr
    assert "Errno" not in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "out.csv").exists()
