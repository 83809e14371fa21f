"""Finding a school by name, town or postcode on the school registration page (issue 12).

Careers leaders know their school's name, not its URN: the register page searches the school
list (GET, no script), lists what matches with URN, town and postcode, and "This is my school"
fills the URN field. Registering that way still makes a pending member of the right school.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import User
from broker.services.schools import SEARCH_LIMIT, SEARCH_MAX_LENGTH, search_schools
from tests.broker.mail import queued
from tests.broker.test_security_headers import inline_parts
from tests.conftest import PASSWORD, csrf_token_from


@pytest.fixture
def schools(make_school):
    """Schools in two towns; two whose names differ only where % and _ would be wildcards."""
    return {
        "hillside": make_school(
            urn=137001, name="Hillside Academy", la_name="Camden", postcode="NW1 2DB"
        ),
        "oakfield": make_school(
            urn=137002, name="Oakfield High School", la_name="Leeds", postcode="LS6 3HF"
        ),
        "marys": make_school(
            urn=137003, name="St Mary's Catholic School", la_name="Camden", postcode="NW10 5AB"
        ),
        "literal": make_school(
            urn=137004, name="Top_Notch 100% College", la_name="Leeds", postcode="LS1 4AP"
        ),
        "wildcard": make_school(
            urn=137005, name="TopXNotch 1000 College", la_name="Leeds", postcode="LS2 9JT"
        ),
    }


def _urns(found):
    return [s.urn for s in found]


def test_search_by_part_of_the_name_ignores_case(schools):
    assert _urns(search_schools("hillSIDE")) == [137001]
    assert _urns(search_schools("  st   mary's ")) == [137003]
    assert sorted(_urns(search_schools("college"))) == [137004, 137005]


def test_search_by_town(schools):
    assert _urns(search_schools("camden")) == [137001, 137003]


def test_search_by_postcode_full_partial_and_district(schools):
    assert _urns(search_schools("nw12db")) == [137001]
    assert _urns(search_schools("NW1 2DB")) == [137001]
    # The district NW1 is not NW10: a town's postcode district finds only its own schools.
    assert _urns(search_schools("nw1")) == [137001]
    assert _urns(search_schools("NW10")) == [137003]
    assert _urns(search_schools("NW10 5")) == [137003]


def test_search_by_urn(schools):
    assert _urns(search_schools("137002")) == [137002]
    assert search_schools("999999") == []
    assert search_schools("2147483648") == []  # past the URN column: nothing, not an error


def test_percent_and_underscore_are_taken_literally(schools):
    assert _urns(search_schools("100%")) == [137004]
    assert _urns(search_schools("p_N")) == [137004]
    # Only the school with a % (or _) in its name, not every school.
    assert _urns(search_schools("%")) == [137004]
    assert _urns(search_schools("_")) == [137004]
    assert search_schools("Hill%Academy") == []


def test_empty_and_too_long_terms_find_nothing(schools):
    assert search_schools("") == []
    assert search_schools("   ") == []
    assert search_schools("a" * (SEARCH_MAX_LENGTH + 1)) == []
    assert search_schools("Hillside" + " " * 200) != []  # spaces are not counted


def test_at_most_limit_schools(make_school):
    for n in range(SEARCH_LIMIT + 5):
        make_school(name=f"Riverside School {n:02d}")
    assert len(search_schools("riverside")) == SEARCH_LIMIT
    assert len(search_schools("riverside", limit=3)) == 3


def _page(client, **args):
    response = client.get("/auth/register/school", query_string=args)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_the_page_lists_matches_with_urn_town_postcode_and_a_link(client, schools):
    page = _page(client, q="camden")
    assert "Hillside Academy" in page and "St Mary's Catholic School" in page
    assert "Oakfield High School" not in page
    assert "URN 137001 · Camden · NW1 2DB" in page
    assert page.count("This is my school") == 2
    assert 'href="/auth/register/school?urn=137001#urn"' in page
    # Nothing a content security policy without 'unsafe-inline' would refuse.
    assert inline_parts(page) == []


def test_the_page_says_when_nothing_matches_and_refuses_a_too_long_term(client, schools):
    assert "No school found" in _page(client, q="Nowhere Grammar")
    page = _page(client, q="x" * (SEARCH_MAX_LENGTH + 50))
    assert f"Type at most {SEARCH_MAX_LENGTH} characters" in page
    assert "This is my school" not in page


def test_choosing_a_school_fills_the_urn_and_names_it(client, schools):
    page = _page(client, urn="137003")
    assert re.search(r'<input[^>]*id="urn"[^>]*value="137003"', page) or re.search(
        r'<input[^>]*value="137003"[^>]*id="urn"', page
    )
    assert "This is St Mary's Catholic School, Camden." in page
    # A URN that is no school (or no URN at all) fills nothing and names nothing.
    page = _page(client, urn="12")
    assert 'value="12"' not in page and "This is " not in page


def test_the_prefilled_urn_registers_a_pending_member_of_that_school(client, schools):
    page = _page(client, urn="137002")
    urn = re.search(r'<input[^>]*id="urn"[^>]*value="(\d+)"', page) or re.search(
        r'<input[^>]*value="(\d+)"[^>]*id="urn"', page
    )
    assert urn is not None
    response = client.post(
        "/auth/register/school?urn=137002",
        data={
            "urn": urn.group(1),
            "name": "Sam Leader",
            "email": "sam@oakfield.example",
            "job_title": "Careers leader",
            "evidence": "",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "csrf_token": csrf_token_from(page),
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "sam@oakfield.example"))
    assert user is not None and user.school_id == schools["oakfield"].id
    assert user.school_status == "pending"
    assert queued("verify_email", to="sam@oakfield.example")
