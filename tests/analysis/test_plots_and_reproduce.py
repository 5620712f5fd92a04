"""Diagnostics plots, the run's data and its R script: access, content, freshness."""

import csv
import io

import numpy as np
import pandas as pd
import pytest
from django.urls import reverse

from analysis import plots, runs
from analysis.models import AnalysisRun, RunStatus
from analysis.specification import ModelSpec
from participants.models import Participant, ParticipantStatus, Study
from tests.factories import UserFactory, clinic_staff, coordinator, investigator

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def seeded_run(demo_cohort, django_db_blocker):
    """A reference run on the demo cohort, made once for the module.

    The task the run queues waits for a commit, which never comes: the seeding
    is rolled back at the end.
    """
    with django_db_blocker.unblock():
        study = Study.objects.get(pk=demo_cohort)
        run = runs.request_run(study=study, preset="reference", user=None)
        runs.perform(run.pk)
        return run.pk


@pytest.fixture
def finished_run(seeded_run, db):
    run = AnalysisRun.objects.get(pk=seeded_run)
    assert run.status == RunStatus.DONE
    return run


def fitted_name(run) -> str:
    return next(model["name"] for model in run.results if "error" not in model)


def urls(run) -> list[str]:
    name = fitted_name(run)
    return [
        reverse("analysis:diagnostics_svg", args=[run.pk, name]),
        reverse("analysis:diagnostics_png", args=[run.pk, name]),
        reverse("analysis:data_csv", args=[run.pk]),
        reverse("analysis:reproduce_r", args=[run.pk]),
    ]


def test_anonymous_visitors_are_sent_to_log_in(client, finished_run):
    for url in urls(finished_run):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["clinic_staff", "coordinator"])
def test_other_roles_are_refused(client, finished_run, role):
    study = finished_run.study
    if role == "clinic_staff":
        user = clinic_staff(study.sites.first())
    else:
        user = coordinator(study)
    client.force_login(user)
    for url in urls(finished_run):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("who", ["investigator", "admin"])
def test_investigators_and_admins_download_every_file(client, finished_run, who):
    if who == "investigator":
        user = investigator(finished_run.study)
    else:
        user = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(user)
    svg, png, data, script = (client.get(url) for url in urls(finished_run))
    for response in (svg, png, data, script):
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment; filename=")
    name = fitted_name(finished_run)
    assert f"{name}-diagnostics.svg" in svg["Content-Disposition"]
    assert svg["Content-Type"].startswith("image/svg+xml")
    assert svg.content.lstrip().startswith((b"<?xml", b"<svg"))
    assert b"<svg" in svg.content
    assert b" style=" not in svg.content
    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(PNG)
    assert data["Content-Type"].startswith("text/csv")
    assert script["Content-Disposition"].endswith('-reproduce.R"')


def test_the_run_page_links_to_diagnostics_data_and_script(client, finished_run):
    client.force_login(investigator(finished_run.study))
    page = client.get(finished_run.get_absolute_url()).content.decode()
    for url in urls(finished_run):
        assert url in page
    failed = [model["name"] for model in finished_run.results if "error" in model]
    for name in failed:
        assert (
            reverse("analysis:diagnostics_svg", args=[finished_run.pk, name])
            not in page
        )
    assert "Diagnostics (" in page and "Data (CSV)" in page and "R script" in page


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.RUNNING, "failed"])
def test_an_unfinished_run_has_no_files(client, finished_run, status):
    AnalysisRun.objects.filter(pk=finished_run.pk).update(status=status)
    client.force_login(investigator(finished_run.study))
    for url in urls(finished_run):
        assert client.get(url).status_code == 404, url


def test_an_unknown_or_unfitted_model_has_no_diagnostics(client, finished_run):
    # Every reference model fits the demo data; this one cannot be fitted.
    impossible = ModelSpec(
        name="impossible",
        outcome="baseline_selfmgmt_total",
        blocks=[["no_such_variable"]],
        block_names=["Nothing"],
    )
    unfitted = AnalysisRun.objects.create(
        study=finished_run.study,
        preset="custom",
        specification=[impossible.as_dict()],
    )
    runs.perform(unfitted.pk)
    unfitted.refresh_from_db()
    assert "error" in unfitted.results[0]
    client.force_login(investigator(finished_run.study))
    for run, name in [(finished_run, "no_such_model"), (unfitted, "impossible")]:
        url = reverse("analysis:diagnostics_svg", args=[run.pk, name])
        assert client.get(url).status_code == 404


