"""Error pages say what happened and what to do, in the portal's own look."""

import pytest
from django.db import OperationalError
from django.test import Client, RequestFactory
from django.urls import include, path, reverse

from studyportal import views
from tests.factories import SiteFactory, clinic_staff


def broken_database(request):
    raise OperationalError("terminating connection due to administrator command")


# A URLconf for the last test: one view that fails as a restarting database does.
urlpatterns = [path("broken/", broken_database), path("", include("studyportal.urls"))]
handler500 = views.server_error


def served_after(error: Exception):
    """The handler's page, called as Django calls it: while ``error`` is raised."""
    try:
        raise error
    except Exception:
        return views.server_error(RequestFactory().get("/participants/"))


def test_an_unknown_address_gets_the_portal_not_found_page(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_a_role_without_access_is_told_so(client, study):
    client.force_login(clinic_staff(SiteFactory(study=study)))
    response = client.get(reverse("analysis:run_list"))
    assert response.status_code == 403
    assert "You do not have access to this page" in response.content.decode()


def test_an_unexpected_error_gets_the_500_page():
    response = served_after(ValueError("a bug"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert "a bug" not in response.content.decode()


@pytest.mark.parametrize(
    "message",
    ["server closed the connection unexpectedly", "deadlock detected"],
)
def test_a_database_that_does_not_answer_gets_503_with_a_retry(message):
    response = served_after(OperationalError(message))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "briefly unavailable" in page
    assert message not in page


def test_the_projects_urls_name_the_handler():
    from studyportal import urls

    assert urls.handler500 is views.server_error


@pytest.mark.urls(__name__)
def test_a_request_that_loses_the_database_is_answered_with_503(db):
    response = Client(raise_request_exception=False).get("/broken/")
    assert response.status_code == 503
    assert "briefly unavailable" in response.content.decode()
