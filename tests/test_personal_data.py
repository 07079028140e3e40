"""Contact data stays in the job store, readable by the user alone; nothing is left elsewhere.

Each scenario runs a real client process (success, a failed job, a damaged
deliverable, an interrupt) with a home, a temporary folder and a working
folder of its own and a umask that lets anyone read. The process records
every file it opens for writing, every folder it makes and every file it
renames (Python's audit hooks, which see pyarrow's files through the
temporary names Python makes for them). Afterwards: every path written lies
in the job store, the temporary and working folders are empty, and every
file and folder of the store is the user's alone.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from smartmatch_pandas.local import Fault, LocalService, sample_contacts

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and signals"),
    pytest.mark.slow,  # a client process per scenario: 3-5 s each
]

#: Run first in the client: record what is written, open to everyone by the umask.
AUDIT = r"""
import atexit, json, os, sys
_log = os.open(os.environ["AUDIT_LOG"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
_written = []
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def _hook(event, args):
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int) or path is None:
            return
        if (isinstance(mode, str) and set(mode) & set("wax+")) or (flags or 0) & _WRITE:
            _written.append(("open", os.fsdecode(path)))
    elif event in ("os.mkdir", "tempfile.mkstemp", "tempfile.mkdtemp", "os.symlink"):
        _written.append((event, os.fsdecode(args[0])))
    elif event in ("os.rename", "os.replace", "shutil.copyfile", "shutil.move"):
        _written.append((event, os.fsdecode(args[1])))

atexit.register(lambda: os.write(_log, json.dumps(_written).encode()))
sys.addaudithook(_hook)
os.umask(0)
"""

CLIENT = r"""
import sys, pandas as pd, smartmatch_pandas as sm
df = pd.read_parquet(sys.argv[1])
try:
    sm.match(df, cache={cache}, progress=True)
except sm.SmartMatchError as exc:
    print("stopped:", type(exc).__name__, exc, file=sys.stderr)
    sys.exit(3)
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.fixture(scope="module")
def service() -> Iterator[LocalService]:
    with LocalService(poll_interval=0.2, voters=20_000, seed=0) as running:
        yield running


@pytest.fixture
def sandbox(tmp_path: Path, service: LocalService) -> dict[str, Path]:
    places = {name: tmp_path / name for name in ("home", "tmp", "work")}
    for place in places.values():
        place.mkdir()
    frame = sample_contacts(service.voters, 40, seed=9).drop(columns="true_voterbase_id")
    places["input"] = tmp_path / "input" / "contacts.parquet"
    places["input"].parent.mkdir()
    frame.to_parquet(places["input"])
    places["audit"] = tmp_path / "audit.json"
    return places


def run_client(
    service: LocalService, places: dict[str, Path], *, cache: bool = True, home: bool = False
) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SMARTMATCH_", "TS_"))},
        **service.environ,
        "HOME": str(places["home"]),
        "TMPDIR": str(places["tmp"]),
        "AUDIT_LOG": str(places["audit"]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("XDG_CACHE_HOME", None)
    if not home:  # the default store: ~/.cache/smartmatch-pandas
        env["SMARTMATCH_HOME"] = str(places["home"] / "store")
    code = AUDIT + CLIENT.replace("{cache}", str(cache))
    return subprocess.Popen(
        [sys.executable, "-c", code, str(places["input"])],
        cwd=places["work"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def store_of(places: dict[str, Path], home: bool) -> Path:
    return places["home"] / (".cache/smartmatch-pandas" if home else "store")


def check_nothing_left_outside(places: dict[str, Path], store: Path) -> list[Path]:
    """The store holds everything written, privately; return its files."""
    written = json.loads(places["audit"].read_text())
    assert written, "the audit recorded nothing"
    for event, path in written:
        resolved = Path(path).resolve()
        if event == "os.mkdir" and store.resolve().is_relative_to(resolved):
            # A folder on the way to the store (~/.cache): made private too.
            assert stat.S_IMODE(resolved.stat().st_mode) == 0o700, path
            continue
        assert resolved.is_relative_to(store.resolve()) or path == os.devnull, (event, path)
    assert list(places["tmp"].iterdir()) == []
    assert list(places["work"].iterdir()) == []
    outside = [p for p in places["home"].rglob("*") if not p.is_relative_to(store)]
    assert all(p.is_dir() and store.is_relative_to(p) for p in outside), outside
    files = []
    for path in [store, *store.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
        if path.is_file():
            files.append(path)
    return files


def contact_values(places: dict[str, Path]) -> list[str]:
    frame = pd.read_parquet(places["input"])
    return [v for v in frame["last_name"].dropna().astype(str) if len(v) > 4][:10]


@pytest.mark.parametrize(("cache", "home"), [(True, False), (False, False), (True, True)])
@pytest.mark.subprocess
def test_a_match_writes_only_its_store(
    service: LocalService, sandbox: dict[str, Path], cache: bool, home: bool
) -> None:
    process = run_client(service, sandbox, cache=cache, home=home)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    store = store_of(sandbox, home)
    files = check_nothing_left_outside(sandbox, store)
    results = [p for p in files if p.parent.name == "results"]
    assert len(results) == (1 if cache else 0)  # contact data on disk only when asked
    for record in (store / "jobs").glob("*.json"):
        text = record.read_text()
        for value in contact_values(sandbox):
            assert value not in text


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.fail("Internal Error: no luck"), "JobInternalError"),  # a JobFailedError
        (Fault.corrupt(times=None), "DeliverableError"),
    ],
    ids=["failed job", "damaged deliverable"],
)
@pytest.mark.subprocess
def test_a_job_that_goes_wrong_writes_only_its_store(
    service: LocalService, sandbox: dict[str, Path], fault: Fault, error: str
) -> None:
    service.inject(fault)
    try:
        process = run_client(service, sandbox)
        _, err = process.communicate(timeout=120)
    finally:
        service.faults.clear()
    assert process.returncode == 3, err
    assert error in err
    files = check_nothing_left_outside(sandbox, store_of(sandbox, False))
    assert not [p for p in files if p.parent.name == "results"]


@pytest.mark.subprocess
def test_an_interrupted_wait_leaves_nothing_behind(
    service: LocalService, sandbox: dict[str, Path]
) -> None:
    service.config.delay = 30.0
    try:
        process = run_client(service, sandbox)
        jobs = store_of(sandbox, False) / "jobs"
        deadline = time.monotonic() + 60
        while not any('"uploaded"' in p.read_text() for p in jobs.glob("*.json") if p.is_file()):
            assert time.monotonic() < deadline, "the job was never uploaded"
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        time.sleep(0.5)  # waiting, between two polls
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        service.config.delay = 0.0
    assert process.returncode == 130, err
    assert "goes on at the service" in err  # the resume call: on stderr
    check_nothing_left_outside(sandbox, store_of(sandbox, False))
