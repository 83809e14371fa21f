"""Read schools files into plain records, ready for the database layer to load.

Call :func:`parse_schools` with a path or an open file. It returns a :class:`ParseResult`:
the :class:`SchoolRow` records to keep, in file order, and one :class:`Skipped` entry (line,
URN, field, reason) for every data row left out, whether the row was bad or simply out of
scope. One bad row never stops a file; only an unreadable file or an unrecognised header
raises :class:`SchoolFileError`.

Two formats are recognised from the header:

``gias``
    The DfE "Get Information About Schools" full extract (``edubasealldata*.csv``), as
    downloaded: Windows-1252 (UTF-8, with or without a BOM, is accepted too).
``simple``
    The project's own ``broker/data/schools_england.csv``
    (``urn,name,postcode,lat,lon,phase,type,gender,...``), already restricted to schools that
    serve secondary-age pupils, with WGS84 coordinates.

Which schools are kept
----------------------
Open establishments (status "Open" or "Open, but proposed to close") that serve
secondary-age pupils: phase Secondary, Middle deemed secondary, All-through or 16 plus; and
special schools and pupil referral units / alternative provision whose statutory age range
goes past 11 (when the file gives no ages, a special or AP setting with no phase is kept).

Independent schools are left out, except independent special schools. The broker exists to
help state-funded schools meet their statutory careers duties (the Baker clause, the Gatsby
benchmarks), which do not bind independent schools, and the shipped data has none; but local
authorities place many pupils with education, health and care plans in independent special
schools, at public expense, and those pupils are exactly who a coverage gap hurts.

Establishments that are not schools are left out too: colleges and universities, sixth-form
centres, special post-16 institutions, secure units, Welsh establishments, schools overseas,
online providers, nurseries and children's centres.

Mapping
-------
``kind`` is ``"ap"`` for pupil referral units and alternative provision, ``"special"`` for
special schools (maintained, academy, free, non-maintained or independent), else
``"mainstream"``. ``gender`` is ``"girls"`` or ``"boys"`` for single-sex schools and
``"mixed"`` otherwise, including when the file leaves it blank or "Not applicable" (no
single-sex restriction is recorded). A blank phase becomes "Not applicable", GIAS's own word
for special schools and PRUs. Coordinates come from GIAS easting/northing or the simple file's
lat/lon; when those are blank they come from the postcode (:func:`broker.geo.geocode_many`,
falling back to the district centroid).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np

from broker import geo

__all__ = [
    "SCHOOLS_CSV",
    "ParseResult",
    "SchoolFileError",
    "SchoolRow",
    "Skipped",
    "kind_of",
    "parse_schools",
]

logger = logging.getLogger(__name__)

#: The shipped schools file (OGL, DfE Get Information About Schools; see data/README.md).
SCHOOLS_CSV = Path(__file__).resolve().parent / "data" / "schools_england.csv"

Kind = Literal["mainstream", "special", "ap"]
Gender = Literal["mixed", "girls", "boys"]
Format = Literal["gias", "simple"]


class SchoolFileError(ValueError):
    """The file cannot be read, or its header is neither schools format."""


@dataclass(frozen=True, slots=True)
class SchoolRow:
    """One school to keep, with its coordinates in WGS84."""

    urn: int
    name: str
    postcode: str | None
    lat: float
    lon: float
    kind: Kind
    gender: Gender
    pupils: int | None
    fsm_pct: float | None
    la_name: str | None
    phase: str
    # The school's web address, from a full GIAS extract's SchoolWebsite column (the shipped
    # list has none); its domain lets a claimant at that domain be verified automatically.
    website: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A data row left out: its physical line (header is line 1), URN if readable, why."""

    line: int
    urn: int | None
    field: str
    reason: str


@dataclass(slots=True)
class ParseResult:
    """What :func:`parse_schools` found: rows kept (file order), rows skipped (line order)."""

    format: Format
    rows: list[SchoolRow] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# Column names of each format, as (field we need, column in the file).
