"""Reading and writing the CSV files described in MATCHING_CSV.md.

Every check names the file, the line (the header is line 1) and the field, and raises
:class:`~matching.model.InputError`. Outputs are written to a temporary file in the same
folder and renamed into place, so a failure never leaves half a file.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .model import (
    AUDIENCES,
    ENCOUNTER_TYPES,
    SCHOOL_GENDERS,
    SCHOOL_KINDS,
    SEN_CODES,
    Assignment,
    InputError,
    Locked,
    Offer,
    Request,
    School,
)

__all__ = [
    "MATCHES_COLUMNS",
    "MAX_COUNT",
    "check_writable",
    "read_locked",
    "read_offers",
    "read_requests",
    "read_schools",
    "write_atomically",
    "write_matches",
    "write_report",
]

SCHOOL_COLUMNS = ("school_id", "lat", "lon", "gender", "kind", "fsm_pct", "encounters_so_far")
REQUEST_COLUMNS = (
    "request_id",
    "school_id",
    "type",
    "year_group",
    "pupils",
    "earliest",
    "latest",
    "stem_goal",
    "stereotype_goal",
    "sen_needs",
)
OFFER_COLUMNS = (
    "offer_id",
    "employer_id",
    "lat",
    "lon",
    "type",
    "capacity",
    "max_km",
    "virtual",
    "earliest",
    "latest",
    "year_min",
    "year_max",
    "stem",
    "challenges_stereotype",
    "sen_support",
    "sector",
)
_T = TypeVar("_T")
#: The largest count of pupils (capacity, pupils, encounters so far) a file may give: far more
#: than any offer or school has, and small enough that sums over a national run stay exact.
MAX_COUNT = 1_000_000
LOCKED_COLUMNS = ("request_id", "offer_id", "pupils")
#: Columns of matches.csv, in order.
MATCHES_COLUMNS = ("request_id", "offer_id", "pupils", "score", "km", "reasons")


class _Row:
    """One CSV record with typed, located field readers."""

    __slots__ = ("data", "file", "line")
    _dates: dict[str, dt.date] = {}

    def __init__(self, file: str, line: int, data: dict[str, str]) -> None:
        self.file, self.line, self.data = file, line, data

    def error(self, field: str, message: str) -> InputError:
        return InputError(message, file=self.file, line=self.line, field=field)

    def text(self, field: str) -> str:
        value = (self.data.get(field) or "").strip()
        if not value:
            raise self.error(field, "empty value")
        return value

    def optional(self, field: str) -> str:
        return (self.data.get(field) or "").strip()

    def number(self, field: str, lo: float | None = None, hi: float | None = None) -> float:
        raw = self.text(field)
        try:
            value = float(raw)
        except ValueError:
            raise self.error(field, f"not a number: {raw!r}") from None
        if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(field, f"{raw} is out of range [{lo}, {hi}]")
        return value

    def integer(self, field: str, lo: int = 0, hi: int = MAX_COUNT) -> int:
        raw = self.text(field)
        try:
            value = int(raw)
        except ValueError:  # not a number, or more digits than Python will convert
            raise self.error(field, f"not a whole number: {raw[:40]!r}") from None
        if not lo <= value <= hi:
            raise self.error(field, f"{value} is out of range [{lo}, {hi}]")
        return value

    def boolean(self, field: str) -> bool:
        raw = self.text(field)
        if raw not in ("0", "1"):
            raise self.error(field, f"not a boolean (0 or 1): {raw!r}")
        return raw == "1"

    def optional_boolean(self, field: str) -> bool:
        """A 0/1 column that older files leave out: missing or blank is 0."""
        raw = self.optional(field)
        if raw not in ("", "0", "1"):
            raise self.error(field, f"not a boolean (0 or 1): {raw!r}")
        return raw == "1"

    def choice(self, field: str, allowed: Sequence[str], default: str | None = None) -> str:
        raw = self.optional(field) if default is not None else self.text(field)
        if not raw and default is not None:
            return default
        if raw not in allowed:
            raise self.error(field, f"unknown value {raw!r}; expected one of {', '.join(allowed)}")
        return raw

    def date(self, field: str) -> dt.date:
        raw = self.text(field)
        value = self._dates.get(raw)
        if value is None:
            try:
                value = dt.date.fromisoformat(raw)
            except ValueError:
                raise self.error(field, f"not an ISO date YYYY-MM-DD: {raw!r}") from None
            if len(raw) != 10:
                raise self.error(field, f"not an ISO date YYYY-MM-DD: {raw!r}")
            self._dates[raw] = value
        return value

    def codes(self, field: str, allowed: Sequence[str]) -> frozenset[str]:
        raw = self.optional(field)
        if not raw:
            return frozenset()
        out = frozenset(c.strip() for c in raw.split(";") if c.strip())
        bad = sorted(out - set(allowed))
        if bad:
            raise self.error(
                field, f"unknown code(s) {', '.join(bad)}; expected some of {', '.join(allowed)}"
            )
        return out

    def window(self, lo: str, hi: str) -> tuple[dt.date, dt.date]:
        a, b = self.date(lo), self.date(hi)
        if b < a:
            raise self.error(hi, f"date window reversed: {lo} {a} is after {hi} {b}")
        return a, b


def _raw(
    path: str | os.PathLike[str], columns: Sequence[str]
) -> Iterator[tuple[int, list[str], list[str]]]:
    """``(line, header, fields)`` of each record after checking the header names ``columns``.

    Like ``csv.DictReader``, blank lines are skipped; short rows are left short (their
    missing fields read as empty) and extra fields are ignored by the readers.
    """
    name = str(path)
    try:
        handle = open(path, newline="", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", file=name) from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, [])
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"unreadable header: {exc}", file=name, line=1) from None
        missing = [c for c in columns if c not in header]
        if missing:
            raise InputError("missing column", file=name, line=1, field=missing[0])
        try:
            for record in reader:
                if record:
                    yield reader.line_num, header, record
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"unreadable CSV: {exc}", file=name, line=reader.line_num) from None


def _row(path: str | os.PathLike[str], line: int, header: list[str], record: list[str]) -> _Row:
    # The last of repeated column names wins, as in csv.DictReader.
    return _Row(str(path), line, dict(zip(header, record, strict=False)))


def _rows(path: str | os.PathLike[str], columns: Sequence[str]) -> Iterator[_Row]:
    for line, header, record in _raw(path, columns):
        yield _row(path, line, header, record)


class _Unvouched(Exception):
    """The fast reader will not vouch for a row; the checked reader reads it again."""


def _records(
    path: str | os.PathLike[str],
    columns: Sequence[str],
    fast: Callable[[list[str], dict[str, int]], _T],
    checked: Callable[[_Row], _T],
) -> list[_T]:
    """Read every record with ``fast``, falling back to ``checked`` for any row it refuses.

    ``fast`` takes the raw fields and the column positions and must refuse (raise) every row
    that ``checked`` would refuse; ``checked`` then names the file, line and field. The
    fast path only skips building a dict and a checker per row: the messages, and the rules
    themselves, stay with ``checked``.
    """
    out: list[_T] = []
    index: dict[str, int] = {}
    for line, header, record in _raw(path, columns):
        if not index:
            index = {column: i for i, column in enumerate(header)}
        try:
            out.append(fast(record, index))
        except (_Unvouched, ValueError, IndexError, KeyError, TypeError):
            out.append(checked(_row(path, line, header, record)))
    return out


def _fast_date(raw: str) -> dt.date:
    value = _Row._dates.get(raw.strip())
    if value is None:
        raise _Unvouched  # the checked reader parses it (and caches it if it is valid)
    return value


def _fast_codes(raw: str, allowed: frozenset[str]) -> frozenset[str]:
    raw = raw.strip()
    if not raw:
        return frozenset()
    out = frozenset(c.strip() for c in raw.split(";") if c.strip())
    if not out <= allowed:
        raise _Unvouched
    return out


def _fast_optional_bool(f: list[str], ix: dict[str, int], name: str) -> bool:
    """An optional 0/1 column, missing or blank meaning 0 (files from before it existed)."""
    i = ix.get(name)
    raw = f[i].strip() if i is not None and i < len(f) else ""
    return _fast_bool(raw) if raw else False


def _fast_bool(raw: str) -> bool:
    raw = raw.strip()
    if raw == "1":
        return True
    if raw != "0":
        raise _Unvouched
    return False


def _unique(row: _Row, field: str, seen: set[str]) -> str:
    value = row.text(field)
    if value in seen:
        raise row.error(field, f"duplicate id {value!r}")
    seen.add(value)
    return value


def _avoid_dates(row: _Row) -> tuple[tuple[dt.date, dt.date], ...]:
    raw = row.optional("avoid_dates")
    spans = []
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        try:
            a, b = (dt.date.fromisoformat(x.strip()) for x in part.split("/"))
        except ValueError:
            raise row.error("avoid_dates", f"expected START/END ISO dates: {part!r}") from None
        if b < a:
            raise row.error("avoid_dates", f"date range reversed: {part!r}")
        spans.append((a, b))
    return tuple(spans)


def read_schools(path: str | os.PathLike[str]) -> list[School]:
    """Read schools.csv (optional columns: ``sectors_seen``, ``avoid_dates`` as START/END;...)."""
    seen: set[str] = set()
    out = []
    for row in _rows(path, SCHOOL_COLUMNS):
        sectors = row.optional("sectors_seen")
        out.append(
            School(
                school_id=_unique(row, "school_id", seen),
                lat=row.number("lat", -90, 90),
                lon=row.number("lon", -180, 180),
                gender=row.choice("gender", SCHOOL_GENDERS),
                kind=row.choice("kind", SCHOOL_KINDS),
                fsm_pct=row.number("fsm_pct", 0, 100),
                encounters_so_far=row.integer("encounters_so_far", 0),
                sectors_seen=frozenset(s.strip() for s in sectors.split(";") if s.strip()),
                avoid_dates=_avoid_dates(row),
            )
        )
    return out


def read_requests(path: str | os.PathLike[str], school_ids: Iterable[str]) -> list[Request]:
    """Read requests.csv; every request must name a school of ``school_ids``.

    The optional column ``provider_only`` (0 or 1; missing or blank: 0) asks for a provider
    encounter, which only offers with ``provider`` 1 can serve.
    """
    known = set(school_ids)
    seen: set[str] = set()
    types, sen_codes = frozenset(ENCOUNTER_TYPES), frozenset(SEN_CODES)

    def checked(row: _Row) -> Request:
        rid = _unique(row, "request_id", seen)
        school = row.text("school_id")
        if school not in known:
            raise row.error("school_id", f"unknown school {school!r}")
        earliest, latest = row.window("earliest", "latest")
        return Request(
            request_id=rid,
            school_id=school,
            type=row.choice("type", ENCOUNTER_TYPES),
            year_group=row.integer("year_group", 7, 13),
            pupils=row.integer("pupils", 1),
            earliest=earliest,
            latest=latest,
            stem_goal=row.boolean("stem_goal"),
            stereotype_goal=row.boolean("stereotype_goal"),
            sen_needs=row.codes("sen_needs", SEN_CODES),
            provider_only=row.optional_boolean("provider_only"),
        )

    def fast(f: list[str], ix: dict[str, int]) -> Request:
        rid = f[ix["request_id"]].strip()
        school = f[ix["school_id"]].strip()
        kind = f[ix["type"]].strip()
        year = int(f[ix["year_group"]])
        pupils = int(f[ix["pupils"]])
        earliest = _fast_date(f[ix["earliest"]])
        latest = _fast_date(f[ix["latest"]])
        if (
            not rid
            or rid in seen
            or school not in known
            or kind not in types
            or not 7 <= year <= 13
            or not 1 <= pupils <= MAX_COUNT
            or latest < earliest
        ):
            raise _Unvouched
        request = Request(
            request_id=rid,
            school_id=school,
            type=kind,
            year_group=year,
            pupils=pupils,
            earliest=earliest,
            latest=latest,
            stem_goal=_fast_bool(f[ix["stem_goal"]]),
            stereotype_goal=_fast_bool(f[ix["stereotype_goal"]]),
            sen_needs=_fast_codes(f[ix["sen_needs"]], sen_codes),
            provider_only=_fast_optional_bool(f, ix, "provider_only"),
        )
        seen.add(rid)
        return request

    return _records(path, REQUEST_COLUMNS, fast, checked)


def read_offers(path: str | os.PathLike[str]) -> list[Offer]:
    """Read offers.csv (optional columns ``audience``: mixed, girls or boys; ``provider``: 0/1)."""
    seen: set[str] = set()
    types, sen_codes, audiences = frozenset(ENCOUNTER_TYPES), frozenset(SEN_CODES), set(AUDIENCES)

    def checked(row: _Row) -> Offer:
        oid = _unique(row, "offer_id", seen)
        earliest, latest = row.window("earliest", "latest")
        year_min = row.integer("year_min", 7, 13)
        year_max = row.integer("year_max", 7, 13)
        if year_max < year_min:
            raise row.error("year_max", f"year range reversed: {year_min} > {year_max}")
        return Offer(
            offer_id=oid,
            employer_id=row.text("employer_id"),
            lat=row.number("lat", -90, 90),
            lon=row.number("lon", -180, 180),
            type=row.choice("type", ENCOUNTER_TYPES),
            capacity=row.integer("capacity", 1),
            max_km=row.number("max_km", 0, 20_100),
            virtual=row.boolean("virtual"),
            earliest=earliest,
            latest=latest,
            year_min=year_min,
            year_max=year_max,
            stem=row.boolean("stem"),
            challenges_stereotype=row.boolean("challenges_stereotype"),
            sen_support=row.codes("sen_support", SEN_CODES),
            sector=row.optional("sector"),
            audience=row.choice("audience", AUDIENCES, default="mixed"),
            provider=row.optional_boolean("provider"),
        )

    def fast(f: list[str], ix: dict[str, int]) -> Offer:
        oid = f[ix["offer_id"]].strip()
        employer = f[ix["employer_id"]].strip()
        kind = f[ix["type"]].strip()
        lat = float(f[ix["lat"]])
        lon = float(f[ix["lon"]])
        capacity = int(f[ix["capacity"]])
        max_km = float(f[ix["max_km"]])
        earliest = _fast_date(f[ix["earliest"]])
        latest = _fast_date(f[ix["latest"]])
        year_min = int(f[ix["year_min"]])
        year_max = int(f[ix["year_max"]])
        a = ix.get("audience")
        audience = (f[a].strip() if a is not None and a < len(f) else "") or "mixed"
        # Comparisons with NaN are false, so a NaN coordinate or radius is refused too.
        if (
            not oid
            or oid in seen
            or not employer
            or kind not in types
            or not -90 <= lat <= 90
            or not -180 <= lon <= 180
            or not 1 <= capacity <= MAX_COUNT
            or not 0 <= max_km <= 20_100
            or latest < earliest
            or not 7 <= year_min <= year_max <= 13
            or audience not in audiences
        ):
            raise _Unvouched
        offer = Offer(
            offer_id=oid,
            employer_id=employer,
            lat=lat,
            lon=lon,
            type=kind,
            capacity=capacity,
            max_km=max_km,
            virtual=_fast_bool(f[ix["virtual"]]),
            earliest=earliest,
            latest=latest,
            year_min=year_min,
            year_max=year_max,
            stem=_fast_bool(f[ix["stem"]]),
            challenges_stereotype=_fast_bool(f[ix["challenges_stereotype"]]),
            sen_support=_fast_codes(f[ix["sen_support"]], sen_codes),
            sector=f[ix["sector"]].strip(),
            audience=audience,
            provider=_fast_optional_bool(f, ix, "provider"),
        )
        seen.add(oid)
        return offer

    return _records(path, OFFER_COLUMNS, fast, checked)


def read_locked(
    path: str | os.PathLike[str], requests: Sequence[Request], offers: Sequence[Offer]
) -> list[Locked]:
    """Read locked.csv, checking ids and that locked pupils fit capacities and demands."""
    demand = {r.request_id: r.pupils for r in requests}
    capacity = {o.offer_id: o.capacity for o in offers}
    pairs: set[tuple[str, str]] = set()
    out = []
    for row in _rows(path, LOCKED_COLUMNS):
        rid, oid = row.text("request_id"), row.text("offer_id")
        if rid not in demand:
            raise row.error("request_id", f"unknown request {rid!r}")
        if oid not in capacity:
            raise row.error("offer_id", f"unknown offer {oid!r}")
        if (rid, oid) in pairs:
            raise row.error("offer_id", f"duplicate locked pair ({rid!r}, {oid!r})")
        pairs.add((rid, oid))
        pupils = row.integer("pupils", 1)
        capacity[oid] -= pupils
        if capacity[oid] < 0:
            raise row.error("pupils", f"locked pupils exceed the capacity of offer {oid!r}")
        demand[rid] -= pupils
        if demand[rid] < 0:
            raise row.error("pupils", f"locked pupils exceed the pupils of request {rid!r}")
        out.append(Locked(request_id=rid, offer_id=oid, pupils=pupils))
    return out


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` naming ``path`` unless its folder exists and can be written.

    Checked before the inputs are read, so a long run does not fail only at the end.
    """
    folder = Path(path).parent
    if not folder.is_dir():
        raise InputError(f"cannot write: folder {str(folder)!r} does not exist", file=str(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write: folder {str(folder)!r} is not writable", file=str(path))


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[Any]:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            yield handle, tmp
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomically(
    outputs: Sequence[tuple[str | os.PathLike[str], Callable[[Any], None]]],
) -> None:
    """Write each ``(path, writer)`` to a temporary file, then rename them all into place.

    If any writer fails, no target is touched and the temporary files are removed; a
    failure to write (a missing folder, a full disk) is an :class:`InputError` naming the
    target.
    """
    done: list[tuple[str, Path]] = []
    try:
        for target, writer in outputs:
            path = Path(target)
            try:
                with _temp_beside(path) as (handle, tmp):
                    writer(handle)
            except OSError as exc:
                raise InputError(f"cannot write: {exc.strerror or exc}", file=str(target)) from None
            done.append((tmp, path))
    except BaseException:
        for tmp, _ in done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    for tmp, path in done:
        os.replace(tmp, path)


def write_matches(handle: Any, assignments: Iterable[Assignment]) -> None:
    """Write matches.csv rows to an open text handle."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(MATCHES_COLUMNS)
    writer.writerows(
        (a.request_id, a.offer_id, a.pupils, f"{a.score:.2f}", f"{a.km:.1f}", a.reasons)
        for a in assignments
    )


def write_report(handle: Any, report: dict[str, Any]) -> None:
    """Write report.json to an open text handle."""
    json.dump(report, handle, indent=2)
    handle.write("\n")
