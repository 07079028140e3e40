"""How to reach the SFTP drop: :class:`SFTPSettings`, from arguments, the environment
and defaults, checked once; and the trusted host key's pin read from its text."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final, TypedDict, Unpack

from ...errors import OptionError
from ..secrets import register_secret

DEFAULT_HOST: Final = "transfer.targetsmart.com"
DEFAULT_PORT: Final = 22
DEFAULT_FOLDER: Final = "smartmatch"
#: Seconds between two looks at the folder: TargetSmart asks clients to poll gently.
DEFAULT_POLL_INTERVAL: Final = 180.0
#: The least poll interval allowed against TargetSmart's server (its API's own limit).
MIN_SERVICE_POLL_INTERVAL: Final = 30.0

ENVIRONMENT: Final = {
    "host": "TS_SFTP_HOST",
    "port": "TS_SFTP_PORT",
    "username": "TS_SFTP_USERNAME",
    "password": "TS_SFTP_PASSWORD",
    "key_file": "TS_SFTP_KEY_FILE",
    "key_passphrase": "TS_SFTP_KEY_PASSPHRASE",
    "folder": "TS_SFTP_FOLDER",
    "known_hosts": "TS_SFTP_KNOWN_HOSTS",
    "trust_host_key": "TS_SFTP_HOST_KEY",
    "poll_interval": "SMARTMATCH_SFTP_POLL_INTERVAL",
}
_SECRET_FIELDS: Final = frozenset({"password", "key_passphrase"})


class SFTPOptions(TypedDict, total=False):
    """Keyword arguments that override :class:`SFTPSettings` fields."""

    host: str
    port: int
    username: str
    password: str | None
    key_file: str | os.PathLike[str] | None
    key_passphrase: str | None
    folder: str
    known_hosts: str | os.PathLike[str] | None
    trust_host_key: str | None
    poll_interval: float
    settle: float
    network_timeout: float


@dataclass(frozen=True, repr=False)
class SFTPSettings:
    """How to reach the SFTP drop folder, checked once.

    Build it with :meth:`resolve`, which reads the environment for anything
    not given.

    Attributes
    ----------
    username
        The SFTP account (``TS_SFTP_USERNAME``).
    host, port
        The server; TargetSmart's ``transfer.targetsmart.com``, port 22, by default.
    password
        The account's password (``TS_SFTP_PASSWORD``); never shown.
    key_file, key_passphrase
        A private key file to log in with, and its passphrase (never shown).
    folder
        The folder the deliverables land in, relative to the login folder.
    known_hosts
        A known_hosts file; default ``~/.ssh/known_hosts`` and
        ``/etc/ssh/ssh_known_hosts``.
    trust_host_key
        Trust exactly this host key, whatever the known_hosts files say: a
        fingerprint (``"SHA256:..."``), a public key (``"ssh-ed25519 AAAA..."``)
        or a known_hosts line. Check it with TargetSmart before pinning it.
    poll_interval
        Seconds between two looks at the folder while waiting (default 180).
    settle
        Seconds between the two listings that must show a file at the same
        size before it is taken.
    network_timeout
        Seconds any single network operation may take.
    """

    username: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    password: str | None = None
    key_file: Path | None = None
    key_passphrase: str | None = None
    folder: str = DEFAULT_FOLDER
    known_hosts: Path | None = None
    trust_host_key: str | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    settle: float = 5.0
    network_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("key_file", "known_hosts"):  # paths given as text
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, Path(getattr(self, name)).expanduser())
        register_secret(self.password)
        register_secret(self.key_passphrase)
        if not isinstance(self.username, str) or not self.username:
            raise OptionError(
                "no SFTP username: pass username=... or set TS_SFTP_USERNAME (TargetSmart "
                "Client Services give SFTP accounts)"
            )
        if not self.password and self.key_file is None:
            raise OptionError(
                f"no SFTP password or private key for user {self.username!r}: set "
                "TS_SFTP_PASSWORD, or pass key_file=... (or set TS_SFTP_KEY_FILE)"
            )
        if (
            not isinstance(self.port, int)
            or isinstance(self.port, bool)
            or not 0 < self.port < 65536
        ):
            raise OptionError(f"port={self.port!r} must be a TCP port number, 1-65535")
        for name in ("poll_interval", "settle", "network_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise OptionError(f"{name}={value!r} must be a number of seconds, 0 or more")
        if self.poll_interval <= 0 or self.network_timeout <= 0:
            raise OptionError("poll_interval and network_timeout must be more than 0 seconds")
        if self.host == DEFAULT_HOST and self.poll_interval < MIN_SERVICE_POLL_INTERVAL:
            raise OptionError(
                f"poll_interval={self.poll_interval:g} looks at TargetSmart's SFTP folder too "
                f"often: use {MIN_SERVICE_POLL_INTERVAL:g} s or more (the default is "
                f"{DEFAULT_POLL_INTERVAL:g})"
            )
        if self.trust_host_key is not None:
            parse_pin(self.trust_host_key)  # raises on a malformed pin

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SECRET_FIELDS and value is not None:
                value = "<hidden>"
            shown.append(f"{f.name}={value!r}")
        return f"SFTPSettings({', '.join(shown)})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SFTP settings hold a password and are not pickled")

    @property
    def where(self) -> str:
        """``sftp://user@host:port/folder``, safe to show."""
        return f"sftp://{self.username}@{self.host}:{self.port}/{self.folder}"

    @classmethod
    def resolve(
        cls,
        settings: SFTPSettings | Mapping[str, Any] | None = None,
        /,
        **options: Unpack[SFTPOptions],
    ) -> SFTPSettings:
        """Settings from ``settings``, then ``options``, then the environment, then defaults.

        Raises
        ------
        OptionError
            A setting is missing or malformed; the message names the
            argument or the environment variable.
        """
        if isinstance(settings, SFTPSettings):
            return replace(settings, **_typed(dict(options), "argument")) if options else settings
        given: dict[str, Any] = {**(settings or {}), **options}
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise OptionError(
                f"unknown SFTP setting {unknown[0]!r}; the settings are "
                + ", ".join(f.name for f in fields(cls))
            )
        values = _typed({k: v for k, v in given.items() if v is not None}, "argument")
        for name, variable in ENVIRONMENT.items():
            if name not in values and os.environ.get(variable):
                values.update(_typed({name: os.environ[variable]}, variable))
        values.setdefault("username", "")
        return cls(**values)


