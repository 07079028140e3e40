"""The SmartMatch protocol's rules, independent of HTTP.

:class:`SmartMatchService` validates registrations, enforces the poll rate
limit, runs each uploaded job through the matcher and builds its
deliverable (CSV, zip or gzip; best matches, additional matches and a
summary report), writes the drop-folder zip, and posts the webhook. The
HTTP layer (:mod:`.server`) only translates requests into these calls.

Written from the protocol reference alone: it imports nothing of the
client side, so a misunderstanding of the protocol cannot hide by being
shared by both ends.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import math
import os
import re
import tarfile
import threading
import time
import urllib.request
import uuid
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..identifiers import IDENTIFIERS, MATCH_CODE
from ..private_files import make_private_dirs, write_private
from . import faults as _faults
from .faults import Faults
from .journal import Journal
from .matcher import Candidates, Matcher
from .storage import ObjectStore
from .voterfile import VoterFile

log = logging.getLogger("smartmatch_pandas.local")

#: The current page's rule (older revisions allowed 50 characters).
FILENAME: Final = re.compile(r"[A-Za-z0-9_]{1,45}")
#: What the most used open-source client sends: a hyphen and a ``.csv`` suffix.
LEGACY_FILENAME: Final = re.compile(r"[A-Za-z0-9_\-]{1,50}(\.csv)?")
#: The newest page's rule for the onboarded audience's name.
AUDIENCE_NAME: Final = re.compile(r"[A-Za-z0-9_]{1,35}")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_NUMBER: Final = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
FORMATS: Final = ("csv", "zip", "gzip")
INCLUDES: Final = ("include_email", "include_landline", "include_wireless", "include_voip")
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no", ""})

#: Every field the local service can append: output column → voter file column.
AVAILABLE_FIELDS: Final = {
    "vb.voterbase_id": "voterbase_id",
    "vb.tsmart_exact_track": "exact_track",
    "vb.vf_state_voter_id": "voter_id",
    "vb.vf_smartvan_id": "smartvan_id",
    "vb.tsmart_first_name": "first_name",
    "vb.tsmart_middle_name": "middle_name",
    "vb.tsmart_last_name": "last_name",
    "vb.tsmart_name_suffix": "name_suffix",
    "vb.tsmart_full_address": "full_address",
    "vb.tsmart_address1": "address1",
    "vb.tsmart_address2": "address2",
    "vb.tsmart_city": "city",
    "vb.tsmart_state": "state",
    "vb.tsmart_zip": "zip",
    "vb.tsmart_county_name": "county",
    "vb.tsmart_latitude": "latitude",
    "vb.tsmart_longitude": "longitude",
    "vb.voterbase_age": "age",
    "vb.voterbase_dob": "dob",
    "vb.voterbase_gender": "gender",
    "vb.voterbase_registration_status": "registration_status",
    "vb.vf_party": "party",
    "vb.tsmart_partisan_score": "partisan_score",
    "vb.tsmart_household_id": "household_id",
    "vb.email_address": "email",
    "vb.landline_phone": "phone_landline",
    "vb.wireless_phone": "phone_wireless",
    "vb.voip_phone": "phone_voip",
}
#: The account's configured appended fields by default (``LocalService(fields=...)`` changes
#: them): the voterbase id, the person's name, address, age and sex as the voter file has
#: them, and their registration, party and partisanship.
DEFAULT_FIELDS: Final = {
    name: AVAILABLE_FIELDS[name]
    for name in (
        "vb.voterbase_id",
        "vb.tsmart_first_name",
        "vb.tsmart_middle_name",
        "vb.tsmart_last_name",
        "vb.tsmart_name_suffix",
        "vb.tsmart_full_address",
        "vb.tsmart_city",
        "vb.tsmart_state",
        "vb.tsmart_zip",
        "vb.tsmart_county_name",
        "vb.voterbase_age",
        "vb.voterbase_dob",
        "vb.voterbase_gender",
        "vb.voterbase_registration_status",
        "vb.vf_party",
        "vb.tsmart_partisan_score",
    )
}
#: Fields appended only when their include_* flag is true.
INCLUDE_FIELDS: Final = {
    "include_email": {"vb.email_address": "email"},
    "include_landline": {"vb.landline_phone": "phone_landline"},
    "include_wireless": {"vb.wireless_phone": "phone_wireless"},
    "include_voip": {"vb.voip_phone": "phone_voip"},
}
#: Appended after the account's fields: how the match was made (local service only).
SCORE_FIELDS: Final = ("ts.match_score", "ts.match_method")
#: Before the match code, as in outputs seen in the wild: the row's number in the upload
#: and in this output file (both from 1).
ROW_FIELDS: Final = ("ts__input_row", "ts__row")
#: The account's profiles (``profile_id``), each an appended-field configuration; the
#: default configuration serves requests that name none.
DEFAULT_PROFILES: Final = {
    "names_only": {
        name: AVAILABLE_FIELDS[name]
        for name in ("vb.voterbase_id", "vb.tsmart_first_name", "vb.tsmart_last_name")
    },
    "political": {
        name: AVAILABLE_FIELDS[name]
        for name in (
            "vb.voterbase_id",
            "vb.voterbase_registration_status",
            "vb.vf_party",
            "vb.tsmart_partisan_score",
        )
    },
}

JobState = Literal["registered", "processing", "done", "failed"]


@dataclass
class ServiceConfig:
    """How the local service behaves.

    Attributes
    ----------
    api_key
        The one API key it accepts.
    poll_interval
        Seconds that must pass between two polls under the key (or, with
        ``poll_scope="filename"``, of the same filename).
    poll_scope
        What the poll rate limit counts: ``"key"`` (the default, the safe reading of
        TargetSmart's page: its gateway throttles per key), or ``"filename"``.
    delay
        Seconds between an upload and its deliverable being ready.
    legacy_filenames
        Also accept filenames with a hyphen and a ``.csv`` suffix.
    error_status
        ``"http"`` answers errors with 4xx/5xx; ``"200"`` answers them with
        200 and an ``error`` string (the reference allows both).
    drop_pause
        A testing switch: when positive, each drop-folder zip is written in
        place, half of it, then this many seconds later the rest, so that a
        client can be seen to leave a partly written file alone. 0 (the
        default) writes it atomically.
    fields
        The account's appended fields (output column → voter file column).
    profiles
        Other appended-field configurations, by ``profile_id``; a request naming
        another id is refused as TargetSmart would refuse an unknown profile.
    echo
        What a registration's ``input`` holds: the parameters ``"sent"`` (as
        text, the default), or ``"typed"``: as this service read them (booleans,
        numbers), as a service that parses before it echoes would.
    booleans
        How boolean parameters are read: ``"any case"`` (``True``, ``true``,
        ``1``, ...) or ``"lowercase"``: only ``true`` is true, as a stricter
        revision might read them (a client should notice from the echo).
    """

    api_key: str
    poll_interval: float = 30.0
    poll_scope: Literal["key", "filename"] = "key"
    delay: float = 0.0
    legacy_filenames: bool = False
    error_status: Literal["http", "200"] = "http"
    drop_pause: float = 0.0
    fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    profiles: dict[str, dict[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_PROFILES.items()}
    )
    echo: Literal["sent", "typed"] = "sent"
    booleans: Literal["any case", "lowercase"] = "any case"


@dataclass
class ServiceJob:
    """One registered job, as the service sees it."""

    filename: str
    params: dict[str, str]
    max_matches: int
    format: str
    includes: frozenset[str]
    webhook: str | None
    state: JobState = "registered"
    error: str | None = None
    ready_at: float = math.inf
    last_poll: float | None = None
    uploads: int = 0
    webhooks_sent: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def upload_key(self) -> str:
        return f"uploads/{self.filename}"

    def to_record(self) -> dict[str, Any]:
        """The job as JSON for the journal; when it is ready is kept as wall-clock time,
        since the monotonic clock starts again with the process."""
        ready = self.ready_at
        return {
            "filename": self.filename,
            "params": self.params,
            "max_matches": self.max_matches,
            "format": self.format,
            "includes": sorted(self.includes),
            "webhook": self.webhook,
            "state": self.state,
            "error": self.error,
            "ready_wall": None if math.isinf(ready) else time.time() + ready - time.monotonic(),
            "uploads": self.uploads,
            "webhooks_sent": self.webhooks_sent,
            "summary": self.summary,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ServiceJob:
        """A job as :meth:`to_record` wrote it."""
        ready_wall = record.get("ready_wall")
        ready_at = (
            math.inf
            if ready_wall is None
            else time.monotonic() + max(0.0, float(ready_wall) - time.time())
        )
        return cls(
            filename=record["filename"],
            params=dict(record.get("params", {})),
            max_matches=int(record.get("max_matches", 1)),
            format=str(record.get("format", "csv")),
            includes=frozenset(record.get("includes", ())),
            webhook=record.get("webhook"),
            state=record.get("state", "registered"),
            error=record.get("error"),
            ready_at=ready_at,
            uploads=int(record.get("uploads", 0)),
            webhooks_sent=int(record.get("webhooks_sent", 0)),
            summary=dict(record.get("summary", {})),
        )

    @property
    def deliverable_key(self) -> str:
        return f"deliverables/{self.filename}/{_stem(self.filename)}.{_extension(self)}"


@dataclass(frozen=True)
class Answer:
    """An API answer: HTTP status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class SmartMatchService:
    """The service's state and rules; thread-safe.

    Attributes
    ----------
    stats
        Counters: ``registrations``, ``uploads``, ``polls``,
        ``rate_limit_violations``, ``downloads``, ``webhooks``, ...
    """

    def __init__(
        self,
        config: ServiceConfig,
        store: ObjectStore,
        voters: VoterFile,
        matcher: Matcher,
        drop_folder: Path,
        faults: Faults | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.config = config
        #: Where jobs are kept across restarts (a data folder), or None: in memory only.
        self.journal = journal
        #: Faults to inject (:mod:`.faults`): none unless asked for.
        self.faults = faults if faults is not None else Faults()
        self.store = store
        self.voters = voters
        self.matcher = matcher
        self.drop_folder = drop_folder
        make_private_dirs(self.drop_folder)
        self.jobs: dict[str, ServiceJob] = {}
        # When the key was last polled (the service accepts one key), for poll_scope="key".
        self._key_last_poll: float | None = None
        self.stats: Counter[str] = Counter()
        # Re-entrant: the answers built under the lock count their errors too.
        self._lock = threading.RLock()
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="smartmatch-job")
        self._appendable = _appendable(voters.table)
        missing = [n for n, c in config.fields.items() if c not in self._appendable.column_names]
        if missing:
            raise ValueError(
                f"field {missing[0]!r} names {config.fields[missing[0]]!r}, which the voter file "
                f"has not: use one of {', '.join(self._appendable.column_names)}"
            )
        for record in journal.jobs() if journal is not None else ():
            job = ServiceJob.from_record(record)
            self.jobs[job.filename] = job

    def resume_unfinished(self, base_url: str) -> int:
        """Match again the jobs a stopped service left processing (their uploads are kept);
        return how many. Called once the service answers at ``base_url``."""
        with self._lock:
            unfinished = [j for j in self.jobs.values() if j.state == "processing"]
        for job in unfinished:
            self._workers.submit(self._run, job, base_url, time.monotonic() + self.config.delay)
        return len(unfinished)

    def _keep(self, job: ServiceJob) -> None:
        """Write ``job`` to the journal, if the service keeps one."""
        if self.journal is not None:
            self.journal.save_job(job.to_record())

    def close(self) -> None:
        """Stop taking work; wait for jobs under way."""
        self._workers.shutdown(wait=True, cancel_futures=True)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name``."""
        with self._lock:
            self.stats[name] += n

    # -- API endpoints ---------------------------------------------------------

    def register(self, api_key: str | None, query: dict[str, str], base_url: str) -> Answer:
        """``GET service/smartmatch``: validate, record the job, hand out an upload URL."""
        denied = self._authorize(api_key, query)
        if denied:
            return denied
        try:
            job = self._new_job(query)
        except ValueError as exc:
            return self._error(query, f"Validation Error: {exc}", 400)
        with self._lock:
            known = self.jobs.get(job.filename)
            if known is not None and known.state != "registered":
                return self._error(
                    query,
                    f"Validation Error: filename {job.filename!r} has already been submitted; "
                    "use a new filename",
                    400,
                )
            self.jobs[job.filename] = job
            self.stats["registrations"] += 1
            self._keep(job)
        url = self.store.presign(
            "PUT", job.upload_key, base_url, expired=self._fault("upload", "expired", job)
        )
        body = self.answer_body(query, url=url)
        if self.config.echo == "typed":
            body["input"] = self._typed(query)
        return Answer(200, body)

    def poll(self, api_key: str | None, query: dict[str, str], base_url: str) -> Answer:
        """``GET service/smartmatch/poll``: rate-limited; the download URL once ready."""
        denied = self._authorize(api_key, query)
        if denied:
            return denied
        filename = query.get("filename", "")
        with self._lock:
            job = self.jobs.get(filename)
            self.stats["polls"] += 1
            now = time.monotonic()
            # Per key, a gateway counts every poll, whichever job (or none) it names.
            by_key = self.config.poll_scope == "key"
            last = self._key_last_poll if by_key else (job.last_poll if job else None)
            if last is not None and now - last < self.config.poll_interval:
                return self._too_soon(query, self.config.poll_interval - (now - last))
            if by_key:
                self._key_last_poll = now
            if job is None:
                return self._error(
                    query, f"Validation Error: no job is registered as {filename!r}", 404
                )
            job.last_poll = now
            state, ready = job.state, now >= job.ready_at
        if state == "failed":
            return Answer(200, self.answer_body(query, url="", error=job.error))
        if state == "done" and ready and not self._fault("poll", "never_ready", job):
            return Answer(200, self.answer_body(query, url=self.deliverable_url(job, base_url)))
        return Answer(200, self.answer_body(query, url=""))

    def _too_soon(self, query: dict[str, str], wait: float) -> Answer:
        self.stats["rate_limit_violations"] += 1
        scope = "per API key" if self.config.poll_scope == "key" else "per filename"
        body = self.answer_body(
            query,
            url="",
            error="Too Many Requests: poll at most once "
            f"every {self.config.poll_interval:g} seconds ({scope})",
        )
        return Answer(429, body, {"Retry-After": str(math.ceil(wait))})

    def deliverable_url(self, job: ServiceJob, base_url: str) -> str:
        """A fresh presigned GET URL for the job's deliverable."""
        expired = self._fault("download", "expired", job)
        return self.store.presign("GET", job.deliverable_key, base_url, expired=expired)

    # -- storage events ----------------------------------------------------------

    def job_for_upload(self, key: str) -> ServiceJob | None:
        """The job whose upload goes to ``key``, if any."""
        with self._lock:
            return next((j for j in self.jobs.values() if j.upload_key == key), None)

    def uploaded(self, job: ServiceJob, base_url: str) -> None:
        """An upload for ``job`` was stored: start matching it (once)."""
        with self._lock:
            job.uploads += 1
            self.stats["uploads"] += 1
            if job.state != "registered":
                self.stats["repeated_uploads"] += 1
                return
            job.state = "processing"
            job.ready_at = math.inf
            self._keep(job)
        self._workers.submit(self._run, job, base_url, time.monotonic() + self.config.delay)

    # -- processing ----------------------------------------------------------------

    def _run(self, job: ServiceJob, base_url: str, ready_at: float) -> None:
        try:
            deliverable, drop, summary = self._process(job)
            self.store.put(job.deliverable_key, deliverable)
            self._drop_at(ready_at, job, drop)
        except JobError as exc:
            self._finish(job, error=str(exc))
            return
        except Exception as exc:  # the service must keep serving whatever a job does
            log.exception("job %s failed", job.filename)
            self._finish(
                job, error=f"Internal Error: the job could not be processed ({type(exc).__name__})"
            )
            return
        job.summary = summary
        self._finish(job, ready_at=ready_at)
        if job.webhook:
            delay = max(0.0, ready_at - time.monotonic())
            timer = threading.Timer(delay, self._post_webhook, (job, base_url))
            timer.daemon = True
            timer.start()

    def _drop_at(self, ready_at: float, job: ServiceJob, data: bytes) -> None:
        """Put the job's zip in the drop folder when it is ready: now, or on a timer."""
        path = self.drop_folder / f"{_stem(job.filename)}.zip"
        delay = ready_at - time.monotonic()
        if delay <= 0:
            _write_drop(path, data, self.config.drop_pause)
            return

        def write() -> None:
            try:
                _write_drop(path, data, self.config.drop_pause)
            except OSError:  # the service was stopped and its folder removed meanwhile
                log.debug("the drop zip of %s was not written", job.filename, exc_info=True)

        timer = threading.Timer(delay, write)
        timer.daemon = True
        timer.start()

    def _finish(self, job: ServiceJob, *, error: str | None = None, ready_at: float = 0.0) -> None:
        with self._lock:
            job.state = "failed" if error else "done"
            job.error = error
            job.ready_at = ready_at if not error else 0.0
            self.stats["jobs_failed" if error else "jobs_done"] += 1
            self._keep(job)

    def _process(self, job: ServiceJob) -> tuple[bytes, bytes, dict[str, Any]]:
        failure = self.faults.take("job", frozenset({"fail"}), job.filename)
        if failure is not None:
            raise JobError(failure.message or "Internal Error")
        upload = _read_upload(self.store.get(job.upload_key))
        identifiers = [c for c in upload.column_names if c in IDENTIFIERS]
        if not identifiers:
            raise JobError(
                "Validation Error: the input file's header has none of the supported field "
                "identifiers (" + ", ".join(IDENTIFIERS) + ")"
            )
        contacts = upload.select(identifiers).to_pandas()
        candidates = self.matcher.match(contacts, job.max_matches)
        fields = self._fields(job)
        best, additional = _outputs(upload, candidates, self._appendable, fields)
        best = self._damaged(best, job)
        summary = _summary(job, upload.num_rows, candidates)
        files = {f"{_stem(job.filename)}.csv": _csv(best)}
        if job.max_matches > 1:
            files[f"{_stem(job.filename)}_additional_matches.csv"] = _csv(additional)
        files[f"{_stem(job.filename)}_summary.txt"] = _report(summary).encode()
        return _package(job.format, files), _zip(files), summary

    def _damaged(self, best: pa.Table, job: ServiceJob) -> pa.Table:
        """The best-match table as the ``job`` faults armed leave it (unchanged by default)."""
        missing = self.faults.take("job", frozenset({"missing_rows"}), job.filename)
        if missing is not None:
            best = _faults.leave_out_rows(best, missing.rows)
        unknown = self.faults.take("job", frozenset({"unknown_ids"}), job.filename)
        if unknown is not None:
            best = _faults.add_unknown_ids(best, unknown.rows)
        return best

    def _fault(self, endpoint: str, kind: str, job: ServiceJob) -> bool:
        """Whether a fault of ``kind`` is injected at ``endpoint`` for ``job`` (consuming it)."""
        return self.faults.take(endpoint, frozenset({kind}), job.filename) is not None

    def _fields(self, job: ServiceJob) -> dict[str, str]:
        profile = job.params.get("profile_id")
        fields = dict(self.config.profiles[profile] if profile else self.config.fields)
        for flag in INCLUDES:
            if flag in job.includes:
                fields.update(INCLUDE_FIELDS[flag])
        return fields

    def _post_webhook(self, job: ServiceJob, base_url: str) -> None:
        fault = self.faults.take("webhook", frozenset({"lost", "twice"}), job.filename)
        if fault is not None and fault.kind == "lost":
            self.count("webhooks_lost")
            return
        for _ in range(2 if fault is not None else 1):
            self._send_webhook(job, base_url)

    def _send_webhook(self, job: ServiceJob, base_url: str) -> None:
        assert job.webhook is not None
        body = json.dumps({"callback": self.deliverable_url(job, base_url)}).encode()
        request = urllib.request.Request(
            job.webhook, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        for attempt in range(3):
            try:
                with urllib.request.urlopen(request, timeout=10):
                    pass
                job.webhooks_sent += 1
                self.count("webhooks")
                return
            except OSError:
                time.sleep(0.5 * 2**attempt)
        self.count("webhooks_failed")

    # -- helpers ---------------------------------------------------------------

    def _authorize(self, api_key: str | None, query: dict[str, str]) -> Answer | None:
        if api_key is None:
            self.count("unauthorized")
            return self._error(query, "Authorization Error: the x-api-key header is missing", 401)
        if api_key != self.config.api_key:
            self.count("unauthorized")
            return self._error(query, "Authorization Error: the API key is not valid", 403)
        return None

    def _error(self, query: dict[str, str], message: str, status: int) -> Answer:
        self.count("errors")
        body = self.answer_body(query, url="", error=message)
        return Answer(200 if self.config.error_status == "200" else status, body)

    @staticmethod
    def answer_body(query: dict[str, str], *, url: str, error: str | None = None) -> dict[str, Any]:
        """The JSON body of an answer to ``query``: the download ``url`` or the ``error``."""
        return {
            "input": dict(query),
            "error": error,
            "gateway_id": str(uuid.uuid4()),
            "function_id": str(uuid.uuid4()),
            "url": url,
        }

    def _typed(self, query: dict[str, str]) -> dict[str, Any]:
        """``query`` as this service reads it: booleans and numbers as such."""
        typed: dict[str, Any] = dict(query)
        for name in (*INCLUDES, "mbp_onboarding"):
            if name in query:
                typed[name] = self._boolean(query, name)
        if "max_matches" in query:
            typed["max_matches"] = int(query["max_matches"])
        if "search_radius" in query:
            typed["search_radius"] = float(query["search_radius"])
        return typed

    def _boolean(self, query: dict[str, str], name: str) -> bool:
        if self.config.booleans == "lowercase":
            return query.get(name, "false") == "true"
        return _boolean(query, name)

    def _new_job(self, query: dict[str, str]) -> ServiceJob:
        filename = query.get("filename")
        if not filename:
            raise ValueError("filename is required")
        rule = LEGACY_FILENAME if self.config.legacy_filenames else FILENAME
        if not rule.fullmatch(filename):
            raise ValueError(
                f"filename {filename!r} must be 1-45 alphanumeric or underscore characters"
            )
        webhook = query.get("webhook") or None
        if webhook is not None:
            parts = urlsplit(webhook)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError(f"webhook {webhook!r} is not a valid HTTP(S) endpoint")
        includes = frozenset(flag for flag in INCLUDES if self._boolean(query, flag))
        max_matches = query.get("max_matches", "1")
        if not re.fullmatch(r"[0-9]{1,2}", max_matches) or not 1 <= int(max_matches) <= 10:
            raise ValueError(f"max_matches {max_matches!r} must be an integer in the range 1-10")
        format_ = query.get("format", "csv") or "csv"
        if format_ not in FORMATS:
            raise ValueError(f"format {format_!r} must be one of csv, zip, gzip")
        _check_newer_parameters(query)
        profile = query.get("profile_id")
        if profile is not None and profile not in self.config.profiles:
            raise ValueError(
                f"profile_id {profile!r} is not a profile of this account (its profiles: "
                f"{', '.join(sorted(self.config.profiles)) or 'none'})"
            )
        return ServiceJob(filename, dict(query), int(max_matches), format_, includes, webhook)


class JobError(Exception):
    """A job failed for a reason the user should read (the poll's ``error``)."""


def _check_newer_parameters(query: dict[str, str]) -> None:
    """The newest page's rules for ``search_radius``, ``notification_email``,
    ``mbp_onboarding`` and ``digital_audience_name``, in its words."""
    radius = query.get("search_radius")
    if radius is not None and (not _NUMBER.fullmatch(radius) or float(radius) <= 0):
        raise ValueError(
            f"search_radius {radius!r} must be an integer or float (in miles, i.e. 1.5 = 1 1/2 "
            "miles)"
        )
    email = query.get("notification_email")
    if email is not None and not _EMAIL.fullmatch(email):
        raise ValueError(f"notification_email {email!r} must be a valid email address")
    _boolean(query, "mbp_onboarding")
    audience = query.get("digital_audience_name")
    if audience is not None and not AUDIENCE_NAME.fullmatch(audience):
        raise ValueError(
            f"digital_audience_name {audience!r} must be 1-35 alphanumeric or underscore characters"
        )


def _boolean(query: dict[str, str], name: str) -> bool:
    value = query.get(name, "false").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} {query[name]!r} must be a boolean value")


