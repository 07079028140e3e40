"""A synthetic contact list of any size, as a CRM export holds one: for the round-trip benchmarks.

Nine identifier columns with realistic values and realistic mess, plus the
CRM's own id (not sent):

- names, addresses, cities, states and ZIPs of people of the local service's
  voter file (so their frequencies are those of US names and places), some
  upper-cased, some ZIPs as ZIP+4, a few states spelled out;
- phones of random digits in the usual layouts, emails made unique per row
  with mixed-case domains, birth dates as ``MM/DD/YYYY`` or ``YYYY-MM-DD``;
- missing values as CRM exports have them (a third of the emails, ...).

Built with vectorised Arrow kernels, so five million rows take seconds. The
frame is what ``pyarrow``'s ``to_pandas`` gives, as a list read from Parquet
would be (``str`` columns under pandas 3, ``object`` under pandas 2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from smartmatch_pandas.local import VoterFile

#: The voter file the people are drawn from (cached on disk after its first build).
VOTERS = 200_000
#: Share of each column left empty.
MISSING = {"address1": 0.05, "city": 0.05, "zip": 0.04, "phone": 0.25, "email": 0.33, "dob": 0.3}
SPELLED = {"CA": "California", "TX": "Texas", "NY": "New York", "FL": "Florida"}


def contact_table(rows: int, seed: int = 0, voters: VoterFile | None = None) -> pa.Table:
    """The contact list as an Arrow table (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    people = (voters or VoterFile.generate(VOTERS, 0)).table
    pick = pa.array(rng.integers(0, people.num_rows, rows))

    def column(name: str) -> pa.Array:
        return people[name].take(pick).combine_chunks()

    def some(share: float) -> pa.Array:
        return pa.array(rng.random(rows) < share)

    def digits(width: int, low: int = 0) -> pa.Array:
        numbers = pa.array(rng.integers(low, 10**width, rows)).cast(pa.string())
        return pc.utf8_lpad(numbers, width, "0")

    first, last = column("first_name"), column("last_name")
    shouting = some(0.1)
    first = pc.if_else(shouting, pc.utf8_upper(first), first)
    last = pc.if_else(shouting, pc.utf8_upper(last), last)

    state = column("state")
    for code, name in SPELLED.items():
        state = pc.if_else(pc.and_(pc.equal(state, code), some(0.2)), name, state)
    zip5 = column("zip")
    zips = pc.if_else(some(0.1), pc.binary_join_element_wise(zip5, digits(4), "-"), zip5)

    area, exchange, line = digits(3, 200), digits(3, 200), digits(4)
    layout = rng.integers(0, 3, rows)
    phone = pc.case_when(
        pc.make_struct(pa.array(layout == 0), pa.array(layout == 1)),
        pc.binary_join_element_wise("(", area, ") ", exchange, "-", line, ""),
        pc.binary_join_element_wise(area, exchange, line, "-"),
        pc.binary_join_element_wise(area, exchange, line, ""),
    )

    domains = pa.array(["gmail.com", "Gmail.com", "yahoo.com", "outlook.com", "AOL.COM"])
    domain = domains.take(pa.array(rng.integers(0, len(domains), rows)))
    user = pc.utf8_lower(pc.binary_join_element_wise(first, last, "."))
    email = pc.binary_join_element_wise(
        pc.binary_join_element_wise(user, pa.array(np.arange(rows)).cast(pa.string()), ""),
        domain,
        "@",
    )

    dob = column("dob")  # YYYYMMDD
    year, month, day = (pc.utf8_slice_codeunits(dob, a, b) for a, b in ((0, 4), (4, 6), (6, 8)))
    dob = pc.if_else(
        some(0.5),
        pc.binary_join_element_wise(month, day, year, "/"),
        pc.binary_join_element_wise(year, month, day, "-"),
    )

    columns = {
        "crm_id": pc.binary_join_element_wise("C", digits(9), ""),
        "First Name": first,
        "Last Name": last,
        "Address": pc.binary_join_element_wise(
            pa.array(rng.integers(1, 20_000, rows)).cast(pa.string()),
            pc.replace_substring_regex(column("address1"), r"^\d+ ", ""),
            " ",
        ),
        "City": column("city"),
        "State": state,
        "ZIP": zips,
        "Phone": phone,
        "Email": email,
        "DOB": dob,
    }
    for name, share in MISSING.items():
        key = {"address1": "Address", "city": "City", "zip": "ZIP"}.get(name, name.title())
        key = "DOB" if name == "dob" else key
        values = columns[key]
        columns[key] = pc.if_else(some(share), pa.scalar(None, values.type), values)
    return pa.table(columns)


def contact_list(rows: int, seed: int = 0, voters: VoterFile | None = None) -> pd.DataFrame:
    """The contact list as a pandas frame (see the module's docstring)."""
    frame: pd.DataFrame = contact_table(rows, seed, voters).to_pandas()
    return frame


#: A CRM export's other columns: tags, history, notes (not sent; they make rows wide).
CRM_FIELDS = {
    "Volunteer Status": ["Active", "Lapsed", "Prospect", "Never", ""],
    "Donor Tier": ["None", "Small", "Mid", "Major", "Sustainer"],
    "Last Donation": ["", "2024-03-02", "2023-11-15", "2025-06-30", "2022-01-09"],
    "Lifetime Giving": ["0.00", "25.00", "150.00", "1250.50", "40.00"],
    "Preferred Language": ["English", "Spanish", "Vietnamese", "Tagalog", "Chinese"],
    "Source": ["Web signup", "Canvass", "Phone bank", "Event", "Petition", "Import 2022"],
    "Tags": ["union;parent", "student", "senior;veteran", "", "teacher;parent;union"],
}
NOTES = [
    "Met at the county fair; interested in volunteering on weekends.",
    "Asked about absentee ballots and polling place hours; follow up in October.",
    "Prefers text messages. Do not call after 8pm. Has a dog named Biscuit.",
    "Signed the petition on school funding and shared it with three neighbours.",
    "Moved from the old address last spring; new lease through next year.",
    "Volunteered at the phone bank twice; good with Spanish-speaking voters.",
]


def crm_export(rows: int, seed: int = 0, voters: VoterFile | None = None) -> pa.Table:
    """:func:`contact_table` with a CRM's other columns too: some 1,300 bytes a row of CSV."""
    rng = np.random.default_rng([seed, 7])
    table = contact_table(rows, seed, voters)
    for name, values in CRM_FIELDS.items():
        table = table.append_column(name, pa.array(values).take(rng.integers(0, len(values), rows)))
    notes = pa.array(NOTES)
    for k in range(1, 4):
        picks = [notes.take(pa.array(rng.integers(0, len(NOTES), rows))) for _ in range(5)]
        table = table.append_column(f"Notes {k}", pc.binary_join_element_wise(*picks, " "))
    return table
