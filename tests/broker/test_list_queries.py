"""List pages run a fixed number of queries however many rows they show (no N+1)."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from broker.extensions import db


@contextmanager
def _count_queries():
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _queries(client, url):
    db.session.expire_all()
    with _count_queries() as statements:
        assert client.get(url).status_code == 200
    return len(statements)


def test_employer_lists_do_not_grow_with_rows(client, auth, make_user, make_employer,
                                              make_offer, make_request, make_match,
                                              make_school):
    employer = make_employer()
    auth.login(make_user(role="employer", employer_id=employer.id))
    offer = make_offer(employer=employer)
    make_match(offer=offer, request=make_request(school=make_school()))
    urls = ("/employer/matches", "/employer/offers", "/employer/impact")
    few = {url: _queries(client, url) for url in urls}
    for _ in range(8):
        o = make_offer(employer=employer)
        make_match(offer=o, request=make_request(school=make_school()), status="approved")
    many = {url: _queries(client, url) for url in urls}
    assert many == few


def test_school_lists_do_not_grow_with_rows(client, auth, make_user, make_school,
                                            make_employer, make_offer, make_request,
                                            make_match):
    school = make_school()
    auth.login(make_user(role="school", school_id=school.id))
    make_match(offer=make_offer(employer=make_employer()), request=make_request(school=school))
    urls = ("/school/matches", "/school/requests", "/school/plan", "/school/report")
    few = {url: _queries(client, url) for url in urls}
    for _ in range(8):
        make_match(offer=make_offer(employer=make_employer()),
                   request=make_request(school=school), status="accepted")
    many = {url: _queries(client, url) for url in urls}
    assert many == few


def test_review_queue_does_not_grow_with_rows(client, auth, make_user, make_area, make_school,
                                              make_employer, make_offer, make_request,
                                              make_match):
    area = make_area(name="Leeds")
    auth.login(make_user(role="coordinator", areas=[area]))

    def propose():
        make_match(offer=make_offer(employer=make_employer()),
                   request=make_request(school=make_school(area=area)))

    propose()
    few = _queries(client, "/coordinator/queue")
    for _ in range(8):
        propose()
    assert _queries(client, "/coordinator/queue") == few
