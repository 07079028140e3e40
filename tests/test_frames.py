"""Lists that are not pandas frames: any Arrow stream (pyarrow Table, RecordBatchReader,
DuckDB relation), and Polars DataFrames and LazyFrames, matched end to end against the
local service and given back in their own kind, as the pandas path gives them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

# The local extra brings DuckDB, the polars extra Polars (both in dev, so CI runs these).
duckdb = pytest.importorskip("duckdb")
pl = pytest.importorskip("polars")

import smartmatch_pandas as sm  # noqa: E402
from smartmatch_pandas.deliverable import batched  # noqa: E402
from smartmatch_pandas.files.streams import StreamedList, TableCollector  # noqa: E402
from smartmatch_pandas.local import LocalService, sample_contacts  # noqa: E402
from smartmatch_pandas.preparation.batched import file_mapping, upload_file  # noqa: E402
from smartmatch_pandas.preparation.mapping import resolve_mapping  # noqa: E402
from smartmatch_pandas.preparation.table import frame_upload  # noqa: E402
from smartmatch_pandas.verbs.streams import PolarsFrames  # noqa: E402

#: Columns the service appends, which the comparisons look at.
APPENDED = ["tsmart_match_code", "vb.voterbase_id", "ts.match_score"]


@pytest.fixture(scope="module")
def listed(service: LocalService) -> pa.Table:
    """30 contacts as Arrow, with columns of other types beside the text: an int32 with a
    gap, a date, and ZIPs that begin with a zero."""
    frame = sample_contacts(service.voters, 30, seed=23).drop(columns="true_voterbase_id")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    zips = table["zip"].to_pylist()
    zips[:3] = ["02134", "01002", "00501"]
    table = table.set_column(table.schema.get_field_index("zip"), "zip", pa.array(zips))
    donor = pa.array([None if i == 4 else 1000 + i for i in range(30)], pa.int32())
    joined = pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(30)])
    return table.append_column("donor_id", donor).append_column("joined", joined)


@pytest.fixture(autouse=True)
def _small_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buckets of a few rows, so that the merge crosses many of them even for 30 rows."""
    monkeypatch.setattr(batched, "BUCKET_ROWS", 4)


def the_pandas_way(table: pa.Table, settings: dict[str, Any], **options: Any) -> pd.DataFrame:
    """What the pandas path gives for the same list."""
    return sm.match(table.to_pandas(types_mapper=pd.ArrowDtype), **settings, **options)


def assert_as_the_list(enriched: pa.Table, listed: pa.Table, pandas_way: pd.DataFrame) -> None:
    """The input's columns untouched (values, types, order), the appended ones as text,
    holding what the pandas path appends, row for row."""
    inputs = enriched.select(listed.column_names)
    assert inputs.cast(listed.schema).equals(listed)
    assert inputs.column("zip").to_pylist()[:3] == ["02134", "01002", "00501"]
    assert enriched.column_names[: listed.num_columns] == listed.column_names
    for name in APPENDED:
        assert pa.types.is_large_string(enriched.schema.field(name).type)
        assert enriched.column(name).to_pylist() == [
            None if pd.isna(v) else v for v in pandas_way[name]
        ]


@pytest.mark.network
def test_a_pyarrow_table_comes_back_as_a_pyarrow_table(
    listed: pa.Table, settings: dict[str, Any], tmp_path: Path
) -> None:
    enriched = sm.match(listed, **settings)
    assert isinstance(enriched, pa.Table)
    assert enriched.schema.field("donor_id").type == pa.int32()
    assert enriched.schema.field("joined").type == pa.date32()
    assert_as_the_list(enriched, listed, the_pandas_way(listed, settings))
    summary = json.loads(enriched.schema.metadata[b"PANDAS_ATTRS"])["smartmatch"]
    assert summary["rows"] == 30
    written = tmp_path / "enriched.parquet"
    pq.write_table(enriched, written)  # where pandas reads its attrs from
    assert pd.read_parquet(written).attrs["smartmatch"]["filename"] == summary["filename"]


@pytest.mark.network
def test_a_record_batch_reader_is_read_once_and_comes_back_as_a_table(
    listed: pa.Table, settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "0")  # its copy in a temporary file
    reader = pa.RecordBatchReader.from_batches(listed.schema, listed.to_batches(max_chunksize=7))
    enriched = sm.match(reader, **settings)
    assert isinstance(enriched, pa.Table)
    assert_as_the_list(enriched, listed, the_pandas_way(listed, settings))


