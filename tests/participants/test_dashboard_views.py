"""The retention dashboard and its downloads, role by role."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from participants import screening
from participants.models import Participant, ScreeningOutcome
from studyportal import demo
from studyportal.spreadsheets import neutralise
from tests.factories import UserFactory
from tests.participants import journeys

DASHBOARD = reverse("retention:dashboard")
CONSORT_SVG = reverse("retention:consort_svg")
CONSORT_PNG = reverse("retention:consort_png")
TRACKER = reverse("retention:tracker_csv")
URLS = [DASHBOARD, CONSORT_SVG, CONSORT_PNG, TRACKER]


@pytest.fixture
def admin_user(db):
    return UserFactory(is_superuser=True, is_staff=True)


@pytest.fixture
def two_sites(site_a, site_b, staff_a, staff_b):
    """Two participants at clinic A, one at clinic B."""
    journeys.enrol(site_a, staff_a)
    journeys.enrol(site_a, staff_a)
    journeys.enrol(site_b, staff_b, details=journeys.contact(email="b@example.org"))


def people(request, name):
    return request.getfixturevalue(name)


@pytest.mark.parametrize("url", URLS)
def test_anonymous_visitors_are_sent_to_log_in(client, protocol, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("person", "url", "status"),
    [
        ("investigator_user", DASHBOARD, 403),
        ("investigator_user", TRACKER, 403),
        ("investigator_user", CONSORT_SVG, 200),
        ("investigator_user", CONSORT_PNG, 200),
        ("staff_a", DASHBOARD, 200),
        ("staff_a", TRACKER, 403),
        ("staff_a", CONSORT_SVG, 200),
        ("staff_a", CONSORT_PNG, 200),
        ("coordinator_user", DASHBOARD, 200),
        ("coordinator_user", TRACKER, 200),
        ("coordinator_user", CONSORT_SVG, 200),
        ("coordinator_user", CONSORT_PNG, 200),
        ("admin_user", DASHBOARD, 200),
        ("admin_user", TRACKER, 200),
        ("admin_user", CONSORT_SVG, 200),
        ("admin_user", CONSORT_PNG, 200),
    ],
)
def test_each_role_on_each_url(request, client, two_sites, person, url, status):
    client.force_login(people(request, person))
    response = client.get(url)
    assert response.status_code == status
    if status == 200 and url != DASHBOARD:
        assert response["Content-Disposition"].startswith("attachment; filename=")


def test_a_user_without_a_role_is_refused(client, two_sites):
    client.force_login(UserFactory())
    for url in URLS:
        assert client.get(url).status_code == 403


def test_clinic_staff_see_only_their_own_clinic(client, two_sites, staff_a, site_a):
    client.force_login(staff_a)
    response = client.get(DASHBOARD)
    assert response.context["scope"].sites == (site_a,)
    assert response.context["consort"].enrolled == 2
    assert [row.site for row in response.context["statuses"]] == [site_a, None]
    svg = client.get(CONSORT_SVG).content.decode()
    assert "Enrolled (n=2)" in svg


def test_clinic_staff_cannot_pick_another_clinic(client, two_sites, staff_a, site_b):
    client.force_login(staff_a)
    response = client.get(DASHBOARD, {"site": site_b.pk})
    assert response.context["consort"].enrolled == 2
    assert "could not be applied" in response.content.decode()


def test_coordinators_see_every_clinic_and_can_filter(
    client, two_sites, coordinator_user, site_b
):
    client.force_login(coordinator_user)
    response = client.get(DASHBOARD)
    assert response.context["consort"].enrolled == 3
    assert len(response.context["scope"].sites) == 3
    response = client.get(DASHBOARD, {"site": site_b.pk})
    assert response.context["consort"].enrolled == 1


def test_investigators_get_the_whole_study_in_the_figure(
    client, two_sites, investigator_user
):
    client.force_login(investigator_user)
    response = client.get(CONSORT_SVG)
    assert response["Content-Type"].startswith("image/svg+xml")
    body = response.content.decode()
    assert "Enrolled (n=3)" in body and "<title" in body
    assert "Alex Example" not in body and "example.com" not in body
    png = client.get(CONSORT_PNG)
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"enrolled_from": "31/02/2024"},
            "Enter the ‘enrolled from’ date as YYYY-MM-DD.",
        ),
        ({"enrolled_to": "soon"}, "Enter the ‘enrolled to’ date as YYYY-MM-DD."),
        (
            {"enrolled_from": "2025-05-01", "enrolled_to": "2025-01-01"},
            "must be on or before",
        ),
    ],
)
def test_bad_dates_get_a_clear_message(
    client, two_sites, coordinator_user, params, message
):
    client.force_login(coordinator_user)
    response = client.get(DASHBOARD, params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["consort"].enrolled == 3  # figures left unfiltered


def test_a_date_range_filters_by_enrolment(client, two_sites, coordinator_user):
    client.force_login(coordinator_user)
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    response = client.get(DASHBOARD, {"enrolled_from": tomorrow})
    assert response.context["consort"].enrolled == 0
    assert "No participants enrolled" in response.content.decode()


def test_the_page_has_charts_with_tables_and_no_inline_styles_or_scripts(
    client, two_sites, coordinator_user
):
    client.force_login(coordinator_user)
    page = client.get(DASHBOARD).content.decode()
    assert page.count('role="img"') == 3
    assert "Numbers behind the chart" in page and "Numbers in the diagram" in page
    assert "style=" not in page and "<style" not in page
    assert page.count("<script") == 1  # Bootstrap's bundle from base.html
    assert 'aria-current="page" href="/dashboard/"' in page


def test_the_nav_link_is_not_offered_to_investigators(client, investigator_user):
    client.force_login(investigator_user)
    assert DASHBOARD not in client.get(reverse("home")).content.decode()


def read_csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_tracker_has_a_row_per_participant_and_no_contact_details(
    client, two_sites, coordinator_user
):
    client.force_login(coordinator_user)
    rows = read_csv(client.get(TRACKER))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Study ID", "Site", "Status", "Enrolled on"]
    assert "baseline status" in header and "followup completed" in header
    assert header[-3:] == ["Last message", "Last message sent", "Contact attempts"]
    assert len(body) == 3
    assert body[0][header.index("baseline status")] == "Open"
    text = "\n".join(",".join(row) for row in rows)
    assert "Alex Example" not in text and "@example" not in text and "+44" not in text


def test_tracker_cells_cannot_run_as_formulas(client, two_sites, coordinator_user):
    participant = Participant.objects.order_by("pk").first()
    Participant.objects.filter(pk=participant.pk).update(code='=cmd|"/C calc"!A0')
    client.force_login(coordinator_user)
    rows = read_csv(client.get(TRACKER))
    codes = [row[0] for row in rows[1:]]
    assert '\'=cmd|"/C calc"!A0' in codes
    assert not any(cell.startswith("=") for row in rows for cell in row)


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_neutralise_prefixes_formula_starts(value):
    assert neutralise(value) == "'" + value


def test_neutralise_leaves_ordinary_cells(value="LDS-0001"):
    assert neutralise(value) == value
    assert neutralise(None) == ""
    assert neutralise(3) == "3"


def test_dashboard_queries_do_not_grow_with_participants(
    client, protocol, coordinator_user, site_a, staff_a
):
    demo.seed_demo_users(protocol)
    demo.seed_demo_participants(protocol, today=timezone.localdate())
    client.force_login(coordinator_user)
    client.get(DASHBOARD)  # warm caches (instrument definitions, session)
    with CaptureQueriesContext(connection) as small:
        assert client.get(DASHBOARD).status_code == 200
    for days in range(30):
        journeys.enrol(
            site_a, staff_a, on=timezone.localdate() - dt.timedelta(days=days * 3)
        )
    with CaptureQueriesContext(connection) as large:
        assert client.get(DASHBOARD).status_code == 200
    assert len(small.captured_queries) == len(large.captured_queries)
    # Among them: the session, the user, the studies they work on (the header
    # names the working study), what they may do, and the protocol's measures.
    assert len(small.captured_queries) <= 30


def test_tracker_queries_do_not_grow_with_participants(
    client, two_sites, coordinator_user, site_a, staff_a
):
    client.force_login(coordinator_user)
    with CaptureQueriesContext(connection) as small:
        read_csv(client.get(TRACKER))
    for _ in range(5):
        journeys.enrol(site_a, staff_a)
    with CaptureQueriesContext(connection) as large:
        read_csv(client.get(TRACKER))
    assert len(small.captured_queries) == len(large.captured_queries)


# A malformed formula for matplotlib's mathtext, which parses text between $ signs.
MATHTEXT = r"$\foo{$"


def test_l5_text_with_dollar_signs_is_drawn_as_plain_text(
    client, protocol, site_a, staff_a, coordinator_user
):
    """Admin-entered names and labels reach the charts; none is read as a formula."""
    protocol.name = f"Back pain {MATHTEXT} study"
    protocol.short_name = f"BP {MATHTEXT}"
    protocol.save()
    site_a.name = f"Leeds {MATHTEXT} clinic"
    site_a.save()
    followup = protocol.timepoints.order_by("order").last()
    followup.label = f"Month 3 {MATHTEXT}"
    followup.save()
    criterion = protocol.criteria.get(code="adult")
    criterion.exclusion_reason = f"Aged 18 {MATHTEXT} or over"
    criterion.save()
    journeys.enrol(site_a, staff_a)
    journeys.enrol(site_a, staff_a, on=timezone.localdate() - dt.timedelta(days=40))
    screening.record_screening(
        site=site_a,
        screened_on=timezone.localdate(),
        criteria_met=journeys.all_met(adult=False),
        outcome=ScreeningOutcome.INELIGIBLE,
        user=staff_a,
        today=timezone.localdate(),
    )
    client.force_login(coordinator_user)

    page = client.get(DASHBOARD)
    assert page.status_code == 200
    body = page.content.decode()
    assert body.count('class="chart"') == 3  # retention, recruitment, CONSORT
    svg = client.get(CONSORT_SVG)
    assert svg.status_code == 200
    drawn = svg.content.decode()
    assert f"Aged 18 {MATHTEXT} or over" in drawn
    assert f"Month 3 {MATHTEXT} completed" in drawn
    png = client.get(CONSORT_PNG)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
