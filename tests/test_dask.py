"""``ddf.smartmatch`` on Dask DataFrames: one job per frame, a lazy result merged on the
workers, against the local service on the synchronous and the distributed scheduler."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import smartmatch_pandas as sm  # noqa: E402
from smartmatch_pandas.deliverable import TEXT_DTYPE  # noqa: E402
from smartmatch_pandas.deliverable.pieces import (  # noqa: E402
    PartitionPieces,
    merged_partition,
    partition_fingerprint,
)
from smartmatch_pandas.local import LocalService  # noqa: E402

PARTITIONS = 3


@pytest.fixture
def frame(contacts: pd.DataFrame) -> pd.DataFrame:
    """The contacts with an index of their own (sorted, not from 0), as Dask keeps it."""
    ddf = dd.from_pandas(contacts.set_axis(pd.RangeIndex(1_000, 1_000 + len(contacts))), 1)
    return ddf.compute()  # the dtypes Dask gives (text as string[pyarrow])


@pytest.fixture
def ddf(frame: pd.DataFrame) -> Any:
    return dd.from_pandas(frame, npartitions=PARTITIONS)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes: the pieces and the merge cross a process boundary."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as running:
        yield running


def counted(service: LocalService) -> tuple[int, int]:
    return service.stats.get("registrations", 0), service.stats.get("downloads", 0)


def assert_like_pandas(result: Any, ddf: Any, frame: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The kind, partitions, divisions and index of the input; what pandas gives."""
    assert isinstance(result, dd.DataFrame)
    assert result.npartitions == ddf.npartitions
    assert result.divisions == ddf.divisions
    computed = result.compute()
    pd.testing.assert_index_equal(computed.index, frame.index)
    pd.testing.assert_frame_equal(computed, expected)
    # The same summary; another job (refresh=True) has its own name, in its report too.
    ours, theirs = computed.attrs["smartmatch"], expected.attrs["smartmatch"]
    named = {"filename", "report"} if ours["filename"] != theirs["filename"] else set()
    assert {k: ours[k] for k in ours.keys() - named} == {
        k: theirs[k] for k in theirs.keys() - named
    }
    appended = computed.columns[len(frame.columns) :]
    assert all(computed[c].dtype == TEXT_DTYPE for c in appended)
    assert (computed["tsmart_match_code"] == "Y").mean() > 0.7


@pytest.mark.slow  # two worker processes start (about 3 s), once for the module
@pytest.mark.subprocess
def test_distributed_one_job_merged_on_the_workers(
    service: LocalService,
    settings: dict[str, Any],
    cluster: Any,
    ddf: Any,
    frame: pd.DataFrame,
    own_temporary_folder: Path,
) -> None:
    before, folders = counted(service), pieces_folders()
    with distributed.Client(cluster):
        result = ddf.smartmatch.match(**settings)
        after = counted(service)
        (folder,) = pieces_folders() - folders
        expected = frame.smartmatch.match(**settings)  # the result cache: no new job
        assert_like_pandas(result, ddf, frame, expected)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)  # one job, read once
    assert result.smartmatch.attrs["filename"] == expected.attrs["smartmatch"]["filename"]
    del result
    gc.collect()
    assert not folder.exists()  # the pieces go with the result


def pieces_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("smartmatch-pieces-*"))


@pytest.fixture
def own_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files go into the test's own folder: the pieces found there are its own."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_synchronous_scheduler_one_job_same_as_pandas(
    service: LocalService, settings: dict[str, Any], ddf: Any, frame: pd.DataFrame
) -> None:
    before = counted(service)
    with dask.config.set(scheduler="synchronous"):
        result = ddf.smartmatch.match(max_matches=2, **settings)
        assert counted(service)[0] == before[0] + 1
        expected = frame.smartmatch.match(max_matches=2, refresh=True, **settings)
        assert_like_pandas(result, ddf, frame, expected)


def test_typed_partitions_hold_what_the_pandas_way_types(
    settings: dict[str, Any], ddf: Any, frame: pd.DataFrame
) -> None:
    """typed=True: each partition types its voter fields as the pandas way types them,
    the misfits counted in the summary, the categories left unknown until computed."""
    with dask.config.set(scheduler="synchronous"):
        result = ddf.smartmatch.match(typed=True, **settings)
        assert not result["vb.vf_party"].cat.known
        assert result.dtypes["vb.voterbase_age"] == "Int64"
        computed = result.compute()
    expected = frame.smartmatch.match(typed=True, **settings)
    assert computed.attrs["smartmatch"]["typed"] == expected.attrs["smartmatch"]["typed"]
    for column in ("vb.voterbase_age", "vb.tsmart_partisan_score", "vb.voterbase_dob"):
        pd.testing.assert_series_equal(computed[column], expected[column])
    assert computed["vb.vf_party"].astype(str).tolist() == (
        expected["vb.vf_party"].astype(str).tolist()
    )


