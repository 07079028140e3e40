"""A watch over every test: no API key, password or presigned signature in what the package emits.

The local services of the test process record the secrets they hand out
(their API keys and SFTP passwords, and every presigned URL's signature);
the client records the API keys it is given. During each test, everything
the package could show a person is collected: stdout and stderr (what pytest
captured, what ``capsys`` read, what subprocesses wrote), every log record
at DEBUG (the root logger is set to DEBUG for the session), every warning,
the text of every exception of the package's family, and the ``repr``,
``str`` and HTML of every public object made. At the test's end, a secret
in any of it fails the test, naming where it was seen (never the secret).

Imported by ``tests/conftest.py``, which makes its fixtures autouse.
"""

from __future__ import annotations

import functools
import logging
import re
import subprocess
import threading
import traceback
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from _pytest.capture import CaptureFixture

import smartmatch_pandas as sm
from smartmatch_pandas import errors
from smartmatch_pandas.local import Fault, Faults, LocalService
from smartmatch_pandas.local.storage import ObjectStore
from smartmatch_pandas.options import MatchOptions
from smartmatch_pandas.wire import http as client
from smartmatch_pandas.wire.secrets import SecretURL
from smartmatch_pandas.wire.webhook import WebhookReceiver

_HEX64 = re.compile(r"[0-9a-f]{64}")
#: Instances of one class whose reprs are taken per test (fuzz tests make thousands).
_PER_CLASS = 50
#: Query values and tokens this long or longer are watched (short ones, such as 3600, are not
#: secret and would match by chance).
_TOKEN_LENGTH = 12
#: A SigV4 URL's parameters that say how it was signed, not what signs it (the same in
#: every URL of a second, in every process): not watched. Every other value is.
_SIGNING_DETAILS = frozenset(
    {"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires", "x-amz-signedheaders"}
)


@dataclass
class Watch:
    """The secrets handed out, and what the package emitted during the current test."""

    keys: set[str] = field(default_factory=set)
    signatures: set[str] = field(default_factory=set)
    query_values: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    emitted: list[tuple[str, str]] = field(default_factory=list)
    objects: dict[type, list[Callable[[], object]]] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, value: str | None) -> None:
        """Remember an API key or a password (short test placeholders are ignored)."""
        if value and len(value) >= 8:
            with self.lock:
                self.keys.add(value)

    def signature(self, url: str) -> None:
        """Remember the signature of a presigned URL handed out, and every long value of
        its query, whatever its name (a signature under a name the redactor does not know)."""
        raw = urlsplit(url).query
        query = parse_qsl(raw) + [tuple(p.split("=", 1)) for p in raw.split("&") if "=" in p]
        signature = dict(query).get("X-Amz-Signature")
        with self.lock:
            if signature:
                self.signatures.add(signature)
            self.query_values.update(
                value
                for name, value in query
                if len(value) >= _TOKEN_LENGTH
                and value != signature
                and name.lower() not in _SIGNING_DETAILS
            )

    def token(self, value: str | None) -> None:
        """Remember a webhook's token (or any bearer value) that must not be shown."""
        if value and len(value) >= _TOKEN_LENGTH:
            with self.lock:
                self.tokens.add(value)

    def emit(self, where: str, text: object) -> None:
        """Something a person could see."""
        if text:
            with self.lock:
                self.emitted.append((where, str(text)))

    def made(self, obj: object) -> None:
        """A public object was made: its reprs are taken now, and at the test's end if it
        is still alive (held weakly where it can be, so that the watch does not keep a
        job's temporary files open beyond its life)."""
        with self.lock:
            made = self.objects.setdefault(type(obj), [])
            if len(made) >= _PER_CLASS:
                return
            try:
                made.append(weakref.ref(obj))
            except TypeError:
                made.append(lambda: obj)
        texts = _texts(obj)  # outside the lock: a repr may make public objects too
        with self.lock:
            self.emitted.extend(texts)

    def leaks(self, text: str) -> list[str]:
        """What kinds of secret ``text`` holds (empty if none)."""
        found = []
        if any(key in text for key in self.keys):
            found.append("an API key or password")
        if any(candidate in self.signatures for candidate in _HEX64.findall(text)) or any(
            value in text for value in self.query_values
        ):
            found.append("a presigned URL's signature")
        if any(token in text for token in self.tokens):
            found.append("a webhook token")
        return found

    def reset(self) -> None:
        with self.lock:
            self.emitted.clear()
            self.objects.clear()
            self.errors.clear()

    def shown(self) -> Iterator[tuple[str, str]]:
        """Everything emitted, then the text of every error and object made."""
        yield from list(self.emitted)
        for error in list(self.errors):
            name = type(error).__name__
            yield f"{name} str", str(error)
            yield f"{name} repr", repr(error)
            yield f"{name} args", repr(error.args)
            yield f"{name} shown", "".join(traceback.format_exception_only(error))
        for made in list(self.objects.values()):
            for held in made:
                obj = held()
                if obj is not None:
                    yield from _texts(obj)


def _texts(obj: object) -> list[tuple[str, str]]:
    """The ``repr``, ``str`` and HTML of ``obj``, each labelled with how it was taken."""
    texts = []
    for how in ("repr", "str", "_repr_html_"):
        try:
            if how == "_repr_html_":
                text = getattr(obj, how)() if hasattr(obj, how) else ""
            else:
                text = repr(obj) if how == "repr" else str(obj)
        except Exception as exc:  # a repr that fails shows its error instead
            text = f"{type(exc).__name__}: {exc}"
        texts.append((f"{how} of a {type(obj).__name__}", text))
    return texts


