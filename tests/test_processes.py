"""A job outlives the process that submitted it: real client processes, killed and resumed.

The local service runs in the test process; every client is a subprocess of
its own, talking to it over 127.0.0.1 and sharing the test's job store.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.local import LocalService, sample_contacts

from .conftest import POLL, violations

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    # 4-8 s each: real interpreters start, and a job must still be running when
    # the signal arrives, so the service's delay outlasts their start-up.
    pytest.mark.slow,
    pytest.mark.subprocess,
]


@pytest.fixture
def contacts_file(fresh_service: LocalService, tmp_path: Path) -> Path:
    path = tmp_path / "contacts.parquet"
    frame = sample_contacts(fresh_service.voters, 60, seed=21).drop(columns="true_voterbase_id")
    frame.to_parquet(path)
    return path


def client(service: LocalService, code: str) -> subprocess.Popen[str]:
    """A Python process pointed at ``service`` and at the test's job store."""
    env = {**os.environ, **service.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def read_back(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def test_a_killed_process_loses_nothing(
    fresh_service: LocalService, contacts_file: Path, tmp_path: Path
) -> None:
    fresh_service.config.delay = 12 * POLL
    waiter = client(
        fresh_service,
        f"""
import pandas as pd, smartmatch_pandas as sm
df = pd.read_parquet({str(contacts_file)!r})
job = sm.submit(df, max_matches=2, progress=False)
print(job.filename)
job.wait(progress=False)
print("finished waiting")
""",
    )
    assert waiter.stdout is not None
    filename = waiter.stdout.readline().strip()
    until(lambda: fresh_service.stats.get("polls", 0) >= 2)
    waiter.send_signal(signal.SIGKILL)
    waiter.communicate(timeout=30)
    assert waiter.returncode == -signal.SIGKILL
    assert sm.jobs().loc[0, ["filename", "state"]].tolist() == [filename, "uploaded"]

    resumed = tmp_path / "resumed.parquet"
    out = finish(
        client(
            fresh_service,
            f"""
import pandas as pd, smartmatch_pandas as sm
df = pd.read_parquet({str(contacts_file)!r})
result = sm.resume({filename!r}, df, progress=False)
result.frame.to_parquet({str(resumed)!r})
print(result.summary)
""",
        )
    )
    assert "SmartMatch: 60 rows sent" in out
    stats = fresh_service.stats
    assert (stats["registrations"], stats["uploads"]) == (1, 1)
    assert violations(fresh_service) == 0

    # The same result the killed process would have had: the same data matched afresh.
    frame = read_back(contacts_file)
    reference = tmp_path / "reference.parquet"
    sm.match(frame, max_matches=2, refresh=True, **fresh_service.settings).to_parquet(reference)
    pd.testing.assert_frame_equal(read_back(resumed), read_back(reference))


def test_ctrl_c_prints_the_resume_call_and_the_job_resumes(
    fresh_service: LocalService, contacts_file: Path, tmp_path: Path
) -> None:
    fresh_service.config.delay = 12 * POLL
    waiter = client(
        fresh_service,
        f"""
import pandas as pd, smartmatch_pandas
df = pd.read_parquet({str(contacts_file)!r})
enriched = df.smartmatch.match()
""",
    )
    until(lambda: fresh_service.stats.get("polls", 0) >= 2)
    waiter.send_signal(signal.SIGINT)
    _, err = waiter.communicate(timeout=30)
    assert waiter.returncode != 0
    assert "KeyboardInterrupt" in err
    assert "goes on at the service" in err  # stdout is left to the data
    calls = re.findall(r"^    (smartmatch_pandas\.resume\(.*\))$", err, flags=re.MULTILINE)
    assert len(calls) == 1
    call = calls[0]
    assert re.fullmatch(r"smartmatch_pandas\.resume\('sm_\w+', df\)", call)

    resumed = tmp_path / "resumed.parquet"
    finish(
        client(
            fresh_service,
            f"""
import pandas as pd, smartmatch_pandas
df = pd.read_parquet({str(contacts_file)!r})
result = {call}
result.frame.to_parquet({str(resumed)!r})
""",
        )
    )
    assert len(read_back(resumed)) == 60
    assert (fresh_service.stats["registrations"], fresh_service.stats["uploads"]) == (1, 1)
    assert violations(fresh_service) == 0


def test_ctrl_c_in_the_command_line_prints_the_resume_command(
    fresh_service: LocalService, tmp_path: Path
) -> None:
    fresh_service.config.delay = 12 * POLL
    contacts = tmp_path / "my contacts.csv"
    frame = sample_contacts(fresh_service.voters, 30, seed=4).drop(columns="true_voterbase_id")
    frame.to_csv(contacts, index=False)
    output = tmp_path / "enriched.csv"
    cli = "from smartmatch_pandas.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, **fresh_service.environ}
    waiter = subprocess.Popen(
        [sys.executable, "-c", cli, "match", str(contacts), "-o", str(output), "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    until(lambda: fresh_service.stats.get("polls", 0) >= 2)
    waiter.send_signal(signal.SIGINT)
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 3  # interrupted, with a job to resume
    assert out == ""  # stdout holds the result alone: the resume command is on stderr
    filename = sm.jobs().loc[0, "filename"]
    command = f"smartmatch-pandas resume {filename} --input '{contacts}' -o {output}"
    assert f"    {command}\n" in err

    args = command.replace(f"'{contacts}'", "CONTACTS").split()[1:]
    args[args.index("CONTACTS")] = str(contacts)
    resumed = subprocess.run(
        [sys.executable, "-c", cli, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert resumed.returncode == 0, resumed.stderr
    written = pd.read_csv(output, dtype=str, keep_default_na=False)["zip"]
    assert written.tolist() == frame["zip"].fillna("").tolist()
    assert (fresh_service.stats["registrations"], fresh_service.stats["uploads"]) == (1, 1)


def test_ctrl_c_while_several_lists_wait_says_so_in_command_line_words(
    fresh_service: LocalService, tmp_path: Path
) -> None:
    fresh_service.config.delay = 600.0
    lists = []
    for seed in (5, 6):
        path = tmp_path / f"list{seed}.csv"
        sample_contacts(fresh_service.voters, 20, seed=seed).drop(
            columns="true_voterbase_id"
        ).to_csv(path, index=False)
        lists.append(str(path))
    cli = "from smartmatch_pandas.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
    waiter = subprocess.Popen(
        [sys.executable, "-c", cli, "match", *lists, "--output-dir", str(tmp_path / "out")],
        env={**os.environ, **fresh_service.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    until(lambda: fresh_service.stats.get("polls", 0) >= 2)
    waiter.send_signal(signal.SIGINT)
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 3, err  # interrupted, with jobs to resume
    assert out == ""
    assert err.count("smartmatch-pandas resume sm_") == 2
    assert "smartmatch_pandas.resume(" not in err


def test_two_processes_waiting_on_one_job_keep_the_rate_limit(
    fresh_service: LocalService, contacts_file: Path
) -> None:
    # Long enough for both processes to start (importing pandas) and poll while it waits.
    fresh_service.config.delay = 50 * POLL
    job = sm.submit(read_back(contacts_file), **fresh_service.settings, progress=False)
    code = f"""
import pandas as pd, smartmatch_pandas as sm
df = pd.read_parquet({str(contacts_file)!r})
print(sm.resume({job.filename!r}, df, progress=False, cache=False).summary)
"""
    waiters = [client(fresh_service, code) for _ in range(2)]
    outs = [finish(waiter) for waiter in waiters]
    assert all("SmartMatch: 60 rows sent" in out for out in outs)
    assert fresh_service.stats["polls"] >= 8
    assert violations(fresh_service) == 0
    assert fresh_service.stats["registrations"] == 1


def test_the_store_keeps_every_change_of_concurrent_processes(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 30.0
    frame = sample_contacts(fresh_service.voters, 5, seed=2).drop(columns="true_voterbase_id")
    job = sm.submit(frame, **fresh_service.settings, progress=False)
    code = f"""
from smartmatch_pandas.job.store import JobStore
store = JobStore()
for _ in range(100):
    store.modify({job.filename!r}, lambda record: setattr(record, "polls", record.polls + 1))
"""
    workers = [client(fresh_service, code) for _ in range(3)]
    for worker in workers:
        finish(worker)
    assert sm.jobs().loc[0, "polls"] == 300
    home = Path(os.environ["SMARTMATCH_HOME"])
    assert not [p for p in home.rglob("*") if p.name.endswith(".partial")]