def resume_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k in {"api_key", "base_url", "progress"}}


def test_submit_then_resume(settings: dict[str, Any], ddf: Any, frame: pd.DataFrame) -> None:
    job = ddf.smartmatch.submit(**settings)
    with dask.config.set(scheduler="synchronous"):
        result = ddf.smartmatch.resume(job.filename, **resume_settings(settings)).compute()
    expected = frame.smartmatch.match(**settings)  # the same upload: the same job's result
    assert result.attrs["smartmatch"]["filename"] == job.filename
    pd.testing.assert_frame_equal(result, expected)


def test_another_frame_is_not_resumed(settings: dict[str, Any], ddf: Any) -> None:
    job = ddf.smartmatch.submit(**settings)
    with pytest.raises(sm.InputError, match="not the one submitted"):
        ddf.head(50, compute=False).smartmatch.resume(job.filename, **resume_settings(settings))


def test_a_partition_shuffled_since_the_upload_is_refused_naming_it(
    settings: dict[str, Any], ddf: Any
) -> None:
    """Rows drawn in another order at each compute: the same length, other contact data
    on each row; refused rather than merged onto the wrong rows."""
    shuffled = ddf.map_partitions(lambda part: part.sample(frac=1), meta=ddf._meta)
    with dask.config.set(scheduler="synchronous"):
        result = shuffled.smartmatch.match(**settings)
        with pytest.raises(sm.InputError, match=r"partition \d of the Dask frame holds other"):
            result.compute()


def test_a_parquet_file_rewritten_since_the_upload_is_refused_naming_it(
    settings: dict[str, Any], frame: pd.DataFrame, tmp_path: Path
) -> None:
    half = len(frame) // 2
    for number, part in enumerate([frame.iloc[:half], frame.iloc[half:]]):
        part.to_parquet(tmp_path / f"part.{number}.parquet")
    read = dd.read_parquet(tmp_path)
    with dask.config.set(scheduler="synchronous"):
        result = read.smartmatch.match(**settings)
        changed = pd.read_parquet(tmp_path / "part.1.parquet")
        changed["first_name"] = changed["first_name"].iloc[::-1].to_numpy()
        changed.to_parquet(tmp_path / "part.1.parquet")
        with pytest.raises(sm.InputError, match=r"partition 1 of the Dask frame holds other"):
            result.compute()
        result.partitions[0].compute()  # the partition unchanged merges


# -- the fast layer: nothing sent ---------------------------------------------------------------


def test_mapping_and_prepare_as_for_pandas(ddf: Any, frame: pd.DataFrame) -> None:
    assert ddf.smartmatch.mapping() == frame.smartmatch.mapping()
    prepared = ddf.smartmatch.prepare()
    assert prepared.npartitions == PARTITIONS
    with dask.config.set(scheduler="synchronous"):
        # matchback_id runs on across partitions: the row's position in the whole frame
        pd.testing.assert_frame_equal(prepared.compute(), frame.smartmatch.prepare())


def test_check_reports_as_for_pandas(ddf: Any, frame: pd.DataFrame) -> None:
    with dask.config.set(scheduler="synchronous"):
        report = ddf.smartmatch.check()
    assert str(report) == str(frame.smartmatch.check())


def test_all_matches_is_refused_before_anything_is_sent(ddf: Any) -> None:
    with pytest.raises(sm.OptionError, match="all_matches"):
        ddf.smartmatch.match(all_matches=True, base_url="http://127.0.0.1:9", api_key="k")


def test_a_repeated_column_is_refused(frame: pd.DataFrame) -> None:
    twice = dd.from_pandas(frame[["first_name", "zip"]].set_axis(["zip", "zip"], axis=1), 2)
    with pytest.raises(sm.InputError, match="zip"):
        twice.smartmatch.mapping()


@pytest.fixture
def pieces() -> Iterator[PartitionPieces]:
    ids = pa.array(["a", None, "c"], pa.large_string())
    made = PartitionPieces.write(
        ["vb.voterbase_id"],
        [2, 1],
        lambda start, n: pa.table({"vb.voterbase_id": ids.slice(start, n)}),
        {"smartmatch": {"filename": "f"}},
    )
    yield made
    made.remove()


