"""Tests for broker.gias: the GIAS extract and the simple schools file."""

import io
from pathlib import Path

import pytest

from broker import gias
from broker.gias import SchoolFileError, SchoolRow, Skipped, parse_schools
from tests.broker.test_geo import km as distance

DATA = Path(__file__).parent / "data"
GIAS_SAMPLE = DATA / "gias_sample.csv"  # Windows-1252, CRLF, like a real GIAS download

SIMPLE_HEADER = (
    "urn,name,postcode,lat,lon,phase,type,gender,pupils,fsm_pct,sen_unit,la,open_2025_07,"
    "geo_source,source\n"
)


def near(row, lat, lon, km):
    return distance(row.lat, row.lon, lat, lon) < km


# --- GIAS format -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gias_result():
    return parse_schools(GIAS_SAMPLE)


def test_gias_sample_is_windows_1252():
    raw = GIAS_SAMPLE.read_bytes()
    assert "St Mary’s".encode("cp1252") in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_gias_rows_kept(gias_result):
    assert gias_result.format == "gias"
    assert [r.urn for r in gias_result.rows] == [
        100049,  # Haverstock School
        101814,  # St Mary’s Catholic High School
        138950,  # St Thomas à Becket (open, but proposed to close)
        900003,  # community special school, ages 2-19
        100103,  # pupil referral unit
        100051,  # Regent High School: no easting/northing, placed by postcode
        900006,  # independent special school
        900012,  # no easting/northing, postcode unit unknown: district centroid
    ]


def test_gias_rows_skipped(gias_result):
    assert [(s.line, s.urn, s.field) for s in gias_result.skipped] == [
        (5, 900001, "EstablishmentStatus (name)"),
        (6, 900002, "PhaseOfEducation (name)"),
        (8, 900004, "PhaseOfEducation (name)"),
        (11, None, "URN"),
        (12, 100049, "URN"),
        (13, 900005, "TypeOfEstablishment (name)"),
        (15, 900007, "PercentageFSM"),
        (16, 900008, "Postcode"),
        (17, 900009, "NumberOfPupils"),
        (18, 900010, "Easting/Northing"),
        (19, 900011, "Easting/Northing"),
        (21, 900013, "Postcode"),
        (22, 900014, "TypeOfEstablishment (name)"),
        (23, 900015, "EstablishmentStatus (name)"),
    ]
    reasons = [s.reason for s in gias_result.skipped]
    assert reasons[:7] == [
        "not open (status 'Closed')",
        "does not serve secondary-age pupils (phase 'Primary')",
        "does not serve secondary-age pupils (phase 'Not applicable', ages up to 11)",
        "URN '12A45' is not a positive whole number",
        "duplicate URN (first on line 2)",
        "independent school (Other independent school)",
        "FSM percentage 140 is outside 0-100",
    ]
    assert reasons[7:] == [
        "malformed postcode 'NW1 XYZ'",
        "number of pupils is negative (-5)",
        "coordinates (61.4652, 3.6347) are outside Great Britain",
        "no coordinates and no postcode",
        "no coordinates; YY1 1AA is not a known postcode, and its district YY1 is not known "
        "either (only Great Britain is covered)",
        "not a school the broker serves (Welsh establishment)",
        "not open (status 'Proposed to open')",
    ]