def test_changed_data_are_not_drawn_or_exported(client, finished_run):
    participant = Participant.objects.filter(study=finished_run.study).first()
    participant.status = (
        ParticipantStatus.LOST
        if participant.status != ParticipantStatus.LOST
        else ParticipantStatus.ACTIVE
    )
    participant.save()
    client.force_login(investigator(finished_run.study))
    for url in urls(finished_run):
        response = client.get(url)
        assert response.status_code == 409, url
        assert b"have changed since analysis run" in response.content
        assert "Content-Disposition" not in response


def test_the_data_hold_pseudonyms_and_only_the_used_variables(client, finished_run):
    client.force_login(investigator(finished_run.study))
    text = client.get(urls(finished_run)[2]).content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    codes = set(
        Participant.objects.filter(study=finished_run.study).values_list(
            "code", flat=True
        )
    )
    assert rows
    assert not any(code in text for code in codes)
    assert {row["pseudonym"] for row in rows} <= {runs.pseudonym(c) for c in codes}
    used = {spec["outcome"] for spec in finished_run.specification} | {
        name
        for spec in finished_run.specification
        for block in spec["blocks"]
        for name in block
    }
    assert set(rows[0]) == used | {"pseudonym"}
    assert {"status", "enrolled_on", "ethnicity", "site"}.isdisjoint(rows[0])
    assert {"Female", "Male"} <= {row["sex"] for row in rows}


def test_text_cells_cannot_run_as_formulas():
    from analysis import reproduce
    from analysis.specification import ModelSpec

    frame = pd.DataFrame(
        {
            "y": [1.0, -2.0],
            "group": pd.Categorical(["=cmd()", "@SUM(A1)"]),
            "unused": ["x", "y"],
        },
        index=pd.Index(["P1", "P2"], name="pseudonym"),
    )
    spec = ModelSpec("m", "y", [["group"]], ["Group"], {"group": None})
    data = reproduce.analysis_frame(frame, [spec])
    assert list(data.columns) == ["y", "group"]
    assert list(data["group"]) == ["'=cmd()", "'@SUM(A1)"]
    assert list(data["y"]) == [1.0, -2.0]


def test_the_r_script_refits_every_model(client, finished_run):
    client.force_login(investigator(finished_run.study))
    script = client.get(urls(finished_run)[3]).content.decode()
    assert 'read.csv("data.csv"' in script
    for spec in finished_run.specification:
        assert spec["outcome"] in script
    assert script.count("lm(") == sum(
        len(spec["blocks"]) for spec in finished_run.specification
    )
    assert 'relevel(d[["sex"]], ref = "Female")' in script
    assert 'relevel(d[["education"]]' in script
    assert "anova(m1, m2, m3)" in script
    assert "summary(m3)" in script


def test_the_diagnostic_figure_has_two_titled_panels():
    rng = np.random.default_rng(1)
    fitted = rng.normal(size=30)
    figure = plots.diagnostic_figure(fitted, rng.normal(size=30), title="Model A")
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == [
        "Residuals against fitted values",
        "Normal Q-Q plot of standardised residuals",
    ]
    assert figure.get_suptitle() == "Model A"
    assert plots.render(figure, "png").startswith(PNG)
    assert plots.render(figure, "svg").startswith(b"<?xml")
    with pytest.raises(ValueError):
        plots.render(figure, "pdf")
    with pytest.raises(ValueError):
        plots.diagnostic_figure([1.0, 2.0], [1.0])


@pytest.mark.parametrize("fmt", plots.FORMATS)
def test_l5_a_model_name_with_dollar_signs_is_drawn_as_plain_text(fmt):
    # A custom model's name is the figure's title; mathtext would parse it.
    name = r"Partnership $\foo{$ model"
    rng = np.random.default_rng(2)
    figure = plots.diagnostic_figure(
        rng.normal(size=20), rng.normal(size=20), title=f"Residuals: {name}"
    )
    drawn = plots.render(figure, fmt, title=f"Residuals: {name}")
    if fmt == "svg":
        assert drawn.decode().count(name) == 2  # the title element and the text
    else:
        assert drawn.startswith(PNG)
