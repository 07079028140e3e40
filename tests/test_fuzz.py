"""Property tests of the deliverable reader and the merge back.

Any bytes give a deliverable or a DeliverableError (never another
exception, never a hang, never memory without bound); whatever is read
merges back without placing a row by guess; and any frame of a supported
shape comes back exactly, with each row's own results.
"""

from __future__ import annotations

import csv
import gzip
import io
import tarfile
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import smartmatch_pandas as sm
from smartmatch_pandas.deliverable import Deliverable, merge_back, read_deliverable, unpack
from smartmatch_pandas.identifiers import MATCHBACK_ID
from smartmatch_pandas.local import LocalService
from smartmatch_pandas.preparation.mapping import resolve_mapping
from smartmatch_pandas.preparation.table import prepare_table, write_csv

pytestmark = pytest.mark.timeout(240)

FRAME = pd.DataFrame(
    {"first_name": ["Ann", "Bo", "Cy"], "zip": ["02134", "60614", "07102"], "n": [1, 2, 3]},
    index=pd.Index(["a", "b", "c"], name="key"),
)
SENT = ["first_name", "zip", MATCHBACK_ID]
HEADER = "first_name,zip,matchback_id,tsmart_match_code,vb.voterbase_id\n"
BEST = HEADER + "Ann,02134,0,Y,MA-1\nBo,60614,1,N,\nCy,07102,2,Y,NJ-3\n"
EXTRA = HEADER + "Ann,02134,0,Y,MA-9\nCy,07102,2,Y,NJ-7\n"
# Cheap examples: many of them, and more with --hypothesis-profile=thorough.
MANY = settings(
    max_examples=max(400, settings.default.max_examples),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def tar_gz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue())


SEEDS = [
    BEST.encode(),
    gzip.compress(BEST.encode()),
    zipped({"best.csv": BEST.encode(), "more.csv": EXTRA.encode(), "summary.txt": b"rows: 3"}),
    tar_gz({"best.csv": BEST.encode(), "more.csv": EXTRA.encode()}),
    zipped({"inner.zip": zipped({"out.csv": BEST.encode()})}),
]


def read_or_refuse(data: bytes) -> Deliverable | None:
    """The deliverable, or None if it was refused as the package's own error."""
    try:
        return read_deliverable(data, filename="fuzz")
    except sm.DeliverableError as exc:
        refused = exc
    assert refused.filename == "fuzz"
    return None


def merged_or_refused(deliverable: Deliverable) -> None:
    """Merge onto FRAME: either refused, or each row has only its own results."""
    try:
        result = merge_back(FRAME, deliverable, SENT, filename="fuzz")
    except sm.DeliverableError:
        return
    frame = result.frame
    pd.testing.assert_frame_equal(frame[FRAME.columns], FRAME)
    best = deliverable.best
    ids = [str(v).strip() if v is not None else None for v in best[MATCHBACK_ID].to_pylist()]
    appended = [c for c in frame.columns[len(FRAME.columns) :]]
    for position in range(len(FRAME)):
        row = frame.iloc[position][appended]
        if row.isna().all():
            continue
        # Never by guess: the values come from a deliverable row with this row's id.
        sources = [
            i for i, v in enumerate(ids) if v is not None and v.isdigit() and int(v) == position
        ]
        assert sources, (position, ids)
    assert result.summary.rows == len(FRAME)
    assert 0 <= result.summary.missing <= len(FRAME)


# -- any bytes -----------------------------------------------------------------------------------


@MANY
@given(st.binary(max_size=4096))
def test_any_bytes_are_read_or_refused(data: bytes) -> None:
    found = read_or_refuse(data)
    if found is not None:
        merged_or_refused(found)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid deliverable with bytes flipped, cut, inserted or spliced."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        where = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del data[where:]
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            del data[where : where + draw(st.integers(1, 16))]
    return bytes(data)


@MANY
@given(mutated())
def test_damaged_deliverables_are_read_or_refused(data: bytes) -> None:
    found = read_or_refuse(data)
    if found is not None:
        merged_or_refused(found)