@pytest.mark.network
def test_a_duckdb_relation_comes_back_as_a_table(
    listed: pa.Table, settings: dict[str, Any]
) -> None:
    with duckdb.connect() as con:
        con.register("contacts", listed)
        relation = con.sql("SELECT * FROM contacts")
        enriched = sm.match(relation, **settings)
    assert isinstance(enriched, pa.Table)
    # DuckDB's own text type is plain string; the values and order are the list's.
    assert enriched.select(listed.column_names).to_pylist() == listed.to_pylist()
    assert enriched.column("tsmart_match_code").to_pylist() == [
        None if pd.isna(v) else v for v in the_pandas_way(listed, settings)["tsmart_match_code"]
    ]


@pytest.mark.network
def test_a_polars_frame_comes_back_as_a_polars_frame(
    listed: pa.Table, settings: dict[str, Any]
) -> None:
    frame = pl.from_arrow(listed)
    assert isinstance(frame, pl.DataFrame)
    enriched = frame.smartmatch.match(**settings)
    assert isinstance(enriched, pl.DataFrame)
    assert sm.match(frame, **settings).equals(enriched)  # the same through the verb
    assert enriched.select(frame.columns).equals(frame)  # dtypes and values kept
    assert enriched.schema["donor_id"] == pl.Int32
    assert enriched.schema["tsmart_match_code"] == pl.String
    pandas_way = the_pandas_way(listed, settings)
    assert enriched["tsmart_match_code"].to_list() == [
        None if pd.isna(v) else v for v in pandas_way["tsmart_match_code"]
    ]


@pytest.mark.network
def test_a_typed_stream_comes_back_with_the_voter_fields_typed(
    listed: pa.Table, settings: dict[str, Any]
) -> None:
    """typed=True holds for a stream as for a frame: the same types as the pandas way."""
    enriched = sm.match(pl.from_arrow(listed), typed=True, **settings)
    assert enriched.schema["vb.voterbase_age"] == pl.Int64
    assert enriched.schema["vb.tsmart_partisan_score"] == pl.Float64
    table = sm.match(listed, typed=True, **settings)
    pandas_way = the_pandas_way(listed, settings, typed=True)
    assert table.column("vb.voterbase_age").to_pylist() == [
        None if pd.isna(v) else int(v) for v in pandas_way["vb.voterbase_age"]
    ]


@pytest.mark.network
def test_a_lazy_frame_is_streamed_from_its_query(
    listed: pa.Table, settings: dict[str, Any], tmp_path: Path
) -> None:
    source = tmp_path / "contacts.parquet"
    pl.from_arrow(listed).write_parquet(source)  # type: ignore[union-attr]
    enriched = pl.scan_parquet(source).smartmatch.match(**settings)
    assert isinstance(enriched, pl.DataFrame)
    assert sm.match(pl.scan_parquet(source), **settings).equals(enriched)  # through the verb
    assert enriched.select(pl.from_arrow(listed).columns).equals(pl.read_parquet(source))


@pytest.mark.network
def test_all_matches_of_a_table_as_pandas_gives_them(
    listed: pa.Table, settings: dict[str, Any]
) -> None:
    enriched = sm.match(listed, max_matches=3, all_matches=True, **settings)
    pandas_way = the_pandas_way(listed, settings, max_matches=3, all_matches=True)
    assert enriched.num_rows == len(pandas_way)
    assert enriched.column("match_rank").to_pylist() == pandas_way["match_rank"].tolist()
    assert enriched.column("vb.voterbase_id").to_pylist() == [
        None if pd.isna(v) else v for v in pandas_way["vb.voterbase_id"]
    ]


@pytest.mark.network
def test_a_submitted_stream_is_picked_up_by_match(
    listed: pa.Table, fresh_service: LocalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {**fresh_service.settings, "progress": False}
    job = sm.submit(
        pa.RecordBatchReader.from_batches(listed.schema, listed.to_batches()), **settings
    )
    assert job.wait().result().frame["tsmart_match_code"].notna().any()  # the uploaded columns
    enriched = sm.match(listed, **settings)
    summary = json.loads(enriched.schema.metadata[b"PANDAS_ATTRS"])["smartmatch"]
    assert summary["filename"] == job.filename
    assert fresh_service.stats["registrations"] == 1


# -- without the service ---------------------------------------------------------------------------

#: A small list of no service's, for the tests that send nothing.
SMALL = pa.table(
    {
        "first_name": ["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus"],
        "zip": ["02134", "01002", "00501", "10001", None, "94110", "60601"],
        "donor_id": pa.array([1, None, 3, 4, 5, 6, 7], pa.int32()),
    }
)


def test_a_stream_is_read_once_and_again_from_its_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "0")
    listed = SMALL
    reader = pa.RecordBatchReader.from_batches(listed.schema, listed.to_batches(max_chunksize=2))
    with StreamedList.of(reader) as streamed:
        first = pa.concat_tables(streamed.batches(["zip", "first_name"]))
        again = pa.concat_tables(streamed.batches())
    assert first.column_names == [c for c in listed.column_names if c in ("zip", "first_name")]
    assert again.equals(listed)


