"""Investigators build their own specification: the form, the page, re-runs."""

import pytest
from django.urls import reverse

from analysis.dataset import build_dataset, variable_catalogue
from analysis.forms import SpecificationForm, initial_from
from analysis.models import AnalysisRun
from analysis.specification import ModelSpec
from instruments import catalogue
from studyportal import demo
from tests.factories import (
    StudyFactory,
    clinic_staff,
    coordinator,
    investigator,
    reference_specs,
)


@pytest.fixture
def study(db):
    catalogue.load_shipped()
    study = demo.seed_reference_study()
    return study


@pytest.fixture
def queued(monkeypatch):
    from analysis import tasks

    ids = []
    monkeypatch.setattr(tasks.perform_run, "delay", ids.append)
    return ids


def make_form(study, data=None, **kwargs):
    return SpecificationForm(
        data,
        variables=variable_catalogue(study),
        baseline_code="baseline",
        **kwargs,
    )


def choices(**roles) -> dict:
    return {"sample": "all"} | {f"role_{name}": role for name, role in roles.items()}


def test_the_catalogue_names_the_columns_the_dataset_will_have(study):
    variables = {v.name: v for v in variable_catalogue(study)}
    assert variables["sex"].levels[:2] == ("Female", "Male")
    assert variables["site"].levels == tuple(
        study.sites.order_by("code").values_list("code", flat=True)
    )
    assert not variables["baseline_selfmgmt_total"].categorical
    assert "followup_partnership_clinician" in variables
    assert "dob" not in variables  # an identifier never becomes a variable
    assert "status" not in variables


def test_categorical_variables_cannot_be_outcomes(study):
    form = make_form(study)
    assert "outcome" not in dict(form.fields["role_sex"].choices)
    assert "outcome" in dict(form.fields["role_age"].choices)
    assert form.fields["reference_sex"].initial == "Female"


def test_roles_become_one_model_per_outcome_with_shared_blocks(study):
    form = make_form(
        study,
        choices(
            baseline_selfmgmt_total="outcome",
            followup_selfmgmt_total="outcome",
            age="block_1",
            sex="block_1",
            baseline_partnership_clinician="block_3",
        )
        | {
            "reference_sex": "Male",
            "block_1_name": "People",
            "block_3_name": "Working together",
            "baseline_adjust": "on",
            "title": "Partnership only",
        },
    )

    assert form.is_valid(), form.errors
    specs = {spec.outcome: spec for spec in form.cleaned_data["specs"]}
    assert set(specs) == {"baseline_selfmgmt_total", "followup_selfmgmt_total"}
    baseline = specs["baseline_selfmgmt_total"]
    # An empty block 2 is skipped; the names follow the blocks that are used.
    assert baseline.blocks == [["age", "sex"], ["baseline_partnership_clinician"]]
    assert baseline.block_names == ["People", "Working together"]
    assert baseline.categorical == {"sex": "Male"}
    followup = specs["followup_selfmgmt_total"]
    assert followup.blocks[0] == ["age", "sex", "baseline_selfmgmt_total"]
    assert form.cleaned_data["title"] == "Partnership only"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (choices(age="block_1"), "Choose at least one variable as the outcome."),
        (
            choices(baseline_selfmgmt_total="outcome"),
            "Choose at least one predictor by putting a variable in a block.",
        ),
    ],
)
def test_a_specification_without_an_outcome_or_predictors_says_so(study, data, message):
    form = make_form(study, data)
    assert not form.is_valid()
    assert message in form.non_field_errors()


def test_site_cannot_be_both_a_predictor_and_the_covariate(study):
    data = choices(baseline_selfmgmt_total="outcome", site="block_1")
    form = make_form(study, data | {"site_covariate": "on", "reference_site": "LDS"})
    assert not form.is_valid()
    assert "Site is already in the model" in form.errors["site_covariate"][0]


def test_an_unknown_role_or_level_is_refused(study):
    data = choices(baseline_selfmgmt_total="outcome", sex="outcome")
    form = make_form(study, data | {"reference_sex": "Nonsense"})
    assert not form.is_valid()
    assert {"role_sex", "reference_sex"} <= set(form.errors)


def test_the_reference_preset_fills_the_form_and_comes_back_unchanged(study):
    preset = reference_specs()
    initial = initial_from(preset, baseline_code="baseline")
    form = make_form(study, initial | {"reference_education": "A-level or college"})
    # Posted as a browser would: unchecked boxes are absent.
    form.data = {k: ("on" if v is True else v) for k, v in form.data.items() if v}

    assert form.is_valid(), form.errors
    rebuilt = {spec.outcome: spec for spec in form.cleaned_data["specs"]}
    assert set(rebuilt) == {spec.outcome for spec in preset}
    for spec in preset:
        # Within a block, variables come in the protocol's order.
        blocks = rebuilt[spec.outcome].blocks
        assert [sorted(block) for block in blocks] == [sorted(b) for b in spec.blocks]
        assert rebuilt[spec.outcome].block_names == spec.block_names
        assert rebuilt[spec.outcome].categorical["sex"] == "Female"


# The page, by role.


