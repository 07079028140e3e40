"""One exception family for everything smartmatch-pandas raises.

Every error that happens after a job was registered carries the job's
``filename`` so the job can be resumed; messages never hold an API key or
a presigned URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Self

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and
# isolates: what can move a terminal's cursor, retitle its window or reorder what is read.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character escaped (``ESC`` as ``\\x1b``), safe to print.

    Text from a service (its error messages, a report, a file name) reaches
    terminals and logs: an escape sequence in it could rewrite the screen.

    Examples
    --------
    >>> printable("bad\x1b]0;owned\x07 row")
    'bad\\x1b]0;owned\\x07 row'
    """
    return _UNPRINTABLE.sub(lambda found: found[0].encode("unicode_escape").decode(), text)


def one_line(text: str) -> str:
    """:func:`printable`, with line breaks escaped too: for text from a service quoted in a
    message, where a line break could append a line that seems to be the package's own.

    Examples
    --------
    >>> one_line("boom\r\nResume with: rm -rf ~")
    'boom\\r\\nResume with: rm -rf ~'
    """
    return printable(text).replace("\n", "\\n")


class SmartMatchError(Exception):
    """Base class of every error raised by smartmatch-pandas.

    Parameters
    ----------
    message
        What went wrong and what to do about it.
    filename
        The SmartMatch job's filename, when a job had been registered.

    Attributes
    ----------
    gateway_id, function_id
        The ids TargetSmart's answer carried, when the error came with one: what its
        support asks for (the message says so). None otherwise.
    service_input
        The request as the service understood it (its answer's ``input``), secrets
        removed; None when no answer came.
    """

    gateway_id: str | None = None
    function_id: str | None = None
    service_input: Mapping[str, Any] | None = None

    def __init__(self, message: str, *, filename: str | None = None) -> None:
        message = printable(message)
        self.message = message
        self.filename = filename
        super().__init__(message)

    def with_answer(
        self,
        *,
        gateway_id: str | None,
        function_id: str | None,
        service_input: Mapping[str, Any] | None,
    ) -> Self:
        """Keep what TargetSmart's answer said about itself (its ids, its echo of the
        request, already free of secrets), and return this error (for ``raise``)."""
        self.gateway_id = gateway_id or None
        self.function_id = function_id or None
        self.service_input = dict(service_input) if service_input is not None else None
        return self

    def with_context(
        self, *, before: str | None = None, advice: str | None = None, filename: str | None = None
    ) -> Self:
        """Say more in this error, and return it (for ``raise``).

        Parameters
        ----------
        before
            What led to the error: the message becomes ``"{before}: {message}"``.
        advice
            What to do about it: the message becomes ``"{message}; {advice}"``.
        filename
            The job's filename, when the error turns out to concern a registered job.

        Returns
        -------
        Self
            This same error (its type, attributes and traceback kept), enriched.
        """
        if before is not None:
            self.message = f"{printable(before)}: {self.message}"
        if advice is not None:
            self.message = f"{self.message}; {printable(advice)}"
        if filename is not None:
            self.filename = filename
        self.args = (self.message,)
        return self

    @property
    def resumable(self) -> bool:
        """Whether the error concerns a job that can be resumed by its :attr:`filename`."""
        return self.filename is not None

    def not_registered(self) -> Self:
        """Say that the service refused to register the job: there is nothing to resume.

        The filename asked for stays in the message, and :attr:`filename` becomes None,
        so that no face offers to resume a job the service does not know.
        """
        if self.filename is not None and self.filename not in self.message:
            self.message = f"{self.message} (job {self.filename!r} was not registered)"
            self.args = (self.message,)
        self.filename = None
        return self

    def __str__(self) -> str:
        text = self.message
        if self.filename and self.filename not in self.message:
            text = f"{text} (job {self.filename!r})"
        if self.gateway_id and self.gateway_id not in text:
            text = f"{text}; quote gateway_id {self.gateway_id} to TargetSmart support"
        return text


class OptionError(SmartMatchError, ValueError):
    """An option given to a verb is invalid; nothing was sent."""


class InputError(SmartMatchError, ValueError):
    """The DataFrame cannot be matched as it is; nothing was sent."""