_GIAS_REQUIRED = {
    "urn": "URN",
    "name": "EstablishmentName",
    "type": "TypeOfEstablishment (name)",
    "status": "EstablishmentStatus (name)",
    "phase": "PhaseOfEducation (name)",
    "postcode": "Postcode",
    "easting": "Easting",
    "northing": "Northing",
}
_GIAS_OPTIONAL = {
    "group": "EstablishmentTypeGroup (name)",
    "gender": "Gender (name)",
    "pupils": "NumberOfPupils",
    "fsm_pct": "PercentageFSM",
    "la_name": "LA (name)",
    "low_age": "StatutoryLowAge",
    "high_age": "StatutoryHighAge",
    "website": "SchoolWebsite",
}
_SIMPLE_REQUIRED = {
    "urn": "urn",
    "name": "name",
    "postcode": "postcode",
    "lat": "lat",
    "lon": "lon",
    "type": "type",
}
_SIMPLE_OPTIONAL = {
    "phase": "phase",
    "gender": "gender",
    "pupils": "pupils",
    "fsm_pct": "fsm_pct",
    "la_name": "la",
    "open": "open_2025_07",
}

_OPEN_STATUSES = frozenset({"Open", "Open, but proposed to close"})
_SECONDARY_PHASES = frozenset({"Secondary", "Middle deemed secondary", "All-through", "16 plus"})
_NO_PHASE = frozenset({"", "Not applicable"})
_NOT_SCHOOL_GROUPS = frozenset(
    {
        "Colleges",
        "Universities",
        "Welsh schools",
        "Other types",
        "Online provider",
        "Children's centres",
    }
)
_NOT_SCHOOL_TYPES = frozenset(
    {
        "Further education",
        "Sixth form centres",
        "Special post 16 institution",
        "Higher education institutions",
        "Welsh establishment",
        "Offshore schools",
        "British schools overseas",
        "Service children's education",
        "Secure units",
        "Online provider",
        "Institution funded by other government department",
        "Miscellaneous",
        "Local authority nursery school",
        "Children's centre",
        "Children's centre linked site",
    }
)
_GENDERS: dict[str, Gender] = {
    "mixed": "mixed",
    "girls": "girls",
    "boys": "boys",
    "": "mixed",
    "not applicable": "mixed",
}
# Markers DfE publications use for a value withheld or not applicable.
_SUPPRESSED = frozenset({"SUPP", "NE", "NA", "N/A", "X", "Z", "C", ":"})
_SECONDARY_AGE = 11  # pupils start secondary school at 11; a range must go past it

# What the database can hold (broker.models.School): a row beyond them is skipped with its
# reason rather than failing the whole import when it is written.
MAX_INTEGER = 2**31 - 1  # URN and pupils are 32-bit integers
MAX_NAME = 200
MAX_LA_NAME = 120
MAX_PHASE = 40
MAX_WEBSITE = 200


def kind_of(type_name: str) -> Kind:
    """Return the kind of school a type of establishment names (GIAS or simple file).

    >>> kind_of("Pupil referral unit"), kind_of("Academy special converter")
    ('ap', 'special')
    >>> kind_of("Community school")
    'mainstream'
    """
    t = type_name.lower()
    if "pupil referral" in t or "alternative provision" in t:
        return "ap"
    if "special" in t:
        return "special"
    return "mainstream"


