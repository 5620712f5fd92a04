"""The analysis pages and downloads, role by role."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from analysis import runs
from analysis.models import AnalysisRun, RunStatus
from participants.models import ParticipantContact
from studyportal import demo
from tests.factories import (
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
    reference_specs,
)

COEFFICIENT = {
    "term": '=HYPERLINK("http://x")',
    "b": -1.5,
    "se": 0.5,
    "beta": -0.2,
    "t": -3.0,
    "p": 0.0004,
    "ci_low": -2.5,
    "ci_high": -0.5,
    "vif": 1.1,
}
RESULTS = [
    {
        "name": "baseline_selfmgmt_total",
        "outcome": "baseline_selfmgmt_total",
        "block_names": ["Demographics"],
        "outcome_label": "Self-management total (Baseline)",
        "labels": {COEFFICIENT["term"]: "=1+1 label from a dictionary"},
        "n": 40,
        "reference_levels": {},
        "blocks": [
            {
                "number": 1,
                "r_squared": 0.25,
                "r_squared_change": 0.25,
                "f_change": 4.2,
                "df1": 1,
                "df2": 38,
                "p_f_change": 0.047,
                "coefficients": [
                    {**COEFFICIENT, "term": "(Intercept)", "beta": None, "vif": None},
                    COEFFICIENT,
                ],
            }
        ],
        "diagnostics": {
            "breusch_pagan": 1.2,
            "breusch_pagan_df": 1,
            "breusch_pagan_p": 0.27,
            "influential": [{"case": "P0123abcd", "cooks_distance": 0.31}],
        },
    },
    {
        "name": "followup_selfmgmt_total",
        "outcome": "followup_selfmgmt_total",
        "block_names": ["Demographics"],
        "error": "Only 3 complete case(s) on followup_selfmgmt_total.",
    },
]


@pytest.fixture
def study(reference_study):
    return reference_study


@pytest.fixture
def admin_user(db):
    return UserFactory(is_superuser=True, is_staff=True)


@pytest.fixture
def done_run(study):
    return AnalysisRun.objects.create(
        study=study,
        preset="reference",
        status=RunStatus.DONE,
        percent=100,
        step="Finished",
        results=RESULTS,
        provenance={
            "dataset_hash": "a" * 64,
            "rows": 40,
            "packages": {
                "django": "5.2",
                "pandas": "2",
                "statsmodels": "0",
                "numpy": "2",
            },
            "code_revision": "abc123",
            "requested_by": "investigator",
            "run_at": "2025-01-01T00:00:00+00:00",
        },
    )


def urls(run):
    return [
        reverse("analysis:run_list"),
        reverse("analysis:run_detail", args=[run.pk]),
        reverse("analysis:specify", args=[run.study.pk]),
        reverse("analysis:tables_csv", args=[run.pk]),
        reverse("analysis:tables_xlsx", args=[run.pk]),
    ]


def test_anonymous_visitors_are_sent_to_log_in(client, done_run):
    for url in urls(done_run):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["clinic_staff", "coordinator"])
def test_clinic_staff_and_coordinators_may_not_open_analysis(client, done_run, role):
    study = done_run.study
    user = clinic_staff(study.sites.first()) if role == "clinic_staff" else None
    user = user or coordinator(study)
    client.force_login(user)
    for url in urls(done_run):
        assert client.get(url).status_code == 403
    assert client.post(reverse("analysis:run_list")).status_code == 403
    again = reverse("analysis:run_again", args=[done_run.pk])
    assert client.post(again).status_code == 403
    assert not AnalysisRun.objects.exclude(pk=done_run.pk).exists()


@pytest.mark.parametrize("who", ["investigator", "admin"])
def test_investigators_and_admins_open_every_analysis_page(
    client, done_run, admin_user, who
):
    user = investigator(done_run.study) if who == "investigator" else admin_user
    client.force_login(user)
    for url in urls(done_run):
        assert client.get(url).status_code == 200, url
    home = client.get(reverse("home")).content.decode()
    assert reverse("analysis:run_list") in home


def test_investigators_of_another_study_do_not_see_the_run(client, done_run):
    from tests.factories import StudyFactory

    client.force_login(investigator(StudyFactory()))
    assert done_run.pk not in [
        run.pk for run in runs.runs_for(investigator(StudyFactory()))
    ]
    for url in urls(done_run)[1:]:
        assert client.get(url).status_code == 404


def test_starting_the_reference_analysis_queues_a_run(
    client, study, django_capture_on_commit_callbacks, monkeypatch
):
    from analysis import tasks

    queued = []
    monkeypatch.setattr(tasks.perform_run, "delay", queued.append)
    user = investigator(study)
    client.force_login(user)

    page = client.get(reverse("analysis:run_list")).content.decode()
    assert "Start analysis" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("analysis:run_list"), {"study": study.pk, "preset": "reference"}
        )

    run = AnalysisRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == run.get_absolute_url()
    assert queued == [run.pk]
    assert (run.preset, run.requested_by) == ("reference", user)
    assert len(run.specification) == len(reference_specs())


def test_a_queued_run_page_refreshes_itself_and_shows_progress(client, study):
    run = AnalysisRun.objects.create(
        study=study, preset="reference", status=RunStatus.RUNNING, percent=37,
        step="Fitting model 4 of 10: baseline_selfmgmt_coping",
    )  # fmt: skip
    client.force_login(investigator(study))
    page = client.get(run.get_absolute_url()).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "progress-37" in page
    assert "Fitting model 4 of 10" in page
    assert "style=" not in page
    assert "Download tables" not in page


def test_a_finished_run_shows_apa_tables_errors_and_provenance(client, done_run):
    client.force_login(investigator(done_run.study))
    page = client.get(done_run.get_absolute_url()).content.decode()
    assert "http-equiv" not in page
    for heading in ["Block", "Variable", "<i>B</i>", "<i>SE</i>", "β", "95% CI"]:
        assert heading in page
    assert "Block 1: Demographics" in page
    assert "<i>R</i>² = .250" in page
    assert "<i>F</i> change (1, 38) = 4.20, <i>p</i> = .047" in page
    assert "-1.50" in page and "[-2.50, -0.50]" in page and "&lt; .001" in page
    assert "This model could not be fitted: Only 3 complete case(s)" in page
    assert "P0123abcd (0.310)" in page
    assert "a" * 64 in page and "abc123" in page and "statsmodels" in page


def test_a_failed_run_says_why(client, study):
    run = AnalysisRun.objects.create(
        study=study, preset="reference", status=RunStatus.FAILED, percent=100,
        error="Both a and b give a score named x.",
    )  # fmt: skip
    client.force_login(investigator(study))
    page = client.get(run.get_absolute_url()).content.decode()
    assert "could not be completed: Both a and b give a score named x." in page
    assert client.get(reverse("analysis:tables_csv", args=[run.pk])).status_code == 404


def test_tables_csv_is_long_format_with_formulas_neutralised(client, done_run):
    client.force_login(investigator(done_run.study))
    response = client.get(reverse("analysis:tables_csv", args=[done_run.pk]))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == list(runs.TABLE_HEADER)
    assert rows[1][:5] == [
        "baseline_selfmgmt_total",
        "1: Demographics",
        "(Intercept)",
        "(Intercept)",
        "-1.5",
    ]
    assert rows[2][2] == '\'=HYPERLINK("http://x")'
    assert rows[2][3] == "'=1+1 label from a dictionary"
    assert rows[2][4:] == [
        "-1.5",
        "0.5",
        "-0.2",
        "-3.0",
        "0.0004",
        "-2.5",
        "-0.5",
        "1.1",
    ]
    assert len(rows) == 3


def test_tables_xlsx_reads_back_with_numbers_as_numbers(client, done_run):
    client.force_login(investigator(done_run.study))
    response = client.get(reverse("analysis:tables_xlsx", args=[done_run.pk]))
    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == runs.TABLE_HEADER
    assert rows[1][2:6] == ("(Intercept)", "(Intercept)", -1.5, 0.5)
    assert rows[1][6] is None
    assert rows[2][2] == '\'=HYPERLINK("http://x")'
    assert rows[2][3] == "'=1+1 label from a dictionary"
    assert rows[2][4] == -1.5


def test_results_pages_hold_no_study_ids_or_contact_details(client, study):
    demo.seed_demo_users(study)
    demo.seed_demo_participants(study, today=timezone.localdate())
    user = investigator(study)
    run = runs.request_run(study=study, preset="reference", user=user)
    runs.perform(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.DONE

    client.force_login(user)
    pages = [
        client.get(run.get_absolute_url()).content.decode(),
        client.get(reverse("analysis:tables_csv", args=[run.pk])).content.decode(),
        client.get(reverse("analysis:run_list")).content.decode(),
    ]
    assert "Table 10." in pages[0]
    secrets = set(study.participants.values_list("code", flat=True))
    for contact in ParticipantContact.objects.filter(participant__study=study):
        secrets |= {contact.full_name, contact.email, contact.mobile}
    secrets.discard("")
    secrets.discard(None)
    assert secrets
    for page in pages:
        leaked = [secret for secret in secrets if secret in page]
        assert not leaked