def test_a_collector_keeps_the_rows_and_the_summary() -> None:
    schema = pa.schema([("a", pa.int64())], metadata={b"PANDAS_ATTRS": b"{}", b"pandas": b"x"})
    with TableCollector().open(schema) as collector:
        collector.write(pa.table({"a": [1, 2]}))
        collector.write(pa.table({"a": [3]}))
        collector.close()
    assert collector.result.column("a").to_pylist() == [1, 2, 3]
    assert collector.result.schema.metadata == {b"PANDAS_ATTRS": b"{}"}


def test_a_polars_result_is_made_piece_by_piece() -> None:
    collector = TableCollector(PolarsFrames(pl)).open(pa.schema([("a", pa.int64())]))
    collector.write(pa.table({"a": [1, 2]}))
    collector.write(pa.table({"a": [3]}))
    collector.close()
    assert collector.result.equals(pl.DataFrame({"a": [1, 2, 3]}))


def test_a_stream_is_refused_before_anything_is_sent_naming_the_column() -> None:
    listed = SMALL
    with pytest.raises(sm.OptionError, match="nope"):
        sm.match(listed, columns={"nope": "zip"}, api_key="k", base_url="http://127.0.0.1:9")
    with pytest.raises(sm.OptionError, match="max_matches"):
        sm.match(pl.from_arrow(listed), max_matches=99, api_key="k", base_url="http://127.0.0.1:9")


def test_what_is_no_frame_nor_stream_is_refused_as_before() -> None:
    with pytest.raises(sm.InputError, match="expected a pandas DataFrame, got a list"):
        sm.match([1, 2])  # type: ignore[call-overload]


def test_the_polars_namespace_reads_as_the_pandas_accessor() -> None:
    frame = pl.DataFrame({"First Name": ["Ann", "Bo"], "ZIP": ["02134", "n/a"], "n": [1, 2]})
    assert frame.smartmatch.mapping().pairs == frame.to_pandas().smartmatch.mapping().pairs
    prepared = frame.smartmatch.prepare()
    assert isinstance(prepared, pl.DataFrame)
    assert prepared["zip"].to_list()[0] == "02134"
    assert frame.smartmatch.check() == frame.to_pandas().smartmatch.check()
    assert frame.lazy().smartmatch.prepare().equals(prepared)


