"""DataFrame → the table SmartMatch receives: identifiers as text, plus matchback_id.

Pure data work, no I/O but writing CSV to a buffer. Every value is sent as
text, so nothing is reinterpreted on the way (a ZIP of ``02134`` stays
``02134``); missing values (NaN, None, NA, NaT) become empty cells.
"""

from __future__ import annotations

import io
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .errors import InputError
from .fields import ColumnMapping
from .identifiers import MATCHBACK_ID

_CSV_OPTIONS = pacsv.WriteOptions(include_header=True, quoting_header="none")


def prepare_table(df: pd.DataFrame, mapping: ColumnMapping) -> pa.Table:
    """The upload as an Arrow table: one text column per identifier, then ``matchback_id``.

    ``matchback_id`` is the row's position in ``df`` (0, 1, 2, ...), whatever
    the frame's index or any ``matchback_id`` column it holds.
    """
    arrays = [to_text(df.iloc[:, _position(df, column)], column) for column in mapping.columns]
    positions = pa.array(np.arange(len(df), dtype=np.int64)).cast(pa.string())
    return pa.table([*arrays, positions], names=[*mapping.identifiers, MATCHBACK_ID])


def write_csv(table: pa.Table, sink: IO[bytes] | None = None) -> bytes | None:
    """Write ``table`` as UTF-8 CSV with a plain header row.

    Returns the bytes when no ``sink`` is given.
    """
    out = sink if sink is not None else io.BytesIO()
    pacsv.write_csv(table, out, _CSV_OPTIONS)
    return out.getvalue() if sink is None else None  # type: ignore[attr-defined]


def to_text(series: pd.Series, label: object = None) -> pa.Array:
    """A column's values as an Arrow string array; missing values become null.

    Whole floats lose their ``.0`` (``2134.0`` → ``"2134"``); dates without
    a time become ``YYYY-MM-DD``.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return _datetimes_to_text(series)
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(
        series.dtype
    ):
        return pa.array(series, type=pa.string(), from_pandas=True)
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return pa.array(series, from_pandas=True).cast(pa.string())
    return _objects_to_text(series, label)


def _datetimes_to_text(series: pd.Series) -> pa.Array:
    has_time = bool((series.dropna() != series.dropna().dt.normalize()).any())
    text = series.dt.strftime("%Y-%m-%dT%H:%M:%S" if has_time else "%Y-%m-%d")
    return pa.array(text, type=pa.string(), from_pandas=True)


def _objects_to_text(series: pd.Series, label: object) -> pa.Array:
    try:
        return pa.array(series, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    missing = pd.isna(series).to_numpy()
    values = series.to_numpy(dtype=object)
    text = np.empty(len(values), dtype=object)
    for i, (value, absent) in enumerate(zip(values, missing, strict=True)):
        text[i] = None if absent else _one_to_text(value, label, series.index[i])
    return pa.array(text, type=pa.string(), from_pandas=True)


def _one_to_text(value: object, label: object, row: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"column {label!r}, row {row!r}: bytes that are not UTF-8 text; decode them first"
            ) from None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.isoformat()
    return str(value)


def _position(df: pd.DataFrame, column: object) -> int:
    """The position of a column label (labels are unique once mapped)."""
    where = df.columns.get_loc(column)
    if not isinstance(where, int):
        raise InputError(
            f"column {column!r} appears more than once in the frame; rename the duplicates"
        )
    return where