CELL = st.one_of(
    st.sampled_from(["", "Ann", "0", "1", "2", "3", " 1", "1 ", "-1", "1.0", "0x1", "NA", "Y"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
)


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    """CSV text with a matchback_id column, odd cells (quotes, commas, line breaks) and ids."""
    extra = draw(
        st.lists(st.sampled_from(["tsmart_match_code", "vb.voterbase_id", "x", ""]), max_size=3)
    )
    names = ["first_name", MATCHBACK_ID, *extra]
    if draw(st.booleans()):
        names = draw(st.permutations(names))
    rows = draw(st.lists(st.lists(CELL, min_size=len(names), max_size=len(names)), max_size=8))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(names)
    writer.writerows(rows)
    text = out.getvalue().encode("utf-8", "surrogatepass")
    wrap: Callable[[bytes], bytes] = draw(
        st.sampled_from(
            [
                lambda b: b,
                gzip.compress,
                lambda b: zipped({"r.csv": b}),
                lambda b: zipped({"best.csv": BEST.encode(), "extra.csv": b}),
            ]
        )
    )
    return wrap(text)


@MANY
@given(csv_texts())
def test_any_result_csv_is_read_or_refused_and_never_merged_by_guess(data: bytes) -> None:
    found = read_or_refuse(data)
    if found is not None:
        merged_or_refused(found)


# -- decompression bombs ---------------------------------------------------------------------


def _gzip_bomb(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(lambda: zipped({"out.csv": b"\0" * (64 << 20)}), id="zip"),
        pytest.param(lambda: _gzip_bomb(64 << 20), id="gzip"),
        pytest.param(
            lambda: zipped({f"{i}.zip": zipped({"o.csv": b"\0" * (8 << 20)}) for i in range(8)}),
            id="zip of zips",
        ),
        pytest.param(lambda: tar_gz({"out.csv": b"\0" * (64 << 20)}), id="tar.gz"),
    ],
)
def test_bombs_are_refused_within_the_budget(
    bomb: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bomb()
    monkeypatch.setattr(unpack, "MIN_UNPACK_ALLOWANCE", 4 << 20)
    limit = max(4 << 20, unpack.MAX_EXPANSION * len(data))
    assert limit < 64 << 20
    tracemalloc.start()
    try:
        with pytest.raises(sm.DeliverableError, match="decompression bomb"):
            read_deliverable(data, filename="bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * limit + (8 << 20), f"{peak:,} bytes held unpacking a bomb"


def test_a_deliverable_within_the_budget_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unpack, "MIN_UNPACK_ALLOWANCE", 1 << 20)
    rows = "".join(f"Ann,02134,{i % 3},Y,MA-{i}\n" for i in range(3))
    assert read_deliverable(zipped({"b.csv": (HEADER + rows).encode()})).best.num_rows == 3


# -- frames of every supported shape come back exactly --------------------------------------

IDENTIFIER_COLUMNS = ["first_name", "last_name", "zip", "dob", "phone", "email", "state"]

TEXTS = st.one_of(
    st.none(), st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"), max_size=12)
)


def _column(kind: str, values: list[Any]) -> pd.Series:
    if kind == "object":
        return pd.Series(values, dtype=object)
    if kind == "string":
        return pd.Series(values, dtype=pd.StringDtype())
    if kind == "category":
        return pd.Series(values, dtype="category")
    if kind == "int":
        return pd.Series([len(v or "") for v in values], dtype="int64")
    if kind == "Int64":
        return pd.Series([None if v is None else len(v) for v in values], dtype="Int64")
    if kind == "float":
        return pd.Series([np.nan if v is None else len(v) / 3 for v in values], dtype="float64")
    if kind == "bool":
        return pd.Series([bool(v) for v in values], dtype=bool)
    return pd.Series(
        [
            pd.NaT if v is None else pd.Timestamp("2000-01-01") + pd.Timedelta(days=len(v))
            for v in values
        ]
    )


KINDS = ["object", "string", "category", "int", "Int64", "float", "bool", "datetime"]


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """A contact list: some identifier columns and other columns, of any dtype, any index."""
    n = draw(st.integers(1, 25))
    chosen = draw(
        st.lists(st.sampled_from(IDENTIFIER_COLUMNS), min_size=1, max_size=4, unique=True)
    )
    others = draw(st.lists(st.sampled_from(["notes", "donor_id", "amount", "notes"]), max_size=3))
    columns: dict[int, tuple[str, pd.Series]] = {}
    for i, name in enumerate([*chosen, *others]):
        values = draw(st.lists(TEXTS, min_size=n, max_size=n))
        if name in chosen:
            values[0] = values[0] or "Ann"  # never every column empty: that is refused
        columns[i] = (name, _column(draw(st.sampled_from(KINDS)), values))
    index = draw(
        st.sampled_from(
            [
                pd.RangeIndex(n),
                pd.Index([f"k{i}" for i in range(n)][::-1]),
                pd.Index([i % 3 for i in range(n)]),  # repeated labels
                pd.date_range("2020-01-01", periods=n, name="when"),
                pd.MultiIndex.from_arrays([[i // 2 for i in range(n)], list(range(n))]),
            ]
        )
    )
    frame = pd.concat(
        [s.rename(name).reset_index(drop=True) for name, s in columns.values()], axis=1
    )
    frame.index = index
    return frame


def _service_answer(upload: bytes, packing: str) -> bytes:
    """What a service returns for ``upload``: every row echoed, an id made from its position."""
    names = upload.split(b"\n", 1)[0].decode().split(",")
    table = pacsv.read_csv(
        io.BytesIO(upload),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
        ),
    )
    ids = table[MATCHBACK_ID].to_pylist()
    table = table.append_column("tsmart_match_code", pa.array(["Y"] * len(ids)))
    table = table.append_column("vb.voterbase_id", pa.array([f"XX-{i}" for i in ids]))
    order = np.random.default_rng(len(ids)).permutation(len(ids))  # rows in any order
    out = io.BytesIO()
    pacsv.write_csv(table.take(pa.array(order)), out)
    csv_bytes = out.getvalue()
    return {"csv": lambda b: b, "gzip": gzip.compress, "zip": lambda b: zipped({"o.csv": b})}[
        packing
    ](csv_bytes)


@settings(
    max_examples=max(150, settings.default.max_examples // 4),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(frames(), st.sampled_from(["csv", "gzip", "zip"]))
def test_any_frame_round_trips_exactly(frame: pd.DataFrame, packing: str) -> None:
    mapping = resolve_mapping(frame.columns.unique(), None)
    table = prepare_table(frame, mapping)
    assume(any(c.null_count < len(c) for c in table.columns[:-1]))
    body = write_csv(table)
    assert body is not None
    deliverable = read_deliverable(_service_answer(body, packing))
    result = merge_back(frame, deliverable, [*mapping.identifiers, MATCHBACK_ID])
    pd.testing.assert_frame_equal(result.frame.iloc[:, : frame.shape[1]], frame, check_exact=True)
    assert result.frame.index.equals(frame.index)
    expected = [f"XX-{i}" for i in range(len(frame))]
    assert result.frame["vb.voterbase_id"].tolist() == expected
    assert result.summary.missing == result.summary.unknown == 0


@pytest.fixture(scope="module")
def local() -> Any:
    with LocalService(poll_interval=0.1, voters=20_000, seed=0) as service:
        yield service


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(frame=frames())
def test_any_frame_round_trips_through_the_local_service(frame: pd.DataFrame, local: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sm.SmartMatchWarning)
        try:
            out = sm.match(frame, **local.settings, progress=False, cache=False, max_matches=2)
        except sm.InputError as exc:  # nothing to match on: every value sent is empty
            refused = str(exc)
        else:
            refused = ""
    if refused:
        assert "empty in every row" in refused
        return
    pd.testing.assert_frame_equal(out.iloc[:, : frame.shape[1]], frame, check_exact=True)
    assert out.index.equals(frame.index)