def _typed(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Convert text (from the environment) to each field's type, naming ``source`` on error."""
    out = dict(values)
    for name in ("port",):
        if isinstance(out.get(name), str):
            try:
                out[name] = int(out[name])
            except ValueError:
                raise OptionError(f"{source} {name}={out[name]!r} must be a port number") from None
    for name in ("poll_interval", "settle", "network_timeout"):
        if isinstance(out.get(name), str):
            try:
                out[name] = float(out[name])
            except ValueError:
                raise OptionError(
                    f"{source} {name}={out[name]!r} must be a number of seconds"
                ) from None
    for name in ("key_file", "known_hosts"):
        if out.get(name) is not None:
            out[name] = Path(out[name]).expanduser()
    return out


def parse_pin(value: str) -> tuple[str, str]:
    """``("fingerprint", "SHA256:...")`` or ``("key", "type base64")`` of a trusted key."""
    text = value.strip()
    if text.startswith("SHA256:"):
        return "fingerprint", text
    words = text.split()
    for i, word in enumerate(words[:-1]):
        if word.startswith(("ssh-", "ecdsa-")):
            return "key", f"{word} {words[i + 1]}"
    raise OptionError(
        "trust_host_key must be a fingerprint ('SHA256:...'), a public key "
        "('ssh-ed25519 AAAA...') or a known_hosts line"
    )