def _stem(filename: str) -> str:
    return filename.removesuffix(".csv")


def _extension(job: ServiceJob) -> str:
    if job.format == "gzip":
        return "tar.gz" if job.max_matches > 1 else "csv.gz"
    if job.format == "zip" or job.max_matches > 1:
        return "zip"
    return "csv"


def _read_upload(data: bytes) -> pa.Table:
    data = data.removeprefix(b"\xef\xbb\xbf")
    names = next(csv.reader(io.StringIO(data[:65536].decode("utf-8", "replace"))), [])
    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            # Only an empty cell is missing: a surname "NA" or a first name "Null" is a
            # name, echoed back as sent (Arrow would read a dozen spellings as null).
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        raise JobError(f"Validation Error: the input file is not valid UTF-8 CSV ({exc})") from None


def _appendable(table: pa.Table) -> pa.Table:
    """The voter file's columns as text, plus the derived ones the fields may name."""
    street = pc.binary_join_element_wise(
        table["address1"], table["address2"], " ", null_handling="skip"
    )
    place = pc.binary_join_element_wise(table["state"], table["zip"], " ", null_handling="skip")
    full = pc.binary_join_element_wise(street, table["city"], place, ", ", null_handling="skip")
    return table.append_column("full_address", full)


def fields_config(fields: Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    """The appended fields from ``LocalService(fields=...)``, checked.

    ``None`` gives :data:`DEFAULT_FIELDS`; a list names fields of
    :data:`AVAILABLE_FIELDS`; a mapping gives output column → voter file column
    (``full_address`` or any column of ``VoterFile.table``).
    """
    if fields is None:
        return dict(DEFAULT_FIELDS)
    if isinstance(fields, str):
        raise ValueError("fields must be a list of field names or a mapping, not one string")
    if isinstance(fields, Mapping):
        chosen = {str(k): str(v) for k, v in fields.items()}
    else:
        unknown = [f for f in fields if f not in AVAILABLE_FIELDS]
        if unknown:
            raise ValueError(
                f"unknown field {unknown[0]!r}: choose from {', '.join(AVAILABLE_FIELDS)} "
                "or pass a mapping of output column to voter file column"
            )
        chosen = {f: AVAILABLE_FIELDS[f] for f in fields}
    if "vb.voterbase_id" not in chosen:
        chosen = {"vb.voterbase_id": "voterbase_id", **chosen}  # every deliverable has it
    return chosen


def _outputs(
    upload: pa.Table, found: Candidates, voters: pa.Table, fields: dict[str, str]
) -> tuple[pa.Table, pa.Table]:
    """The best-match table (one row per upload row) and the additional matches."""
    n = upload.num_rows
    best_person = np.full(n, -1, dtype=np.int64)
    best = found.rank == 1
    best_person[found.row[best]] = found.person[best]
    score = np.full(n, np.nan)
    score[found.row[best]] = found.score[best]
    method = np.full(n, None, dtype=object)
    method[found.row[best]] = found.method[best]
    best_table = _rows(upload, np.arange(n), best_person, score, method, voters, fields)
    extra = found.rank > 1
    additional = _rows(
        upload,
        found.row[extra],
        found.person[extra],
        found.score[extra],
        found.method[extra],
        voters,
        fields,
    )
    return best_table, additional


def _rows(
    upload: pa.Table,
    rows: np.ndarray,
    people: np.ndarray,
    score: np.ndarray,
    method: np.ndarray,
    voters: pa.Table,
    fields: dict[str, str],
) -> pa.Table:
    echo = upload.take(pa.array(rows, pa.int64()))
    matched = people >= 0
    take = pa.array(people, pa.int64(), mask=~matched)
    columns = {name: echo[name] for name in echo.column_names}
    columns[ROW_FIELDS[0]] = pa.array(np.asarray(rows, dtype=np.int64) + 1)
    columns[ROW_FIELDS[1]] = pa.array(np.arange(1, len(rows) + 1, dtype=np.int64))
    columns[MATCH_CODE] = pa.array(np.where(matched, "Y", "N"), pa.string())
    for name, source in fields.items():
        columns[name] = voters[source].take(take)
    columns[SCORE_FIELDS[0]] = pa.array(
        np.char.mod("%.1f", np.nan_to_num(score)), pa.string(), mask=~matched
    )
    columns[SCORE_FIELDS[1]] = pa.array(method.astype(str), pa.string(), mask=~matched)
    return pa.table(columns)


def _summary(job: ServiceJob, rows: int, found: Candidates) -> dict[str, Any]:
    best = found.rank == 1
    matched = int(best.sum())
    methods = Counter(str(m) for m in found.method[best])
    return {
        "filename": job.filename,
        "rows_in": rows,
        "rows_matched": matched,
        "match_rate": round(matched / rows, 4) if rows else 0.0,
        "additional_matches": int((found.rank > 1).sum()),
        "matches_by_method": dict(sorted(methods.items())),
    }


def _report(summary: dict[str, Any]) -> str:
    lines = [
        "SmartMatch summary report",
        f"filename: {summary['filename']}",
        f"rows in: {summary['rows_in']}",
        f"rows matched: {summary['rows_matched']}",
        f"match rate: {summary['match_rate']:.2%}",
        f"additional matches: {summary['additional_matches']}",
        "matches by method:",
        *(f"  {method}: {count}" for method, count in summary["matches_by_method"].items()),
    ]
    return "\n".join(lines) + "\n"


def _csv(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pacsv.write_csv(table, out)
    return out.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def _package(format_: str, files: dict[str, bytes]) -> bytes:
    """The deliverable: a bare CSV only when there is one file of results and csv was asked."""
    results = {n: d for n, d in files.items() if n.endswith(".csv")}
    if format_ == "gzip":
        if len(results) == 1:
            return gzip.compress(next(iter(results.values())), mtime=0)
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w") as archive:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return gzip.compress(tar.getvalue(), mtime=0)
    if format_ == "csv" and len(results) == 1:
        return next(iter(results.values()))
    return _zip(files)


def _write_drop(path: Path, data: bytes, pause: float) -> None:
    """Write a drop-folder zip: atomically, or (``pause > 0``) slowly in place."""
    if pause <= 0:
        write_private(path, data)  # a reader never sees a half-written drop file
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data[: len(data) // 2])
        out.flush()
        time.sleep(pause)
        out.write(data[len(data) // 2 :])