WATCH = Watch()


def _public_classes() -> list[type]:
    from smartmatch_pandas.job import cache as cache
    from smartmatch_pandas.job import store as store
    from smartmatch_pandas.local import sftp_server
    from smartmatch_pandas.wire import sftp as sftp
    from smartmatch_pandas.wire import webhook as webhook

    named = [getattr(sm, name) for name in sm.__all__]
    # A named tuple is made by __new__ (object's __init__ takes no fields): left out.
    classes = [c for c in named if isinstance(c, type) and not issubclass(c, BaseException | tuple)]
    return [
        *classes,
        client.SmartMatchClient,
        client.PollResult,
        store.JobStore,
        store.JobRecord,
        cache.CachedResult,
        webhook.WebhookReceiver,
        SecretURL,
        sftp.SFTPSettings,
        sftp_server.DropServer,
        LocalService,
        Fault,
        Faults,
    ]


def _after_init(cls: type, then: Callable[[Any], None]) -> Callable[[], None]:
    """Call ``then(instance)`` after ``cls.__init__``; return what undoes it."""
    original = cls.__init__

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if type(self) is cls:
            then(self)

    cls.__init__ = init  # type: ignore[misc]
    return lambda: setattr(cls, "__init__", original)


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot be formatted shows nothing
            return
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        WATCH.emit(f"log record of {record.name}", text)


@pytest.fixture(scope="session", autouse=True)
def _leakcheck_session() -> Iterator[None]:
    """Make the package's secrets known to the watch, and its output seen."""
    undo: list[Callable[[], None]] = []

    def patch(owner: Any, name: str, wrapper: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, wrapper(original))
        undo.append(lambda: setattr(owner, name, original))

    def service_made(service: LocalService) -> None:
        WATCH.key(service.api_key)
        if service.sftp is not None:
            WATCH.key(service.sftp.password)

    for cls in _public_classes():
        undo.append(_after_init(cls, WATCH.made))
    undo.append(_after_init(LocalService, service_made))
    patch(errors.SmartMatchError, "__init__", _recording_errors)

    def presign(original: Callable[..., str]) -> Callable[..., str]:
        @functools.wraps(original)
        def recording(*args: Any, **kwargs: Any) -> str:
            url = original(*args, **kwargs)
            WATCH.signature(url)
            return url

        return recording

    patch(ObjectStore, "presign", presign)

    def url_for(original: Callable[..., str]) -> Callable[..., str]:
        @functools.wraps(original)
        def recording(self: Any, filename: str) -> str:
            url = original(self, filename)
            WATCH.token(url.rsplit("/", 1)[-1])
            return url

        return recording

    patch(WebhookReceiver, "url_for", url_for)

    def match_options(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def recording(self: Any) -> None:
            original(self)
            if self.webhook:
                parts = urlsplit(self.webhook)
                WATCH.token(parts.password)
                for _, value in parse_qsl(parts.query):
                    WATCH.token(value)

        return recording

    patch(MatchOptions, "__post_init__", match_options)

    def api_key(original: Callable[..., str]) -> Callable[..., str]:
        @functools.wraps(original)
        def recording(value: Any = None) -> str:
            key = original(value)
            WATCH.key(key)
            return key

        return recording

    patch(client, "resolve_api_key", api_key)

    def sftp_settings(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def recording(self: Any) -> None:
            original(self)
            WATCH.key(self.password)

        return recording

    from smartmatch_pandas.wire import sftp as sftp

    patch(sftp.SFTPSettings, "__post_init__", sftp_settings)

    def warn(original: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(original)
        def recording(
            message: Any, category: Any = None, stacklevel: int = 1, *a: Any, **k: Any
        ) -> None:
            WATCH.emit("a warning", message)
            # One frame more: the warning still points at its caller's caller.
            original(message, category, stacklevel + 1, *a, **k)

        return recording

    patch(warnings, "warn", warn)

    def readouterr(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def recording(self: Any) -> Any:
            captured = original(self)
            WATCH.emit("captured stdout", captured.out)
            WATCH.emit("captured stderr", captured.err)
            return captured

        return recording

    patch(CaptureFixture, "readouterr", readouterr)

    def communicate(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
            out, err = original(self, *args, **kwargs)
            WATCH.emit("a subprocess's stdout", out)
            WATCH.emit("a subprocess's stderr", err)
            return out, err

        return recording

    patch(subprocess.Popen, "communicate", communicate)

    root = logging.getLogger()
    handler, level = _Handler(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for step in reversed(undo):
            step()


def _recording_errors(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def init(self: BaseException, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        with WATCH.lock:
            WATCH.errors.append(self)

    return init


@pytest.fixture(autouse=True)
def _no_secret_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if anything it made the package emit holds a secret."""
    WATCH.reset()
    yield
    shown = list(WATCH.shown())
    for when, key, content in getattr(request.node, "_report_sections", []):
        shown.append((f"{key} ({when})", content))
    WATCH.reset()
    for where, text in shown:
        kinds = WATCH.leaks(text)
        if kinds:
            pytest.fail(f"{' and '.join(kinds)} appeared in {where}", pytrace=False)
