"""``smartmatch-pandas serve``: the local SmartMatch-compatible service, in the foreground."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from .flags import Commands


def add_serve(commands: Commands) -> None:
    """The ``serve`` command and its flags."""
    serve = commands.add_parser("serve", help="run the local SmartMatch-compatible service")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument(
        "--remote-webhooks",
        action="store_true",
        help="post webhooks to any address, not only to loopback ones",
    )
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--poll-interval", type=float, default=30.0, help="seconds between polls")
    serve.add_argument("--delay", type=float, default=0.0, help="seconds until a job is ready")
    serve.add_argument(
        "--voters", type=int, default=200_000, help="people in the voter file (default 200000)"
    )
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--data-dir", type=Path, help="keep uploads and deliverables here")
    serve.add_argument(
        "--legacy-filenames", action="store_true", help="also accept filenames like name-1.csv"
    )
    sftp = serve.add_argument_group("SFTP drop (read-only, like TargetSmart's file-transfer area)")
    sftp.add_argument(
        "--sftp-port", type=int, metavar="P", help="also serve the drop folder over SFTP (0: any)"
    )
    sftp.add_argument("--sftp-user", default="smartmatch", help="the SFTP account's name")
    sftp.add_argument(
        "--sftp-host-key", type=Path, metavar="PATH", help="host key file (made if missing)"
    )
    sftp.add_argument(
        "--drop-pause",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="testing: write each drop zip in two halves this far apart, not atomically",
    )
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, e.g. poll:status=503,times=2 or download:drop (repeatable; "
        "see docs/reliability.md)",
    )
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    """Start the local service and print the environment that points at it."""
    from ..local import Fault, LocalService

    try:
        faults = [Fault.parse(spec) for spec in args.fault]
    except ValueError as exc:
        raise SystemExit(f"smartmatch-pandas: --fault: {exc}") from None
    service = LocalService(
        host=args.host,
        port=args.port,
        poll_interval=args.poll_interval,
        delay=args.delay,
        voters=args.voters,
        seed=args.seed,
        data_dir=args.data_dir,
        legacy_filenames=args.legacy_filenames,
        sftp_port=args.sftp_port,
        sftp_username=args.sftp_user,
        sftp_host_key=args.sftp_host_key,
        drop_pause=args.drop_pause,
        faults=faults,
        remote_webhooks=args.remote_webhooks,
    ).start()
    for name, value in service.environ.items():
        print(f"export {name}={shlex.quote(value)}")
    if service.sftp is not None:
        print(
            f"# SFTP drop (read-only): sftp -P {service.sftp.port} {service.sftp.username}@"
            f"{service.sftp.host}:smartmatch/"
        )
        print(f"# its known_hosts line: {service.sftp.known_hosts_line}")
    for fault in faults:
        print(f"# injecting the fault {fault}")
    print(f"# serving SmartMatch at {service.base_url}; Ctrl-C stops", flush=True)
    service.serve_forever()
