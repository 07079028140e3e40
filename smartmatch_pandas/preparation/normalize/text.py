"""Any column → text, as the user holds it: :func:`to_text`, for every pandas dtype
(numbers written as they read, dates as ISO text, categories once each); a value
no text can stand for is an :class:`~smartmatch_pandas.errors.InputError`."""

from __future__ import annotations

import datetime as dt
import numbers
from collections.abc import Hashable
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import InputError

TEXT: Final = pa.string()


def to_text(series: pd.Series, label: Hashable = None) -> pa.Array:
    """A column's values as Arrow text, as the user holds them.

    A string array; for a categorical column, a dictionary array of its
    categories' text.

    Missing values (None, NaN, NA, NaT) become null. Whole floats lose their
    ``.0`` (``2134.0`` → ``"2134"``); dates and midnight datetimes become
    ``YYYY-MM-DD`` (time-zone aware ones in their own zone), other datetimes
    ``YYYY-MM-DDTHH:MM:SS``; bytes are decoded as UTF-8. Works column-wise
    for every dtype, object columns of mixed types included.

    Raises
    ------
    InputError
        Bytes that are not UTF-8, or text that cannot be written as UTF-8 (a
        lone surrogate), naming the column and the row.
    """
    try:
        return _to_text(series, label)
    except UnicodeEncodeError:
        raise _unencodable(series, label) from None


def _unencodable(series: pd.Series, label: Hashable) -> InputError:
    """The error for a column holding text that UTF-8 cannot carry, naming the first row."""
    for row, value in zip(series.index, series.to_numpy(dtype=object), strict=True):
        try:
            str(value).encode("utf-8")
        except UnicodeEncodeError as exc:
            return InputError(
                f"column {label!r}, row {row!r}: text that cannot be written as UTF-8 "
                f"({exc.reason}: {exc.object[exc.start]!r}), as decoding bytes with "
                "errors='surrogateescape' leaves. Clean it first, for example "
                f"df[{label!r}] = df[{label!r}].str.encode('utf-8', 'replace').str.decode('utf-8')"
            )
    return InputError(f"column {label!r}: text that cannot be written as UTF-8")


def _to_text(series: pd.Series, label: Hashable) -> pa.Array:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _categorical_to_text(series, label)
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_to_text(_to_arrow(series), series, label)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _datetimes_to_text(series)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return _numbers_to_text(_to_arrow(series))
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return _to_arrow(series, TEXT)
    return _objects_to_text(series.to_numpy(dtype=object), series.index, label)


def _to_arrow(series: pd.Series | np.ndarray, type: pa.DataType | None = None) -> pa.Array:
    array = pa.array(series, type=type, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(type) if type is not None and array.type != type else array


def _categorical_to_text(series: pd.Series, label: Hashable) -> pa.Array:
    """The categories as text, indexed by code: the work is per category, not per row.

    A dictionary array: its values are the categories' text, its indices the codes.
    """
    categories = pd.Series(series.cat.categories)
    try:
        text = to_text(categories, label)
    except InputError:
        # Name the row, not the category.
        return _objects_to_text(series.to_numpy(dtype=object), series.index, label)
    codes = series.cat.codes.to_numpy()
    indices = pa.array(codes, mask=codes < 0).cast(pa.int32())
    return pa.DictionaryArray.from_arrays(indices, text)


def _arrow_to_text(array: pa.Array, series: pd.Series, label: Hashable) -> pa.Array:
    kind = array.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return _timestamps_to_text(array)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return _numbers_to_text(array)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return _objects_to_text(series.to_numpy(dtype=object), series.index, label)
    if pa.types.is_dictionary(kind):
        return _objects_to_text(series.to_numpy(dtype=object), series.index, label)
    try:
        return array.cast(TEXT)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _objects_to_text(series.to_numpy(dtype=object), series.index, label)


def _numbers_to_text(array: pa.Array) -> pa.Array:
    """Numbers as text; whole floats as integers (``2134.0`` → ``"2134"``, never ``2.134e+03``)."""
    if pa.types.is_floating(array.type):
        array = array.cast(pa.float64())
        # NaN is missing, whether pandas marked it or not.
        array = pc.if_else(pc.is_nan(array), pa.scalar(None, pa.float64()), array)
        whole = pc.and_(
            pc.is_finite(array),
            pc.and_(pc.equal(pc.floor(array), array), pc.less(pc.abs(array), 1e18)),
        )
        as_int = pc.cast(pc.if_else(whole, array, 0.0), pa.int64(), safe=False)
        return pc.if_else(whole, as_int.cast(TEXT), array.cast(TEXT))
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "True", "False")
    return array.cast(TEXT)