@pytest.mark.subprocess
def test_importing_the_package_does_not_import_polars_yet_registers_on_it() -> None:
    code = (
        "import sys, smartmatch_pandas\n"
        "assert 'polars' not in sys.modules\n"
        "import polars as pl\n"
        "print(type(pl.DataFrame({'zip': ['02134']}).smartmatch).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "PolarsSmartMatch"


def test_the_form_opens_on_a_polars_frame_shown_through_pandas() -> None:
    frame = pl.from_arrow(SMALL)
    assert isinstance(frame, pl.DataFrame)
    form = frame.smartmatch.form(columns={"donor_id": "phone"})
    assert set(form.mapping_controls) == set(frame.columns)
    assert form.mapping_controls["first_name"].value == "first_name"
    assert form.mapping_controls["zip"].value == "zip"
    assert form.columns == {"donor_id": "phone"}
    lazy = frame.lazy().smartmatch.form(columns={"donor_id": "phone"})  # the query collected
    assert set(lazy.mapping_controls) == set(frame.columns)


def test_a_polars_frame_is_uploaded_byte_for_byte_as_the_same_list_in_pandas() -> None:
    """Dates, categories, numbers for ZIPs: normalised from Arrow as from pandas."""
    frame = pl.DataFrame(
        {
            "first_name": ["Ann", "Bo", None],
            "last_name": ["Lee", "Ng", "Oh"],
            "state": pl.Series(["PA", "NY", "PA"], dtype=pl.Categorical),
            "dob": [dt.date(1980, 1, 2), None, dt.date(1990, 12, 31)],
            "zip": [2134, 10001, None],
            "phone": ["(215) 555-0100", None, "2155550101"],
        }
    )
    with StreamedList.of(frame) as streamed:
        upload = upload_file(streamed, file_mapping(streamed, None), "keep")
    as_pandas = frame.to_pandas()
    body, _ = frame_upload(as_pandas, resolve_mapping(as_pandas.columns), "keep")
    with upload.body, body:
        assert upload.body.getvalue() == body.getvalue()
        assert b'"Ann","Lee","PA","19800102","02134","2155550100","0"' in body.getvalue()


def test_a_stream_may_repeat_a_name_it_does_not_send() -> None:
    repeated = pa.table([pa.array([1]), pa.array([2]), pa.array(["Ann"])], ["a", "a", "first_name"])
    reader = pa.RecordBatchReader.from_batches(repeated.schema, repeated.to_batches())
    with StreamedList.of(reader) as streamed:
        assert pa.concat_tables(streamed.batches(["first_name"])).column_names == ["first_name"]
        assert pa.concat_tables(streamed.batches()).equals(repeated)


def test_a_stream_read_once_keeps_no_copy() -> None:
    reader = pa.RecordBatchReader.from_batches(SMALL.schema, SMALL.to_batches(max_chunksize=3))
    with StreamedList.of(reader, once=True) as streamed:
        assert pa.concat_tables(streamed.batches()).equals(SMALL)
        with pytest.raises(RuntimeError, match="read once"):
            next(streamed.batches())


@pytest.mark.network
def test_all_matches_of_a_polars_frame_takes_its_string_views(
    listed: pa.Table, settings: dict[str, Any]
) -> None:
    """Polars hands its text over as string_view, which Arrow's take has no kernel for."""
    frame = pl.from_arrow(listed)
    assert isinstance(frame, pl.DataFrame)
    enriched = frame.smartmatch.match(max_matches=3, all_matches=True, **settings)
    pandas_way = the_pandas_way(listed, settings, max_matches=3, all_matches=True)
    assert enriched["match_rank"].to_list() == pandas_way["match_rank"].tolist()
    assert enriched["first_name"].to_list() == pandas_way["first_name"].tolist()
    viewed = listed.cast(
        pa.schema(
            [
                f.with_type(pa.string_view()) if pa.types.is_string(f.type) else f
                for f in listed.schema
            ]
        )
    )
    table = sm.match(viewed, max_matches=3, all_matches=True, **settings)
    assert table.column("first_name").to_pylist() == pandas_way["first_name"].tolist()


@pytest.mark.network
def test_a_merge_that_fails_keeps_the_deliverable_paid_for(
    listed: pa.Table, fresh_service: LocalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A merge that fails on the client's side is retried on the kept deliverable: no new job."""
    settings = {**fresh_service.settings, "progress": False}
    from smartmatch_pandas.verbs import large_files

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("no room to merge")

    with monkeypatch.context() as patched:
        patched.setattr(large_files, "merge_file", broken)
        with pytest.raises(MemoryError) as failed:
            sm.match(listed, **settings)
    assert "kept" in "\n".join(failed.value.__notes__)
    enriched = sm.match(listed, **settings)
    assert enriched.num_rows == listed.num_rows
    assert fresh_service.stats["registrations"] == 1
    assert fresh_service.stats.get("downloads", 0) == 1


def test_small_batches_are_gathered_and_large_ones_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch costs the upload and the merge a fixed share: a stream of tiny ones is
    read in batches of the usual size, each one chunk, the rows in order."""
    rows = pa.table({"n": pa.array(range(10_000), pa.int64())})
    tiny = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches(max_chunksize=10))
    read = list(StreamedList.of(tiny).batches())
    assert [(t.num_rows, t.column(0).num_chunks) for t in read] == [(10_000, 1)]
    held = pa.Table.from_batches(rows.to_batches(max_chunksize=3))  # a table in many chunks
    monkeypatch.setattr("smartmatch_pandas.files.streams.BATCH_ROWS", 4_096)
    read = list(StreamedList.of(held).batches())
    assert [t.num_rows for t in read] == [4_096, 4_096, 1_808]
    assert pa.concat_tables(read).equals(rows)


@pytest.mark.network
def test_a_table_from_pandas_reads_back_with_its_index_and_metadata(
    listed: pa.Table, settings: dict[str, Any]
) -> None:
    frame = listed.to_pandas().set_index("donor_id")
    table = pa.Table.from_pandas(frame)
    described = table.schema.field("zip").with_metadata({b"source": b"crm"})
    table = table.set_column(table.schema.get_field_index("zip"), described, table["zip"])
    enriched = sm.match(table, **settings)
    assert enriched.schema.field("zip").metadata == {b"source": b"crm"}
    back = enriched.to_pandas()
    assert back.index.name == "donor_id"
    pd.testing.assert_frame_equal(back[frame.columns], frame)
    assert "smartmatch" in json.loads(enriched.schema.metadata[b"PANDAS_ATTRS"])
    ranged = sm.match(
        pa.Table.from_pandas(listed.to_pandas()), max_matches=3, all_matches=True, **settings
    )
    assert ranged.num_rows > listed.num_rows
    assert len(ranged.to_pandas()) == ranged.num_rows  # a range index of the input's rows left out


@pytest.mark.network
def test_a_pyarrow_dataset_and_its_scanner_are_matched(
    listed: pa.Table, settings: dict[str, Any], tmp_path: Path
) -> None:
    import pyarrow.dataset as ds

    pq.write_table(listed, tmp_path / "contacts.parquet")
    dataset = ds.dataset(tmp_path / "contacts.parquet")
    by_reader = sm.match(dataset.scanner().to_reader(), **settings)
    for given in (dataset, dataset.scanner()):
        enriched = sm.match(given, **settings)
        assert enriched.equals(by_reader)


def test_what_is_refused_says_what_is_taken() -> None:
    with pytest.raises(sm.InputError, match=r"got a list: match\(\) takes .*Polars.*Dask"):
        sm.match([1, 2])  # type: ignore[call-overload]
    with pytest.raises(sm.InputError, match=r"got a dict: submit\(\) takes .*Scanner"):
        sm.submit({"a": 1})  # type: ignore[call-overload]


@pytest.mark.network
def test_a_stream_that_times_out_says_to_match_it_again(listed: pa.Table) -> None:
    """resume() cannot take a stream back; the same match picks the job up, paid once.
    (A service of its own whose jobs take a second: the first match times out waiting.)"""
    with LocalService(poll_interval=0.05, voters=20_000, seed=0, delay=1.0) as slow:
        settings = {**slow.settings, "progress": False}
        reader = pa.RecordBatchReader.from_batches(listed.schema, listed.to_batches())
        said = r"smartmatch_pandas\.match\(\) of the same list with the same options"
        with pytest.raises(sm.JobTimeoutError, match=said):
            sm.match(reader, timeout=0.5, **settings)
        enriched = sm.match(listed, **settings)
        assert enriched.num_rows == listed.num_rows
        assert slow.stats["registrations"] == 1


@pytest.mark.network
def test_a_submitted_polars_frame_is_resumed_with_it(
    listed: pa.Table, settings: dict[str, Any]
) -> None:
    frame = pl.from_arrow(listed)
    job = sm.submit(frame, **settings)
    result = sm.resume(job.filename, frame, **settings)  # type: ignore[arg-type]
    assert len(result.frame) == listed.num_rows
    assert list(result.frame.columns[: len(frame.columns)]) == frame.columns
    with pytest.raises(sm.InputError, match="match the same list again"):
        sm.resume(job.filename, listed.to_reader(), **settings)  # type: ignore[arg-type]


def test_a_stream_read_already_is_refused_saying_so() -> None:
    reader = pa.RecordBatchReader.from_batches(SMALL.schema, SMALL.to_batches())
    reader.read_all()  # read once, elsewhere
    with pytest.raises(sm.InputError, match=r"has no rows.*if it was read already, make it again"):
        sm.match(reader, api_key="k", base_url="http://127.0.0.1:9", progress=False)
    with pytest.raises(sm.InputError, match=r"has no rows: there is nothing to match$"):
        sm.match(SMALL.slice(0, 0), api_key="k", base_url="http://127.0.0.1:9", progress=False)


@pytest.mark.network
def test_a_job_submitted_quietly_waits_quietly(
    listed: pa.Table, settings: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """wait() shows what submit() was told to: no bar after progress=False."""
    for given in (listed, listed.to_pandas()):
        capsys.readouterr()
        sm.submit(given, **{**settings, "progress": False}).wait()
        assert capsys.readouterr().err == ""
    seen: list[object] = []
    sm.submit(listed, **{**settings, "progress": seen.append}).wait()
    assert any(getattr(event, "stage", None) == "waiting" for event in seen)
