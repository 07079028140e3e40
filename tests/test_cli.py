"""``smartmatch-pandas``: serve, match and demo, run as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from smartmatch_pandas.local import LocalService

pytestmark = pytest.mark.subprocess  # every test runs the command line

CLI = [sys.executable, "-m", "smartmatch_pandas.cli"]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TS_", "SMARTMATCH_"))}
    return subprocess.run(
        [*CLI, *args], env={**clean, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, str]]:
    """``smartmatch-pandas serve`` in a subprocess; the environment it prints."""
    process = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--poll-interval", "0.2", "--voters", "5000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    env: dict[str, str] = {}
    for line in process.stdout:
        if line.startswith("# serving"):
            break
        name, _, value = line.removeprefix("export ").strip().partition("=")
        env[name] = value
    try:
        yield env
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_prints_the_environment_to_use(served: dict[str, str]) -> None:
    assert served["SMARTMATCH_BASE_URL"].startswith("http://127.0.0.1:")
    assert served["TS_API_KEY"]
    assert served["SMARTMATCH_POLL_INTERVAL"] == "0.2"


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    return LocalService(voters=5000).voters.people.iloc[:25].reset_index(drop=True)


@pytest.mark.parametrize(("source", "target"), [(".csv", ".parquet"), (".parquet", ".csv")])
def test_match_files(
    served: dict[str, str], people: pd.DataFrame, tmp_path: Path, source: str, target: str
) -> None:
    frame = people[["first_name", "last_name", "zip", "dob"]].rename(columns={"zip": "Postcode"})
    frame.insert(0, "crm_id", [f"{i:05d}" for i in range(len(frame))])
    given, written = tmp_path / f"in{source}", tmp_path / f"out{target}"
    frame.to_csv(given, index=False) if source == ".csv" else frame.to_parquet(given)
    done = run(
        "match",
        str(given),
        "-o",
        str(written),
        "--max-matches",
        "2",
        "--format",
        "zip",
        "--column",
        "Postcode=zip",
        "--column",
        "crm_id=",
        "--no-progress",
        env=served,
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote 25 rows to {written}" in done.stdout
    out = pd.read_parquet(written) if target == ".parquet" else pd.read_csv(written, dtype=str)
    assert out["crm_id"].tolist() == frame["crm_id"].tolist()
    assert out["Postcode"].tolist() == frame["Postcode"].tolist()
    assert out["vb.voterbase_id"].tolist() == people["voterbase_id"].tolist()


def test_match_shows_progress_and_summary(
    served: dict[str, str], people: pd.DataFrame, tmp_path: Path
) -> None:
    given = tmp_path / "in.csv"
    people[["first_name", "last_name", "zip"]].to_csv(given, index=False)
    done = run("match", str(given), "-o", str(tmp_path / "out.csv"), env=served)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote 25 rows to {tmp_path / 'out.csv'}\n"  # the result alone
    assert "SmartMatch: 25 rows sent" in done.stderr  # what is said along the way
    assert "waiting" in done.stderr  # the tqdm bar
    assert served["TS_API_KEY"] not in done.stdout + done.stderr


def test_errors_are_one_plain_line(tmp_path: Path) -> None:
    given = tmp_path / "in.csv"
    pd.DataFrame({"first_name": ["Ann"]}).to_csv(given, index=False)
    done = run("match", str(given), "-o", str(tmp_path / "out.csv"))
    assert done.returncode == 2  # nothing was sent: a setting to give
    *warnings, error = done.stderr.splitlines()
    assert error.startswith("smartmatch-pandas: no SmartMatch API key")
    assert all(line.startswith("warning: ") for line in warnings)  # a list of names only
    assert "Traceback" not in done.stderr


def test_demo_runs(tmp_path: Path) -> None:
    done = run("demo", "--rows", "300", "--voters", "5000", "--delay", "0", timeout=180)
    assert done.returncode == 0, done.stderr
    assert "SmartMatch: 300 rows sent" in done.stdout
    assert "Against the ground truth:" in done.stdout


def test_the_flags_give_the_declared_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every flag of ``match`` is a keyword of ``match()``; left out, each is its default."""
    import smartmatch_pandas.verbs
    from smartmatch_pandas import cli
    from smartmatch_pandas.options import defaults_of

    calls: list[dict[str, object]] = []

    def fake_match(frame: pd.DataFrame, **options: object) -> pd.DataFrame:
        calls.append(options)
        return frame

    monkeypatch.setattr(smartmatch_pandas.verbs, "match", fake_match)
    source = tmp_path / "in.csv"
    pd.DataFrame({"first_name": ["Ann"]}).to_csv(source, index=False)
    out = str(tmp_path / "out.csv")
    assert cli.main(["match", str(source), "-o", out, "--in-memory"]) == 0
    defaults = defaults_of("match")
    del defaults["api_key"]  # from TS_API_KEY only, never a flag
    assert callable(calls[-1].pop("progress"))  # the command line's bars and notes
    assert calls[-1] == {k: v for k, v in defaults.items() if k != "progress"}
    flags = ["--max-matches", "3", "--include-email", "--no-cache", "--invalid", "blank"]
    flags += ["--map", "first_name=", "--param", "search_radius=5", "--quiet", "--all-matches"]
    assert cli.main(["match", str(source), "-o", out, "--overwrite", "--in-memory", *flags]) == 0
    assert calls[-1] == {
        **defaults,
        "max_matches": 3,
        "include_email": True,
        "cache": False,
        "invalid": "blank",
        "columns": {"first_name": None},
        "extra_params": {"search_radius": "5"},
        "progress": False,
        "all_matches": True,
    }


