"""The client against hostile servers: its peak memory under each attack on memory, and
the time each endless or slow transfer took to end.

Each attack runs a small hostile server on 127.0.0.1 (``tests/hostile.py``, the servers of
the test catalogue ``tests/test_hostile.py``). For attacks on memory it prints the bytes
the server sent (or that the deliverable unpacks to) and the client's peak of Python
memory over the call (tracemalloc), and their ratio; for slow and endless transfers, the
seconds the call took against the limit it was given.

Talks to 127.0.0.1 only; uses a temporary job store.

    python -m benchmarks.hostile
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import time
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable

import pandas as pd
import pyarrow as pa

import smartmatch_pandas as sm
from smartmatch_pandas.clock import CLOCK
from smartmatch_pandas.deliverable import RowAllowance, read_files, unpack_deliverable
from smartmatch_pandas.files.spool import Spool
from smartmatch_pandas.wire.http import SmartMatchClient
from smartmatch_pandas.wire.secrets import SecretURL
from tests.hostile import MEGABYTE, Conn, RawServer
from tests.test_hostile import fake_service

MiB = 2**20
KEY = "benchmark-key-0123456789"


def measured(call: Callable[[], object]) -> tuple[str, float, int]:
    """The outcome of ``call`` (its error's type, or "ok"), seconds, peak bytes."""
    tracemalloc.start()
    start = time.perf_counter()
    outcome = "ok"
    try:
        call()
    except Exception as exc:
        outcome = type(exc).__name__
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return outcome, elapsed, peak


def client(server: RawServer, timeout: tuple[float, float] = (1.0, 1.0)) -> SmartMatchClient:
    return SmartMatchClient(api_key=KEY, base_url=server.url, timeout=timeout)


def url(server: RawServer) -> SecretURL:
    return SecretURL(server.url + "bucket/job.zip?X-Amz-Signature=" + "ab" * 32)


def endless(conn: Conn) -> None:
    conn.endless_chunks()


def fifty_mib(conn: Conn) -> None:
    if conn.head(Content_Length=50 * MiB, Content_Type="application/json"):
        for _ in range(50):
            if not conn.send(MEGABYTE):
                return


#: 64 MiB of zeros gzipped (64 KiB), made before any measurement.
GZIP_MEMBER = gzip.compress(b"\0" * (64 * MiB), compresslevel=9)


def gzip_answer(conn: Conn) -> None:
    bomb = GZIP_MEMBER
    if conn.head(Transfer_Encoding="chunked", Content_Encoding="gzip"):
        for _ in range(16):
            if not conn.send(b"%x\r\n" % len(bomb) + bomb + b"\r\n"):
                return
        conn.send(b"0\r\n\r\n")


def endless_error(conn: Conn) -> None:
    if conn.head("403 Forbidden", Transfer_Encoding="chunked"):
        xml = b"<Error><Code>AccessDenied</Code></Error>"
        conn.send(b"%x\r\n" % len(xml) + xml + b"\r\n")
        while conn.send(b"%x\r\n" % len(MEGABYTE) + MEGABYTE + b"\r\n"):
            pass


BEST = b"matchback_id,first_name,last_name,zip,vb.voterbase_id\n0,Ann,Lee,02134,X1\n1,,,,\n"


def report_zip(members: int, size: int, additional: int = 0) -> bytes:
    """A deliverable: the best matches, ``members`` reports of ``size`` bytes, and
    ``additional`` rows of additional candidates."""
    out = io.BytesIO()
    line = b"a line of the summary report, again\n" * 4096
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("best.csv", BEST)
        if additional:
            header, row = BEST.splitlines(keepends=True)[:2]
            with archive.open("additional.csv", "w", force_zip64=True) as member:
                member.write(header)
                for _ in range(additional // 100_000):
                    member.write(row * 100_000)
        for k in range(members):
            with archive.open(f"report{k}.txt", "w", force_zip64=True) as member:
                for _ in range(size // len(line)):
                    member.write(line)
    return out.getvalue()


def memory_attacks() -> None:
    print("attack on memory | sent or unpacked | client's peak | peak / sent | outcome")
    print("---|---|---|---|---")

    def row(name: str, handler: Callable[[Conn], None], call: Callable[..., object]) -> None:
        with RawServer(handler) as server:
            outcome, _, peak = measured(lambda: call(server))
            time.sleep(0.3)  # the server notices the client went away
            sent = server.sent
        print(
            f"{name} | {sent / MiB:,.1f} MiB | {peak / MiB:,.2f} MiB | "
            f"{peak / max(sent, 1):.3f} | {outcome}"
        )

    row("endless poll answer", endless, lambda s: client(s).poll("job"))
    row("50 MiB registration answer", fifty_mib, lambda s: client(s).register({"filename": "j"}))
    row("gzip-encoded answer, 1 GiB decoded", gzip_answer, lambda s: client(s).poll("job"))
    row("endless S3 error body", endless_error, lambda s: client(s).download(url(s)))
    os.environ["SMARTMATCH_SPILL_THRESHOLD"] = "4M"
    row(
        "endless deliverable (limit 32 MiB, spill at 4 MiB)",
        endless,
        lambda s: client(s).download(url(s), sink=Spool(), limit=32 * MiB),  # type: ignore[arg-type]
    )

    def unpacked(name: str, data: bytes, size: int, threshold: str) -> None:
        os.environ["SMARTMATCH_SPILL_THRESHOLD"] = threshold

        def call() -> None:
            files = unpack_deliverable(data)
            read_files(files)
            files.close()  # type: ignore[attr-defined]

        outcome, _, peak = measured(call)
        print(
            f"{name} | {size / MiB:,.0f} MiB | {peak / MiB:,.2f} MiB | "
            f"{peak / size:.3f} | {outcome}"
        )

    os.environ["SMARTMATCH_SPILL_THRESHOLD"] = "16M"
    frame = pd.DataFrame(
        {"first_name": ["Ann", "Bo"], "last_name": ["Lee", "Ray"], "zip": ["02134", "10001"]}
    )
    with RawServer(fake_service(report_zip(8, 40 * MiB))) as server:
        outcome, _, peak = measured(
            lambda: sm.match(
                frame, api_key=KEY, base_url=server.url, poll_interval=0.1, progress=False
            )
        )
    print(
        f"a whole match, 8 report members of 40 MiB (spill at 16 MiB) | 320 MiB | "
        f"{peak / MiB:,.2f} MiB | {peak / (320 * MiB):.3f} | {outcome}"
    )
    unpacked(
        "12 report members of 8 MiB (spill at 16 MiB)", report_zip(12, 8 * MiB), 96 * MiB, "16M"
    )
    unpacked("a 100 MiB report", report_zip(1, 100 * MiB), 100 * MiB, "64M")
    bomb = GZIP_MEMBER * 16
    unpacked("gzip bomb, 1 GiB in 1 MiB", bomb, 1024 * MiB, "64M")
    candidates = report_zip(0, 0, additional=8_000_000)
    os.environ["SMARTMATCH_SPILL_THRESHOLD"] = "64M"
    # Arrow parses outside Python's allocator: its own pool's peak is added.
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        outcome, _, peak = measured(
            lambda: read_files(unpack_deliverable(candidates), allowance=RowAllowance(2, 2))
        )
    finally:
        pa.set_memory_pool(previous)
    peak += pool.max_memory()
    size = len(BEST.splitlines(keepends=True)[1]) * 8_000_000
    print(
        f"8,000,000 additional candidates for 2 rows, max_matches=2 | {size / MiB:,.0f} MiB | "
        f"{peak / MiB:,.2f} MiB | {peak / size:.3f} | {outcome}"
    )
    os.environ.pop("SMARTMATCH_SPILL_THRESHOLD", None)
    sftp_bomb()


def sftp_bomb() -> None:
    """The gzip bomb in a local service's SFTP drop, fetched and vetted."""
    from smartmatch_pandas.job.vetting import DeliverableCheck
    from smartmatch_pandas.local import LocalService
    from smartmatch_pandas.wire import sftp

    with LocalService(poll_interval=0.1, voters=2_000, seed=0, sftp_port=0) as service:
        (service.drop_folder / "bomb_job.zip").write_bytes(GZIP_MEMBER * 16)
        settings = {**service.sftp_settings, "settle": 0.05}
        check = DeliverableCheck("bomb_job", rows=2)
        outcome, elapsed, peak = measured(
            lambda: sftp.fetch_deliverable("bomb_job", vet=check, **settings)
        )
    print(
        f"gzip bomb in the SFTP drop, 1 GiB in 1 MiB ({elapsed:.1f} s) | 1,024 MiB | "
        f"{peak / MiB:,.2f} MiB | {peak / (1024 * MiB):.3f} | {outcome} (turned down)"
    )


def time_attacks() -> None:
    print()
    print("slow or endless transfer | limit | took | outcome")
    print("---|---|---|---")

    def row(
        name: str, limit: str, handler: Callable[[Conn], None], call: Callable[[RawServer], object]
    ) -> None:
        with RawServer(handler) as server:
            outcome, elapsed, _ = measured(lambda: call(server))
        print(f"{name} | {limit} | {elapsed:.2f} s | {outcome}")

    def drip(conn: Conn) -> None:
        conn.drip(0.05)

    def silence(conn: Conn) -> None:
        conn.silence()

    row(
        "deliverable, 1 byte per 50 ms",
        "time_limit 1.5 s (read timeout 30 s)",
        drip,
        lambda s: client(s, (5, 30)).download(url(s), time_limit=1.5, limit=2**40),
    )
    row(
        "deliverable headers, then silence",
        "time_limit 1.0 s (read timeout 30 s)",
        silence,
        lambda s: client(s, (5, 30)).download(url(s), time_limit=1.0),
    )
    row(
        "deliverable, 1 byte per 50 ms",
        "no deadline: 8 KiB/s after a 1 s grace, 3 tries",
        drip,
        lambda s: client(s).download(url(s), limit=2**40),
    )
    row(
        "poll answer, 1 byte per 50 ms",
        "8 KiB/s after a 1 s grace",
        drip,
        lambda s: client(s).poll("job"),
    )
    row(
        "registration headers, then silence",
        "read timeout 1 s, 3 tries",
        silence,
        lambda s: client(s).register({"filename": "j"}),
    )

    def drip_head(conn: Conn) -> None:
        conn.drip_head(0.05)

    row(
        "poll status line and headers, 1 byte per 50 ms",
        "connect + read timeouts (1 s + 1 s)",
        drip_head,
        lambda s: client(s).poll("job"),
    )
    row(
        "registration headers, 1 byte per 50 ms",
        "connect + read timeouts (1 s + 1 s)",
        drip_head,
        lambda s: client(s).register({"filename": "j"}),
    )
    row(
        "deliverable status line and headers, 1 byte per 50 ms",
        "time_limit 1.5 s (read timeout 30 s)",
        drip_head,
        lambda s: client(s, (5, 30)).download(url(s), time_limit=1.5),
    )

    def slow_upload(server: RawServer) -> None:
        the_client = client(server, (5, 30))
        with the_client.within(CLOCK.monotonic() + 1.5):
            the_client.upload(url(server), b"x" * (32 * MiB))

    def read_slowly(conn: Conn) -> None:
        conn.read_slowly(0.01)

    with RawServer(read_slowly, read_body=False) as server:
        outcome, elapsed, _ = measured(lambda: slow_upload(server))
    print(
        f"upload of 32 MiB read 1 KiB per 10 ms | match(timeout=1.5) (read timeout 30 s) | "
        f"{elapsed:.2f} s | {outcome}"
    )


def row_checks(rows: int = 1_000_000, runs: int = 5) -> None:
    """The cost of checking that a deliverable's rows line up with the rows sent: the merge
    of ``rows`` best matches (five echoed columns, sixteen appended) with and without the
    check, best of ``runs``."""
    import numpy as np

    from smartmatch_pandas.deliverable import Deliverable, merge_back
    from smartmatch_pandas.deliverable.alignment import Witness

    names = pa.array([f"Lee{k % 50_000}" for k in range(rows)], pa.large_string())
    sent = {"first_name": names, "last_name": names, "address1": names, "city": names}
    columns = {
        "matchback_id": pa.array(np.arange(rows).astype(str), pa.large_string()),
        **sent,
        **{f"vb.field_{k}": names for k in range(16)},
    }
    deliverable = Deliverable({}, pa.table(columns), best_ids=np.arange(rows))
    frame = pd.DataFrame({"id": np.arange(rows)})
    witness = Witness("last_name", names)

    def best_of(check: Witness | None) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            merge_back(frame, deliverable, [*sent, "matchback_id"], witness=check)
            times.append(time.perf_counter() - start)
        return min(times)

    without, with_check = best_of(None), best_of(witness)
    print()
    print("rows merged | merge without the row check | with it | the check's cost")
    print("---|---|---|---")
    print(
        f"{rows:,} | {without:.3f} s | {with_check:.3f} s | "
        f"{with_check - without:+.3f} s ({with_check / without - 1:+.0%})"
    )


def main() -> None:
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as home:
        os.environ["SMARTMATCH_HOME"] = home  # the whole match's job: not in your store
        memory_attacks()
        time_attacks()
        row_checks()


if __name__ == "__main__":
    main()