def test_gias_row_values(gias_result):
    rows = {r.urn: r for r in gias_result.rows}

    haverstock = rows[100049]
    assert (haverstock.name, haverstock.postcode, haverstock.kind, haverstock.gender) == (
        "Haverstock School",
        "NW3 2BQ",
        "mainstream",
        "mixed",
    )
    assert (haverstock.pupils, haverstock.fsm_pct, haverstock.la_name, haverstock.phase) == (
        973,
        67.5,
        "Camden",
        "Secondary",
    )
    # Converted from easting/northing; GIAS publishes 51.544833, -0.153229.
    assert haverstock.lat == pytest.approx(51.544833, abs=1e-4)
    assert haverstock.lon == pytest.approx(-0.153229, abs=1e-4)

    assert rows[101814].name == "St Mary’s Catholic High School"
    assert rows[138950].name == "St Thomas à Becket Catholic Secondary School, A Voluntary Academy"

    special = rows[900003]
    assert (special.kind, special.phase, special.pupils, special.fsm_pct) == (
        "special",
        "Not applicable",
        120,
        45.0,
    )
    pru = rows[100103]
    assert (pru.kind, pru.fsm_pct, pru.la_name) == ("ap", None, "Greenwich")
    independent_special = rows[900006]
    assert (independent_special.kind, independent_special.gender) == ("special", "boys")

    regent = rows[100051]
    assert regent.postcode == "NW1 1RX"
    assert near(regent, 51.534252, -0.133529, 0.5)  # GIAS coordinates of Regent High School

    centroid = rows[900012]
    assert centroid.postcode == "NW1 0ZZ"
    assert (centroid.lat, centroid.lon) == (51.533316, -0.143917)


def test_gias_utf8_with_bom_and_open_files_give_the_same_result(tmp_path, gias_result):
    text = GIAS_SAMPLE.read_bytes().decode("cp1252")
    utf8 = tmp_path / "edubasealldata_utf8.csv"
    utf8.write_bytes(text.encode("utf-8-sig"))
    assert parse_schools(utf8) == gias_result
    with GIAS_SAMPLE.open("rb") as fh:
        assert parse_schools(fh) == gias_result
    assert parse_schools(io.StringIO(text, newline="")) == gias_result


@pytest.mark.parametrize(
    ("type_name", "kind"),
    [
        ("Community special school", "special"),
        ("Foundation special school", "special"),
        ("Academy special sponsor led", "special"),
        ("Academy special converter", "special"),
        ("Free schools special", "special"),
        ("Non-maintained special school", "special"),
        ("Other independent special school", "special"),
        ("Pupil referral unit", "ap"),
        ("Academy alternative provision converter", "ap"),
        ("Academy alternative provision sponsor led", "ap"),
        ("Free schools alternative provision", "ap"),
        ("Academy converter", "mainstream"),
        ("Voluntary aided school", "mainstream"),
        ("University technical college", "mainstream"),
        ("Special school (inferred from name)", "special"),
        ("PRU/alternative provision (inferred from name)", "ap"),
    ],
)
def test_kind_of(type_name, kind):
    assert gias.kind_of(type_name) == kind


# --- simple format -----------------------------------------------------------------------


def test_shipped_file_parses():
    result = parse_schools(gias.SCHOOLS_CSV)

    assert result.format == "simple"
    # 3,229 rows; the only ones left out are the 11 marked as not open in July 2025.
    assert len(result.rows) == 3218
    assert {s.field for s in result.skipped} == {"open_2025_07"}
    assert [s.urn for s in result.skipped] == [
        103858,
        105107,
        105736,
        105738,
        106266,
        106268,
        107564,
        125275,
        126071,
        131945,
        138925,
    ]

    rows = {r.urn: r for r in result.rows}
    assert rows[100049] == SchoolRow(
        urn=100049,
        name="Haverstock School",
        postcode="NW3 2BQ",
        lat=51.544833,
        lon=-0.153229,
        kind="mainstream",
        gender="mixed",
        pupils=973,
        fsm_pct=67.5,
        la_name="Camden",
        phase="Secondary",
    )
    assert rows[100050].gender == "girls"  # Parliament Hill School
    assert rows[138950].name == "St Thomas à Becket Catholic Secondary School, A Voluntary Academy"
    newhaven = rows[100103]
    assert (newhaven.kind, newhaven.phase, newhaven.gender, newhaven.pupils) == (
        "ap",
        "Not applicable",
        "mixed",
        None,
    )
    assert rows[100091].kind == "special"  # Frank Barnes School for Deaf Children
    assert rows[149075].postcode is None  # Maritime Academy, Medway: no postcode in the file
    kinds = [r.kind for r in result.rows]
    assert (kinds.count("mainstream"), kinds.count("special"), kinds.count("ap")) == (3083, 69, 66)


def write_simple(tmp_path, body):
    path = tmp_path / "schools.csv"
    path.write_text(SIMPLE_HEADER + body, encoding="utf-8")
    return path