class ServiceError(SmartMatchError):
    """The SmartMatch service answered with an error.

    Attributes
    ----------
    status
        The HTTP status code of the answer.
    service_message
        The service's own error string, such as ``"Validation Error: ..."``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        service_message: str | None = None,
        filename: str | None = None,
    ) -> None:
        super().__init__(message, filename=filename)
        self.status = status
        self.service_message = service_message


class AuthorizationError(ServiceError):
    """The API key was missing, wrong, or not provisioned for SmartMatch."""


class ValidationError(ServiceError):
    """The service refused a request parameter."""


class QueryError(ServiceError):
    """The service could not carry out the request (its ``Query Error:``)."""


class InternalError(ServiceError):
    """The service failed within itself (its ``Internal Error``).

    TargetSmart asks for the entire answer when this is reported: the error
    keeps its ``gateway_id``, ``function_id`` and ``service_input``.
    """


class JobFailedError(ServiceError):
    """The service reported that the job itself failed."""

    @property
    def resumable(self) -> bool:
        """False: resuming a failed job only says again that it failed (its filename is
        kept in :attr:`filename`, for the record and for TargetSmart support)."""
        return False

    @classmethod
    def at_service(
        cls, service_message: str | None, *, filename: str | None, status: int | None = None
    ) -> JobFailedError:
        """The one wording of a failed job, whether the poll just said so or a record did.

        Parameters
        ----------
        service_message
            The service's reason, as it gave it.
        filename
            The job's filename.
        status
            The HTTP status of the answer that said so, when one did.

        Returns
        -------
        JobFailedError
            ``SmartMatch job 'X' failed at the service: REASON``.
        """
        job = f"SmartMatch job {filename!r}" if filename else "the SmartMatch job"
        return cls(
            f"{job} failed at the service: {service_message}",
            status=status,
            service_message=service_message,
            filename=filename,
        )


class JobQueryError(JobFailedError, QueryError):
    """The job failed with a ``Query Error``."""


class JobInternalError(JobFailedError, InternalError):
    """The job failed with an ``Internal Error``."""


class RateLimitError(ServiceError):
    """The service refused a request as too soon, or as too many (HTTP 429).

    Attributes
    ----------
    retry_after
        Seconds the service asked to wait (its ``Retry-After``), if it said.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, filename: str | None = None
    ) -> None:
        super().__init__(message, status=429, filename=filename)
        self.retry_after = retry_after


class StorageError(SmartMatchError):
    """The presigned-URL storage (S3) refused an upload or a download.

    Attributes
    ----------
    status
        The HTTP status code.
    code
        S3's error code, such as ``"AccessDenied"`` or ``"SignatureDoesNotMatch"``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        filename: str | None = None,
    ) -> None:
        super().__init__(message, filename=filename)
        self.status = status
        self.code = code


class TransportError(SmartMatchError):
    """The network failed and retrying did not help.

    Attributes
    ----------
    not_running
        Nothing answered at the service's address (the connection was refused):
        the service is not running there.
    """

    def __init__(
        self, message: str, *, filename: str | None = None, not_running: bool = False
    ) -> None:
        super().__init__(message, filename=filename)
        self.not_running = not_running


class UnreachableError(TransportError):
    """No connection to the service could be made, so no request reached it.

    The name did not resolve, the connection was refused (nothing listens
    there) or connecting timed out: nothing was registered, sent or paid for.

    Attributes
    ----------
    host
        The host (and port) that could not be reached: never a key or a URL.
    """

    def __init__(
        self, message: str, *, host: str, filename: str | None = None, not_running: bool = False
    ) -> None:
        super().__init__(message, filename=filename, not_running=not_running)
        self.host = host


class HostKeyError(SmartMatchError):
    """An SFTP server's host key is unknown, or not the one known or trusted.

    Nothing (no password, no key) was sent to the server. The message shows
    the key's fingerprint and how to trust it once it has been checked.
    """


class JobTimeoutError(SmartMatchError, TimeoutError):
    """Waiting for a job took longer than the ``timeout`` given.

    The job goes on at the service: resume it with
    ``smartmatch_pandas.resume(error.filename)``.
    """


class DeliverableError(SmartMatchError):
    """The deliverable could not be read or does not fit the uploaded rows."""


class DiskError(SmartMatchError, OSError):
    """A file could not be written (a full disk, a folder that cannot be written) or
    one read back is damaged (a job record); the message names it and what to do.

    It is an :class:`OSError` too, as the failure beneath it was. Nothing is left
    half-written.
    """


class SmartMatchWarning(UserWarning):
    """A problem worth knowing that did not stop the match."""


class PoorMatchWarning(SmartMatchWarning):
    """A list is about to be sent that can only match poorly (names only, or names and a
    state): said before anything is sent or paid for. Silence it with
    ``warnings.filterwarnings("ignore", category=smartmatch_pandas.PoorMatchWarning)``."""


def warn(message: str, category: type[SmartMatchWarning] = SmartMatchWarning) -> None:
    """Issue a :class:`SmartMatchWarning` (or ``category``) pointing at the user's own
    line of code.

    The warning is attributed to the first caller outside this package, so it
    shows the user's ``df.smartmatch.match(...)`` whatever the path to it.
    """
    import sys
    import warnings
    from pathlib import Path

    package = str(Path(__file__).parent)
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
