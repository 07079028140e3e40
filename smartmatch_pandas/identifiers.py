"""The identifiers SmartMatch reads from an upload's header row.

This is the one module the client side and the local service share: both
must agree on the header names, and nothing else may hide a shared
misunderstanding of the protocol.
"""

from __future__ import annotations

from typing import Final

#: Every header identifier SmartMatch documents, in the reference's order.
IDENTIFIERS: Final[tuple[str, ...]] = (
    "voterbase_id",
    "smartvan_id",
    "voter_id",
    "exact_track",
    "full_name",
    "first_name_combined",
    "first_name",
    "middle_name",
    "last_name",
    "name_suffix",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "age",
    "gender",
    "dob",
    "phone",
    "email",
    "latitude",
    "longitude",
)

#: Identifiers the reference says need a ``state`` column beside them.
NEEDS_STATE: Final[frozenset[str]] = frozenset({"smartvan_id", "voter_id"})

#: The pass-through column SmartMatch returns unchanged with the results.
MATCHBACK_ID: Final = "matchback_id"

#: The column SmartMatch appends to say whether a row matched (``Y``).
MATCH_CODE: Final = "tsmart_match_code"
#: What each row was sent with (``sent_profile``) names the column of rows that held a
#: value for an identifier by this prefix and the identifier (``"present:first_name"``).
PRESENT: Final = "present:"
