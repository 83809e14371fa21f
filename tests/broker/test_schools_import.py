"""Importing schools into the database: idempotent, reports skips, keeps local edits."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from broker.cli import SHIPPED_SCHOOLS
from broker.extensions import db
from broker.models import Area, School
from broker.services.schools import load_schools

SAMPLE = Path(__file__).parent / "data" / "gias_sample.csv"


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_gias_import_creates_schools_areas_and_reports_skips(app):
    report = load_schools(SAMPLE, quiet=True)
    db.session.commit()
    assert report.created == _count(School) > 0
    assert report.updated == report.unchanged == 0
    assert report.skipped and all("line " in s for s in report.skipped)
    haverstock = db.session.scalar(select(School).where(School.urn == 100049))
    assert haverstock.name == "Haverstock School"
    assert haverstock.area.name == "Camden" and haverstock.la_name == "Camden"
    assert haverstock.fsm_pct == 67.5 and haverstock.pupils == 973
    assert 51.5 < haverstock.lat < 51.6
    st_marys = db.session.scalar(select(School).where(School.urn == 101814))
    assert st_marys.name == "St Mary\u2019s Catholic High School"


def test_reimport_updates_in_place_and_keeps_careers_leader_edits(app):
    load_schools(SAMPLE, quiet=True)
    db.session.commit()
    before = _count(School)
    school = db.session.scalar(select(School).where(School.urn == 100049))
    school.careers_leader_email = "careers@haverstock.example"
    school.pupils = 1
    db.session.commit()
    report = load_schools(SAMPLE, quiet=True)
    db.session.commit()
    assert _count(School) == before
    assert report.created == 0 and report.updated == 1
    school = db.session.scalar(select(School).where(School.urn == 100049))
    assert school.pupils == 973
    assert school.careers_leader_email == "careers@haverstock.example"
    assert _count(Area) == len({s.la_name for s in db.session.scalars(select(School))})


def test_shipped_school_list_imports_and_marks_rural_schools(app):
    report = load_schools(SHIPPED_SCHOOLS, quiet=True)
    db.session.commit()
    assert report.created == 3218 and len(report.skipped) == 11
    rural = db.session.scalar(select(func.count()).select_from(School).where(School.rural))
    # Some, but far from all: rural schools are the minority that employers struggle to reach.
    assert 100 < rural < 1200
    cornwall = db.session.scalars(select(School.rural).where(School.la_name == "Cornwall")).all()
    westminster = db.session.scalars(
        select(School.rural).where(School.la_name == "Westminster")
    ).all()
    assert sum(cornwall) / len(cornwall) > 0.5
    assert not any(westminster)


def test_import_schools_command_reports_and_rejects_bad_files(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import-schools", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "created" in result.output and "skipped line" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    result = runner.invoke(args=["import-schools", str(bad)])
    assert result.exit_code != 0
    assert "Error" in result.output


def test_create_user_command_scopes_coordinator_to_areas(app):
    load_schools(SAMPLE, quiet=True)
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "create-user",
            "--email",
            "coord@example.org",
            "--area",
            "Camden",
            "--password",
            "long enough pass",
        ]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=[
            "create-user",
            "--email",
            "x@example.org",
            "--area",
            "Atlantis",
            "--password",
            "long enough pass",
        ]
    )
    assert result.exit_code != 0 and "no area called 'Atlantis'" in result.output


def test_cli_runner_is_usable_standalone():
    # The console script is a click group; --help must work without a database.
    from broker.cli import main

    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "import-schools" in result.output


def test_reimport_keeps_fields_the_school_corrected(app, make_user):
    from broker.services.profiles import SchoolProfile, update_school_profile

    load_schools(SAMPLE, quiet=True)
    db.session.commit()
    school = db.session.scalar(select(School).where(School.urn == 100049))
    user = make_user(role="school", school_id=school.id)
    update_school_profile(
        school,
        SchoolProfile(postcode=school.postcode, gender="mixed", pupils=1010, fsm_pct=60.0),
        by=user,
    )
    db.session.commit()
    assert school.local_overrides == ["fsm_pct", "pupils"]
    report = load_schools(SAMPLE, quiet=True)
    db.session.commit()
    school = db.session.scalar(select(School).where(School.urn == 100049))
    assert (school.pupils, school.fsm_pct) == (1010, 60.0)
    assert school.name == "Haverstock School" and report.updated == 0


def test_import_schools_command_skips_urns_beyond_the_database(app, tmp_path):
    header = (
        "urn,name,postcode,lat,lon,phase,type,gender,pupils,fsm_pct,sen_unit,la,open_2025_07,"
        "geo_source,source\n"
    )
    rest = ",NW3 2BQ,51.5,-0.15,Secondary,Academy converter,Mixed,{},1,,Camden,yes,,\n"
    path = tmp_path / "schools.csv"
    path.write_text(
        header
        + "2147483647,Largest URN" + rest.format(900)
        + "2147483648,Beyond 2^31" + rest.format(900)
        + "9223372036854775808,Beyond 2^63" + rest.format(900)
        + "900001,Too Many Pupils" + rest.format(2**63),
        encoding="utf-8",
    )
    result = app.test_cli_runner().invoke(args=["import-schools", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 0 unchanged, 3 skipped" in result.output
    assert "skipped line 3: URN ?: urn: URN 2147483648 is too large" in result.output
    assert "skipped line 4: URN ?: urn: URN 9223372036854775808 is too large" in result.output
    assert "skipped line 5: URN 900001: pupils: number of pupils" in result.output
    assert db.session.scalars(select(School.urn)).all() == [2**31 - 1]