def test_without_the_local_extra_the_demo_says_what_to_install(tmp_path: Path) -> None:
    # faker absent, as in an installation without the local extra.
    code = (
        "import sys; sys.modules['faker'] = None; "
        "from smartmatch_pandas.cli import main; sys.exit(main(['demo']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SMARTMATCH_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "pip install 'smartmatch-pandas[local]'" in done.stderr
    assert "faker is missing" in done.stderr


def test_user_errors_end_in_one_line_and_an_exit_code(tmp_path: Path) -> None:
    """No traceback for what a user gets wrong; the exit code says which kind it was."""
    folder = tmp_path / "a folder"
    folder.mkdir()
    cases = [
        (["match", str(folder), "-o", str(tmp_path / "o.csv")], 1, "cannot be read"),
        (["match", str(tmp_path / "none.csv"), "-o", str(tmp_path / "o.csv")], 1, "none.csv"),
        (["sample", "--outsiders", "2", "-o", str(tmp_path / "s.csv")], 2, "a share from 0"),
        (["sample", "--rows", "0", "-o", str(tmp_path / "s.csv")], 2, "1 or more"),
        (["match", "x.csv", "-o", "y.csv", "--max-matches", "many"], 2, "invalid int value"),
    ]
    for args, code, said in cases:
        done = run(*args)
        assert (done.returncode, "Traceback" in done.stderr) == (code, False), done.stderr
        assert said in done.stderr


def test_warnings_are_one_line_and_a_closed_pipe_is_no_error(
    served: dict[str, str], people: pd.DataFrame, tmp_path: Path
) -> None:
    given = tmp_path / "in.csv"
    text = people[["first_name", "last_name", "zip"]].to_csv(index=False)
    given.write_text(text.replace("\n", ",,\n"))  # Excel's empty trailing columns
    done = run("match", str(given), "-o", str(tmp_path / "out.csv"), env=served)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "headers made unique" in line]
    assert len(warned) == 1
    assert warned[0].startswith("warning: ")
    assert "SmartMatchWarning" not in done.stderr
    assert "sys.exit" not in done.stderr
    # `smartmatch-pandas jobs | head -0`: the reader is gone before the listing is written.
    reader_gone = subprocess.run(
        f"(sleep 0.5; {' '.join(CLI)} jobs) | true",
        shell=True,
        env={**os.environ, **served},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in reader_gone.stderr
    assert "BrokenPipe" not in reader_gone.stderr
