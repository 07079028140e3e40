"""One exception family for everything smartmatch-pandas raises.

Every error that happens after a job was registered carries the job's
``filename`` so the job can be resumed; messages never hold an API key or
a presigned URL.
"""

from __future__ import annotations

import re
from typing import Self

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


class SmartMatchError(Exception):
    """Base class of every error raised by smartmatch-pandas.

    Parameters
    ----------
    message
        What went wrong and what to do about it.
    filename
        The SmartMatch job's filename, when a job had been registered.
    """

    def __init__(self, message: str, *, filename: str | None = None) -> None:
        message = printable(message)
        self.message = message
        self.filename = filename
        super().__init__(message)

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

    def __str__(self) -> str:
        if self.filename and self.filename not in self.message:
            return f"{self.message} (job {self.filename!r})"
        return self.message


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


class JobFailedError(ServiceError):
    """The service reported that the job itself failed."""


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
    """The network failed and retrying did not help."""


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


def warn(message: str) -> None:
    """Issue a :class:`SmartMatchWarning` pointing at the user's own line of code.

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
    warnings.warn(message, SmartMatchWarning, stacklevel=level)
