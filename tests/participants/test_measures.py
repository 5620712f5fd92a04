"""A study's measures come from its protocol, for any study."""

import pytest

from participants import measures, protocol
from studyportal import demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def knee():
    path = protocol.STUDIES_DIR / "knee_physio.yaml"
    return protocol.load(protocol.read_file(path)).study


def test_the_reference_studys_key_measures_and_table_one():
    study = demo.seed_reference_study()
    found = {m.name: m for m in measures.key_measures(study)}
    assert list(found) == [
        "age",
        "pain_duration_months",
        "pain_severity",
        "hads_anxiety",
        "hads_depression",
        "partnership_clinician",
        "partnership_confidence",
        "selfmgmt_total",
    ]
    assert found["age"].path == "answers__age"
    assert found["age"].instrument == "baseline_characteristics"
    assert found["pain_severity"].path == "scores__pain_severity__value"
    assert found["selfmgmt_total"].column == "baseline_selfmgmt_total"
    assert measures.table_one_columns(study)[:4] == [
        "age",
        "sex",
        "education",
        "pain_duration_months",
    ]
    assert measures.characteristic(study, "sex").path == "answers__sex"


def test_another_studys_measures_are_its_own(knee):
    found = [m.column for m in measures.key_measures(knee)]
    assert found == [
        "age",
        "knee_pain_months",
        "bmi",
        "baseline_knee_pain",
        "baseline_knee_function",
        "baseline_knee_confidence",
    ]
    assert measures.characteristic(knee, "sex").instrument == "knee_characteristics"
    assert "baseline_pain_severity" not in measures.table_one_columns(knee)
