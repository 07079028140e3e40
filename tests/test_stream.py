"""A list matched in batches, never held whole, gives exactly what matching it in memory gives."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas import cli
from smartmatch_pandas.deliverable import (
    RowAllowance,
    batched,
    merge_back,
    read_deliverable,
    read_files,
    unpack_deliverable,
)
from smartmatch_pandas.files import tables as files
from smartmatch_pandas.files.tables import TableFile, read_table, write_table
from smartmatch_pandas.local import LocalService, sample_contacts
from smartmatch_pandas.preparation.batched import upload_file
from smartmatch_pandas.preparation.mapping import resolve_mapping
from smartmatch_pandas.verbs import large_files as stream

from .test_results import BEST, EXTRA, FRAME, SENT, SHAPES, zipped


@pytest.fixture(autouse=True)
def _small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buckets of a few rows and batches of a few hundred bytes, so that even a small
    list is cut into many of each."""
    monkeypatch.setattr(batched, "BUCKET_ROWS", 2)
    monkeypatch.setattr(files, "BATCH_ROWS", 4)
    monkeypatch.setattr(files, "BATCH_BYTES", 1)
    monkeypatch.setattr(files, "CSV_BLOCK", 4096)


def streamed_and_held(
    tmp_path: Path, deliverable: bytes, suffix: str, *, all_matches: bool = False
) -> tuple[bytes, bytes, list[str], list[str]]:
    """The list merged with ``deliverable`` both ways: the files written, and the warnings."""
    source = tmp_path / "list.csv"
    FRAME.to_csv(source, index=False)
    table = TableFile(source)
    upload = upload_file(table, resolve_mapping(table.columns), "keep")
    upload.body.close()
    held, flowing = tmp_path / f"held{suffix}", tmp_path / f"streamed{suffix}"
    with warnings.catch_warnings(record=True) as caught_held:
        warnings.simplefilter("always")
        frame = read_table(source)  # as Job.result() reads it when it knows the upload
        parsed = read_deliverable(deliverable, filename="job", skip=SENT)
        result = merge_back(frame, parsed, SENT, filename="job", presence=upload.presence)
        out = result.candidates if all_matches else result.frame
        out.attrs["smartmatch"] = {"filename": "job", **result.summary.as_attrs()}
        write_table(out, held)
    with warnings.catch_warnings(record=True) as caught_streamed:
        warnings.simplefilter("always")
        batched.merge_file(
            table,
            unpack_deliverable(deliverable),
            flowing,
            sent=SENT,
            rows=upload.rows,
            presence=upload.presence,
            all_matches=all_matches,
            filename="job",
        )
    return (
        held.read_bytes(),
        flowing.read_bytes(),
        [str(w.message) for w in caught_held],
        [str(w.message) for w in caught_streamed],
    )


DELIVERABLES = {
    **SHAPES,
    "rows in another order": (
        BEST.splitlines()[0] + "\n" + "\n".join(reversed(BEST.splitlines()[1:])) + "\n"
    ).encode(),
    "additional matches in another order": zipped(
        {
            "extra.csv": "\n".join([*EXTRA.splitlines()[:1], *EXTRA.splitlines()[:0:-1]]),
            "best.csv": BEST,
        }
    ),
    "an additional match repeating the best": zipped(
        {"best.csv": BEST, "more.csv": EXTRA + "Ann,02134,0,Y,MA-000000000001,02134\n"}
    ),
    "one file, several rows per id": (BEST + EXTRA.split("\n", 1)[1]).encode(),
    "a row missing": ("\n".join(BEST.splitlines()[:2]) + "\n").encode(),
    "a row never sent": (BEST + "Zed,99999,17,Y,XX-000000000017,99999\n").encode(),
    "an empty id": BEST.replace("Bo,60614,1,", "Bo,60614,,").encode(),
    "no match code": b"matchback_id,vb.voterbase_id\n2,NJ-3\n0,MA-1\n1,\n",
    "words that look missing": b"matchback_id,tsmart_match_code,vb.party\n0,Y,NA\n1,Y,null\n2,N,\n",
}


