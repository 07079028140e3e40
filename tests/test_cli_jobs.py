"""``smartmatch-pandas jobs | resume | clear-cache``, and the cache flags of ``match``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.cli import main
from smartmatch_pandas.files.tables import read_table
from smartmatch_pandas.local import LocalService, sample_contacts

from .conftest import POLL


@pytest.fixture
def contacts_csv(fresh_service: LocalService, tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    frame = sample_contacts(fresh_service.voters, 25, seed=17).drop(columns="true_voterbase_id")
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def environ(fresh_service: LocalService, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in fresh_service.environ.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("environ")
def test_jobs_lists_the_store(
    fresh_service: LocalService,
    contacts_csv: Path,
    store_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["jobs"]) == 0
    assert f"Job store: {store_home}\nNo jobs yet." in capsys.readouterr().out
    fresh_service.config.delay = 30.0
    job = sm.submit(read_table(contacts_csv), progress=False)
    assert main(["jobs"]) == 0
    out = capsys.readouterr().out
    assert job.filename in out
    assert "uploaded" in out
    assert "at the service: resume it to wait for the result" in out


@pytest.mark.usefixtures("environ")
def test_resume_writes_the_merged_result(
    fresh_service: LocalService,
    contacts_csv: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fresh_service.config.delay = 4 * POLL
    frame = read_table(contacts_csv)
    job = sm.submit(frame, max_matches=2, progress=False)
    output = tmp_path / "enriched.parquet"
    args = ["resume", job.filename, "--input", str(contacts_csv), "-o", str(output), "--overwrite"]
    assert main([*args, "--all-matches", "--no-progress"]) == 0
    assert f"wrote {len(pd.read_parquet(output)):,} rows to {output}" in capsys.readouterr().out
    candidates = pd.read_parquet(output)
    assert candidates["match_rank"].max() == 2
    # Again: from the cache, with no request.
    polls = fresh_service.stats["polls"]
    assert main([*args, "--no-progress"]) == 0
    assert len(pd.read_parquet(output)) == len(frame)
    assert fresh_service.stats["polls"] == polls
    # Without the input: the uploaded columns and the appended ones.
    assert main(["resume", job.filename, "--no-progress"]) == 0
    assert "25 rows sent" in capsys.readouterr().out
    assert fresh_service.stats["registrations"] == 1


@pytest.mark.usefixtures("environ")
def test_resume_with_another_input_fails_clearly(
    contacts_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = sm.submit(read_table(contacts_csv), progress=False)
    other = tmp_path / "other.csv"
    read_table(contacts_csv).iloc[:-1].to_csv(other, index=False)
    assert main(["resume", job.filename, "--input", str(other), "--no-progress"]) == 1
    assert "is not the one submitted" in capsys.readouterr().err


@pytest.mark.usefixtures("environ")
def test_match_uses_the_cache_unless_told_otherwise(
    fresh_service: LocalService, contacts_csv: Path, tmp_path: Path
) -> None:
    output = tmp_path / "enriched.csv"
    base = ["match", str(contacts_csv), "-o", str(output), "--no-progress", "--overwrite"]
    assert main(base) == 0
    assert main(base) == 0
    assert fresh_service.stats["registrations"] == 1
    assert main([*base, "--refresh"]) == 0
    assert fresh_service.stats["registrations"] == 2
    assert main([*base, "--no-cache"]) == 0
    assert fresh_service.stats["registrations"] == 3
    # One result per data and options: the refreshed one replaced the first.
    assert sm.jobs()["cached"].tolist().count(True) == 1


@pytest.mark.usefixtures("environ")
def test_clear_cache_removes_results_and_optionally_finished_jobs(
    contacts_csv: Path, tmp_path: Path, store_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "enriched.csv"
    assert main(["match", str(contacts_csv), "-o", str(output), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["clear-cache"]) == 0
    assert "Removed 1 cached results" in capsys.readouterr().out
    assert not list((store_home / "results").iterdir())
    assert len(sm.jobs()) == 1
    assert main(["clear-cache", "--jobs"]) == 0
    assert "Removed 0 cached results (0 bytes), and forgot 1 finished jobs" in (
        capsys.readouterr().out
    )
    assert sm.jobs().empty
