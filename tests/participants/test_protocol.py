"""A study's protocol file: checking it, loading it, versions, and writing it back."""

import io
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from participants import protocol
from participants.models import ProtocolVersion, Study, Visit
from studyportal import demo
from tests.participants import journeys

pytestmark = pytest.mark.django_db


def reference_data() -> dict:
    return yaml.safe_load(demo.REFERENCE_PROTOCOL.read_text())


def write(tmp_path: Path, data: dict, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def remove_study(study: Study) -> None:
    """Take an empty study out of the database, as if it had never been loaded."""
    study.timepoints.all().delete()
    study.sites.all().delete()
    study.consent_forms.all().delete()
    study.delete()


@pytest.mark.parametrize("path", protocol.shipped_files(), ids=lambda p: p.name)
def test_each_shipped_study_round_trips_through_an_empty_database(path, tmp_path):
    loaded = protocol.load(protocol.read_file(path))
    first = protocol.export_yaml(loaded.study)
    remove_study(loaded.study)
    assert not Study.objects.exists()
    out = tmp_path / "exported.yaml"
    out.write_text(first)
    call_command("load_study", str(out), stdout=io.StringIO())
    again = io.StringIO()
    call_command("export_study", loaded.study.slug, stdout=again)
    assert again.getvalue() == first


def test_loading_the_same_file_twice_changes_nothing():
    out = io.StringIO()
    call_command("load_study", str(demo.REFERENCE_PROTOCOL), stdout=out)
    call_command("load_study", str(demo.REFERENCE_PROTOCOL), stdout=out)
    assert out.getvalue().splitlines() == [
        "back-pain-partnership: created (protocol version 1)",
        "back-pain-partnership: unchanged",
    ]
    assert ProtocolVersion.objects.count() == 1


def test_the_file_declares_the_whole_study():
    study = protocol.load(demo.reference_protocol()).study
    assert study.recruitment_target == 147
    assert [s.recruitment_target for s in study.sites.order_by("code")] == [55, 50, 42]
    followup = study.timepoints.get(code="followup")
    assert (followup.offset_days, followup.window_before_days) == (90, 14)
    assert followup.instruments.count() == 4
    assert study.criteria.get(code="adult").exclusion_reason == "Under 18"
    form = study.consent_forms.get()
    assert form.statements.get(code="interview").required is False
    assert study.reminder_policy.first_reminder_days == 7
    assert "selfmgmt_total" in study.measures["key_measures"]
    assert study.measures["presets"][0]["name"] == "reference"


def test_a_change_makes_a_new_version_and_keeps_collected_data(
    tmp_path, site_a, staff_a
):
    study = site_a.study
    participant = journeys.enrol(site_a, staff_a)
    visits = Visit.objects.filter(participant=participant).count()
    data = reference_data()
    data["timepoints"][1]["window_after"] = 21
    data["sites"][0]["target"] = 60
    out = io.StringIO()
    call_command(
        "load_study", str(write(tmp_path, data)), "--note", "wider", stdout=out
    )
    assert "updated to protocol version" in out.getvalue()
    latest = study.protocol_versions.first()
    assert latest.note == "wider"
    assert latest.protocol["timepoints"][1]["window_after"] == 21
    assert Visit.objects.filter(participant=participant).count() == visits
    assert study.timepoints.get(code="followup").window_after_days == 21


def test_a_change_that_would_orphan_data_is_refused_with_the_reason(
    tmp_path, site_a, staff_a
):
    study = site_a.study
    journeys.enrol(site_a, staff_a)
    data = reference_data()
    data["timepoints"] = data["timepoints"][:1]
    data["measures"]["presets"] = []
    data["measures"]["sampling_strata"] = []
    data["sites"] = [s for s in data["sites"] if s["code"] != site_a.code]
    data["consent"][0]["statements"][0]["text"] = "Something else entirely."
    with pytest.raises(CommandError) as refused:
        call_command("load_study", str(write(tmp_path, data)), stdout=io.StringIO())
    message = str(refused.value)
    assert "timepoints: followup has visits; it cannot be removed" in message
    assert f"sites: {site_a.code} has screenings or participants" in message
    assert "add a new version instead" in message
    assert study.timepoints.filter(code="followup").exists()
    assert study.sites.filter(code=site_a.code).exists()


def test_every_problem_is_named_with_the_file_and_where_it_is(tmp_path):
    data = reference_data()
    data["sites"].append({"code": "LDS", "name": "Another Leeds"})
    data["timepoints"][1]["window_after"] = -3
    data["timepoints"][1]["instruments"].append("no_such_questionnaire")
    data["eligibility"][0]["excluded_because"] = "typo in the key"
    path = write(tmp_path, data, "broken.yaml")
    with pytest.raises(CommandError) as refused:
        call_command("load_study", str(path), stdout=io.StringIO())
    message = str(refused.value)
    assert message.startswith("broken.yaml: ")
    assert "timepoints[followup].window_after" in message
    assert "eligibility[adult].excluded_because: Extra inputs are not permitted" in (
        message
    )
    assert not Study.objects.exists()

    data = reference_data()
    data["sites"].append({"code": "LDS", "name": "Another Leeds"})
    data["timepoints"][1]["instruments"].append("no_such_questionnaire")
    data["measures"]["key_measures"].append("shoe_size")
    data["measures"]["presets"][0]["blocks"][0]["variables"].append("hair_colour")
    with pytest.raises(CommandError) as refused:
        call_command("load_study", str(write(tmp_path, data)), stdout=io.StringIO())
    message = str(refused.value)
    assert "site code 'LDS' is used twice" in message
    assert "there is no instrument 'no_such_questionnaire' in the library" in message


def test_measures_must_name_variables_the_instruments_provide(tmp_path):
    data = reference_data()
    data["measures"]["key_measures"].append("shoe_size")
    data["measures"]["presets"][0]["blocks"][0]["variables"].append("hair_colour")
    data["measures"]["presets"][0]["outcomes"].append("pain_severity_at_night")
    data["measures"]["characteristics"]["sex"] = "gender"
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.read_file(write(tmp_path, data))
    problems = refused.value.problems
    assert "measures.key_measures: 'shoe_size' is no characteristic or score" in (
        " ".join(problems)
    )
    assert any(
        "'hair_colour' is no variable of the study's data" in p for p in problems
    )
    assert any("'pain_severity_at_night' is not measured at" in p for p in problems)
    assert any("characteristics.sex: 'gender'" in p for p in problems)


def test_an_unknown_study_to_export_names_the_ones_there_are():
    protocol.load(demo.reference_protocol())
    with pytest.raises(CommandError, match="there are: back-pain-partnership"):
        call_command("export_study", "nothing-here", stdout=io.StringIO())


def test_a_site_code_another_study_uses_is_refused(tmp_path):
    protocol.load(demo.reference_protocol())
    data = yaml.safe_load((protocol.STUDIES_DIR / "knee_physio.yaml").read_text())
    data["sites"][0]["code"] = "LDS"
    with pytest.raises(CommandError, match=r"sites\[LDS\]: the code is used by Back"):
        call_command("load_study", str(write(tmp_path, data)), stdout=io.StringIO())
    assert not Study.objects.filter(slug="knee-physio").exists()