def _datetimes_to_text(series: pd.Series) -> pa.Array:
    """``YYYY-MM-DD`` when every value is at midnight, else ``YYYY-MM-DDTHH:MM:SS``."""
    return _timestamps_to_text(_to_arrow(series))


def _timestamps_to_text(stamps: pa.Array) -> pa.Array:
    if pa.types.is_date(stamps.type):
        return stamps.cast(TEXT)
    if stamps.type.tz is not None:
        stamps = pc.local_timestamp(stamps)  # the wall time where the value was recorded
    at_midnight = pc.equal(pc.floor_temporal(stamps, unit="day"), stamps)
    if pc.all(at_midnight).as_py() is not False:
        return stamps.cast(pa.date32()).cast(TEXT)
    return pc.strftime(stamps.cast(pa.timestamp("s"), safe=False), "%Y-%m-%dT%H:%M:%S")


def _objects_to_text(values: np.ndarray, index: pd.Index, label: Hashable) -> pa.Array:
    """An object column as text, one vectorised step per kind of value it holds.

    Each kind's text is made on its own rows, then all are put back in row
    order with one ``take``: no Python string is made per row.
    """
    try:
        return _to_arrow(values, TEXT)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass  # not all text: convert each kind on its own
    codes, types = pd.factorize(np.frompyfunc(type, 1, 1)(values))
    kinds = np.array([_KINDS.index(_kind(t)) for t in types], dtype=np.int8)[codes]
    parts: list[pa.Array] = [pa.nulls(1, TEXT)]  # row 0 of the parts: the null for missing
    place = np.zeros(len(values), dtype=np.int64)
    offset = 1
    for k in np.flatnonzero(np.bincount(kinds, minlength=len(_KINDS))):
        if _KINDS[k] == "missing":
            continue
        rows = np.flatnonzero(kinds == k)
        parts.append(_one_kind_to_text(_KINDS[k], values[rows], index, rows, label))
        place[rows] = np.arange(offset, offset + len(rows))
        offset += len(rows)
    return pa.concat_arrays(parts).take(pa.array(place))


_KINDS: Final = ("missing", "text", "bytes", "bool", "int", "float", "datetime", "other")


def _kind(kind: type) -> str:
    if kind is type(None) or kind is type(pd.NA) or kind is type(pd.NaT):
        return "missing"
    if issubclass(kind, str):
        return "text"
    if issubclass(kind, bytes | bytearray):
        return "bytes"
    if issubclass(kind, bool | np.bool_):
        return "bool"
    if issubclass(kind, numbers.Integral):
        return "int"
    if issubclass(kind, float | np.floating):
        return "float"
    if issubclass(kind, dt.date | np.datetime64):
        return "datetime"
    return "other"


def _one_kind_to_text(
    kind: str, values: np.ndarray, index: pd.Index, rows: np.ndarray, label: Hashable
) -> pa.Array:
    if kind == "text":
        return _to_arrow(values, TEXT)
    if kind == "bytes":
        return _bytes_to_text(values, index[rows], label)
    if kind == "bool":
        return pa.array(np.where(values.astype(bool), "True", "False"), TEXT)
    if kind == "int":
        try:
            return pa.array(values, pa.int64()).cast(TEXT)
        except (pa.ArrowInvalid, OverflowError):
            return pa.array([str(v) for v in values], TEXT)  # integers beyond 64 bits: rare
    if kind == "float":
        return _numbers_to_text(pa.array(values.astype(np.float64), pa.float64()))
    if kind == "datetime":
        try:
            stamps = pd.Series(pd.to_datetime(values))
        except (TypeError, ValueError, OverflowError):
            stamps = None  # out of range, or mixed time zones
        if stamps is not None and pd.api.types.is_datetime64_any_dtype(stamps.dtype):
            return _datetimes_to_text(stamps)
    return pa.array([str(v) for v in values], TEXT)


def _bytes_to_text(values: np.ndarray, index: pd.Index, label: Hashable) -> pa.Array:
    try:
        return pa.array([bytes(v) for v in values], pa.binary()).cast(TEXT)
    except pa.ArrowInvalid:
        for value, row in zip(values, index, strict=True):
            try:
                bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(
                    f"column {label!r}, row {row!r}: bytes that are not UTF-8 text; decode "
                    "them first, for example df[col] = df[col].str.decode('latin-1')"
                ) from None
        raise  # pragma: no cover  (Arrow and Python agree on UTF-8)
