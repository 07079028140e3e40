"""The command line says the verbs' Python advice in its own words: flags and commands."""

from __future__ import annotations

import pytest

from smartmatch_pandas.cli.messages import command_line_words
from smartmatch_pandas.cli.reference import reference

from .doc_tables import CLI, check

SAID = [
    (
        "sent as given (invalid='keep'). See df.smartmatch.check() for examples; "
        "invalid='blank' sends them empty",
        "sent as given (--invalid keep). See smartmatch-pandas check in.csv for examples; "
        "--invalid blank sends them empty",
    ),
    ("Leave it out with columns={'Phone': None}", "Leave it out with --drop Phone"),
    ("with columns={'Home Zip': 'zip'}", "with --map 'Home Zip=zip'"),
    (
        "map one with columns={'your column': 'identifier'}",
        "map one with --map COLUMN=identifier",
    ),
    (
        "for example with columns={'Zip': 'zip', 'Postcode': None}",
        "for example with --map Zip=zip --drop Postcode",
    ),
    (
        "pick job 'sm_1' up again with smartmatch_pandas.resume('sm_1', df)",
        "pick job 'sm_1' up again with smartmatch-pandas resume sm_1 --input in.csv",
    ),
    (
        "smartmatch_pandas.resume('sm_1', df, reupload=False). Otherwise",
        "smartmatch-pandas resume sm_1 --input in.csv --no-reupload. Otherwise",
    ),
    (
        "submit anew with smartmatch_pandas.match(df, ..., refresh=True)",
        "submit anew with smartmatch-pandas match in.csv -o OUTPUT --refresh",
    ),
    (
        "download it again with resume(filename)",
        "download it again with smartmatch-pandas resume FILENAME",
    ),
    (
        "no SmartMatch API key: pass api_key=... or set the TS_API_KEY environment variable",
        "no SmartMatch API key: set the TS_API_KEY environment variable",
    ),
    (
        "Note: max_matches=3 returns additional matches, which may cost extra.",
        "Note: --max-matches 3 returns additional matches, which may cost extra.",
    ),
    ("Note: include_email=True appends email data", "Note: --include-email appends email data"),
    ("cache=False stores nothing", "--no-cache stores nothing"),
    ("adding via='sftp'", "adding --via sftp"),
    ("the job 'sm_1' (rows=3)", "the job 'sm_1' (rows=3)"),  # not an option: as it is
]


@pytest.mark.parametrize(("python", "command_line"), SAID)
def test_python_advice_is_said_as_flags_and_commands(python: str, command_line: str) -> None:
    assert command_line_words(python, "in.csv") == command_line


def test_the_reference_page_is_made_from_the_parser() -> None:
    check("cli-reference", reference(), CLI)
    for command in ("match", "resume", "check", "serve", "jobs", "clear-cache"):
        assert f"### `smartmatch-pandas {command}`" in reference()
