"""``smartmatch-pandas serve``: the local SmartMatch-compatible service, in the foreground."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .flags import Commands
from .messages import UsageError

if TYPE_CHECKING:
    from ..local.server import KeyOrigin

#: ``local.server.API_KEY_ENV``, named here without importing the local extra
#: (``tests/test_cli_sandbox.py`` checks that the two agree).
API_KEY_ENV: Final = "SMARTMATCH_LOCAL_API_KEY"


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
    serve.add_argument(
        "--data-dir",
        type=Path,
        help="keep its jobs, uploads, deliverables and generated key here, private, so that a "
        "restart on the same folder and port resumes them (default: a temporary folder)",
    )
    serve.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the API key it accepts (default: {API_KEY_ENV}, else the key kept in --data-dir, "
        "else a new one each start)",
    )
    serve.add_argument(
        "--legacy-filenames", action="store_true", help="also accept filenames like name-1.csv"
    )
    serve.add_argument(
        "--poll-per-filename",
        dest="poll_scope",
        action="store_const",
        const="filename",
        default="key",
        help="limit each job's polls apart (by default every poll under the API key counts "
        "against one limit, the safe reading of TargetSmart's)",
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
    from ..local.server import PortInUseError

    try:
        faults = [Fault.parse(spec) for spec in args.fault]
    except ValueError as exc:
        raise SystemExit(f"smartmatch-pandas: --fault: {exc}") from None
    service = LocalService(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        poll_interval=args.poll_interval,
        delay=args.delay,
        voters=args.voters,
        seed=args.seed,
        data_dir=args.data_dir,
        legacy_filenames=args.legacy_filenames,
        poll_scope=args.poll_scope,
        sftp_port=args.sftp_port,
        sftp_username=args.sftp_user,
        sftp_host_key=args.sftp_host_key,
        drop_pause=args.drop_pause,
        faults=faults,
        remote_webhooks=args.remote_webhooks,
    )
    try:
        service.start()
    except PortInUseError as exc:
        service.stop()
        flag = "--sftp-port" if exc.what == "SFTP drop" else "--port"
        raise UsageError(
            f"the local {exc.what} cannot listen on {exc.address}: {exc.reason}; choose another "
            f"with {flag} ({flag} 0 picks a free one)"
        ) from None
    console = args.console
    console.say(f"# {_key_note(service.key_origin, args.data_dir)}")
    if service.jobs_kept:
        console.say(
            f"# {service.jobs_kept:,} job{'' if service.jobs_kept == 1 else 's'} kept in "
            f"{args.data_dir} from earlier runs: they resume through the address they were "
            "submitted to, so serve on that port again (`smartmatch-pandas jobs` shows each "
            "job's host)"
        )
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
    service.serve_forever(
        ready=lambda: print(f"# serving SmartMatch at {service.base_url}; Ctrl-C stops", flush=True)
    )


def _key_note(origin: KeyOrigin, data_dir: Path | None) -> str:
    """Where the service's key came from, and whether it outlives this run."""
    return {
        "given": "the API key given with --api-key",
        "environment": f"the API key from {API_KEY_ENV}",
        "kept": f"the API key kept in {data_dir}: the same as before the restart",
        "new, kept": f"a new API key, kept in {data_dir} for the next start",
        "new": f"a new API key, for this run only: --data-dir, --api-key or {API_KEY_ENV} "
        "keeps one across restarts",
    }[origin]
