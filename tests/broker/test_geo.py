"""Tests for broker.geo: postcode normalisation, offline geocoding, distances."""

from types import SimpleNamespace

import numpy as np
import pytest
from geopy.exc import GeocoderUnavailable

from broker import geo
from broker.geo import Place, PostcodeError, UnknownPostcodeError
from matching.problem import haversine_km


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points (the engine's own measure)."""
    return float(haversine_km(*(np.array([v]) for v in (lat1, lon1, lat2, lon2)))[0])


@pytest.fixture(autouse=True)
def _fresh_area_cache():
    geo._load_area.cache_clear()
    yield
    geo._load_area.cache_clear()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sw1a1aa", "SW1A 1AA"),
        ("  SW1A   1AA ", "SW1A 1AA"),
        ("ec1a1bb", "EC1A 1BB"),
        ("W1A 0AX", "W1A 0AX"),
        ("m11ae", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("cr26xh", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
        ("gir 0aa", "GIR 0AA"),
        ("GIR0AA", "GIR 0AA"),
    ],
)
def test_normalise_postcode_good(text, expected):
    assert geo.normalise_postcode(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "12345",
        "SW1A 1AAA",
        "Q1 1AA",  # Q never starts a postcode
        "SW1A 1CA",  # C is never used in the inward code
        "NW1 XYZ",
        "SW1A-1AA",
        "SW1A 1A",
        "hello world",
    ],
)
def test_normalise_postcode_bad(text):
    with pytest.raises(PostcodeError, match="is not a valid UK postcode"):
        geo.normalise_postcode(text)


def test_normalise_postcode_empty_and_outcode_only_and_not_text():
    with pytest.raises(PostcodeError, match="empty"):
        geo.normalise_postcode("   ")
    with pytest.raises(PostcodeError, match="only the first half"):
        geo.normalise_postcode("SW1A")
    with pytest.raises(PostcodeError, match="must be text"):
        geo.normalise_postcode(None)


@pytest.mark.parametrize(
    ("postcode", "lat", "lon", "within_km"),
    [
        # Buckingham Palace.
        ("SW1A 1AA", 51.5010, -0.1416, 0.2),
        # Schools from schools_england.csv (GIAS coordinates).
        ("nw3 2bq", 51.544833, -0.153229, 0.5),  # Haverstock School
        ("WF2 6EQ", 53.660928, -1.483322, 0.5),  # St Thomas à Becket, Wakefield
        ("NW1 1RX", 51.534252, -0.133529, 0.5),  # Regent High School
    ],
)
def test_geocode_known_postcodes(postcode, lat, lon, within_km):
    place = geo.geocode(postcode)
    assert place.precision == "postcode"
    assert place.postcode == geo.normalise_postcode(postcode)
    assert km(place.lat, place.lon, lat, lon) < within_km


def test_geocode_reads_only_one_area_file():
    geo.geocode("SW1A 1AA")
    geo.geocode("SW1A 2AA")
    assert geo._load_area.cache_info().currsize == 1
    assert geo._load_area.cache_info().misses == 1


def test_geocode_falls_back_to_outcode_centroid():
    # NW1 0ZZ is well formed but not a unit in Code-Point Open; NW1 is a district.
    place = geo.geocode("nw1 0zz")
    assert place == Place("NW1 0ZZ", 51.533316, -0.143917, "outcode")


def test_unit_without_position_falls_back_to_outcode():
    # Code-Point Open lists AB43 1AG with quality 90 and easting/northing 0, 0.
    place = geo.geocode("AB43 1AG")
    assert place.precision == "outcode"
    assert 57.3 < place.lat < 57.8 and -2.3 < place.lon < -1.8


def test_unknown_outcode_is_an_unknown_postcode_error():
    with pytest.raises(UnknownPostcodeError, match="YY1 1AA is not a known postcode") as exc:
        geo.geocode("YY1 1AA")
    assert "not a valid" not in str(exc.value)
    # Northern Ireland is not in Code-Point Open.
    with pytest.raises(UnknownPostcodeError, match="district BT1 is not known"):
        geo.geocode("BT1 1AA")


def test_malformed_postcode_is_not_reported_as_unknown():
    with pytest.raises(PostcodeError, match="not a valid UK postcode") as exc:
        geo.geocode("NW1 XYZ")
    assert not isinstance(exc.value, UnknownPostcodeError)


