"""The synthetic voter file: deterministic, realistic, cached privately; and its contact lists."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from smartmatch_pandas.local import VoterFile, reference, sample_contacts
from smartmatch_pandas.local.sample import NOISE
from smartmatch_pandas.local.voterfile import AS_OF, CACHE_ENV, cache_dir

#: The people of ``VoterFile.generate(2000, seed=7)`` but their politics, as generator
#: version 3 made them (see ``SEED_VERSION``).
PEOPLE_FINGERPRINT = "26fe623580ae458f14a1809d9f2cbad7fc8213c5396606a93447ea6b9e00e8fc"


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def test_the_same_seed_gives_the_same_file() -> None:
    one = VoterFile.generate(3000, seed=4, cache=False)
    two = VoterFile.generate(3000, seed=4, cache=False)
    other = VoterFile.generate(3000, seed=5, cache=False)
    assert one.table.equals(two.table)
    assert not one.table.equals(other.table)
    assert all(t == pa.string() for t in one.table.schema.types)


def test_identifiers_are_shaped_and_unique(voters: VoterFile) -> None:
    p = voters.people
    assert p["voterbase_id"].str.fullmatch(r"[A-Z]{2}-\d{12}").all()
    assert (p["voterbase_id"].str[:2] == p["state"]).all()
    for column in ("voterbase_id", "exact_track", "voter_id", "smartvan_id"):
        assert p[column].is_unique, column
    assert p["email"].dropna().is_unique
    assert p["email"].dropna().str.fullmatch(r"[a-z0-9._]+@[a-z]+\.[a-z]+").all()
    for column in ("phone_landline", "phone_wireless", "phone_voip"):
        assert p[column].dropna().str.fullmatch(r"[2-9]\d{9}").all(), column


def test_places_belong_together(voters: VoterFile) -> None:
    p = voters.people
    zips = reference.zips()
    table = pd.DataFrame({"zip": zips.zip, "city": zips.city, "state": zips.state})
    joined = (
        p[["zip", "city", "state"]].astype(object).merge(table, on="zip", suffixes=("", "_ref"))
    )
    assert len(joined) == len(p)
    assert (joined["city"] == joined["city_ref"]).all()
    assert (joined["state"] == joined["state_ref"]).all()
    lat = p["latitude"].astype(float).to_numpy()
    centre = pd.Series(zips.latitude, index=zips.zip).reindex(p["zip"].astype(object)).to_numpy()
    assert np.abs(lat - centre).max() < 0.2
    # Bigger states have more voters.
    counts = p["state"].value_counts()
    assert counts["CA"] > counts["TX"] > counts["OH"] > counts["WY"]


def test_people_look_like_a_population(voters: VoterFile) -> None:
    p = voters.people
    age = p["age"].astype(int)
    assert age.between(18, 100).all()
    born = pd.to_datetime(p["dob"], format="%Y%m%d")
    as_of = pd.Timestamp(AS_OF)
    years = (
        as_of.year
        - born.dt.year
        - ((born.dt.month * 100 + born.dt.day) > as_of.month * 100 + as_of.day)
    )
    assert (years == age).all()
    assert p["last_name"].value_counts().index[0] == "Smith"
    assert set(p["gender"]) == {"F", "M", "U"}
    assert 0.45 < (p["gender"] == "F").mean() < 0.55
    assert {"Jr", "Sr"} <= set(p["name_suffix"].dropna())
    assert p["middle_name"].notna().mean() > 0.6
    assert (p["middle_name"] == p["first_name"]).mean() < 0.001
    assert p["last_name"].str.contains("-").any()
    assert {"Registered", "Unregistered"} == set(p["registration_status"])
    party = p.groupby("party")["partisan_score"].apply(lambda s: s.astype(float).mean())
    assert party["Democrat"] > 60 > 40 > party["Republican"]


def test_the_electorate_looks_like_one(voters: VoterFile) -> None:
    """Party by state as each state registers voters, a score that agrees with the party,
    the young registered least (docs/matching.md, "Fields worth exploring")."""
    p = voters.people.assign(
        age=lambda f: f["age"].astype(int), score=lambda f: f["partisan_score"].astype(float)
    )
    registered = p["registration_status"] == "Registered"
    assert 0.80 < registered.mean() < 0.90
    assert p.loc[~registered, "party"].isna().all()
    assert p.loc[registered, "party"].notna().all()
    young, old = registered[p["age"] < 25].mean(), registered[p["age"] >= 65].mean()
    assert young < 0.78 < 0.88 < old
    share = p[registered].groupby("state")["party"].value_counts(normalize=True)
    assert share["CA", "Democrat"] > share["CA", "Republican"] + 0.1
    assert share["OK", "Republican"] > share["OK", "Democrat"] + 0.1
    assert share["TX", "Unaffiliated"] == 1.0  # Texas registers voters without a party
    # Where the party is not registered, the score still follows the state's lean.
    lean = p[registered].groupby("state")["score"].mean()
    assert lean["VT"] > lean["TX"] > lean["WY"]
    by_party = p.groupby("party")["score"].mean()
    assert by_party["Democrat"] > 65 > 35 > by_party["Republican"]
    assert by_party["Green"] > 60 > 40 > by_party["Libertarian"]


def test_the_politics_leave_the_people_as_they_were() -> None:
    """Party, score and registration take the draws they always took: every other column
    of a file is what the generator made before they were redrawn (the matcher's figures
    stand), pinned here by a fingerprint of a small file."""
    table = VoterFile.generate(2000, seed=7, cache=False).table
    people = table.drop_columns(["registration_status", "party", "partisan_score"])
    digest = hashlib.sha256(people.to_pandas().to_csv(index=False).encode()).hexdigest()
    assert digest == PEOPLE_FINGERPRINT


def test_households_share_an_address_and_a_landline(voters: VoterFile) -> None:
    p = voters.people
    sizes = p.groupby("household_id").size()
    assert sizes.max() > 3
    assert (sizes == 1).any()
    per_household = p.groupby("household_id")[["address1", "zip", "phone_landline"]].nunique()
    assert (per_household[["address1", "zip"]] == 1).all().all()
    assert (per_household["phone_landline"] <= 1).all()
    juniors = p[p["name_suffix"] == "Jr"].merge(p, on=["household_id", "first_name"])
    assert (juniors["voterbase_id_x"] != juniors["voterbase_id_y"]).any()


def test_the_cache_is_private_and_reused(private_cache: Path) -> None:
    built = VoterFile.generate(1500, seed=2)
    files = list(private_cache.iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(private_cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert files[0].name.startswith("voters-v")
    assert files[0].name.endswith("-1500-2.parquet")
    stamp = files[0].stat().st_mtime_ns
    again = VoterFile.generate(1500, seed=2)
    assert files[0].stat().st_mtime_ns == stamp
    assert again.table.equals(built.table)
    files[0].write_bytes(b"not parquet")
    assert VoterFile.generate(1500, seed=2).table.equals(built.table)  # a damaged file: rebuilt


def test_the_cache_folder_defaults_to_the_users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    if sys.platform.startswith("linux"):
        assert cache_dir() == Path("/somewhere/smartmatch-pandas/voterfiles")


def test_writes_csv_and_parquet_readable_by_the_user_alone(tmp_path: Path) -> None:
    voters = VoterFile.generate(500, seed=1, cache=False)
    for name in ("voters.csv", "voters.parquet"):
        path = tmp_path / name
        voters.write(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = pd.read_csv(tmp_path / "voters.csv", dtype=str, keep_default_na=False, na_values=[""])
    assert back["zip"].tolist() == voters.people["zip"].tolist()
    assert pa.Table.from_pandas(pd.read_parquet(tmp_path / "voters.parquet")).num_rows == 500


def test_contact_lists_carry_their_noise_and_truth(voters: VoterFile) -> None:
    frame = sample_contacts(voters, 4000, seed=3, labels=True)
    assert list(frame.columns[-2:]) == ["true_voterbase_id", "noise"]
    kinds = {k for labels in frame["noise"] for k in labels.split(";")}
    assert set(NOISE) | {"clean", "duplicate", "not_in_file", "housemate_not_in_file"} <= kinds
    outsiders = frame["noise"].isin(["not_in_file", "housemate_not_in_file"])
    assert frame.loc[outsiders, "true_voterbase_id"].isna().all()
    assert frame.loc[~outsiders, "true_voterbase_id"].notna().all()
    assert 0.07 < outsiders.mean() < 0.13
    assert frame["true_voterbase_id"].dropna().duplicated().any()
    phones = frame["phone"].dropna()
    assert phones.str.contains(r"[()\-. +]").any()
    assert phones.str.fullmatch(r"\d{10}").any()
    assert frame["zip"].dropna().str.len().isin([4, 5, 10]).all()
    again = sample_contacts(voters, 4000, seed=3, labels=True)
    pd.testing.assert_frame_equal(frame, again)


def test_no_noise_gives_the_voter_files_own_values(voters: VoterFile) -> None:
    frame = sample_contacts(voters, 200, seed=5, noise={}, outsiders=0, duplicates=0)
    p = voters.people.set_index("voterbase_id")
    truth = p.loc[frame["true_voterbase_id"]]
    given = frame["first_name"].notna()
    assert (
        frame.loc[given, "first_name"].to_numpy()
        == truth.loc[given.to_numpy(), "first_name"].to_numpy()
    ).all()
    with pytest.raises(ValueError, match="unknown kinds of noise"):
        sample_contacts(voters, 5, noise={"sunburn": 0.5})


@pytest.mark.subprocess
def test_the_cli_writes_a_voter_file_and_a_sample(tmp_path: Path, private_cache: Path) -> None:
    command = [sys.executable, "-m", "smartmatch_pandas.cli"]
    env = {**os.environ, CACHE_ENV: str(private_cache)}
    run = subprocess.run(
        [
            *command,
            "voterfile",
            "-o",
            str(tmp_path / "v.parquet"),
            "--voters",
            "800",
            "--seed",
            "9",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "wrote 800 voters" in run.stdout
    subprocess.run(
        [
            *command,
            "sample",
            "--rows",
            "50",
            "--seed",
            "2",
            "-o",
            str(tmp_path / "s.csv"),
            "--voters",
            "800",
            "--voter-seed",
            "9",
            "--labels",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    voters = pd.read_parquet(tmp_path / "v.parquet")
    sample = pd.read_csv(tmp_path / "s.csv", dtype=str)
    assert len(voters) == 800
    assert len(sample) == 50
    known = sample["true_voterbase_id"].dropna()
    assert known.isin(voters["voterbase_id"]).all()
    assert len(known) > 30
    assert "noise" in sample.columns