def test_simple_format_bad_rows(tmp_path):
    path = write_simple(
        tmp_path,
        "100049,Haverstock School,NW3 2BQ,51.544833,-0.153229,Secondary,Community school,Mixed,"
        "973,67.5,,Camden,yes,,\n"
        "abc,Bad URN School,NW3 2BQ,51.5,-0.15,Secondary,Community school,Mixed,1,1,,Camden,yes,,\n"
        "100049,Haverstock Again,NW3 2BQ,51.5,-0.15,Secondary,Community school,Mixed,1,1,,,yes,,\n"
        "900001,Paris School,,48.85,2.35,Secondary,Academy converter,Mixed,1,1,,,yes,,\n"
        "900002,Bad Postcode School,SW1A 1CA,51.5,-0.14,Secondary,Academy converter,Mixed,1,1,,,"
        "yes,,\n"
        "900003,Negative School,NW3 2BQ,51.5,-0.15,Secondary,Academy converter,Mixed,-1,1,,,yes,,\n"
        "900004,FSM School,NW3 2BQ,51.5,-0.15,Secondary,Academy converter,Mixed,100,101,,,yes,,\n"
        '900010,"Name Over\nTwo Lines",NW3 2BQ,51.5,-0.15,Secondary,Academy converter,Mixed,-2,1,,,'
        "yes,,\n"
        "900005,Located By Postcode,nw11rx,,,Secondary,Community school,Boys,1076,63.2,,Camden,"
        "yes,,\n"
        "900006,Example Special School,N5 2EG,51.549799,-0.096502,,Special school (inferred from "
        "name),,,,,,yes,,\n"
        "900007,Example Short Row,N5 2EG\n"
        "900008,Example Closed School,N5 2EG,51.549799,-0.096502,Secondary,Academy converter,Mixed,"
        "1,1,,,no,,\n"
        "900009,Bad Latitude,N5 2EG,north,-0.096502,Secondary,Academy converter,Mixed,1,1,,,"
        "yes,,\n",
    )
    result = parse_schools(path)
    assert [r.urn for r in result.rows] == [100049, 900005, 900006]
    assert [(s.line, s.urn, s.field, s.reason) for s in result.skipped] == [
        (3, None, "urn", "URN 'abc' is not a positive whole number"),
        (4, 100049, "urn", "duplicate URN (first on line 2)"),
        (5, 900001, "lat/lon", "coordinates (48.8500, 2.3500) are outside Great Britain"),
        (6, 900002, "postcode", "malformed postcode 'SW1A 1CA'"),
        (7, 900003, "pupils", "number of pupils is negative (-1)"),
        (8, 900004, "fsm_pct", "FSM percentage 101 is outside 0-100"),
        (9, 900010, "pupils", "number of pupils is negative (-2)"),
        (13, None, "", "row has 3 fields, the header has 15"),
        (14, 900008, "open_2025_07", "closed (not open in July 2025)"),
        (15, 900009, "lat", "'north' is not a number"),
    ]

    by_postcode = result.rows[1]
    assert (by_postcode.postcode, by_postcode.gender, by_postcode.pupils) == (
        "NW1 1RX",
        "boys",
        1076,
    )
    assert near(by_postcode, 51.534252, -0.133529, 0.5)
    special = result.rows[2]
    assert (special.kind, special.phase, special.gender, special.la_name) == (
        "special",
        "Not applicable",
        "mixed",
        None,
    )