def test_clinic_staff_and_coordinators_cannot_build_an_analysis(client, study):
    url = reverse("analysis:specify", args=[study.pk])
    for user in (clinic_staff(study.sites.first()), coordinator(study)):
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert client.post(url, choices(age="block_1")).status_code == 403
    assert not AnalysisRun.objects.exists()


def test_an_investigator_of_another_study_gets_not_found(client, study):
    client.force_login(investigator(StudyFactory()))
    assert client.get(reverse("analysis:specify", args=[study.pk])).status_code == 404


def test_an_investigator_builds_and_queues_a_custom_run(
    client, study, queued, django_capture_on_commit_callbacks
):
    user = investigator(study)
    client.force_login(user)
    url = reverse("analysis:specify", args=[study.pk])
    page = client.get(url).content.decode()
    assert "Looking after your back pain: Self-management total" in page
    assert (
        reverse("analysis:specify", args=[study.pk])
        in client.get(reverse("analysis:run_list")).content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            choices(baseline_selfmgmt_total="outcome", age="block_1")
            | {"title": "Age only", "reference_sex": "Female"},
        )

    run = AnalysisRun.objects.get()
    assert response["Location"] == run.get_absolute_url()
    assert queued == [run.pk]
    assert (run.preset, run.title, run.requested_by) == ("custom", "Age only", user)
    assert [ModelSpec.from_dict(s).blocks for s in run.specification] == [[["age"]]]
    assert "Age only" in client.get(reverse("analysis:run_list")).content.decode()


def test_a_refused_specification_keeps_every_choice(client, study):
    client.force_login(investigator(study))
    url = reverse("analysis:specify", args=[study.pk])
    response = client.post(
        url,
        choices(age="block_2", baseline_pain_severity="block_1")
        | {"title": "Keep me", "reference_sex": "Male"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Choose at least one variable as the outcome." in page
    assert 'value="Keep me"' in page
    assert '<option value="block_2" selected>' in page
    assert '<option value="Male" selected>' in page
    assert not AnalysisRun.objects.exists()


def test_a_run_can_be_edited_from_its_specification(client, study):
    specs = reference_specs()[:1]
    run = AnalysisRun.objects.create(
        study=study,
        preset="custom",
        title="Mine",
        specification=[spec.as_dict() for spec in specs],
    )
    client.force_login(investigator(study))
    url = reverse("analysis:specify", args=[study.pk])
    page = client.get(f"{url}?from={run.pk}").content.decode()
    assert 'value="Mine"' in page
    form = page[page.index('name="role_baseline_selfmgmt_knowledge"') :]
    assert form.index('value="outcome" selected') < form.index("</select>")
    # Another study's run, or nonsense, starts from a blank form.
    assert "Mine" not in client.get(f"{url}?from=abc").content.decode()


def test_run_again_queues_the_same_specification(
    client, study, queued, django_capture_on_commit_callbacks
):
    specs = reference_specs()[:2]
    first = AnalysisRun.objects.create(
        study=study,
        preset="custom",
        title="Twice",
        specification=[spec.as_dict() for spec in specs],
        status="done",
    )
    client.force_login(investigator(study))
    again = reverse("analysis:run_again", args=[first.pk])
    assert client.get(again).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(again)

    second = AnalysisRun.objects.exclude(pk=first.pk).get()
    assert response["Location"] == second.get_absolute_url()
    assert queued == [second.pk]
    assert (second.specification, second.title) == (first.specification, "Twice")


def test_a_custom_model_on_the_demo_data_is_labelled(study):
    from analysis import runs

    demo.seed_demo_users(study)
    demo.seed_demo_participants(study, today=demo_today())
    form = make_form(
        study,
        choices(baseline_selfmgmt_total="outcome", sex="block_1", age="block_1")
        | {"reference_sex": "Female"},
    )
    assert form.is_valid(), form.errors
    run = runs.request_run(
        study=study, user=None, specs=form.cleaned_data["specs"], title="Sex"
    )
    runs.perform(run.pk)
    run.refresh_from_db()
    model = run.results[0]
    assert "error" not in model, model
    assert model["labels"]["sex[Male]"] == "Sex: Male"
    variables = build_dataset(study).variables
    assert model["outcome_label"] == variables["baseline_selfmgmt_total"]


def demo_today():
    from django.utils import timezone

    return timezone.localdate()


def test_run_analysis_reads_a_specification_from_a_file(study, tmp_path):
    import json
    from io import StringIO

    from django.core.management import CommandError, call_command

    spec = ModelSpec(
        name="mine",
        outcome="baseline_selfmgmt_total",
        blocks=[["age"]],
        block_names=["Age"],
    )
    path = tmp_path / "spec.json"
    path.write_text(json.dumps([spec.as_dict()]))
    out = StringIO()
    call_command("run_analysis", "--spec", str(path), stdout=out)
    output = json.loads(out.getvalue())
    assert output["preset"] == "custom"
    assert [model["name"] for model in output["models"]] == ["mine"]
    # No participants yet: the model says why rather than failing.
    assert output["models"][0]["error"]

    path.write_text(json.dumps([{"name": "no outcome"}]))
    with pytest.raises(CommandError, match="each specification needs name, outcome"):
        call_command("run_analysis", "--spec", str(path), stdout=StringIO())
    path.write_text("not json")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("run_analysis", "--spec", str(path), stdout=StringIO())
