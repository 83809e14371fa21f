"""The request's one transaction and refusals (broker.web), on small views made for the test.

Each view adds an area through a stand-in "service" that adds, flushes and then may refuse,
so a refusal that left anything behind would show as a row.
"""

from __future__ import annotations

import pytest
from flask import flash, redirect, render_template_string, url_for
from sqlalchemy import event, func, select
from wtforms import StringField
from wtforms.validators import DataRequired

from broker.extensions import db
from broker.formutil import EmptyForm, Form, MaxLength
from broker.models import Area
from broker.services.errors import NotAllowed, ServiceError
from broker.web import redirect_on_refusal

PAGE = "errors={{ form.name.errors|join(';') }} flashes={{ get_flashed_messages()|join(';') }}"


class NameForm(Form):
    name = StringField("Area name", validators=[DataRequired(), MaxLength(120)])


def add_area(name: str) -> Area:
    """A service: adds and flushes, then refuses some names (as real services may)."""
    area = Area(name=name)
    db.session.add(area)
    db.session.flush()
    if name == "taken":
        raise ServiceError("That name is taken.", field="name")
    if name == "closed":
        raise ServiceError("Areas are closed for changes today.")
    return area


@pytest.fixture
def probe(app, no_csrf):
    """The app with the test's views (added before its first request, as Flask requires)."""

    @app.route("/probe/form", methods=["GET", "POST"])
    def form_page():
        form = NameForm()
        if form.validate_on_submit():
            add_area(form.name.data)
            flash("Saved.", "success")
            return redirect("/probe/form")
        return render_template_string(PAGE, form=form), form.status

    @app.post("/probe/button/<id:item_id>")
    @redirect_on_refusal(lambda item_id: f"/probe/item/{item_id}")
    def button(item_id: int):
        EmptyForm().validate_or_400()
        add_area("closed")
        return redirect("/probe/form")

    @app.post("/probe/undeclared")
    def undeclared():
        EmptyForm().validate_or_400()
        add_area("closed")
        return redirect("/probe/form")

    @app.post("/probe/half")
    def half():
        add_area("kept?")
        return "refused by the view", 400

    @app.get("/probe/item/<id:item_id>")
    def item(item_id: int):
        return f"item {item_id}"

    @app.get("/probe/not-yours")
    def not_yours():
        raise NotAllowed("That area is not yours.")

    @app.get("/probe/refused-read")
    def refused_read():
        raise ServiceError("Pick an area first.")

    return app


def _areas() -> int:
    db.session.rollback()  # what is committed, not what the session still holds
    return db.session.scalar(select(func.count()).select_from(Area))


def _flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.get("_flashes", []))


def test_success_commits_once(probe, client):
    commits = []
    event.listen(db.session(), "after_commit", lambda session: commits.append(1))
    response = client.post("/probe/form", data={"name": "Leeds"})
    assert response.status_code == 302
    assert len(commits) == 1
    assert _areas() == 1


def test_refusal_naming_a_field_is_shown_beside_it_with_a_400_and_rolled_back(probe, client):
    response = client.post("/probe/form", data={"name": "taken"})
    assert response.status_code == 400
    assert "errors=That name is taken. flashes=" in response.get_data(as_text=True)
    assert _areas() == 0  # the flushed row is gone


def test_refusal_naming_no_field_is_flashed_on_the_form_with_a_400(probe, client):
    response = client.post("/probe/form", data={"name": "closed"})
    assert response.status_code == 400
    assert "errors= flashes=Areas are closed for changes today." in response.get_data(
        as_text=True
    )
    assert _areas() == 0


def test_a_form_refused_then_sent_again_is_saved(probe, client):
    assert client.post("/probe/form", data={"name": "taken"}).status_code == 400
    assert client.post("/probe/form", data={"name": "Leeds"}).status_code == 302
    assert _areas() == 1


def test_a_button_refused_goes_where_the_view_says_with_the_message(probe, client):
    response = client.post("/probe/button/7")
    assert response.status_code == 302 and response.location.endswith("/probe/item/7")
    assert _flashes(client) == [("error", "Areas are closed for changes today.")]
    assert _areas() == 0


def test_an_undeclared_button_refused_goes_back_to_its_page(probe, client):
    page = url_for("item", item_id=3, _external=True)
    response = client.post("/probe/undeclared", headers={"Referer": page})
    assert response.status_code == 302 and response.location.endswith("/probe/item/3")
    assert _flashes(client) == [("error", "Areas are closed for changes today.")]
    # A page elsewhere is not "back": the dashboard instead.
    response = client.post("/probe/undeclared", headers={"Referer": "https://elsewhere.example/"})
    assert response.location.endswith("/")
    assert _areas() == 0


def test_an_error_answer_rolls_back_what_the_view_flushed(probe, client):
    assert client.post("/probe/half").status_code == 400
    assert _areas() == 0


def test_a_refused_read_is_an_error_page(probe, client):
    assert client.get("/probe/not-yours").status_code == 404
    response = client.get("/probe/refused-read")
    assert response.status_code == 400
    assert "Pick an area first." in response.get_data(as_text=True)


@pytest.mark.parametrize("bad", ["0", str(2**31), str(2**63), "99999999999999999999999"])
def test_ids_no_row_can_have_are_not_found(probe, client, bad):
    assert client.get(f"/probe/item/{bad}").status_code == 404
    assert client.get(f"/probe/item/{2**31 - 1}").status_code == 200


def test_a_nul_character_is_refused_naming_the_field(probe, client):
    response = client.post("/probe/form", data={"name": "Le\x00eds"})
    assert response.status_code == 400
    assert "“name” contains a NUL character" in response.get_data(as_text=True)
    response = client.get("/probe/item/1?school=a%00b")
    assert response.status_code == 400
    assert "“school” contains a NUL character" in response.get_data(as_text=True)
    assert _areas() == 0
