"""Faithful to TargetSmart's published API (section 4 of the reference), against the local
service: the 45-character filename, the newer parameters, the v2 answers kept in errors."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import smartmatch_pandas as sm
from smartmatch_pandas.local import LocalService

from .local.test_protocol import api

FRAME = pd.DataFrame({"first_name": ["Ann", "Bo"], "last_name": ["Lee", "Chan"]})


def _registrations(service: LocalService) -> int:
    return service.stats.get("registrations", 0) + service.stats.get("errors", 0)


@pytest.mark.parametrize(
    ("keywords", "says"),
    [
        ({"filename": "x" * 46}, "1 to 45 letters"),
        ({"filename": "x" * 50}, "1 to 45 letters"),
        ({"search_radius": -2}, "positive number of miles"),
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
        profile_id="standard",
        extra_params={"team": "north"},
        **fresh_service.settings,
        progress=False,
    )
    received = fresh_service.service.jobs[job.filename].params
    assert received["search_radius"] == "1.5"
    assert received["notification_email"] == "data@example.org"
    assert received["mbp_onboarding"] == "True"
    assert received["digital_audience_name"] == "spring_2026"
    assert received["profile_id"] == "standard"
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
