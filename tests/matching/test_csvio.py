"""The CSV readers: every rule holds on the fast path too (rows after the first, dates known).

The readers take a fast path for rows they can vouch for and re-read any other row with the
checked reader, which names the line and field. These cases put the bad value on line 3,
after a good line 2 with the same dates, so the fast path sees it first.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from matching.csvio import OFFER_COLUMNS, REQUEST_COLUMNS, read_offers, read_requests
from matching.model import InputError, Offer, Request

REQUEST = dict(
    zip(
        REQUEST_COLUMNS,
        ["R1", "S1", "talk", "9", "10", "2026-03-01", "2026-03-31", "1", "0", "autism"],
        strict=True,
    )
)
OFFER = dict(
    zip(
        OFFER_COLUMNS,
        [
            *("O1", "E1", "52.05", "-1.0", "talk", "12", "20", "0", "2026-03-01", "2026-03-31"),
            *("8", "11", "1", "1", "autism;hearing", "engineering"),
        ],
        strict=True,
    )
)


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def two_rows(base: dict[str, str], second_id: str, **changes: str) -> list[list[str]]:
    first = dict(base)
    second = {**base, next(iter(base)): second_id, **changes}
    return [list(first.values()), list(second.values())]


BAD_REQUESTS = {
    "empty id": {"request_id": " "},
    "duplicate id": {"request_id": "R1"},
    "unknown school": {"school_id": "S9"},
    "unknown type": {"type": "juggling"},
    "year below 7": {"year_group": "6"},
    "year above 13": {"year_group": "14"},
    "year not whole": {"year_group": "9.5"},
    "no pupils": {"pupils": "0"},
    "reversed window": {"latest": "2026-02-01"},
    "unseen bad date": {"earliest": "2026-02-30"},
    "week date": {"latest": "2026W101"},
    "boolean yes": {"stem_goal": "yes"},
    "boolean empty": {"stereotype_goal": ""},
    "bad SEN code": {"sen_needs": "autism;wings"},
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_on_a_later_line_is_refused_with_line_and_field(case, tmp_path):
    change = BAD_REQUESTS[case]
    rid = change.get("request_id", "R2")
    rows = two_rows(REQUEST, rid, **change)
    path = write_rows(tmp_path / "requests.csv", list(REQUEST_COLUMNS), rows)
    with pytest.raises(InputError) as caught:
        read_requests(path, ["S1"])
    assert caught.value.line == 3
    assert caught.value.field == next(iter(change))


BAD_OFFERS = {
    "duplicate id": {"offer_id": "O1"},
    "empty employer": {"employer_id": ""},
    "NaN latitude": {"lat": "nan"},
    "latitude out of range": {"lat": "91"},
    "longitude out of range": {"lon": "-181"},
    "no capacity": {"capacity": "0"},
    "capacity not a number": {"capacity": "lots"},
    "infinite radius": {"max_km": "inf"},
    "negative radius": {"max_km": "-1"},
    "reversed window": {"latest": "2026-02-01"},
    "year range reversed": {"year_min": "12"},
    "year_max above 13": {"year_max": "14"},
    "bad boolean": {"virtual": "2"},
    "bad SEN code": {"sen_support": "wings"},
    "unknown type": {"type": "juggling"},
}


@pytest.mark.parametrize("case", sorted(BAD_OFFERS))
def test_bad_offer_on_a_later_line_is_refused_with_line_and_field(case, tmp_path):
    change = BAD_OFFERS[case]
    oid = change.get("offer_id", "O2")
    rows = two_rows(OFFER, oid, **change)
    path = write_rows(tmp_path / "offers.csv", list(OFFER_COLUMNS), rows)
    with pytest.raises(InputError) as caught:
        read_offers(path)
    assert caught.value.line == 3
    field = "year_max" if case == "year range reversed" else next(iter(change))
    assert caught.value.field == field


def test_bad_audience_on_a_later_line_is_refused(tmp_path):
    header = [*OFFER_COLUMNS, "audience"]
    rows = [[*OFFER.values(), "girls"], [*two_rows(OFFER, "O2")[1], "men"]]
    with pytest.raises(InputError) as caught:
        read_offers(write_rows(tmp_path / "offers.csv", header, rows))
    assert (caught.value.line, caught.value.field) == (3, "audience")


def test_provider_columns_are_optional_and_checked(tmp_path):
    # Old files (no provider columns) read as before: nothing is a provider encounter.
    old = read_offers(write_rows(tmp_path / "old.csv", list(OFFER_COLUMNS),
                                 two_rows(OFFER, "O2")))
    assert [o.provider for o in old] == [False, False]
    rows = [[*OFFER.values(), "1"], [*two_rows(OFFER, "O2")[1], ""]]
    offers = read_offers(write_rows(tmp_path / "new.csv", [*OFFER_COLUMNS, "provider"], rows))
    assert [o.provider for o in offers] == [True, False]
    bad = [[*OFFER.values(), "1"], [*two_rows(OFFER, "O2")[1], "yes"]]
    with pytest.raises(InputError) as caught:
        read_offers(write_rows(tmp_path / "bad.csv", [*OFFER_COLUMNS, "provider"], bad))
    assert (caught.value.line, caught.value.field) == (3, "provider")
    req_rows = [[*REQUEST.values(), "1"], [*two_rows(REQUEST, "R2")[1], "0"]]
    requests = read_requests(
        write_rows(tmp_path / "r.csv", [*REQUEST_COLUMNS, "provider_only"], req_rows), ["S1"]
    )
    assert [r.provider_only for r in requests] == [True, False]
    old_requests = read_requests(
        write_rows(tmp_path / "r0.csv", list(REQUEST_COLUMNS), two_rows(REQUEST, "R2")), ["S1"]
    )
    assert not any(r.provider_only for r in old_requests)


def test_padding_short_rows_and_extra_columns_read_as_the_rules_say(tmp_path):
    d0, d1 = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    # Audience before the other columns, then a row cut short after it (its optional
    # columns are missing) and a row with an extra field: both are read, not refused.
    header = ["audience", *OFFER_COLUMNS, "notes"]
    padded = [f" {v} " for v in OFFER.values()]
    rows = [
        ["", *OFFER.values(), "first"],
        [" boys ", *two_rows(OFFER, "O2")[1][:-1], ""],
        ["girls", *padded[:-1], " ", "x", "extra"],
    ]
    rows[2][1] = " O3 "
    offers = read_offers(write_rows(tmp_path / "offers.csv", header, rows))
    assert [o.offer_id for o in offers] == ["O1", "O2", "O3"]
    assert [o.audience for o in offers] == ["mixed", "boys", "girls"]
    assert offers[2] == Offer(
        offer_id="O3", employer_id="E1", lat=52.05, lon=-1.0, type="talk", capacity=12,
        max_km=20.0, virtual=False, earliest=d0, latest=d1, year_min=8, year_max=11, stem=True,
        challenges_stereotype=True, sen_support=frozenset({"autism", "hearing"}), sector="",
        audience="girls",
    )  # fmt: skip
    assert offers[1].sector == ""

    req_rows = [list(REQUEST.values()), [" R2 ", " S1 ", " talk ", " 9 ", " 10 ",
                " 2026-03-01 ", "2026-03-31", "0", "1", " autism ; hearing "]]  # fmt: skip
    requests = read_requests(
        write_rows(tmp_path / "requests.csv", list(REQUEST_COLUMNS), req_rows), ["S1"]
    )
    assert requests[1] == Request(
        request_id="R2",
        school_id="S1",
        type="talk",
        year_group=9,
        pupils=10,
        earliest=d0,
        latest=d1,
        stem_goal=False,
        stereotype_goal=True,
        sen_needs=frozenset({"autism", "hearing"}),
    )


def test_blank_lines_are_skipped_and_lines_still_counted(tmp_path):
    path = tmp_path / "requests.csv"
    bad = two_rows(REQUEST, "R2", pupils="0")[1]
    path.write_text(
        ",".join(REQUEST_COLUMNS) + "\n" + ",".join(REQUEST.values()) + "\n\n" + ",".join(bad),
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        read_requests(path, ["S1"])
    assert (caught.value.line, caught.value.field) == (4, "pupils")