def test_geocode_many_mixes_results_and_errors():
    inputs = ["NW3 2BQ", "nw32bq", "NW1 0ZZ", "YY1 1AA", "not a postcode", "WF2 6EQ", "NW3 2BQ"]
    result = geo.geocode_many(inputs)

    assert list(result) == ["NW3 2BQ", "nw32bq", "NW1 0ZZ", "YY1 1AA", "not a postcode", "WF2 6EQ"]
    assert result["NW3 2BQ"] == result["nw32bq"] == geo.geocode("NW3 2BQ")
    assert result["NW3 2BQ"].precision == "postcode"
    assert result["WF2 6EQ"] == geo.geocode("WF2 6EQ")
    assert result["NW1 0ZZ"] == Place("NW1 0ZZ", 51.533316, -0.143917, "outcode")
    assert isinstance(result["YY1 1AA"], UnknownPostcodeError)
    assert isinstance(result["not a postcode"], PostcodeError)
    assert not isinstance(result["not a postcode"], UnknownPostcodeError)


def test_geocode_many_reads_each_area_once():
    geo._load_area.cache_clear()
    geo.geocode_many(["NW3 2BQ", "NW1 1RX", "WF2 6EQ", "SW1A 1AA", "WF1 2DD", "NW5 1RL"])
    # Areas NW, WF and SW.
    assert geo._load_area.cache_info().misses == 3


def test_geocode_many_of_nothing():
    assert geo.geocode_many([]) == {}


def test_easting_northing_to_latlon_scalar_and_arrays():
    # Haverstock School's GIAS grid reference; GIAS gives 51.544833, -0.153229.
    lat, lon = geo.easting_northing_to_latlon(528159, 184498)
    assert isinstance(lat, float) and isinstance(lon, float)
    assert lat == pytest.approx(51.544833, abs=1e-5)
    assert lon == pytest.approx(-0.153229, abs=1e-5)

    lats, lons = geo.easting_northing_to_latlon(
        np.array([528159, 434241]), np.array([184498, 418395])
    )
    assert lats.shape == lons.shape == (2,)
    assert lats[1] == pytest.approx(53.660928, abs=1e-5)
    assert lons[1] == pytest.approx(-1.483322, abs=1e-5)


def test_in_great_britain():
    assert geo.in_great_britain(51.5, -0.1)
    assert geo.in_great_britain(60.8, -0.8)  # Unst, Shetland
    assert not geo.in_great_britain(48.85, 2.35)  # Paris
    # A box, not a coastline: it catches swapped, zeroed or sign-flipped coordinates.
    assert not geo.in_great_britain(-0.153229, 51.544833)
    assert not geo.in_great_britain(0.0, 0.0)
    assert not geo.in_great_britain(51.45, 2.59)  # Bristol with its longitude's sign lost


def test_geocode_is_offline_by_default(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("geocode went online without being asked")

    monkeypatch.setattr(geo, "_geocode_online", no_network)
    monkeypatch.setattr("geopy.geocoders.Nominatim", no_network)
    assert geo.geocode("NW1 0ZZ").precision == "outcode"
    assert geo.geocode("SW1A 1AA").precision == "postcode"


class FakeGeocoder:
    """Stands in for a geopy geocoder; never touches the network."""

    def __init__(self, answer=None, error=None):
        self.answer, self.error, self.queries = answer, error, []

    def geocode(self, query, *args, **kwargs):
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        return self.answer


def test_online_geocoder_fills_in_missing_units_only():
    fake = FakeGeocoder(answer=SimpleNamespace(latitude=51.5301, longitude=-0.1402))
    assert geo.geocode("NW1 0ZZ", online=fake) == Place("NW1 0ZZ", 51.5301, -0.1402, "online")
    assert geo.geocode("SW1A 1AA", online=fake).precision == "postcode"
    assert fake.queries == ["NW1 0ZZ, United Kingdom"]


def test_online_geocoder_failure_or_foreign_answer_falls_back_to_outcode():
    failing = FakeGeocoder(error=GeocoderUnavailable("down"))
    assert geo.geocode("NW1 0ZZ", online=failing).precision == "outcode"
    foreign = FakeGeocoder(answer=SimpleNamespace(latitude=40.7, longitude=-74.0))
    assert geo.geocode("NW1 0ZZ", online=foreign).precision == "outcode"