class _RowError(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


@dataclass(slots=True)
class _Pending:
    """A row that passed every check except, possibly, where it is."""

    line: int
    urn: int
    values: dict
    lat: float | None = None
    lon: float | None = None
    easting: float | None = None
    northing: float | None = None


def parse_schools(source: str | os.PathLike[str] | IO[bytes] | IO[str]) -> ParseResult:
    """Parse a GIAS extract or the simple schools file into rows to keep and rows skipped.

    ``source`` is a path or an open file (binary, or text already decoded). The format is
    detected from the header (see the module docstring for what is kept and why).

    Raises :class:`SchoolFileError` if the file cannot be read or decoded, is empty, or its
    header matches neither format (the message names the missing columns). Bad rows
    (non-numeric or duplicate URN, coordinates outside Great Britain, malformed postcode,
    negative pupils, FSM outside 0-100, ...) are returned in ``skipped``, never raised.

    >>> result = parse_schools(SCHOOLS_CSV)
    >>> result.format, len(result.rows) > 3000
    ('simple', True)

    An open file works too; every row left out says where and why:

    >>> import io
    >>> result = parse_schools(io.StringIO(
    ...     "urn,name,postcode,lat,lon,type,phase\\n"
    ...     "100049,Haverstock School,NW3 2BQ,51.5448,-0.1532,Community school,Secondary\\n"
    ...     "100050,Parliament Hill School,NW5 1RL,48.85,2.35,Community school,Secondary\\n"
    ...     "2147483648,Too Big,NW5 1RL,51.5585,-0.1496,Community school,Secondary\\n"
    ...     "100051,Primary School,NW5 1RL,51.5585,-0.1496,Community school,Primary\\n"
    ... ))
    >>> [(row.urn, row.name, row.kind, row.gender) for row in result.rows]
    [(100049, 'Haverstock School', 'mainstream', 'mixed')]
    >>> for skipped in result.skipped:
    ...     print(skipped.line, skipped.urn, skipped.field, skipped.reason, sep=" | ")
    3 | 100050 | lat/lon | coordinates (48.8500, 2.3500) are outside Great Britain
    4 | None | urn | URN 2147483648 is too large (the largest is 2147483647)
    5 | 100051 | phase | does not serve secondary-age pupils (phase 'Primary')
    """
    text = _read_text(source)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise SchoolFileError(f"{_describe(source)} is empty: no header row.") from None
    except csv.Error as exc:
        raise SchoolFileError(f"{_describe(source)} is not a readable CSV file: {exc}") from exc
    header = [name.strip() for name in header]
    fmt, columns = _detect_format(header, source)

    result = ParseResult(format=fmt)
    check = _check_gias if fmt == "gias" else _check_simple
    first_line: dict[int, int] = {}
    pending: list[_Pending] = []
    width = len(header)
    line = reader.line_num
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if not record or not any(cell.strip() for cell in record):
                continue
            urn: int | None = None
            try:
                if len(record) != width:
                    raise _RowError("", f"row has {len(record)} fields, the header has {width}")
                values = {key: record[i].strip() for key, i in columns.items()}
                urn = _parse_urn(values["urn"], _column(fmt, "urn"))
                if urn in first_line:
                    raise _RowError(
                        _column(fmt, "urn"), f"duplicate URN (first on line {first_line[urn]})"
                    )
                first_line[urn] = start
                pending.append(check(start, urn, values))
            except _RowError as err:
                result.skipped.append(Skipped(start, urn, err.column, err.reason))
    except csv.Error as exc:
        raise SchoolFileError(
            f"{_describe(source)} is not a readable CSV file (line {reader.line_num}): {exc}"
        ) from exc

    _locate(pending, fmt, result)
    result.skipped.sort(key=lambda s: s.line)
    logger.info(
        "Parsed %s (%s format): %d schools kept, %d rows skipped",
        _describe(source),
        fmt,
        len(result.rows),
        len(result.skipped),
    )
    return result


def _column(fmt: Format, key: str) -> str:
    names = (
        {**_GIAS_REQUIRED, **_GIAS_OPTIONAL}
        if fmt == "gias"
        else {**_SIMPLE_REQUIRED, **_SIMPLE_OPTIONAL}
    )
    return names[key]


def _describe(source: object) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return getattr(source, "name", None) or "the schools file"


def _read_text(source: str | os.PathLike[str] | IO[bytes] | IO[str]) -> str:
    try:
        if isinstance(source, str | os.PathLike):
            data: bytes | str = Path(source).read_bytes()
        else:
            data = source.read()
    except OSError as exc:
        # strerror, not str(exc): the latter repeats the path, which a page must never show.
        raise SchoolFileError(f"Cannot read {_describe(source)}: {exc.strerror}") from exc
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    # UTF-8 first (with or without a BOM); GIAS downloads themselves are Windows-1252.
    error: UnicodeDecodeError | None = None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            error = exc
    raise SchoolFileError(
        f"{_describe(source)} is neither UTF-8 nor Windows-1252 text: {error}"
    ) from error


def _detect_format(header: list[str], source: object) -> tuple[Format, dict[str, int]]:
    position = {name: i for i, name in enumerate(header)}
    candidates: list[tuple[Format, Mapping[str, str], Mapping[str, str]]] = [
        ("gias", _GIAS_REQUIRED, _GIAS_OPTIONAL),
        ("simple", _SIMPLE_REQUIRED, _SIMPLE_OPTIONAL),
    ]
    labels = {"gias": "as a GIAS extract", "simple": "as the simple schools file"}
    missing_by_format = []
    for fmt, required, optional in candidates:
        missing = [col for col in required.values() if col not in position]
        if not missing:
            columns = {key: position[col] for key, col in required.items()}
            columns.update({key: position[col] for key, col in optional.items() if col in position})
            return fmt, columns
        missing_by_format.append(f"{labels[fmt]} it lacks {', '.join(missing)}")
    raise SchoolFileError(
        f"{_describe(source)} is not a schools file: {'; '.join(missing_by_format)}."
    )


def _parse_urn(value: str, column: str) -> int:
    digits = value.lstrip("0")
    if not value.isdigit() or not value.isascii() or not digits:
        raise _RowError(column, f"URN {value!r} is not a positive whole number")
    # Compared by length first: int() refuses strings of thousands of digits.
    if len(digits) > len(str(MAX_INTEGER)) or int(digits) > MAX_INTEGER:
        shown = value if len(value) <= 30 else f"{value[:20]}... ({len(value)} digits)"
        raise _RowError(column, f"URN {shown} is too large (the largest is {MAX_INTEGER})")
    return int(digits)


def _check_gias(line: int, urn: int, v: dict[str, str]) -> _Pending:
    status = v["status"]
    if status not in _OPEN_STATUSES:
        raise _RowError(_GIAS_REQUIRED["status"], f"not open (status {status!r})")
    type_name, group = v["type"], v.get("group", "")
    kind = kind_of(type_name)
    if type_name in _NOT_SCHOOL_TYPES or group in _NOT_SCHOOL_GROUPS:
        raise _RowError(_GIAS_REQUIRED["type"], f"not a school the broker serves ({type_name})")
    if kind != "special" and (
        group == "Independent schools" or type_name.lower().startswith("other independent")
    ):
        raise _RowError(_GIAS_REQUIRED["type"], f"independent school ({type_name})")
    high_age = _optional_int(v.get("high_age", ""))
    _check_secondary(kind, v["phase"], high_age, _GIAS_REQUIRED["phase"])
    values = _common_values(v, kind, columns=_gias_name)
    pending = _Pending(line, urn, values)
    easting = _optional_float(v["easting"], "Easting")
    northing = _optional_float(v["northing"], "Northing")
    if easting and northing:  # GIAS writes 0 or nothing where it has no grid reference
        pending.easting, pending.northing = easting, northing
    return pending


def _check_simple(line: int, urn: int, v: dict[str, str]) -> _Pending:
    if v.get("open", "").lower() == "no":
        raise _RowError(_SIMPLE_OPTIONAL["open"], "closed (not open in July 2025)")
    kind = kind_of(v["type"])
    _check_secondary(kind, v.get("phase", ""), None, _SIMPLE_OPTIONAL["phase"])
    values = _common_values(v, kind, columns=_simple_name)
    pending = _Pending(line, urn, values)
    lat = _optional_float(v["lat"], "lat")
    lon = _optional_float(v["lon"], "lon")
    if lat is not None and lon is not None:
        pending.lat, pending.lon = lat, lon
    return pending


def _gias_name(key: str) -> str:
    return _column("gias", key)


def _simple_name(key: str) -> str:
    return _column("simple", key)


def _check_secondary(kind: Kind, phase: str, high_age: int | None, column: str) -> None:
    if phase in _SECONDARY_PHASES:
        return
    if kind != "mainstream":
        if high_age is not None and high_age > _SECONDARY_AGE:
            return
        if high_age is None and phase in _NO_PHASE:
            return
        ages = f", ages up to {high_age}" if high_age is not None else ""
        raise _RowError(column, f"does not serve secondary-age pupils (phase {phase!r}{ages})")
    raise _RowError(column, f"does not serve secondary-age pupils (phase {phase!r})")


def _common_values(v: dict[str, str], kind: Kind, *, columns: Callable[[str], str]) -> dict:
    name = v["name"]
    if not name:
        raise _RowError(columns("name"), "name is empty")
    if len(name) > MAX_NAME:
        raise _RowError(
            columns("name"), f"name is {len(name)} characters long (at most {MAX_NAME})"
        )
    postcode: str | None = None
    if v["postcode"]:
        try:
            postcode = geo.normalise_postcode(v["postcode"])
        except geo.PostcodeError:
            raise _RowError(columns("postcode"), f"malformed postcode {v['postcode']!r}") from None
    gender = _GENDERS.get(v.get("gender", "").lower())
    if gender is None:
        raise _RowError(columns("gender"), f"unknown gender intake {v['gender']!r}")
    pupils = _optional_int(v.get("pupils", ""), columns("pupils"))
    if pupils is not None and pupils < 0:
        raise _RowError(columns("pupils"), f"number of pupils is negative ({pupils})")
    if pupils is not None and pupils > MAX_INTEGER:
        raise _RowError(
            columns("pupils"), f"number of pupils {pupils} is too large (at most {MAX_INTEGER})"
        )
    fsm_pct = _optional_float(v.get("fsm_pct", ""), columns("fsm_pct"))
    if fsm_pct is not None and not 0 <= fsm_pct <= 100:
        raise _RowError(columns("fsm_pct"), f"FSM percentage {fsm_pct:g} is outside 0-100")
    la_name = v.get("la_name") or None
    if la_name is not None and len(la_name) > MAX_LA_NAME:
        raise _RowError(
            columns("la_name"),
            f"local authority name is {len(la_name)} characters long (at most {MAX_LA_NAME})",
        )
    phase = v.get("phase") or "Not applicable"
    if len(phase) > MAX_PHASE:
        raise _RowError(
            columns("phase"), f"phase is {len(phase)} characters long (at most {MAX_PHASE})"
        )
    # A web address too long to store, or with a space in it, is left out rather than the
    # whole school: nothing but automatic verification of claimants depends on it.
    website = v.get("website") or None
    if website is not None and (len(website) > MAX_WEBSITE or " " in website):
        website = None
    return {
        "name": name,
        "postcode": postcode,
        "kind": kind,
        "gender": gender,
        "pupils": pupils,
        "fsm_pct": fsm_pct,
        "la_name": la_name,
        "phase": phase,
        "website": website,
    }


def _number(value: str) -> float | None:
    """Parse a number: None when blank or suppressed, NaN when it is not a number."""
    if value == "" or value.upper() in _SUPPRESSED:
        return None
    try:
        return float(value)
    except ValueError:
        return math.nan


def _optional_int(value: str, column: str | None = None) -> int | None:
    """Parse a count; blank or suppressed is None. ``column=None`` means never complain."""
    number = _number(value)
    if number is None:
        return None
    if math.isfinite(number) and number.is_integer():
        return int(number)
    if column is None:
        return None
    raise _RowError(column, f"{value!r} is not a whole number")


def _optional_float(value: str, column: str) -> float | None:
    """Parse a measure; blank or suppressed is None; anything else must be a finite number."""
    number = _number(value)
    if number is not None and not math.isfinite(number):
        raise _RowError(column, f"{value!r} is not a number")
    return number


def _locate(pending: list[_Pending], fmt: Format, result: ParseResult) -> None:
    """Give every pending row WGS84 coordinates, in bulk, then keep or skip it."""
    grid = [p for p in pending if p.easting is not None]
    if grid:
        lats, lons = geo.easting_northing_to_latlon(
            np.array([p.easting for p in grid]), np.array([p.northing for p in grid])
        )
        for p, lat, lon in zip(grid, lats.tolist(), lons.tolist(), strict=True):
            p.lat, p.lon = lat, lon
    postcode_column = _column(fmt, "postcode")
    unplaced = [p for p in pending if p.lat is None]
    places = geo.geocode_many(p.values["postcode"] for p in unplaced if p.values["postcode"])
    coord_column = "Easting/Northing" if fmt == "gias" else "lat/lon"
    by_postcode = 0
    for p in pending:
        if p.lat is None or p.lon is None:
            postcode = p.values["postcode"]
            if postcode is None:
                result.skipped.append(
                    Skipped(p.line, p.urn, coord_column, "no coordinates and no postcode")
                )
                continue
            place = places[postcode]
            if isinstance(place, geo.PostcodeError):
                result.skipped.append(
                    Skipped(
                        p.line, p.urn, postcode_column, f"no coordinates; {str(place).rstrip('.')}"
                    )
                )
                continue
            p.lat, p.lon = place.lat, place.lon
            by_postcode += 1
        elif not geo.in_great_britain(p.lat, p.lon):
            result.skipped.append(
                Skipped(
                    p.line,
                    p.urn,
                    coord_column,
                    f"coordinates ({p.lat:.4f}, {p.lon:.4f}) are outside Great Britain",
                )
            )
            continue
        result.rows.append(SchoolRow(urn=p.urn, lat=p.lat, lon=p.lon, **p.values))
    if by_postcode:
        logger.info("Placed %d schools by postcode (no coordinates in the file)", by_postcode)
