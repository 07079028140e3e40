"""``smartmatch-pandas match`` on files as people save them, against the local service:
encodings, delimiters, byte order marks, line ends, gzip, Excel in and out, blank and
repeated headers; outputs refused before anything is paid for; cells safe to open; what
is said at each level; the exit codes."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.cli import ExitCode, main
from smartmatch_pandas.files import tables
from smartmatch_pandas.local import LocalService, VoterFile

pytestmark = pytest.mark.network  # the local service over loopback

#: Words from Windows' code page: what a UTF-8-only reader gets wrong.
DASH = "\u2013"
NOTES = [f"José Muñoz {DASH} café", "Zoë", "Renée", "", "Ørsted", "Ann"]


@pytest.fixture
def environ(fresh_service: LocalService, monkeypatch: pytest.MonkeyPatch) -> LocalService:
    for name, value in fresh_service.environ.items():
        monkeypatch.setenv(name, value)
    return fresh_service


@pytest.fixture
def people(fresh_service: LocalService) -> pd.DataFrame:
    """Six voters as a contact list (text), with a column of accented notes."""
    chosen = fresh_service.voters.people.iloc[:6].reset_index(drop=True)
    frame = chosen[["first_name", "last_name", "zip", "dob"]].astype(str)
    frame["notes"] = NOTES
    # Accents all through a column: what fooled a detection among every code page (cp850).
    frame["accented"] = chosen["first_name"].str.replace("a", "á").str.replace("e", "é")
    frame.attrs["ids"] = chosen["voterbase_id"].tolist()
    return frame


def _text(frame: pd.DataFrame, sep: str = ",", newline: str = "\n") -> str:
    return frame.to_csv(index=False, sep=sep, lineterminator=newline)


#: Each way a list is saved: its file name, and how its bytes are made from the frame.
SAVED: dict[str, tuple[str, Callable[[pd.DataFrame], bytes]]] = {
    "utf-8": ("list.csv", lambda f: _text(f).encode()),
    "utf-8 with BOM": ("list.csv", lambda f: _text(f).encode("utf-8-sig")),
    "cp1252, semicolons, CRLF": ("list.csv", lambda f: _text(f, ";", "\r\n").encode("cp1252")),
    "latin-1 tabs (.tsv)": (
        "list.tsv",
        lambda f: _text(f.assign(notes=f["notes"].str.replace(DASH, "-")), "\t").encode("latin-1"),
    ),
    "pipes (.txt)": ("list.txt", lambda f: _text(f, "|").encode()),
    "utf-16 tabs (Excel's Unicode text)": (
        "list.txt",
        lambda f: _text(f, "\t", "\r\n").encode("utf-16"),
    ),
    "gzipped": ("list.csv.gz", lambda f: gzip.compress(_text(f).encode())),
}


@pytest.mark.parametrize("saved", SAVED)
def test_a_list_as_saved_is_read_and_matched(
    environ: LocalService, people: pd.DataFrame, tmp_path: Path, saved: str
) -> None:
    name, make = SAVED[saved]
    given = tmp_path / name
    given.write_bytes(make(people))
    out = tmp_path / "out.csv"
    assert main(["match", str(given), "-o", str(out), "--no-progress"]) == ExitCode.DONE
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    expected = (
        people
        if "latin-1" not in saved
        else people.assign(notes=people["notes"].str.replace(DASH, "-"))
    )
    assert written[list(people.columns)].to_dict("list") == expected.to_dict("list")
    assert written["vb.voterbase_id"].tolist() == people.attrs["ids"]


def test_an_excel_workbook_in_and_out(
    environ: LocalService, people: pd.DataFrame, tmp_path: Path
) -> None:
    pytest.importorskip("openpyxl")
    given, out = tmp_path / "list.xlsx", tmp_path / "out.xlsx"
    with pd.ExcelWriter(given, engine="openpyxl") as book:
        pd.DataFrame({"x": [1]}).to_excel(book, sheet_name="Notes", index=False)
        people.to_excel(book, sheet_name="Contacts", index=False)
    assert main(["match", str(given), "-o", str(out), "--sheet", "Contacts", "-q"]) == 0
    written = pd.read_excel(out, dtype=str, keep_default_na=False)
    assert written["vb.voterbase_id"].tolist() == people.attrs["ids"]
    assert written["notes"].tolist() == NOTES
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    # A sheet that is not there is named, with those that are.
    code = main(["match", str(given), "-o", str(tmp_path / "b.csv"), "--sheet", "Nope", "-q"])
    assert code == ExitCode.FAILED
    assert environ.stats.get("registrations", 0) == 1


@pytest.mark.parametrize("way", ["--in-memory", "--stream"])
def test_blank_and_repeated_headers_are_made_unique_before_sending(
    environ: LocalService,
    people: pd.DataFrame,
    tmp_path: Path,
    way: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    given, out = tmp_path / "list.csv", tmp_path / "out.csv"
    frame = people[["first_name", "last_name", "zip"]].assign(Phone="1", Phone_="2", b="", c="")
    text = _text(frame).replace("Phone_", "Phone").replace(",b,c\n", ",,\n", 1)
    given.write_text(text)
    assert main(["match", str(given), "-o", str(out), way, "--no-progress"]) == 0
    said = capsys.readouterr().err
    assert said.count("headers made unique") == 1  # one warning, every change in it
    assert "column 5 (a second 'Phone') as 'Phone_2'; column 6 (no header) as 'column_6'" in said
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(written.columns[:10]) == [
        "first_name", "last_name", "zip", "Phone", "Phone_2", "column_6", "column_7",
        "ts__input_row", "ts__row", "tsmart_match_code",
    ]  # fmt: skip
    assert written["vb.voterbase_id"].tolist() == people.attrs["ids"]
    # resume --input reads it the same way.
    filename = sm.jobs()["filename"].iloc[0]
    again = tmp_path / "again.csv"
    code = main(["resume", filename, "--input", str(given), "-o", str(again), way, "-q"])
    assert code == 0
    assert pd.read_csv(again, dtype=str).equals(pd.read_csv(out, dtype=str))


@pytest.mark.parametrize("way", ["--in-memory", "--stream"])
def test_a_parquet_list_reads_back_with_its_own_dtypes(
    environ: LocalService, people: pd.DataFrame, tmp_path: Path, way: str
) -> None:
    given, out, again = (tmp_path / n for n in ("cat_list.parquet", "out.parquet", "again.parquet"))
    frame = people[["first_name", "last_name", "zip", "dob"]].copy()
    frame["T-Shirt"] = pd.Series(["S", "M", "L", "XL", "M", "S"]).astype("category")
    frame["visits"] = pd.array([1, None, 3, 4, 5, 6], dtype="Int32")
    frame.to_parquet(given)
    assert main(["match", str(given), "-o", str(out), way, "--typed", "-q"]) == 0
    written = pd.read_parquet(out)  # pandas reads it: no "[pyarrow]" dtype it cannot name
    assert written[frame.columns].dtypes.to_dict() == pd.read_parquet(given).dtypes.to_dict()
    assert written["T-Shirt"].tolist() == frame["T-Shirt"].tolist()
    assert written["vb.vf_party"].dtype == "category"  # typed
    # An earlier typed output matched again reads back the same way.
    assert main(["match", str(out), "-o", str(again), way, "-q"]) == 0
    rematched = pd.read_parquet(again)
    assert rematched[written.columns].dtypes.to_dict() == written.dtypes.to_dict()


def _refusals(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    (tmp_path / "taken.csv").write_text("an older file")
    return {
        "an unknown extension": (["-o", str(tmp_path / "out.json")], "is not one written"),
        "a folder that does not exist": (
            ["-o", str(tmp_path / "nope" / "out.csv")],
            "does not exist; make it first",
        ),
        "a folder as the output": (["-o", str(tmp_path)], "is a folder"),
        "an existing file": (["-o", str(tmp_path / "taken.csv")], "give --overwrite"),
        "too many rows for Excel": (["-o", str(tmp_path / "out.xlsx")], "an Excel sheet holds"),
        "the additional candidates' file exists": (
            ["-o", str(tmp_path / "taken2.csv"), "--max-matches", "2"],
            "taken2.additional.csv exists",
        ),
        "a bad option": (["-o", str(tmp_path / "o.csv"), "--max-matches", "11"], "from 1 to 10"),
        "an unknown encoding": (["-o", str(tmp_path / "o.csv"), "--encoding", "x"], "--encoding"),
        "an unknown identifier": (["-o", str(tmp_path / "o.csv"), "--map", "zip=zap"], "--map"),
        "a sheet of a CSV": (["-o", str(tmp_path / "o.csv"), "--sheet", "A"], "--sheet applies"),
    }


@pytest.mark.parametrize(
    "refused",
    [
        "an unknown extension",
        "a folder that does not exist",
        "a folder as the output",
        "an existing file",
        "too many rows for Excel",
        "the additional candidates' file exists",
        "a bad option",
        "an unknown encoding",
        "an unknown identifier",
        "a sheet of a CSV",
    ],
)
def test_outputs_and_flags_are_refused_before_anything_is_sent(
    environ: LocalService,
    people: pd.DataFrame,
    tmp_path: Path,
    refused: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(tables, "EXCEL_MAX_ROWS", 6)  # a header and five rows: one too few
    (tmp_path / "taken2.additional.csv").write_text("an older file")
    given = tmp_path / "list.csv"
    given.write_text(_text(people))
    flags, said = _refusals(tmp_path)[refused]
    assert main(["match", str(given), *flags, "--no-progress"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert said in err
    assert err.startswith("smartmatch-pandas: ")
    assert "Traceback" not in err
    assert environ.stats.get("registrations", 0) == 0  # nothing was paid for


@pytest.mark.network
def test_cells_a_spreadsheet_would_run_are_neutralised(
    people: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: LocalService
) -> None:
    for name, value in planted.environ.items():
        monkeypatch.setenv(name, value)
    voters = planted.voters.people.iloc[:4].reset_index(drop=True)
    frame = voters[["first_name", "last_name", "zip", "dob"]].astype(str)
    frame["notes"] = [
        '=HYPERLINK("http://x.example/","click")',
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)",
        "Ann",
    ]
    frame["longitude"] = ["-77.0387", "+1", "-1.5e-3", "\t=1+1"]
    frame["cell"] = ["+1 430 997 6005", "(617) 555-0100", "-- prefers text", "-2+3"]
    given = tmp_path / "list.csv"
    given.write_text(_text(frame))
    out, raw = tmp_path / "out.csv", tmp_path / "raw.csv"
    assert main(["match", str(given), "-o", str(out), "-q"]) == 0
    assert main(["match", str(given), "-o", str(raw), "-q", "--no-neutralise"]) == 0
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert written["notes"].tolist() == ["'" + v if v != "Ann" else v for v in frame["notes"]]
    assert written["longitude"].tolist() == ["-77.0387", "+1", "-1.5e-3", "'\t=1+1"]
    # Phone numbers and arithmetic on digits cannot do harm: left as they are.
    assert written["cell"].tolist() == [
        "+1 430 997 6005", "(617) 555-0100", "'-- prefers text", "-2+3"
    ]  # fmt: skip
    assert written["vb.vf_party"].tolist() == ["'" + PLANTED] * 4  # from the service
    as_is = pd.read_csv(raw, dtype=str, keep_default_na=False)
    assert as_is["vb.vf_party"].tolist() == [PLANTED] * 4
    assert as_is["notes"].tolist() == frame["notes"].tolist()


PLANTED = '=HYPERLINK("http://x.example/")'


@pytest.fixture
def planted() -> Iterator[LocalService]:
    """A local service whose voter file has a formula for every party."""
    voters = VoterFile.generate(2000, 3)
    party = voters.table.schema.get_field_index("party")
    import pyarrow as pa

    column = pa.array([PLANTED] * voters.table.num_rows, voters.table.schema.field(party).type)
    with LocalService(
        voters=VoterFile(voters.table.set_column(party, "party", column), 3), poll_interval=0.05
    ) as service:
        yield service


def test_what_is_said_at_each_level(
    environ: LocalService, people: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = tmp_path / "list.csv"
    given.write_text(_text(people))
    out = tmp_path / "out.csv"
    args = ["match", str(given), "-o", str(out), "--max-matches", "2", "--overwrite"]
    assert main([*args, "--no-progress"]) == 0
    said = capsys.readouterr()
    assert said.out.splitlines() == [
        f"wrote 6 rows to {out}",
        f"wrote {len(pd.read_csv(tmp_path / 'out.additional.csv'))} additional candidates "
        f"(rank 2 and up) to {tmp_path / 'out.additional.csv'}",
    ]
    assert "SmartMatch job sm_" in said.err  # its filename, to resume it
    assert "Note: --max-matches 2 returns additional matches, which may cost extra." in said.err
    assert "SmartMatch: 6 rows sent, 6 matched" in said.err
    assert "max_matches=" not in said.err
    assert "|" not in said.err
    assert main([*args, "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")


def test_exit_codes_and_resume_advice(
    environ: LocalService,
    people: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = tmp_path / "list.csv"
    given.write_text(_text(people))
    environ.config.delay = 60.0
    out = tmp_path / "out.csv"
    code = main(["match", str(given), "-o", str(out), "--timeout", "0.3", "--no-progress"])
    assert code == ExitCode.TIMED_OUT
    err = capsys.readouterr().err
    filename = sm.jobs()["filename"].iloc[0]
    assert f"smartmatch-pandas resume {filename} --input {given} -o {out}" in err
    assert "smartmatch_pandas." not in err
    assert "Traceback" not in err

    from smartmatch_pandas.wire.http import SmartMatchClient

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C, which the service cannot send

    real_poll = SmartMatchClient.poll
    monkeypatch.setattr(SmartMatchClient, "poll", interrupted)
    code = main(["resume", filename, "--input", str(given), "-o", str(out), "--no-progress"])
    assert code == ExitCode.INTERRUPTED
    said = capsys.readouterr()
    assert f"smartmatch-pandas resume {filename} --input {given} -o {out}" in said.out + said.err

    unreadable = tmp_path / "list.xlsx"
    unreadable.write_bytes(b"not a workbook")
    code = main(["match", str(unreadable), "-o", str(tmp_path / "x.csv"), "-q"])
    assert code == ExitCode.FAILED
    assert "cannot be read" in capsys.readouterr().err
    assert environ.stats.get("registrations", 0) == 1

    # Ctrl-C during the download of another list's job, ready at once.
    given_job = filename
    environ.config.delay = 0.0
    other = tmp_path / "other.csv"
    other.write_text(_text(people.iloc[1:]))
    monkeypatch.setattr(SmartMatchClient, "poll", real_poll)
    monkeypatch.setattr(SmartMatchClient, "download", interrupted)
    code = main(["match", str(other), "-o", str(out), "--no-progress"])
    assert code == ExitCode.INTERRUPTED
    err = capsys.readouterr().err
    filename = next(f for f in sm.jobs()["filename"] if f != given_job)
    assert "is done at the service" in err
    assert f"smartmatch-pandas resume {filename} --input {other} -o {out}" in err


def test_sample_refuses_bad_values_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for flags in (["--rows", "0"], ["--outsiders", "2"]):
        with pytest.raises(SystemExit) as stopped:
            main(["sample", "-o", "x.csv", *flags])
        assert stopped.value.code == ExitCode.USAGE
        assert "Traceback" not in capsys.readouterr().err


def test_every_option_of_match_is_a_flag() -> None:
    """A new option of ``match()`` gets its flag from its declaration, or this fails."""
    from smartmatch_pandas.options import cli_options, options_of

    never = {"api_key"}  # from TS_API_KEY only: never in shell history
    flagged = {option.name for option in cli_options("match")}
    assert {option.name for option in options_of("match")} - never == flagged
    help_text = os.linesep.join(_help("match"))
    for option in cli_options("match"):
        assert option.cli is not None
        assert option.cli.flag in help_text


def _help(command: str) -> list[str]:
    from smartmatch_pandas.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[command].format_help().splitlines()  # type: ignore[attr-defined]


def test_the_additional_candidates_are_written_beside_in_batches_too(
    environ: LocalService, tmp_path: Path
) -> None:
    """``--max-matches 3`` without ``--all-matches``: the best in the output, the others
    beside it, the same whether the list is held or matched in batches."""
    from smartmatch_pandas.local import sample_contacts

    given = tmp_path / "list.csv"
    contacts = sample_contacts(environ.voters, 40, seed=3).drop(columns="true_voterbase_id")
    contacts.to_csv(given, index=False)
    written = {}
    for way in ("--in-memory", "--stream"):
        out = tmp_path / way.strip("-") / "out.parquet"
        out.parent.mkdir()
        assert main(["match", str(given), "-o", str(out), "--max-matches", "3", way, "-q"]) == 0
        written[way] = (
            pd.read_parquet(out),
            pd.read_parquet(out.with_suffix(".additional.parquet")),
        )
    (best, others), (best_streamed, others_streamed) = written.values()
    assert len(best) == 40
    assert len(others) > 0
    assert set(others["match_rank"]) <= {2, 3}
    pd.testing.assert_frame_equal(best, best_streamed, check_dtype=False)
    pd.testing.assert_frame_equal(
        others.reset_index(drop=True), others_streamed.reset_index(drop=True), check_dtype=False
    )
    assert environ.stats.get("registrations", 0) == 1  # the second way from the job store


def test_a_result_that_cannot_be_written_says_how_to_write_it_again(
    environ: LocalService,
    people: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import errno

    from smartmatch_pandas.cli import matching

    given, out = tmp_path / "list.csv", tmp_path / "out.csv"
    given.write_text(_text(people))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # a full disk

    with monkeypatch.context() as patched:
        patched.setattr(matching, "write_table", full)
        assert main(["match", str(given), "-o", str(out), "-q"]) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert "No space left on device" in err
    command = err[err.index("smartmatch-pandas resume") :].split("(job")[0].strip().split()
    assert main([*command[1:], "-q"]) == ExitCode.DONE
    assert pd.read_csv(out, dtype=str)["vb.voterbase_id"].tolist() == people.attrs["ids"]
    assert environ.stats.get("registrations", 0) == 1