def test_pieces_are_private_and_each_partition_reads_its_own(pieces: PartitionPieces) -> None:
    assert pieces.folder.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in pieces.folder.iterdir()} == {0o600}
    part = pd.DataFrame({"name": ["z"]}, index=[7])
    merged = merged_partition(part, pieces, {"number": 1})
    assert list(merged.index) == [7]
    assert merged["vb.voterbase_id"].tolist() == ["c"]
    assert merged["vb.voterbase_id"].dtype == TEXT_DTYPE
    assert merged.attrs["smartmatch"] == {"filename": "f"}


def test_a_partition_that_changed_is_refused(pieces: PartitionPieces) -> None:
    with pytest.raises(sm.InputError, match=r"partition 0 .* 1 rows now where 2"):
        merged_partition(pd.DataFrame({"name": ["z"]}), pieces, {"number": 0})


def test_a_partition_with_other_values_or_order_is_refused() -> None:
    uploaded = pd.DataFrame({"name": ["a", "b"], "zip": ["1", "2"]}, index=[5, 6])
    made = PartitionPieces.write(
        ["id"],
        [2],
        lambda start, n: pa.table({"id": pa.array(["x", "y"], pa.large_string())}),
        fingerprints=[partition_fingerprint(uploaded)],
        mapped=["name", "zip"],
    )
    try:
        now = uploaded.assign(other=[1.5, 2.5])  # unmapped columns and the index play no part
        assert merged_partition(now.set_axis([0, 1]), made, {"number": 0})["id"].tolist() == [
            "x",
            "y",
        ]
        copied = pickle.loads(pickle.dumps(made))  # as a worker gets it
        for changed in (now.iloc[::-1], now.assign(zip=["1", "3"])):
            with pytest.raises(sm.InputError, match=r"partition 0 .* holds other contact data"):
                merged_partition(changed, copied, {"number": 0})
    finally:
        made.remove()


def test_a_copy_reads_the_pieces_the_original_removes_them(pieces: PartitionPieces) -> None:
    copy = pickle.loads(pickle.dumps(pieces))
    del copy
    gc.collect()
    assert pieces.folder.exists()  # a worker's copy never removes them
    folder = pieces.folder
    pieces.remove()
    assert not folder.exists()
    with pytest.raises(sm.InputError, match="piece for partition 0 is gone"):
        pieces.piece(0, pd.RangeIndex(2))


def test_pieces_of_many_partitions_keep_order() -> None:
    ids = pa.array([str(i) for i in range(10)], pa.large_string())
    made = PartitionPieces.write(
        ["id"], [4, 0, 6], lambda start, n: pa.table({"id": ids.slice(start, n)})
    )
    try:
        got = [made.piece(k, pd.RangeIndex(n))["id"].tolist() for k, n in enumerate([4, 0, 6])]
    finally:
        made.remove()
    assert got == [["0", "1", "2", "3"], [], [str(i) for i in range(4, 10)]]
    assert np.all([len(g) for g in got] == np.array([4, 0, 6]))


@pytest.mark.subprocess
def test_import_does_not_load_dask_yet_registers_it() -> None:
    code = (
        "import sys, smartmatch_pandas\n"
        "assert 'dask' not in sys.modules, 'dask imported'\n"
        "import dask.dataframe as dd\n"
        "assert hasattr(dd.DataFrame, 'smartmatch')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_a_timeout_says_to_resume_from_the_dask_frame(
    settings: dict[str, Any], ddf: Any, frame: pd.DataFrame
) -> None:
    with pytest.raises(sm.JobTimeoutError, match=r"ddf\.smartmatch\.resume\('sm_") as caught:
        ddf.smartmatch.match(timeout=0.01, **settings)
    with dask.config.set(scheduler="synchronous"):
        resumed = ddf.smartmatch.resume(caught.value.filename, **resume_settings(settings))
        assert len(resumed.compute()) == len(frame)


@pytest.mark.parametrize("most_buckets", [64, 4])
def test_partitions_across_the_deliverable_buckets(
    settings: dict[str, Any],
    ddf: Any,
    frame: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    most_buckets: int,
) -> None:
    # Buckets of 16 rows: every partition (about 67 rows) takes rows of several; with at
    # most 4 buckets, larger ones (50 rows), cut elsewhere than the partitions.
    monkeypatch.setattr("smartmatch_pandas.deliverable.batched.BUCKET_ROWS", 16)
    monkeypatch.setattr("smartmatch_pandas.deliverable.batched.MAX_BUCKETS", most_buckets)
    with dask.config.set(scheduler="synchronous"):
        result = ddf.smartmatch.match(max_matches=3, **settings)
        expected = frame.smartmatch.match(max_matches=3, **settings)
        assert_like_pandas(result, ddf, frame, expected)
