"""Questionnaire pages for staff, checked for each role."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from instruments import catalogue, redcap
from instruments.models import InstrumentVersion
from tests.factories import (
    SiteFactory,
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
)


@pytest.fixture
def loaded(db):
    catalogue.load_shipped()


@pytest.fixture
def people(db):
    site = SiteFactory()
    return {
        "clinic_staff": clinic_staff(site),
        "coordinator": coordinator(site.study),
        "investigator": investigator(site.study),
        "admin": UserFactory(is_superuser=True, is_staff=True),
    }


STAFF = ["clinic_staff", "coordinator", "investigator", "admin"]
PAGES = [
    ("instruments:list", []),
    ("instruments:detail", ["pain_severity"]),
    ("instruments:preview", ["pain_severity", 1]),
    ("instruments:dictionary", ["pain_severity", 1]),
]


@pytest.mark.parametrize(("name", "args"), [*PAGES, ("instruments:import", [])])
def test_anonymous_visitors_are_sent_to_login(client, loaded, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "args"), [*PAGES, ("instruments:import", [])])
def test_users_without_a_role_are_refused(client, loaded, name, args):
    client.force_login(UserFactory())
    assert client.get(reverse(name, args=args)).status_code == 403


@pytest.mark.parametrize("role", STAFF)
@pytest.mark.parametrize(("name", "args"), PAGES)
def test_every_staff_role_can_read_questionnaires(
    client, loaded, people, role, name, args
):
    client.force_login(people[role])
    assert client.get(reverse(name, args=args)).status_code == 200


@pytest.mark.parametrize("role", ["clinic_staff", "coordinator", "investigator"])
def test_only_admins_import(client, loaded, people, role):
    client.force_login(people[role])
    assert client.get(reverse("instruments:import")).status_code == 403
    client.force_login(people["admin"])
    assert client.get(reverse("instruments:import")).status_code == 200


def test_list_shows_each_instrument_and_version(client, loaded, people):
    client.force_login(people["coordinator"])
    body = client.get(reverse("instruments:list")).content.decode()
    for title in ("How strong your pain is", "Baseline characteristics"):
        assert title in body


def test_unknown_instrument_is_404(client, loaded, people):
    client.force_login(people["coordinator"])
    assert client.get(reverse("instruments:detail", args=["nope"])).status_code == 404
    url = reverse("instruments:preview", args=["pain_severity", 9])
    assert client.get(url).status_code == 404


def test_preview_scores_valid_answers_and_saves_nothing(client, loaded, people):
    client.force_login(people["clinic_staff"])
    versions = InstrumentVersion.objects.count()
    url = reverse("instruments:preview", args=["pain_severity", 1])
    answers = {
        "pain_worst": "8",
        "pain_least": "2",
        "pain_average": "5",
        "pain_now": "5",
    }
    response = client.post(url, answers)
    body = response.content.decode()
    assert "These answers are valid" in body
    [score] = response.context["scores"]
    assert score.value == 5.0  # (8 + 2 + 5 + 5) / 4
    assert InstrumentVersion.objects.count() == versions


def test_preview_shows_errors_with_a_summary(client, loaded, people):
    client.force_login(people["clinic_staff"])
    url = reverse("instruments:preview", args=["pain_severity", 1])
    response = client.post(url, {"pain_worst": "8"})
    body = response.content.decode()
    assert "There are 3 problems with your answers" in body
    assert 'href="#id_pain_least_0"' in body
    assert response.context["scores"] is None


def test_dictionary_download_is_the_readable_export(client, loaded, people):
    client.force_login(people["investigator"])
    response = client.get(reverse("instruments:dictionary", args=["pain_severity", 1]))
    assert response["Content-Type"].startswith("text/csv")
    assert "pain_severity_v1_data_dictionary.csv" in response["Content-Disposition"]
    definition = InstrumentVersion.objects.get(instrument__slug="pain_severity").parsed
    assert response.content.decode() == redcap.readable_dictionary(definition)


FORMULAS = ("=SUM(1+1)", "+1+1", "-1+1", "@SUM(1)")


@pytest.fixture
def formulas(db):
    """An imported instrument whose every text starts like a spreadsheet formula."""
    rows = [
        redcap.COLUMNS,
        ["q_a", "formulas", FORMULAS[0], "radio", FORMULAS[1], "1, =1+1 | 2, @A1"]
        + [FORMULAS[2]]
        + [""] * 10
        + ['@SP-INSTRUMENT={"title": "=HYPERLINK(1)"}'],
        ["q_b", "formulas", "", "notes", FORMULAS[3]] + [""] * 13,
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    (definition,) = redcap.import_dictionary(buffer.getvalue())
    catalogue.register(definition, source="import:formulas.csv")
    return definition


def dictionary_cells(response) -> list[str]:
    text = response.content.decode()
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


@pytest.mark.parametrize("role", STAFF)
def test_l8_the_staff_dictionary_starts_no_cell_with_a_formula(
    client, people, formulas, role
):
    client.force_login(people[role])
    response = client.get(reverse("instruments:dictionary", args=["formulas", 1]))
    assert response.status_code == 200
    cells = dictionary_cells(response)
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]
    for text in FORMULAS:
        assert "'" + text in cells


def test_l8_the_admins_round_trip_is_verbatim_and_imports_back_identical(
    client, people, formulas
):
    client.force_login(people["admin"])
    url = reverse("instruments:dictionary_round_trip", args=["formulas", 1])
    response = client.get(url)
    assert response.status_code == 200
    assert (
        "formulas_v1_data_dictionary_for_redcap.csv"
        in (response["Content-Disposition"])
    )
    assert set(FORMULAS) <= set(dictionary_cells(response))
    (again,) = redcap.import_dictionary(response.content.decode())
    assert again.to_data() == formulas.to_data()
    assert again.checksum == formulas.checksum


@pytest.mark.parametrize("role", ["clinic_staff", "coordinator", "investigator"])
def test_l8_only_admins_may_download_the_verbatim_dictionary(
    client, people, formulas, role
):
    client.force_login(people[role])
    url = reverse("instruments:dictionary_round_trip", args=["formulas", 1])
    assert client.get(url).status_code == 403
    page = client.get(reverse("instruments:detail", args=["formulas"]))
    assert url not in page.content.decode()


def test_l8_the_admin_sees_the_round_trip_labelled_as_holding_formulas(
    client, people, formulas
):
    client.force_login(people["admin"])
    page = client.get(reverse("instruments:detail", args=["formulas"]))
    body = page.content.decode()
    assert reverse("instruments:dictionary_round_trip", args=["formulas", 1]) in body
    assert "for importing back into REDCap" in body
    assert "may contain formulas" in body


def upload(client, content: bytes, name="dictionary.csv", slug=""):
    file = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(reverse("instruments:import"), {"file": file, "slug": slug})


def test_admin_imports_a_dictionary(client, loaded, people):
    client.force_login(people["admin"])
    definition = InstrumentVersion.objects.get(instrument__slug="pain_severity").parsed
    text = redcap.export_dictionary(definition).replace("pain_severity", "pain_copy")
    response = upload(client, text.encode("utf-8-sig"), slug="pain_copy")
    assert response.status_code == 302
    assert response["Location"] == reverse("instruments:detail", args=["pain_copy"])
    assert InstrumentVersion.objects.filter(instrument__slug="pain_copy").exists()


def test_a_malformed_dictionary_imports_nothing_and_lists_problems(
    client, loaded, people
):
    client.force_login(people["admin"])
    versions = InstrumentVersion.objects.count()
    header = ",".join(f'"{name}"' for name in redcap.COLUMNS)
    row = 'q1,form,,radio,Question,"1 Yes | 2, No",,,,,,,,,,,,'
    response = upload(client, f"{header}\r\n{row}\r\n".encode())
    assert response.status_code == 200
    problems = response.context["problems"]
    assert problems == [
        "row 2, column 'Choices, Calculations, OR Slider Labels': "
        "'1 Yes' is not written as 'code, label'"
    ]
    assert "Nothing was imported" in response.content.decode()
    assert InstrumentVersion.objects.count() == versions


def test_upload_refuses_files_that_are_not_utf8_csv(client, loaded, people):
    client.force_login(people["admin"])
    response = upload(client, "caf\xe9".encode("latin-1"))
    assert "not UTF-8 text" in response.content.decode()
    response = upload(client, b"x", name="dictionary.xlsx")
    assert "Choose the CSV file" in response.content.decode()
