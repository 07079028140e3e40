"""Reading deliverables by their content, and merging them back by row position."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import numpy as np
import pandas as pd
import pytest

from smartmatch_pandas import DeliverableError, SmartMatchWarning
from smartmatch_pandas.deliverable import (
    TEXT_DTYPE,
    MatchResult,
    merge_back,
    read_deliverable,
)

SENT = ["first_name", "zip", "matchback_id"]
BEST = (
    "first_name,zip,matchback_id,tsmart_match_code,vb.voterbase_id,vb.tsmart_zip\n"
    "Ann,02134,0,Y,MA-000000000001,02134\n"
    "Bo,60614,1,N,,\n"
    "Cy,07102,2,Y,NJ-000000000003,07102\n"
)
EXTRA = (
    "first_name,zip,matchback_id,tsmart_match_code,vb.voterbase_id,vb.tsmart_zip\n"
    "Ann,02134,0,Y,MA-000000000009,02134\n"
    "Cy,07102,2,Y,NJ-000000000007,07102\n"
    "Ann,02134,0,Y,MA-000000000008,02135\n"
)
FRAME = pd.DataFrame(
    {"first_name": ["Ann", "Bo", "Cy"], "zip": ["02134", "60614", "07102"], "n": [1, 2, 3]},
    index=pd.Index(["a", "b", "c"], name="key"),
)


def zipped(files: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def tarred(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue())


def merged(data: bytes, frame: pd.DataFrame = FRAME) -> MatchResult:
    return merge_back(frame, read_deliverable(data), SENT, filename="job")


SHAPES = {
    "csv": BEST.encode(),
    "csv with a BOM and CRLF": b"\xef\xbb\xbf" + BEST.replace("\n", "\r\n").encode(),
    "quoted csv": BEST.replace(",", '","').replace("\n", '"\n"').encode()[:-1],
    "gzip": gzip.compress(BEST.encode()),
    "zip": zipped({"out.csv": BEST, "summary.txt": "rows in: 3"}),
    "zip with odd names": zipped({"a/x1.dat": EXTRA, "b/x2.dat": BEST, "r.pdf": b"%PDF-1.4"}),
    "zip in a zip": zipped({"inner.zip": zipped({"out.csv": BEST})}),
    "tar.gz": tarred({"best.csv": BEST, "extra.csv": EXTRA, "summary.txt": "x"}),
    "zip with mac junk": zipped({"__MACOSX/._out.csv": b"\x00\x05", "out.csv": BEST}),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_shape_gives_the_same_best_matches(shape: str) -> None:
    result = merged(SHAPES[shape])
    assert result.frame["vb.voterbase_id"].tolist() == ["MA-000000000001", pd.NA, "NJ-000000000003"]
    assert result.frame["vb.tsmart_zip"].tolist() == ["02134", pd.NA, "07102"]
    assert result.summary.rows == 3
    assert result.summary.matched == 2


def test_the_frame_is_kept_exactly() -> None:
    result = merged(SHAPES["zip"])
    pd.testing.assert_frame_equal(result.frame.iloc[:, :3], FRAME)
    assert list(result.frame.columns[3:]) == [
        "tsmart_match_code",
        "vb.voterbase_id",
        "vb.tsmart_zip",
    ]
    assert (result.frame.dtypes.iloc[3:] == TEXT_DTYPE).all()


def test_only_an_empty_cell_is_missing() -> None:
    # A last name Null, a party NA: text like any other, never read as missing.
    deliverable = (
        "matchback_id,tsmart_match_code,vb.tsmart_last_name,vb.party\n"
        "0,Y,Null,NA\n1,Y,NULL,None\n2,N,,\n"
    )
    result = merged(deliverable.encode())
    assert result.frame["vb.tsmart_last_name"].tolist() == ["Null", "NULL", pd.NA]
    assert result.frame["vb.party"].tolist() == ["NA", "None", pd.NA]


def test_additional_matches_are_found_by_content_and_ranked() -> None:
    result = merged(SHAPES["zip with odd names"])
    extra = result.additional
    assert list(extra.index) == ["a", "a", "c"]
    assert extra["match_rank"].tolist() == [2, 3, 2]
    assert extra["vb.voterbase_id"].tolist() == [
        "MA-000000000009",
        "MA-000000000008",
        "NJ-000000000007",
    ]
    assert extra["n"].tolist() == [1, 1, 3]
    candidates = result.candidates
    assert list(candidates.index) == ["a", "a", "a", "b", "c", "c"]
    assert candidates["match_rank"].tolist() == [1, 2, 3, 1, 1, 2]
    assert "r.pdf" in result.files
    assert result.summary.report is not None


def test_an_additional_file_that_repeats_the_best_match_is_not_doubled() -> None:
    repeated = EXTRA + "Ann,02134,0,Y,MA-000000000001,02134\n"
    result = merged(zipped({"best.csv": BEST, "more.csv": repeated}))
    assert "MA-000000000001" not in result.additional["vb.voterbase_id"].tolist()


def test_one_file_with_several_rows_per_id_is_split_in_order() -> None:
    both = BEST + EXTRA.split("\n", 1)[1]
    result = merged(both.encode())
    assert result.frame["vb.voterbase_id"].tolist() == ["MA-000000000001", pd.NA, "NJ-000000000003"]
    assert len(result.additional) == 3


def test_missing_rows_are_reported_not_guessed() -> None:
    partial = "\n".join(BEST.splitlines()[:2]) + "\n"
    with pytest.warns(
        SmartMatchWarning, match=r"2 of 3 rows are missing .*job 'job'.*\['b', 'c'\]"
    ):
        result = merged(partial.encode())
    assert result.frame["tsmart_match_code"].isna().tolist() == [False, True, True]
    assert result.summary.missing == 2


def test_unknown_ids_are_reported_and_left_out() -> None:
    stray = BEST + "Zed,99999,17,Y,XX-000000000017,99999\n"
    with pytest.warns(SmartMatchWarning, match="1 rows of the deliverable .* never sent"):
        result = merged(stray.encode())
    assert len(result.frame) == 3
    assert result.summary.unknown == 1


def test_an_empty_id_is_an_unknown_row() -> None:
    with pytest.warns(SmartMatchWarning) as caught:
        result = merged(BEST.replace("Bo,60614,1,", "Bo,60614,,").encode())
    messages = " ".join(str(w.message) for w in caught)
    assert "missing from the deliverable" in messages
    assert "never sent" in messages
    assert (result.summary.missing, result.summary.unknown) == (1, 1)


@pytest.mark.parametrize("bad", ["x7", "1.5", "0x1", "+1", "-1", "1e0"])
def test_ids_that_are_not_positions_are_an_error(bad: str) -> None:
    broken = BEST.replace("Bo,60614,1,", f"Bo,60614,{bad},")
    with pytest.raises(DeliverableError, match="matchback_id that the client never sent"):
        merged(broken.encode())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04garbage", "corrupt or truncated"),
        (gzip.compress(BEST.encode(), mtime=0)[:30], "corrupt or truncated"),
        (b"name,zip\nAnn,02134\n", "no CSV with a matchback_id column"),
        (zipped({"summary.txt": "done"}), r"files: \['summary.txt'\]"),
        (b"", "no CSV with a matchback_id column"),
        (b'first_name,matchback_id\n"unterminated,0\n', "not valid CSV"),
    ],
)
def test_unreadable_deliverables(data: bytes, message: str) -> None:
    with pytest.raises(DeliverableError, match=message) as caught:
        read_deliverable(data, filename="job_7")
    assert caught.value.filename == "job_7"


def test_appended_names_never_overwrite_the_frames_columns() -> None:
    frame = FRAME.assign(**{"vb.voterbase_id": ["old"] * 3})
    with pytest.warns(SmartMatchWarning, match="'vb.voterbase_id_2'"):
        result = merged(BEST.encode(), frame)
    assert result.frame["vb.voterbase_id"].tolist() == ["old"] * 3
    assert result.frame["vb.voterbase_id_2"].tolist()[0] == "MA-000000000001"


def test_matched_counts_without_a_match_code() -> None:
    text = "matchback_id,vb.voterbase_id\n0,MA-1\n1,\n2,NJ-3\n"
    assert merged(text.encode()).summary.matched == 2


def test_rows_come_back_in_any_order() -> None:
    lines = BEST.splitlines()
    shuffled = "\n".join([lines[0], lines[3], lines[1], lines[2]]) + "\n"
    result = merged(shuffled.encode())
    assert result.frame["vb.voterbase_id"].tolist()[0] == "MA-000000000001"


def test_a_large_merge_is_positional() -> None:
    n = 50_000
    frame = pd.DataFrame({"first_name": np.arange(n).astype(str)}, index=np.arange(n)[::-1])
    ids = np.random.default_rng(0).permutation(n)
    body = "first_name,matchback_id,vb.voterbase_id\n" + "".join(f"{i},{i},ID-{i}\n" for i in ids)
    result = merge_back(frame, read_deliverable(body.encode()), ["first_name", "matchback_id"])
    assert (result.frame["vb.voterbase_id"] == "ID-" + frame["first_name"]).all()


def test_shares_that_round_to_all_or_nothing_say_so() -> None:
    from smartmatch_pandas.deliverable.summary import IdentifierCoverage, MatchSummary

    coverage = (
        IdentifierCoverage("first_name", 19_994, 19_000),
        IdentifierCoverage("last_name", 20_000, 19_001),
        IdentifierCoverage("email", 3, 0),
    )
    summary = MatchSummary(rows=20_000, matched=19_995, coverage=coverage)
    lines = summary.describe().splitlines()
    assert lines[0] == "SmartMatch: 20,000 rows sent, 19,995 matched (>99.9%)"
    assert lines[1].startswith("  first_name           in >99.9% of rows; matched 95.0%")
    assert lines[2].startswith("  last_name            in 100.0% of rows; matched 95.0%")
    assert lines[3] == (
        "  email                in  <0.1% of rows; matched 0.0% of those, >99.9% of the rest"
    )


@pytest.mark.parametrize(
    ("matched", "rows", "shown"),
    [(3_999, 4_000, ">99.9%"), (4_000, 4_000, "100.0%"), (1, 4_000, "<0.1%"), (0, 4_000, "0.0%"),
     (17, 40, "42.5%")],
)  # fmt: skip
def test_a_share_never_rounds_to_all_or_none_that_is_not(
    matched: int, rows: int, shown: str
) -> None:
    from smartmatch_pandas.deliverable.summary import MatchSummary, percent

    assert percent(matched / rows) == shown
    assert str(MatchSummary(rows=rows, matched=matched)) == (
        f"SmartMatch: {rows:,} rows sent, {matched:,} matched ({shown})"
    )


@pytest.mark.parametrize(("wrong", "refused"), [(0, False), (1, False), (3, True)])
def test_rows_line_up_unless_more_than_one_in_a_hundred_disagree(wrong: int, refused: bool) -> None:
    import pyarrow as pa

    from smartmatch_pandas.deliverable.alignment import Witness, check_alignment

    sent = [f"Lee {k}" for k in range(200)]
    echoed = [f" lee  {k} " for k in range(200)]  # case and spaces aside: the same
    echoed[:wrong] = [f"Ray {k}" for k in range(wrong)]
    echoed[10], sent[11] = None, ""  # a value on one side only is not compared
    table = pa.table({"last_name": pa.array(echoed, pa.string())})
    witness = Witness("last_name", pa.array(sent, pa.large_string()))
    if refused:
        with pytest.raises(DeliverableError, match=r"3 of 198 rows compared") as caught:
            check_alignment(table, np.arange(200), witness, "job_1")
        assert caught.value.filename == "job_1"
    else:
        check_alignment(table, np.arange(200), witness, "job_1")
