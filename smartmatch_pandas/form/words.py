"""What the form says when something stops a match: in plain words, with what to do next."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import (
    AuthorizationError,
    OptionError,
    SmartMatchError,
    TransportError,
    UnreachableError,
)
from ..job.handle import Job
from ..options import Option


@dataclass(frozen=True)
class Failure:
    """A stopped match, as the form shows it.

    Attributes
    ----------
    text
        What happened and what to do, in words.
    ask_for_key
        Whether the form should offer its API key field.
    resumable
        Whether a job is left at the service to pick up (by its filename).
    """

    text: str
    ask_for_key: bool
    resumable: bool


def failure(exc: BaseException, job: Job | None, service: str) -> Failure:
    """How the form words ``exc``, which stopped the match of ``job`` (None: before a job
    was registered) on the ``service`` (its address, as shown)."""
    resumable = isinstance(exc, SmartMatchError) and exc.resumable
    call = job.resume_call if job is not None else f"smartmatch_pandas.resume({_name(exc)!r}, df)"
    # The job is known to the service at that address only: another service (a new local
    # one on another port) knows nothing of it, and Match there makes a new job.
    pick_up = (
        f" The job {_name(exc)!r} is kept: once the service answers again at {service}, "
        f"clicking Match picks it up rather than paying twice, or resume it from any "
        f"notebook with {call}."
        if resumable
        else ""
    )
    if isinstance(exc, AuthorizationError):
        return Failure(
            "The service refused the API key: it is wrong, or not provisioned for SmartMatch. "
            "Type the right key in the API key field and press Enter, then click Match." + pick_up,
            ask_for_key=True,
            resumable=resumable,
        )
    if isinstance(exc, TransportError) and exc.not_running:
        return Failure(
            f"The SmartMatch service is not running: nothing answers at {service}. Start "
            "the service again (or check base_url), then click Match." + pick_up,
            ask_for_key=False,
            resumable=resumable,
        )
    if isinstance(exc, UnreachableError):
        return Failure(
            f"The SmartMatch service cannot be reached at {exc.host}: {_reason(exc)}. Check "
            "base_url and the network, then click Match." + pick_up,
            ask_for_key=False,
            resumable=resumable,
        )
    if isinstance(exc, SmartMatchError):
        text = _capitalised(str(exc))
        if resumable and "resume" not in text:
            text += f". The job goes on at the service: resume it with {call}"
        return Failure(text, ask_for_key=False, resumable=resumable)
    return Failure(
        f"Unexpected error ({type(exc).__name__}): {exc}", ask_for_key=False, resumable=False
    )


def _capitalised(text: str) -> str:
    """``text`` as a sentence after the heading "Not matched." (a message starts lower-case)."""
    return text[:1].upper() + text[1:]


def _reason(exc: UnreachableError) -> str:
    """Why nothing answered, in the client's words (the part after the address)."""
    head = exc.message.split("; nothing was sent", 1)[0]
    return head.split(f"{exc.host}: ", 1)[-1]


def _name(exc: BaseException) -> str | None:
    return exc.filename if isinstance(exc, SmartMatchError) else None


def earlier_instead(job: Job, typed: str) -> str:
    """Why the form shows ``job`` rather than a new job named ``typed``."""
    if job.state == "downloaded":
        what = "was matched before"
        shown = "its result is shown, with no request and no charge"
    else:
        what = "is being matched already"
        shown = "the form waits for it rather than paying twice"
    return (
        f"This data with these options {what}, as job {job.filename!r}: {shown}, and no job "
        f"{typed!r} was made. Click Match again to make one under that name."
    )


def earlier_used(job: Job, *, made_again: bool) -> str:
    """Why the form shows ``job`` rather than a new one: the same data and options matched,
    or being matched, before (``made_again``: seen as the form was made, else on Match)."""
    if job.state == "downloaded":
        return (
            f"Job {job.filename!r} matched this frame with these options before: its result "
            "is shown (no request was made, nothing charged). Match again makes a new job."
        )
    why = "the form was made again" if made_again else "Match picks it up rather than paying twice"
    return (
        f"Job {job.filename!r} is matching this frame with these options already ({why}): "
        "it is followed here. Match again makes a new job."
    )


def followed_to_its_end(job: Job) -> str:
    """What the form says of a job it followed (made elsewhere) once its result is in."""
    return (
        f"Job {job.filename!r}, which was matching this frame with these options already, "
        "finished while followed here: its result is shown (no new job was made). Match again "
        "makes a new job."
    )


def field_problem(option: Option, value: object) -> str:
    """What is wrong with ``value``, typed into ``option``'s field, in plain words ("" if
    nothing is)."""
    try:
        option.checked(value)
    except OptionError as exc:
        plain = option.form.problem if option.form is not None else ""
        return plain or str(exc)
    return ""