@pytest.mark.parametrize("all_matches", [False, True], ids=["best", "all matches"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("shape", list(DELIVERABLES))
def test_every_deliverable_merges_the_same_in_batches(
    tmp_path: Path, shape: str, suffix: str, all_matches: bool
) -> None:
    held, streamed, warned_held, warned_streamed = streamed_and_held(
        tmp_path, DELIVERABLES[shape], suffix, all_matches=all_matches
    )
    assert warned_streamed == warned_held
    if suffix == ".csv":
        assert streamed == held
    else:
        a, b = (pq.read_table(pa.BufferReader(data)) for data in (held, streamed))
        assert a.equals(b, check_metadata=True)
        frame = pd.read_parquet(pa.BufferReader(streamed))
        assert frame.attrs == pd.read_parquet(pa.BufferReader(held)).attrs
        assert frame.attrs["smartmatch"]["rows"] == len(FRAME)


def test_a_long_list_gets_larger_buckets_not_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batched, "MAX_BUCKETS", 1)  # every row in one bucket
    for shape in ("rows in another order", "one file, several rows per id"):
        held, streamed, *_ = streamed_and_held(
            tmp_path, DELIVERABLES[shape], ".csv", all_matches=True
        )
        assert streamed == held, shape


def test_a_bad_id_late_in_a_result_file_is_named_both_ways(tmp_path: Path) -> None:
    # Past the first 1 MiB block the CSV is parsed in: ids never sent, then a bad one.
    never_sent = "Zed,99999,17,Y,XX-000000000017,99999\n" * 40_000
    bad = (BEST + never_sent + "Bo,60614,0x1,Y,XX-1,60614\n").encode()
    with pytest.raises(sm.DeliverableError) as held:
        streamed_and_held(tmp_path, bad, ".csv")
    table, files = TableFile(tmp_path / "list.csv"), unpack_deliverable(bad)
    with pytest.raises(sm.DeliverableError) as streamed:
        batched.merge_file(table, files, tmp_path / "out.csv", sent=SENT, rows=len(FRAME),
                          presence={}, all_matches=False, filename="job")  # fmt: skip
    assert "0x1" in str(held.value)
    assert str(streamed.value) == str(held.value)


# -- the command line, end to end ----------------------------------------------------------


@pytest.fixture
def reach(service: LocalService, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in service.environ.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def contact_file(service: LocalService, tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = sample_contacts(service.voters, 150, seed=21).drop(columns="true_voterbase_id")
    frame.insert(0, "crm_id", [f"{i:06d}" for i in range(len(frame))])
    frame.insert(3, "Note", ["NA", "null", "", "x,y", 'say "hi"'] * 30)  # not sent
    folder = tmp_path_factory.mktemp("lists")
    frame.to_csv(folder / "list.csv", index=False)
    frame.to_parquet(folder / "list.parquet")
    return folder


@pytest.mark.usefixtures("reach")
@pytest.mark.parametrize(
    "options",
    [[], ["--max-matches", "3", "--format", "zip", "--all-matches"], ["--format", "gzip"]],
    ids=["csv", "zip, all matches", "gzip"],
)
@pytest.mark.parametrize(("source", "target"), [("csv", "csv"), ("csv", "parquet"),
                                                ("parquet", "parquet")])  # fmt: skip
def test_the_command_line_streams_a_file_to_the_same_output(
    contact_file: Path, tmp_path: Path, source: str, target: str, options: list[str]
) -> None:
    given = contact_file / f"list.{source}"
    written = {}
    for way in ("--stream", "--in-memory"):  # the second comes from the result cache
        out = tmp_path / f"out{way}.{target}"
        code = cli.main(["match", str(given), "-o", str(out), way, "--no-progress", *options])
        assert code == 0
        written[way] = out
    if target == "csv":
        assert written["--stream"].read_bytes() == written["--in-memory"].read_bytes()
    else:
        a, b = (pq.read_table(written[way]) for way in ("--stream", "--in-memory"))
        assert a.equals(b, check_metadata=True)
    out = read_table(written["--stream"])
    # Text stays text; a CSV's empty cell is missing, Parquet's empty string is kept.
    empty = {""} if source == "parquet" else set()
    assert set(out["Note"].dropna()) == {"NA", "null", "x,y", 'say "hi"', *empty}
    assert out["vb.voterbase_id"].notna().mean() > 0.5


@pytest.mark.usefixtures("reach")
def test_a_file_larger_than_the_threshold_is_streamed(
    contact_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original = stream.match_file

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append("streamed")
        return original(*args, **kwargs)

    monkeypatch.setattr(stream, "match_file", watched)
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "1K")
    out = tmp_path / "out.csv"
    assert cli.main(["match", str(contact_file / "list.csv"), "-o", str(out), "--no-progress"]) == 0
    assert seen == ["streamed"]
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.usefixtures("reach")
def test_a_job_resumed_from_a_file_streams_to_the_same_output(
    contact_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = contact_file / "list.csv"
    job = sm.submit(read_table(given), max_matches=2, format="zip", progress=False)
    outs = []
    for way in ("--stream", "--in-memory"):
        out = tmp_path / f"out{way}.csv"
        code = cli.main(["resume", job.filename, "--input", str(given), "-o", str(out), way,
                         "--all-matches", "--no-progress"])  # fmt: skip
        assert code == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    other = tmp_path / "other.csv"
    read_table(given).iloc[:-1].to_csv(other, index=False)
    code = cli.main(["resume", job.filename, "--input", str(other), "-o", str(tmp_path / "x.csv"),
                     "--stream", "--no-progress"])  # fmt: skip
    assert code == 1
    said = capsys.readouterr().err
    assert "the file is not the one submitted" in said
    assert "it has 149 rows where the upload had 150" in said


@pytest.mark.usefixtures("reach")
@pytest.mark.parametrize("target", ["csv", "parquet"])
@pytest.mark.parametrize("way", ["--stream", "--in-memory"])
def test_the_output_is_readable_by_the_user_alone(
    contact_file: Path, tmp_path: Path, way: str, target: str
) -> None:
    out = tmp_path / f"out.{target}"
    out.write_text("an older file, readable by all")
    out.chmod(0o644)
    given = str(contact_file / "list.csv")
    code = cli.main(["match", given, "-o", str(out), way, "--no-progress", "--overwrite"])
    assert code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.usefixtures("reach")
@pytest.mark.parametrize("way", ["--stream", "--in-memory"])
def test_a_broken_csv_is_refused_without_showing_its_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], way: str
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("first_name,email\nAnn,ann@example.com\nBo,bo@secret.example,extra\n")
    code = cli.main(["match", str(broken), "-o", str(tmp_path / "out.csv"), way, "--no-progress"])
    assert code == 1
    said = capsys.readouterr().err
    assert f"{broken} is not valid CSV: Expected 2 columns, got 3" in said
    assert "secret" not in said


# -- a list twice the memory allowed ----------------------------------------------------------

#: Runs the command line under a cap on address space, then says its peak (VmPeak).
CAPPED = """
import atexit, re, resource, sys
from pathlib import Path
cap = int(sys.argv.pop(1))
if cap:
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
def peak():
    found = re.search(r"VmPeak:\\s+(\\d+) kB", Path("/proc/self/status").read_text())
    print(f"peak={int(found[1]) * 1024}", file=sys.stderr)
atexit.register(peak)
from smartmatch_pandas.cli import main
sys.exit(main(sys.argv[1:]))
"""


def capped(arguments: list[str], cap: int, env: dict[str, str]) -> tuple[int, int, str]:
    done = subprocess.run(
        [sys.executable, "-c", CAPPED, str(cap), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    peaks = re.findall(r"^peak=(\d+)$", done.stderr, re.MULTILINE)
    return done.returncode, int(peaks[-1]) if peaks else 0, done.stderr


@pytest.mark.slow  # writes and matches a list of some 300 MB (about half a minute)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS, /proc")
@pytest.mark.subprocess
def test_a_list_twice_the_memory_allowed_is_matched_in_batches(
    service: LocalService, tmp_path: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from benchmarks.contacts import crm_export

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TS_", "SMARTMATCH_"))},
        **service.environ,
        "SMARTMATCH_HOME": str(tmp_path / "home"),
        "SMARTMATCH_SPILL_THRESHOLD": "8M",
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "MALLOC_ARENA_MAX": "2",
        "MALLOC_MMAP_THRESHOLD_": "131072",
    }
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    with pa.OSFile(str(small), "wb") as sink:
        pacsv.write_csv(crm_export(100, voters=service.voters), sink)
    # What the command needs to match a list at all: its interpreter, libraries, threads.
    code, baseline, said = capped(["match", str(small), "-o", str(tmp_path / "s.csv"),
                                   "--stream", "--no-progress"], 0, env)  # fmt: skip
    assert code == 0, said
    allowed = 160 << 20  # the memory allowed for the list, on top of that
    rows = 0
    with pacsv.CSVWriter(str(big), crm_export(1, voters=service.voters).schema) as writer:
        while big.stat().st_size < 2 * allowed:
            writer.write_table(crm_export(50_000, seed=rows, voters=service.voters))
            rows += 50_000
    cap = baseline + allowed
    code, peak, said = capped(["match", str(big), "-o", str(tmp_path / "out.parquet"),
                               "--no-progress"], cap, env)  # fmt: skip
    assert code == 0, said
    assert peak <= cap
    assert pq.read_metadata(tmp_path / "out.parquet").num_rows == rows
    code, _, said = capped(["match", str(big), "-o", str(tmp_path / "held.parquet"),
                            "--in-memory", "--no-progress"], cap, env)  # fmt: skip
    # Held whole, it does not fit: Arrow runs out of memory reading it (and may abort).
    assert code != 0, said


def test_more_candidates_than_the_options_allow_are_refused_both_ways(tmp_path: Path) -> None:
    # 3 rows sent, max_matches=2: 3 additional candidates at most; EXTRA has 3, one more.
    extra = EXTRA + "Cy,07102,2,Y,NJ-000000000006,07102\n"
    deliverable = zipped({"best.csv": BEST, "additional.csv": extra})
    FRAME.to_csv(tmp_path / "list.csv", index=False)
    table, files = TableFile(tmp_path / "list.csv"), unpack_deliverable(deliverable)
    with pytest.raises(sm.DeliverableError, match="4 additional candidates") as streamed:
        batched.merge_file(table, files, tmp_path / "out.csv", sent=SENT, rows=len(FRAME),
                          presence={}, filename="job", max_matches=2)  # fmt: skip
    with pytest.raises(sm.DeliverableError) as held:
        read_files(files, filename="job", allowance=RowAllowance(len(FRAME), max_matches=2))
    assert str(streamed.value) == str(held.value)
    within = zipped({"best.csv": BEST, "additional.csv": EXTRA})
    read_files(unpack_deliverable(within), allowance=RowAllowance(len(FRAME), max_matches=2))
