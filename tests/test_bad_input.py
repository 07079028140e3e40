"""A catalogue of bad inputs, each with the error or warning the user sees.

Every option of match/submit/resume/wait given the wrong type or value;
frames that cannot be matched; values a CSV cannot carry; deliverables that
cannot be read; a server that answers something else than SmartMatch's
JSON. Each message must name the option, column or row and say what to do;
anything refused before a request is refused before any request. The table
in docs/reliability.md is made from :data:`CATALOGUE` by running it
(``python -m tests.doc_tables``), and a test fails when the two differ.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.deliverable import merge_back, read_deliverable, unpack
from smartmatch_pandas.local import Fault, LocalService

from . import doc_tables

FRAME = pd.DataFrame(
    {"first_name": ["Ann", "Bo"], "last_name": ["Lee", "Chan"], "zip": ["02134", "60614"]}
)
SENT = ["first_name", "last_name", "zip", "matchback_id"]
GOOD_CSV = (
    "first_name,last_name,zip,matchback_id,tsmart_match_code,vb.voterbase_id\n"
    "Ann,Lee,02134,0,Y,MA-1\nBo,Chan,60614,1,N,\n"
)
MULTI = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_arrays([["a", "c"], ["b", "d"]]))
#: The same, cut in its last value: six fields in each row all the same.
CUT_CSV = GOOD_CSV.replace("Bo,Chan,60614,1,N,\n", "Bo,Chan,60614,1,Y,IL-12345\n")[:-3]


@dataclass(frozen=True)
class Env:
    """What a case may use: a local service (faults cleared before each case)."""

    service: LocalService

    @property
    def settings(self) -> dict[str, Any]:
        return {**self.service.settings, "progress": False}


@dataclass(frozen=True)
class Case:
    """One bad input: what is given, what it raises or warns, and what the message says.

    ``says`` is a regular expression the message must match: the option,
    column or row it names, and the remedy.
    """

    id: str
    given: str
    call: Callable[[Env], object]
    raises: type[Exception] | None
    says: str
    warns: type[Warning] | None = None
    sends: bool = False  # whether a request may reach the service before the refusal


def _match(**options: Any) -> Callable[[Env], object]:
    return lambda env: sm.match(FRAME, **{**env.settings, **options})


def _submit(**options: Any) -> Callable[[Env], object]:
    return lambda env: sm.submit(FRAME, **{**env.settings, **options})


def _frame(frame: pd.DataFrame, **options: Any) -> Callable[[Env], object]:
    return lambda env: sm.match(frame, **{**env.settings, "cache": False, **options})


def _resume(*args: Any, **options: Any) -> Callable[[Env], object]:
    name = args[0] if args else "some_job"
    return lambda env: sm.resume(name, *args[1:], **{**env.settings, **options})


def _wait(**options: Any) -> Callable[[Env], object]:
    def call(env: Env) -> object:
        job = sm.submit(FRAME.assign(zip=["07102", "10001"]), **env.settings, cache=False)
        return job.wait(**options)

    return call


def _answer(body: str, content_type: str, status: int = 200) -> Callable[[Env], object]:
    def call(env: Env) -> object:
        env.service.inject(  # every time: a 502 is retried
            Fault.status_code(status, "register", body=body, content_type=content_type, times=None)
        )
        return sm.match(FRAME, **env.settings, filename="bad_answer", cache=False)

    return call


def _deliverable(data: bytes) -> Callable[[Env], object]:
    return lambda env: merge_back(
        FRAME, read_deliverable(data, filename="job_1"), SENT, filename="job_1"
    )


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _bomb(env: Env) -> object:
    data = _zip({"out.csv": b"0" * (8 << 20)})
    with mock.patch.object(unpack, "MIN_UNPACK_ALLOWANCE", 1 << 20):
        return read_deliverable(data, filename="job_1")


def _with_column(name: str, values: list[Any]) -> pd.DataFrame:
    # As object: text pandas cannot store as strings (a lone surrogate) stays so.
    return FRAME.assign(**{name: pd.Series(values, dtype=object)})


OPTION = sm.OptionError
INPUT = sm.InputError
BAD_FILE = sm.DeliverableError
WARNING = sm.SmartMatchWarning

CATALOGUE: list[Case] = [
    # -- options of match() and submit(): type and value ------------------------------------
    Case("max_matches=0", "max_matches=0", _match(max_matches=0), OPTION,
         r"max_matches=0 \(int\) must be an integer from 1 to 10"),
    Case("max_matches str", 'max_matches="3"', _match(max_matches="3"), OPTION,
         r"max_matches='3' \(str\) must be an integer from 1 to 10"),
    Case("max_matches float", "max_matches=2.5", _match(max_matches=2.5), OPTION,
         r"max_matches=2.5 \(float\) must be an integer"),
    Case("max_matches bool", "max_matches=True", _submit(max_matches=True), OPTION,
         r"max_matches=True \(bool\) must be an integer"),
    Case("format", 'format="xlsx"', _match(format="xlsx"), OPTION,
         r"format='xlsx' must be one of csv, zip, gzip"),
    Case("format None", "format=None", _submit(format=None), OPTION,
         r"format=None must be one of csv, zip, gzip"),
    Case("include str", 'include_email="yes"', _match(include_email="yes"), OPTION,
         r"include_email='yes' \(str\) must be True or False"),
    Case("include int", "include_wireless=1", _submit(include_wireless=1), OPTION,
         r"include_wireless=1 \(int\) must be True or False"),
    Case("include text", 'include_landline="True"', _match(include_landline="True"), OPTION,
         r"include_landline='True' \(str\) must be True or False"),
    Case("include None", "include_voip=None", _submit(include_voip=None), OPTION,
         r"include_voip=None \(NoneType\) must be True or False"),
    Case("webhook text", 'webhook="hooks.example.org/done"',
         _match(webhook="hooks.example.org/done"), OPTION,
         r"webhook='hooks.example.org/done' is not an http\(s\) URL: give a URL such as"),
    Case("webhook int", "webhook=42", _submit(webhook=42), OPTION,
         r"webhook=42 is not an http\(s\) URL"),
    Case("filename spaces", 'filename="my list.csv"', _match(filename="my list.csv"), OPTION,
         r"filename='my list.csv' is not a valid SmartMatch filename: use 1 to 45 letters, "
         r"digits or underscores"),
    Case("filename long", 'filename="x" * 46', _match(filename="x" * 46), OPTION,
         r"filename='x{46}' is not a valid SmartMatch filename"),
    Case("filename int", "filename=2026", _submit(filename=2026), OPTION,
         r"filename=2026 is not a valid SmartMatch filename"),
    Case("columns list", 'columns=["first_name"]', _match(columns=["first_name"]), OPTION,
         r"columns=.* must be a dict"),
    Case("columns unknown column", 'columns={"nope": "zip"}', _match(columns={"nope": "zip"}),
         OPTION, r"columns names 'nope', which is not a column of the frame \(its columns: "),
    Case("columns unknown identifier", 'columns={"first_name": "forename"}',
         _match(columns={"first_name": "forename"}), OPTION,
         r"columns\['first_name'\]='forename' is not a SmartMatch identifier; use one of"),
    Case("columns non-string identifier", 'columns={"first_name": 5}',
         _match(columns={"first_name": 5}), OPTION,
         r"columns\['first_name'\]=5 is not a SmartMatch identifier"),
    Case("columns matchback_id", 'columns={"first_name": "matchback_id"}',
         _match(columns={"first_name": "matchback_id"}), OPTION,
         r"the client adds it itself"),
    Case("invalid", 'invalid="ignore"', _match(invalid="ignore"), OPTION,
         r"invalid='ignore' must be one of 'keep', 'blank', 'raise'"),
    Case("all_matches", 'all_matches="yes"', _match(all_matches="yes"), OPTION,
         r"all_matches='yes' \(str\) must be True or False"),
    Case("typed", 'typed="yes"', _match(typed="yes"), OPTION,
         r"typed='yes' \(str\) must be True or False"),
    Case("api_key int", "api_key=12345678", _match(api_key=12345678), OPTION,
         r"api_key must be a string \(the TargetSmart API key\), not a int"),
    Case("api_key empty", 'api_key="" (and no TS_API_KEY)', _match(api_key=""), OPTION,
         r"no SmartMatch API key: pass api_key=... or set the TS_API_KEY environment variable"),
    Case("base_url int", "base_url=8765", _match(base_url=8765), OPTION,
         r"base_url=8765 must be a string, an http\(s\) URL"),
    Case("base_url scheme", 'base_url="ftp://example.org/"', _match(base_url="ftp://example.org/"),
         OPTION, r"base_url='ftp://example.org/' is not an http\(s\) URL"),
    Case("poll_interval zero", "poll_interval=0", _match(poll_interval=0), OPTION,
         r"poll_interval=0 must be a positive number of seconds"),
    Case("poll_interval str", 'poll_interval="soon"', _submit(poll_interval="soon"), OPTION,
         r"poll_interval='soon' must be a positive number of seconds"),
    Case("poll_interval below 30", "poll_interval=5 against TargetSmart's API",
         lambda env: sm.match(FRAME, api_key="k" * 12, poll_interval=5, progress=False), OPTION,
         r"poll_interval=5 is below the 30 s that TargetSmart's poll endpoint allows; use 30"),
    Case("timeout negative", "timeout=-1", _match(timeout=-1), OPTION,
         r"timeout=-1 must be a number of seconds \(0 or more\), or None"),
    Case("timeout str", 'timeout="10" (checked before the job is registered)',
         _match(timeout="10"), OPTION, r"timeout='10' must be a number of seconds"),
    Case("progress", 'progress="yes"', _match(progress="yes"), OPTION,
         r"progress='yes' must be True, False, or a callable"),
    Case("extra_params list", "extra_params=[1]", _match(extra_params=[1]), OPTION,
         r"extra_params=\[1\] must be a mapping of parameter names to values"),
    Case("extra_params documented", 'extra_params={"max_matches": 3}',
         _match(extra_params={"max_matches": 3}), OPTION,
         r"max_matches is an option of its own; pass max_matches= instead"),
    Case("extra_params value", 'extra_params={"region_radius": [5]}',
         _submit(extra_params={"region_radius": [5]}), OPTION,
         r"extra_params\['region_radius'\]=\[5\] is a list: give a string, number or boolean"),
    Case("extra_params newer", 'extra_params={"search_radius": 5}',
         _submit(extra_params={"search_radius": 5}), OPTION,
         r"search_radius is an option of its own; pass search_radius= instead"),
    Case("search_radius zero", "search_radius=0", _match(search_radius=0), OPTION,
         r"search_radius=0 \(int\) must be a positive, finite number of miles"),
    Case("search_radius text", 'search_radius="1.5"', _submit(search_radius="1.5"), OPTION,
         r"search_radius='1.5' \(str\) must be a positive, finite number of miles"),
    Case("notification_email", 'notification_email="data"',
         _match(notification_email="data"), OPTION,
         r"notification_email='data' is not an email address"),
    Case("mbp_onboarding", 'mbp_onboarding="yes"', _submit(mbp_onboarding="yes"), OPTION,
         r"mbp_onboarding='yes' \(str\) must be True or False"),
    Case("digital_audience_name", 'digital_audience_name="x" * 36',
         _match(digital_audience_name="x" * 36), OPTION,
         r"digital_audience_name='x{36}' is not a valid audience name: use 1 to 35 letters"),
    Case("profile_id", 'profile_id="my profile"', _submit(profile_id="my profile"), OPTION,
         r"profile_id='my profile' must be the profile's id as TargetSmart gave it"),
    Case("cache", 'cache="no"', _match(cache="no"), OPTION,
         r"cache='no' \(str\) must be True or False"),
    Case("refresh", "refresh=1", _submit(refresh=1), OPTION,
         r"refresh=1 \(int\) must be True or False"),
    # -- resume() and Job.wait() ---------------------------------------------------------------
    Case("resume filename", 'resume("my job")', _resume("my job"), OPTION,
         r"filename='my job' is not a valid SmartMatch filename"),
    Case("resume df", 'resume("job_1", [1, 2])', _resume("job_1", [1, 2]), INPUT,
         r"df must be the list that was submitted, as a pandas or Polars DataFrame or a "
         r"pyarrow Table, not a list: for a stream, match the same list again"),
    Case("resume via", 'resume("job_1", via="email")', _resume("job_1", via="email"), OPTION,
         r"via='email' must be one of 'poll', 'sftp'"),
    Case("resume sftp without via", 'resume("job_1", sftp={"host": "h"})',
         _resume("job_1", sftp={"host": "h"}), OPTION, r"sftp=... applies only with via='sftp'"),
    Case("resume typed", 'resume("job_1", typed=1)', _resume("job_1", typed=1), OPTION,
         r"typed=1 \(int\) must be True or False"),
    Case("resume reupload", 'resume("job_1", reupload="yes")', _resume("job_1", reupload="yes"),
         OPTION, r"reupload='yes' \(str\) must be True or False"),
    Case("resume timeout", 'resume("job_1", timeout="1")', _resume("job_1", timeout="1"), OPTION,
         r"timeout='1' must be a number of seconds"),
    Case("resume progress", 'resume("job_1", progress="yes")', _resume("job_1", progress="yes"),
         OPTION, r"progress='yes' must be True, False, or a callable"),
    Case("resume api_key", 'resume("job_1", api_key=42)', _resume("job_1", api_key=42), OPTION,
         r"api_key must be a string"),
    Case("resume base_url", 'resume("job_1", base_url="localhost:8765")',
         _resume("job_1", base_url="localhost:8765"), OPTION,
         r"base_url='localhost:8765' is not an http\(s\) URL"),
    Case("resume poll_interval", 'resume("job_1", poll_interval=-30)',
         _resume("job_1", poll_interval=-30), OPTION,
         r"poll_interval=-30 must be a positive number of seconds"),
    Case("resume cache", 'resume("job_1", cache=None)', _resume("job_1", cache=None), OPTION,
         r"cache=None \(NoneType\) must be True or False"),
    Case("resume unknown job with df", 'resume("never_submitted", df)',
         _resume("never_submitted", FRAME), INPUT,
         r"there is no record of job 'never_submitted' in the job store at .*: resume it "
         r"without a frame"),
    Case("wait timeout", "job.wait(timeout=-5)", _wait(timeout=-5), OPTION,
         r"timeout=-5 must be a number of seconds", sends=True),
    Case("wait via", 'job.wait(via="pigeon")', _wait(via="pigeon"), OPTION,
         r"via='pigeon' must be one of 'poll', 'sftp'", sends=True),
    Case("wait sftp without via", 'job.wait(sftp={"host": "h"})', _wait(sftp={"host": "h"}),
         OPTION, r"sftp=... applies only with via='sftp'", sends=True),
    Case("wait progress", "job.wait(progress=0)", _wait(progress=0), OPTION,
         r"progress=0 must be True, False, or a callable", sends=True),
    # -- frames --------------------------------------------------------------------------------
    Case("not a frame", "match([1, 2])", lambda env: sm.match([1, 2], **env.settings), INPUT,
         r"expected a pandas DataFrame, got a list"),
    Case("no rows", "a frame with no rows", _frame(FRAME.iloc[:0]), INPUT,
         r"the frame has no rows: there is nothing to match"),
    Case("no columns", "a frame with no columns", _frame(pd.DataFrame(index=[0, 1])), INPUT,
         r"no column of the frame is a SmartMatch identifier: name columns as in .*ALIASES or "
         r"map them with columns="),
    Case("no identifiers", "columns that are no identifier (nickname, notes)",
         _frame(pd.DataFrame({"nickname": ["Bo"], "notes": ["x"]})), INPUT,
         r"no column of the frame is a SmartMatch identifier"),
    Case("non-string labels", "column labels 0, 1, 2 (numbers)",
         _frame(FRAME.set_axis([0, 1, 2], axis=1)), INPUT,
         r"no column of the frame is a SmartMatch identifier: .*map them with columns="),
    Case("duplicate columns", "two columns named zip",
         _frame(pd.DataFrame([["Ann", "02134", "02139"]], columns=["first_name", "zip", "zip"])),
         INPUT, r"column 'zip' appears more than once in the frame; rename or drop the "
         r"duplicates, for example df.loc\[:, ~df.columns.duplicated\(\)\]"),
    Case("two columns one identifier", "zip and Postcode (both read as zip)",
         _frame(FRAME.assign(Postcode="02134")), INPUT,
         r"'zip' \(2 filled\) and 'Postcode'.*columns=\{'zip': 'zip', 'Postcode': None\}"),
    Case("multiindex columns", "MultiIndex columns",
         _frame(MULTI),
         INPUT, r"MultiIndex columns: flatten them first, for example df.columns = "),
    Case("all empty", "identifier columns that are all NaN",
         _frame(pd.DataFrame({"first_name": [np.nan, None], "zip": [pd.NA, ""]})), INPUT,
         r"every column sent is empty in every row \('first_name' \(first_name\), 'zip' "
         r"\(zip\)\): there is nothing to match on"),
    Case("one column empty", "one identifier column all NaN (the others filled)",
         _frame(_with_column("dob", [None, np.nan])), None,
         r"column 'dob' \(dob\) is empty in every row: it adds nothing to the match.*"
         r"columns=\{'dob': None\}", warns=WARNING, sends=True),
    Case("NUL byte", 'a value with a NUL byte ("A\\x00nn")',
         _frame(_with_column("first_name", ["Ann", "B\x00o"])), INPUT,
         r"column 'first_name' \(first_name\), row 1: a NUL character.*str.replace"),
    Case("surrogate", 'a lone surrogate ("\\udc80"), as surrogateescape leaves',
         _frame(_with_column("last_name", ["Lee", "Ch\udc80an"])), INPUT,
         r"column 'last_name', row 1: text that cannot be written as UTF-8.*str.encode"),
    Case("not utf-8 bytes", "bytes that are not UTF-8 (b'Caf\\xe9')",
         _frame(_with_column("last_name", [b"Lee", b"Caf\xe9"])), INPUT,
         r"column 'last_name', row 1: bytes that are not UTF-8 text; decode them first"),
    Case("gigantic cell", "a 2,000,000-character cell",
         _frame(_with_column("last_name", ["Lee", "x" * 2_000_000])), INPUT,
         r"column 'last_name' \(last_name\), row 1: a value of 2,000,000 characters.*"
         r"at most 1,000"),
    Case("invalid raise", 'invalid="raise" with a ZIP of "n.a."',
         _frame(_with_column("zip", ["02134", "n.a."]), invalid="raise"), INPUT,
         r"column 'zip' \(zip\): 1 value\(s\) are not a ZIP code \(row 1: 'n.a.'\).*"
         r"invalid='keep'"),
    Case("invalid keep", 'a ZIP of "n.a." (invalid="keep")',
         _frame(_with_column("zip", ["02134", "n.a."])), None,
         r"values that cannot be normalised are sent as given.*'zip' \(zip\) 1 of 2.*"
         r"df.smartmatch.check\(\)", warns=WARNING, sends=True),
    # -- what the server answers ---------------------------------------------------------------
    Case("html answer", "the server answers an HTML page (a proxy, a wrong base_url)",
         _answer("<html><body>Welcome</body></html>", "text/html"), sm.ServiceError,
         r"answered service/smartmatch with HTTP 200 and a body that is not a JSON object "
         r"\(text/html\); check base_url", sends=True),
    Case("text 502", "the server answers 502 with plain text",
         _answer("Bad Gateway", "text/plain", status=502), sm.ServiceError,
         r"HTTP 502 and a body that is not a JSON object \(text/plain\)", sends=True),
    Case("json array", "the server answers a JSON array", _answer("[1, 2]", "application/json"),
         sm.ServiceError, r"not a JSON object \(application/json\)", sends=True),
    Case("json without url", "the server answers JSON without url",
         _answer('{"error": null}', "application/json"), sm.ServiceError,
         r"accepted the job but gave no upload URL \(its answer's keys: \['error'\]\); try "
         r"again", sends=True),
    Case("json url not http", 'the server answers {"url": "ftp://..."}',
         _answer('{"url": "ftp://files.example.org/x", "error": ""}', "application/json"),
         sm.ServiceError, r"gave no upload URL", sends=True),
    Case("empty answer", "the server answers an empty body", _answer("", "text/plain"),
         sm.ServiceError, r"not a JSON object", sends=True),
    Case("validation error", 'the server answers 200 with "Validation Error: ..."',
         _answer('{"url": "", "error": "Validation Error: filename is too long"}',
                 "application/json"),
         sm.ValidationError, r"^Validation Error: filename is too long", sends=True),
    # -- deliverables --------------------------------------------------------------------------
    Case("empty deliverable", "an empty deliverable", _deliverable(b""), BAD_FILE,
         r"holds no CSV with a matchback_id column \(files: \['deliverable.csv'\]\)"),
    Case("binary deliverable", "a deliverable of random bytes",
         _deliverable(bytes(range(256)) * 4), BAD_FILE, r"holds no CSV with a matchback_id"),
    Case("no matchback_id", "a CSV without matchback_id",
         _deliverable(b"first_name,zip\nAnn,02134\n"), BAD_FILE,
         r"holds no CSV with a matchback_id column"),
    Case("ragged csv", "a CSV whose rows have the wrong number of fields",
         _deliverable(GOOD_CSV.encode() + b"Cy,1,2\n"), BAD_FILE,
         r"'deliverable.csv' in the deliverable is not valid CSV \((Row #\d+: )?Expected 6 "
         r"columns, got 3\); download it again"),
    Case("not utf-8 csv", "a CSV that is not UTF-8",
         _deliverable(GOOD_CSV.replace("Lee", "L\xe9e").encode("latin-1")), BAD_FILE,
         r"not valid CSV \(.*invalid UTF8"),
    Case("bad matchback_id", 'a matchback_id that was never sent ("0x1")',
         _deliverable(GOOD_CSV.replace(",1,N", ",0x1,N").encode()), BAD_FILE,
         r"a matchback_id that the client never sent \('0x1'\); it cannot be merged back"),
    Case("truncated zip", "a zip cut short", _deliverable(_zip({"o.csv": GOOD_CSV.encode()})[:60]),
         BAD_FILE, r"the deliverable is corrupt or truncated \(.*\); download it again"),
    Case("broken gzip", "a gzip with a broken stream",
         _deliverable(gzip.compress(GOOD_CSV.encode())[:-12] + b"\x00" * 12), BAD_FILE,
         r"the deliverable is corrupt or truncated"),
    Case("summary only", "a zip holding only a summary report",
         _deliverable(_zip({"summary.txt": b"rows in: 2"})), BAD_FILE,
         r"holds no CSV with a matchback_id column \(files: \['summary.txt'\]\)"),
    Case("zip bomb", "a zip that unpacks to far more than it should (a decompression bomb)",
         _bomb, BAD_FILE,
         r"unpacks to more than [\d,]+ bytes, as a decompression bomb does: it was not unpacked"),
    Case("cut in last value", "a CSV that does not end with a line break (cut short?)",
         _deliverable(CUT_CSV.encode()), None,
         r"does not end with a line break.*last row \(matchback_id '1'\) may be incomplete",
         warns=WARNING),
    Case("missing rows", "a deliverable without some rows that were sent",
         _deliverable(GOOD_CSV.rsplit("Bo", 1)[0].encode()), None,
         r"1 of 2 rows are missing from the deliverable \(job 'job_1'\): their appended "
         r"columns are empty \(first rows: \[1\]\)", warns=WARNING),
    Case("unknown ids", "a deliverable with rows whose matchback_id was never sent",
         _deliverable((GOOD_CSV + "Cy,Day,07102,7,Y,NJ-1\n").encode()), None,
         r"1 rows of the deliverable \(job 'job_1'\) carry a matchback_id that was never "
         r"sent: they were left out", warns=WARNING),
]  # fmt: skip


# -- running a case -------------------------------------------------------------------------


@contextlib.contextmanager
def _env() -> Iterator[Env]:
    with LocalService(poll_interval=0.1, voters=20_000, seed=0) as service:
        yield Env(service)


def outcome(case: Case, env: Env) -> str:
    """What the user sees: ``Type: message``, each case with a job store of its own."""
    env.service.faults.clear()
    with (
        tempfile.TemporaryDirectory() as home,
        mock.patch.dict(os.environ, {"SMARTMATCH_HOME": home}),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        if case.raises is not None:
            with pytest.raises(case.raises) as raised:
                case.call(env)
            kind, message = case.raises.__name__, str(raised.value)
        else:
            case.call(env)
            found = [w for w in caught if case.warns and issubclass(w.category, case.warns)]
            assert found, f"{case.id}: no {case.warns} warning"
            kind, message = "SmartMatchWarning", str(found[0].message)
    return f"{kind}: {message.replace(home, '<job store>')}"


def table(env: Env | None = None) -> str:
    """The bad-input table of docs/reliability.md, made by running every case."""
    with contextlib.nullcontext(env) if env is not None else _env() as running:
        rows = [
            (case.given, f"`{outcome(case, running)}`", f"`test_bad_input[{case.id}]`")
            for case in CATALOGUE
        ]
    return doc_tables.markdown(["input", "what the user sees", "test"], rows)


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with _env() as running:
        yield running


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_bad_input(case: Case, env: Env) -> None:
    before = env.service.stats.get("registrations", 0)
    seen = outcome(case, env)
    assert re.search(case.says, seen.split(": ", 1)[1], re.DOTALL), seen
    if not case.sends:
        assert env.service.stats.get("registrations", 0) == before, "a request was sent"


def test_the_catalogue_is_large_and_covers_every_option() -> None:
    assert len(CATALOGUE) >= 40
    given = " ".join(case.given for case in CATALOGUE)
    resumed = " ".join(c.given for c in CATALOGUE if c.given.startswith("resume("))
    waited = " ".join(c.given for c in CATALOGUE if c.given.startswith("job.wait("))
    for name in sm.verbs.MatchKwargs.__annotations__:
        assert f"{name}=" in given, ("match", name)
    for name in sm.verbs.ResumeKwargs.__annotations__:
        assert f"{name}=" in resumed, ("resume", name)
    for name in ("timeout", "progress", "via", "sftp"):
        assert f"{name}=" in waited, ("wait", name)


def test_the_docs_table_is_current(env: Env) -> None:
    doc_tables.check("bad-input", table(env))