def test_values_beyond_the_database_are_skipped_naming_the_field(tmp_path):
    row = "Secondary,Academy converter,Mixed,{pupils},1,,{la},yes,,\n"
    long_name = "N" * 100_000
    path = write_simple(
        tmp_path,
        "2147483647,Largest URN,NW3 2BQ,51.5,-0.15," + row.format(pupils=1, la="Camden")
        + "2147483648,Beyond 2^31,NW3 2BQ,51.5,-0.15," + row.format(pupils=1, la="Camden")
        + "9223372036854775808,Beyond 2^63,NW3 2BQ,51.5,-0.15," + row.format(pupils=1, la="")
        + "9" * 5000 + ",Five Thousand Digits,NW3 2BQ,51.5,-0.15," + row.format(pupils=1, la="")
        + "900001,Many Pupils,NW3 2BQ,51.5,-0.15," + row.format(pupils=2**31, la="")
        + "900002,Pupils 1e20,NW3 2BQ,51.5,-0.15," + row.format(pupils="1e20", la="")
        + f"900003,{long_name},NW3 2BQ,51.5,-0.15," + row.format(pupils=1, la="")
        + "900004,Long Area,NW3 2BQ,51.5,-0.15," + row.format(pupils=1, la="L" * 121),
    )
    result = parse_schools(path)
    assert [r.urn for r in result.rows] == [2**31 - 1]
    assert [(s.line, s.urn, s.field, s.reason) for s in result.skipped] == [
        (3, None, "urn", "URN 2147483648 is too large (the largest is 2147483647)"),
        (4, None, "urn", "URN 9223372036854775808 is too large (the largest is 2147483647)"),
        (5, None, "urn", "URN 99999999999999999999... (5000 digits) is too large (the largest is "
         "2147483647)"),
        (6, 900001, "pupils", "number of pupils 2147483648 is too large (at most 2147483647)"),
        (7, 900002, "pupils", f"number of pupils {10**20} is too large (at most 2147483647)"),
        (8, 900003, "name", "name is 100000 characters long (at most 200)"),
        (9, 900004, "la", "local authority name is 121 characters long (at most 120)"),
    ]


def test_gias_urn_beyond_the_database_is_skipped(tmp_path):
    lines = GIAS_SAMPLE.read_bytes().decode("cp1252").splitlines()
    header, first = lines[0], lines[1]
    huge = first.replace("100049,", f"{2**63},", 1)
    path = tmp_path / "edubasealldata.csv"
    path.write_text(f"{header}\n{huge}\n", encoding="utf-8")
    result = parse_schools(path)
    assert result.rows == []
    assert [(s.field, s.reason) for s in result.skipped] == [
        ("URN", f"URN {2**63} is too large (the largest is 2147483647)")
    ]


def test_limits_are_the_database_columns():
    from broker.models import School

    columns = School.__table__.c
    assert (
        columns.name.type.length,
        columns.la_name.type.length,
        columns.phase.type.length,
    ) == (gias.MAX_NAME, gias.MAX_LA_NAME, gias.MAX_PHASE)


# --- whole-file errors -------------------------------------------------------------------


def test_unknown_header_names_missing_columns(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("URN,name,Postcode\n1,A,NW3 2BQ\n", encoding="utf-8")
    with pytest.raises(SchoolFileError) as exc:
        parse_schools(path)
    message = str(exc.value)
    assert "is not a schools file" in message
    assert "as a GIAS extract it lacks EstablishmentName, TypeOfEstablishment (name)" in message
    assert "as the simple schools file it lacks urn, postcode, lat, lon, type" in message


def test_gias_header_missing_one_column(tmp_path):
    header = GIAS_SAMPLE.read_bytes().decode("cp1252").splitlines()[0]
    path = tmp_path / "edubasealldata.csv"
    path.write_text(header.replace(",Northing", ",Northing_") + "\n", encoding="utf-8")
    with pytest.raises(SchoolFileError, match="as a GIAS extract it lacks Northing;"):
        parse_schools(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(SchoolFileError, match="Cannot read"):
        parse_schools(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(SchoolFileError, match="is empty"):
        parse_schools(empty)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(SIMPLE_HEADER.encode() + b"1,\x81\x8d,NW3 2BQ\n")
    with pytest.raises(SchoolFileError, match="neither UTF-8 nor Windows-1252"):
        parse_schools(binary)


def test_header_only_file_has_no_rows(tmp_path):
    result = parse_schools(write_simple(tmp_path, ""))
    assert (result.format, result.rows, result.skipped) == ("simple", [], [])


def test_skipped_is_a_plain_record():
    assert Skipped(3, None, "urn", "why") == Skipped(line=3, urn=None, field="urn", reason="why")
