"""The server's host key: accepted only if pinned or known, checked before any
credential is sent; and the key types asked for, those we can check."""

from __future__ import annotations

from pathlib import Path

import paramiko

from ...errors import HostKeyError, OptionError
from .settings import SFTPSettings, parse_pin


def host_entry(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def known_keys(settings: SFTPSettings) -> tuple[dict[str, paramiko.PKey], list[Path]]:
    """The known host keys of the server, by key type, and the files read."""
    if settings.known_hosts is not None:
        files = [settings.known_hosts]
    else:
        files = [Path("~/.ssh/known_hosts").expanduser(), Path("/etc/ssh/ssh_known_hosts")]
    keys: dict[str, paramiko.PKey] = {}
    entry = host_entry(settings.host, settings.port)
    for path in files:
        if not path.is_file():
            continue
        known = paramiko.HostKeys()
        try:
            known.load(str(path))
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise OptionError(f"the known_hosts file {path} cannot be read: {exc}") from None
        for keytype, key in (known.lookup(entry) or {}).items():
            keys.setdefault(keytype, key)
    return keys, files


def describe_key(key: paramiko.PKey) -> str:
    return f"{key.get_name()} key {key.fingerprint}"


def check_host_key(settings: SFTPSettings, key: paramiko.PKey) -> None:
    """Accept the server's ``key`` only if it is pinned or known; else raise before logging in."""
    entry = host_entry(settings.host, settings.port)
    line = f"{entry} {key.get_name()} {key.get_base64()}"
    if settings.trust_host_key is not None:
        kind, pinned = parse_pin(settings.trust_host_key)
        presented = key.fingerprint if kind == "fingerprint" else line.split(" ", 1)[1]
        if presented == pinned:
            return
        raise HostKeyError(
            f"the SFTP server {entry} presented the {describe_key(key)}, not the key you "
            "trusted (trust_host_key / TS_SFTP_HOST_KEY). Nothing was sent to it. If the "
            "server's key really changed, check the new fingerprint with its operator and "
            "trust that one instead"
        )
    known, files = known_keys(settings)
    if known.get(key.get_name()) == key:
        return
    where = ", ".join(str(p) for p in files)
    if not known:
        raise HostKeyError(
            f"the SFTP server {entry} is not in your known hosts ({where}); it presented the "
            f"{describe_key(key)}. Nothing was sent to it. Check that fingerprint with "
            "TargetSmart (or the server's operator), then trust it: pass "
            f"trust_host_key={key.fingerprint!r} (or set TS_SFTP_HOST_KEY), or add this line "
            f"to your known_hosts file:\n{line}"
        )
    expected = ", ".join(describe_key(k) for k in known.values())
    raise HostKeyError(
        f"the host key of the SFTP server {entry} HAS CHANGED: your known hosts ({where}) "
        f"have the {expected}, but it presented the {describe_key(key)}. Someone may be "
        "intercepting the connection; nothing was sent to it. If the operator confirms a "
        "new key, replace the line in your known_hosts file"
    )


def prefer_key_types(transport: paramiko.Transport, settings: SFTPSettings) -> None:
    """Ask the server for the type of host key we can check, as OpenSSH does."""
    if settings.trust_host_key is not None and parse_pin(settings.trust_host_key)[0] == "key":
        wanted = [parse_pin(settings.trust_host_key)[1].split()[0]]
    else:
        wanted = list(known_keys(settings)[0])
    algorithms: list[str] = []
    for keytype in wanted:
        algorithms += (
            ["rsa-sha2-512", "rsa-sha2-256", keytype] if keytype == "ssh-rsa" else [keytype]
        )
    options = transport.get_security_options()
    available = list(options.key_types)
    first = [a for a in algorithms if a in available]
    options.key_types = tuple(first + [a for a in available if a not in first])
