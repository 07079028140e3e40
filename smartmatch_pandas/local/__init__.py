"""A local SmartMatch-compatible service: the demo, the test bed, a sandbox.

Same HTTP protocol as TargetSmart's SmartMatch (API key, presigned upload
and download URLs with S3's rules, a rate-limited poll, webhooks, csv/zip/gzip
deliverables with best and additional matches and a summary report) over a
synthetic voter file.

>>> from smartmatch_pandas.local import LocalService
>>> with LocalService(poll_interval=1) as service:          # doctest: +SKIP
...     enriched = df.smartmatch.match(**service.settings)
"""

try:  # the optional extra: its absence said plainly, once
    import duckdb  # noqa: F401
    import faker  # noqa: F401
    import nicknames  # noqa: F401
    import zipcodes  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"the local service needs the local extra ({exc.name} is missing): "
        "pip install 'smartmatch-pandas[local]'"
    ) from exc

from .faults import Fault, Faults
from .matcher import Candidates, LinkageMatcher, Matcher
from .sample import sample_contacts
from .server import LocalService, default_matcher, voter_file
from .service import (
    AVAILABLE_FIELDS,
    DEFAULT_FIELDS,
    INCLUDE_FIELDS,
    ServiceConfig,
    SmartMatchService,
)
from .voterfile import VoterFile

__all__ = [
    "AVAILABLE_FIELDS",
    "DEFAULT_FIELDS",
    "INCLUDE_FIELDS",
    "Candidates",
    "Fault",
    "Faults",
    "LinkageMatcher",
    "LocalService",
    "Matcher",
    "ServiceConfig",
    "SmartMatchService",
    "VoterFile",
    "default_matcher",
    "sample_contacts",
    "voter_file",
]
