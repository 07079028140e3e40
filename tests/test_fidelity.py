"""Faithful to TargetSmart's published API (section 4 of the reference), against the local
service: the 45-character filename, the newer parameters, the v2 answers kept in errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.local import Fault, LocalService, sample_contacts
from smartmatch_pandas.wire.http import SmartMatchClient

from .conftest import POLL, violations
from .local.test_protocol import api

FRAME = pd.DataFrame(
    {"first_name": ["Ann", "Bo"], "last_name": ["Lee", "Chan"], "zip": ["02134", "60614"]}
)


def _registrations(service: LocalService) -> int:
    return service.stats.get("registrations", 0) + service.stats.get("errors", 0)


@pytest.mark.parametrize(
    ("keywords", "says"),
    [
        ({"filename": "x" * 46}, "1 to 45 letters"),
        ({"filename": "x" * 50}, "1 to 45 letters"),
        ({"search_radius": -2}, "positive, finite number of miles"),
        ({"notification_email": "data at example.org"}, "not an email address"),
        ({"mbp_onboarding": "True"}, "True or False"),
        ({"digital_audience_name": "spring-2026"}, "1 to 35 letters"),
        ({"profile_id": " "}, "without spaces"),
    ],
)
def test_refused_before_any_request(
    fresh_service: LocalService, keywords: dict[str, Any], says: str
) -> None:
    with pytest.raises(sm.OptionError, match=says):
        sm.submit(FRAME, **fresh_service.settings, progress=False, **keywords)
    assert _registrations(fresh_service) == 0
    assert fresh_service.stats.get("polls", 0) == 0


def test_a_45_character_filename_is_accepted(fresh_service: LocalService) -> None:
    job = sm.submit(FRAME, filename="f" * 45, **fresh_service.settings, progress=False)
    assert job.filename in fresh_service.service.jobs


def test_the_newer_parameters_arrive_at_the_service(fresh_service: LocalService) -> None:
    job = sm.submit(
        FRAME,
        search_radius=1.5,
        notification_email="data@example.org",
        mbp_onboarding=True,
        digital_audience_name="spring_2026",
        profile_id="political",
        extra_params={"team": "north"},
        **fresh_service.settings,
        progress=False,
    )
    received = fresh_service.service.jobs[job.filename].params
    assert received["search_radius"] == "1.5"
    assert received["notification_email"] == "data@example.org"
    assert received["mbp_onboarding"] == "True"
    assert received["digital_audience_name"] == "spring_2026"
    assert received["profile_id"] == "political"
    assert received["team"] == "north"


def test_the_newer_parameters_are_not_sent_unless_chosen(fresh_service: LocalService) -> None:
    job = sm.submit(FRAME, **fresh_service.settings, progress=False)
    received = fresh_service.service.jobs[job.filename].params
    assert not {"search_radius", "mbp_onboarding", "profile_id"} & set(received)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        (
            {"filename": "x" * 46},
            "filename 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' must be 1-45",
        ),
        ({"search_radius": "0"}, "search_radius '0' must be an integer or float (in miles"),
        ({"search_radius": "far"}, "search_radius 'far' must be an integer or float"),
        ({"notification_email": "nobody"}, "notification_email 'nobody' must be a valid email"),
        ({"mbp_onboarding": "maybe"}, "mbp_onboarding 'maybe' must be a boolean"),
        ({"digital_audience_name": "a" * 36}, "must be 1-35 alphanumeric or underscore"),
    ],
)
def test_the_local_service_applies_the_pages_rules(
    fresh_service: LocalService, params: dict[str, str], says: str
) -> None:
    answer = api(fresh_service, "service/smartmatch", **{"filename": "f", **params})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("Validation Error: ")
    assert says in answer.json()["error"]


# -- v2 answers kept whole in errors ------------------------------------------------------


def test_a_gateways_forbidden_is_an_authorization_error(fresh_service: LocalService) -> None:
    fresh_service.inject(
        Fault.status_code(
            403, "register", body='{"message": "Forbidden"}', content_type="application/json"
        )
    )
    with pytest.raises(sm.AuthorizationError, match=r"API gateway refused .*HTTP 403 'Forbidden'"):
        sm.submit(FRAME, **fresh_service.settings, progress=False)


def test_a_validation_error_keeps_the_answer(fresh_service: LocalService) -> None:
    fresh_service.service.config.legacy_filenames = False
    client = SmartMatchClient(api_key=fresh_service.api_key, base_url=fresh_service.base_url)
    with client, pytest.raises(sm.ValidationError) as caught:
        client.register({"filename": "x" * 46, "webhook": "https://hooks.example.org/h?token=abc"})
    error = caught.value
    assert error.gateway_id
    assert error.function_id
    assert f"quote gateway_id {error.gateway_id} to TargetSmart support" in str(error)
    assert error.service_input is not None
    assert error.service_input["filename"] == "x" * 46
    webhook = error.service_input["webhook"]
    assert webhook.startswith("https://hooks.example.org/h")
    assert "token" not in webhook  # its query (a token may ride there) is kept out


def test_an_internal_error_of_the_service(fresh_service: LocalService) -> None:
    fresh_service.inject(Fault.status_code(500, "register", times=None))
    with pytest.raises(sm.InternalError) as caught:
        sm.submit(FRAME, **fresh_service.settings, progress=False)
    assert caught.value.gateway_id
    assert "TargetSmart support" in str(caught.value)


def test_a_query_error_of_the_service(fresh_service: LocalService) -> None:
    fresh_service.inject(Fault.status_code(400, "register"))
    with pytest.raises(sm.QueryError, match="Query Error"):
        sm.submit(FRAME, **fresh_service.settings, progress=False)


def test_a_job_failed_with_an_internal_error(fresh_service: LocalService) -> None:
    fresh_service.inject(Fault.fail(message="Internal Error: the matcher stopped"))
    job = sm.submit(FRAME, **fresh_service.settings, progress=False)
    with pytest.raises(sm.JobFailedError) as caught:
        job.wait()
    assert isinstance(caught.value, sm.InternalError)
    assert caught.value.filename == job.filename
    assert caught.value.gateway_id


def test_a_parameter_understood_otherwise_is_warned_once(fresh_service: LocalService) -> None:
    # A revision that reads only lower-case booleans, and echoes what it read.
    fresh_service.service.config.booleans = "lowercase"
    fresh_service.service.config.echo = "typed"
    with pytest.warns(sm.SmartMatchWarning, match=r"understood include_email='True' as False"):
        sm.submit(FRAME, include_email=True, **fresh_service.settings, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = {**fresh_service.settings, "progress": False}
        sm.submit(FRAME, include_email=True, max_matches=2, **again)


def test_a_typed_echo_of_the_same_values_is_no_warning(fresh_service: LocalService) -> None:
    fresh_service.service.config.echo = "typed"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sm.submit(
            FRAME,
            include_voip=True,
            max_matches=3,
            search_radius=2.50,
            **fresh_service.settings,
            progress=False,
        )


# -- one poll budget per API key --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_processes_share_the_keys_poll_budget(
    fresh_service: LocalService, tmp_path: Path
) -> None:
    # The service counts every poll under the key (its default scope): two processes
    # waiting on three jobs each must take turns, through the job store they share.
    fresh_service.config.delay = 8 * POLL
    path = tmp_path / "contacts.parquet"
    sample_contacts(fresh_service.voters, 60, seed=5).drop(columns="true_voterbase_id").to_parquet(
        path
    )
    code = f"""
import sys
from concurrent.futures import ThreadPoolExecutor
import pandas as pd, smartmatch_pandas as sm
first = int(sys.argv[1])
df = pd.read_parquet({str(path)!r}).iloc[first : first + 30]
jobs = [sm.submit(df.iloc[i * 10 : (i + 1) * 10], progress=False) for i in range(3)]
with ThreadPoolExecutor(3) as pool:
    done = list(pool.map(lambda job: job.wait(progress=False).result(), jobs))
print(sum(len(result.frame) for result in done), sum(job.status().polls for job in jobs))
"""
    env = {**os.environ, **fresh_service.environ, "PYTHONUNBUFFERED": "1"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(first)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for first in (0, 30)
    ]
    outs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outs.append(out.split())
    assert [rows for rows, _ in outs] == ["30", "30"]
    assert fresh_service.stats["jobs_done"] == 6
    assert fresh_service.stats["polls"] >= 6
    assert violations(fresh_service) == 0


# -- many lists at once -----------------------------------------------------------------------


def _lists(service: LocalService, n: int, rows: int = 12) -> dict[str, pd.DataFrame]:
    people = sample_contacts(service.voters, n * rows, seed=8).drop(columns="true_voterbase_id")
    return {f"list_{i}": people.iloc[i * rows : (i + 1) * rows] for i in range(n)}


def test_many_lists_under_one_key(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 4 * POLL  # several polls each, taken in turn
    lists = _lists(fresh_service, 4)
    events: list[sm.ProgressEvent] = []
    results = sm.match_lists(lists, **fresh_service.settings, progress=events.append)
    assert results.ok
    assert list(results) == list(lists)
    for name, frame in lists.items():
        enriched = results[name]
        pd.testing.assert_frame_equal(enriched.iloc[:, : frame.shape[1]], frame)
        assert (enriched["tsmart_match_code"] == "Y").mean() > 0.5
        assert enriched.attrs["smartmatch"]["filename"] == results.filenames[name]
    assert fresh_service.stats["jobs_done"] == 4
    assert violations(fresh_service) == 0
    assert {e.job for e in events} == set(lists)  # one display, every job named


def test_one_failed_list_loses_none_of_the_others(fresh_service: LocalService) -> None:
    lists = _lists(fresh_service, 3)
    fresh_service.inject(Fault.fail(message="Internal Error: the matcher stopped"))
    results = sm.match_lists(list(lists.values()), **fresh_service.settings, progress=False)
    assert not results.ok
    assert len(results.errors) == 1
    ((failed, error),) = results.errors.items()
    assert isinstance(error, sm.InternalError)
    assert error.filename == results.filenames[failed]
    assert sorted([*results, failed]) == [0, 1, 2]
    with pytest.raises(sm.JobFailedError):
        results[failed]
    assert failed not in results
    assert results.get(failed) is None
    assert violations(fresh_service) == 0


def test_a_list_that_cannot_be_matched_is_refused_before_any_request(
    fresh_service: LocalService,
) -> None:
    lists = _lists(fresh_service, 2)
    lists["bad"] = pd.DataFrame({"favourite_colour": ["green"]})
    with pytest.raises(sm.InputError, match=r"^list 'bad': "):
        sm.match_lists(lists, **fresh_service.settings, progress=False)
    with pytest.raises(sm.OptionError, match="each list gets a job"):
        sm.match_lists(lists, filename="mine", **fresh_service.settings, progress=False)
    with pytest.raises(sm.OptionError, match="for one frame use match"):
        sm.match_lists(lists["list_0"], **fresh_service.settings)  # type: ignore[arg-type]
    assert _registrations(fresh_service) == 0


def test_a_job_of_many_lists_is_resumable_by_its_filename(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 30.0
    lists = _lists(fresh_service, 2)
    results = sm.match_lists(lists, **fresh_service.settings, progress=False, timeout=0.3)
    assert set(results.errors) == set(lists)
    assert all(isinstance(e, sm.JobTimeoutError) for e in results.errors.values())
    fresh_service.config.delay = 0.0
    for job in fresh_service.service.jobs.values():
        job.ready_at = 0.0
    name = "list_1"
    resumed = sm.resume(results.filenames[name], lists[name], **fresh_service.settings)
    assert len(resumed.frame) == len(lists[name])


# -- the local service's deliverable, and profiles --------------------------------------------


def test_the_row_numbers_come_before_the_match_code_and_are_merged(
    fresh_service: LocalService,
) -> None:
    frame = _lists(fresh_service, 1)["list_0"]
    enriched = sm.match(frame, max_matches=2, **fresh_service.settings, progress=False)
    added = list(enriched.columns[frame.shape[1] :])
    assert added[:4] == ["ts__input_row", "ts__row", "tsmart_match_code", "vb.voterbase_id"]
    # Each row's own number in the upload: the merge put every row back in its place.
    assert enriched["ts__input_row"].tolist() == [str(n) for n in range(1, len(frame) + 1)]
    assert enriched["ts__input_row"].dtype == enriched["tsmart_match_code"].dtype


@pytest.mark.parametrize(
    ("profile", "fields"),
    [
        ("names_only", ["vb.voterbase_id", "vb.tsmart_first_name", "vb.tsmart_last_name"]),
        ("political", ["vb.voterbase_id", "vb.voterbase_registration_status", "vb.vf_party"]),
    ],
)
def test_a_profile_chooses_the_appended_fields(
    fresh_service: LocalService, profile: str, fields: list[str]
) -> None:
    frame = _lists(fresh_service, 1)["list_0"]
    enriched = sm.match(frame, profile_id=profile, **fresh_service.settings, progress=False)
    added = set(enriched.columns[frame.shape[1] :])
    assert set(fields) <= added
    assert "vb.tsmart_full_address" not in added  # the default profile's, not this one's


def test_an_unknown_profile_is_refused_by_the_service(fresh_service: LocalService) -> None:
    with pytest.raises(sm.ValidationError, match="profile_id 'nope' is not a profile") as caught:
        sm.submit(FRAME, profile_id="nope", **fresh_service.settings, progress=False)
    assert caught.value.service_input is not None
    assert caught.value.service_input["profile_id"] == "nope"


# -- many lists on the command line -----------------------------------------------------------


def test_the_command_line_matches_several_lists_into_a_folder(
    fresh_service: LocalService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smartmatch_pandas import cli

    for name, value in fresh_service.environ.items():
        monkeypatch.setenv(name, value)
    lists = _lists(fresh_service, 3)
    paths = []
    for name, frame in lists.items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(str(path))
    (tmp_path / "list_x.tsv").write_text("first_name\tlast_name\nAnn\tLee\n")
    out = tmp_path / "out"
    argv = ["match", *paths, str(tmp_path / "list_x.tsv"), "--output-dir", str(out)]
    assert cli.main([*argv, "--no-progress"]) == 0
    for name, frame in lists.items():
        written = pd.read_csv(out / f"{name}.csv", dtype=str)
        assert len(written) == len(frame)
        assert "tsmart_match_code" in written.columns
    assert (out / "list_x.csv").exists()  # a .tsv is written as .csv
    assert violations(fresh_service) == 0
    # Written already: refused before anything is paid for, naming the file.
    registrations = _registrations(fresh_service)
    assert cli.main([*argv, "--no-progress"]) == 2
    assert _registrations(fresh_service) == registrations
    assert cli.main(["match", *paths, "-o", str(tmp_path / "one.csv")]) == 2
    assert cli.main(["match", *paths]) == 2
    assert _registrations(fresh_service) == registrations


def test_status_refreshes_of_many_jobs_keep_the_keys_budget(fresh_service: LocalService) -> None:
    fresh_service.config.delay = 30.0  # they stay waiting
    lists = _lists(fresh_service, 3)
    jobs = [sm.submit(frame, **fresh_service.settings, progress=False) for frame in lists.values()]
    started = time.monotonic()
    for _ in range(40):
        for job in jobs:
            job.status()  # a poll only when the key's one poll is free
        time.sleep(POLL / 4)
    elapsed = time.monotonic() - started
    assert violations(fresh_service) == 0
    assert 1 <= fresh_service.stats["polls"] <= elapsed / POLL + 1
    assert {job.status().polls > 0 for job in jobs} == {True}  # each had its turn
