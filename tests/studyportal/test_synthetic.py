"""The synthetic cohort: the demo's shape, and that its planted effects come back."""

import datetime as dt
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from analysis.dataset import build_dataset
from analysis.specification import fit
from instruments import scoring
from instruments.models import Response, ResponseStatus
from participants.models import Visit, VisitStatus
from studyportal import synthetic
from tests.factories import reference_specs

TOTALS = [f"baseline_{synthetic.OUTCOME}", f"followup_{synthetic.OUTCOME}"]
SUBSCALES = [
    "selfmgmt_knowledge",
    "selfmgmt_partnership",
    "selfmgmt_symptoms",
    "selfmgmt_coping",
]


def reference_spec(name):
    return next(spec for spec in reference_specs() if spec.name == name)


def last_block(result):
    assert "error" not in result, result.get("error")
    return result["blocks"][-1]


# ---------------------------------------------------------------------------
# The demo cohort


def submitted(study, timepoint):
    return Response.objects.filter(
        visit__participant__study=study,
        visit__timepoint__code=timepoint,
        status=ResponseStatus.SUBMITTED,
    )


def test_the_demo_has_the_reference_studys_numbers(demo_study, db):
    assert demo_study.participants.count() == 147
    baseline = Counter(
        submitted(demo_study, "baseline").values_list("instrument__slug", flat=True)
    )
    followup = Counter(
        submitted(demo_study, "followup").values_list("instrument__slug", flat=True)
    )
    assert set(baseline.values()) == {147} and len(baseline) == 5
    assert set(followup.values()) == {103} and len(followup) == 4
    still_open = Visit.objects.filter(
        participant__study=demo_study,
        timepoint__code="followup",
        status=VisitStatus.OPEN,
    )
    assert still_open.count() >= 10
    started = still_open.filter(responses__isnull=False).distinct().count()
    assert 0 < started < still_open.count() / 2


def test_the_demo_data_recover_the_planted_coefficients(demo_study, db):
    frame = build_dataset(demo_study).frame
    for name in TOTALS:
        result = fit(frame, reference_spec(name))
        block = last_block(result)
        planted = synthetic.PLANTED[name]
        for coefficient in block["coefficients"]:
            value = planted.coefficient(coefficient["term"])
            assert coefficient["ci_low"] <= value <= coefficient["ci_high"], (
                name,
                coefficient,
            )
    # The study's question: partnership adds to what the covariates explain.
    baseline = last_block(fit(frame, reference_spec(TOTALS[0])))
    assert baseline["r_squared_change"] > 0.1 and baseline["p_f_change"] < 0.001
    for term in ("baseline_partnership_clinician", "baseline_partnership_confidence"):
        coefficient = next(c for c in baseline["coefficients"] if c["term"] == term)
        assert coefficient["ci_low"] > 0


# ---------------------------------------------------------------------------
# The model itself, without a database


def test_the_same_seed_gives_the_same_participants():
    first = list(synthetic.simulate(20, seed=7))
    assert first == list(synthetic.simulate(20, seed=7))
    assert first != list(synthetic.simulate(20, seed=8))


def test_the_age_is_the_enrolment_forms_own_on_the_day_of_enrolment():
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=n) for n in range(366)]
    for person in synthetic.simulate(len(days), seed=3, enrolled_on=days):
        born, on = person.date_of_birth, person.enrolled_on
        whole_years = (
            on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        )
        assert person.age == whole_years
        assert 22 <= person.age <= 84


def test_scores_are_the_scoring_engines_and_some_items_are_skipped():
    definitions = synthetic.shipped_definitions()
    people = list(synthetic.simulate(500, seed=5))
    skipped = missing_subscales = 0
    for person in people:
        for timepoint, by_slug in person.answers.items():
            for slug, answers in by_slug.items():
                definition = definitions[slug]
                results = scoring.score_answers(definition, answers)
                for name, result in results.items():
                    assert person.scores[timepoint][name] == result.value
                    missing_subscales += result.value is None
                answerable = [i for i in definition.items() if i.is_answerable]
                skipped += len(answerable) - len(answers)
    asked = (
        500
        * 2
        * sum(
            1
            for slug in (*synthetic.PREDICTOR_INSTRUMENTS, synthetic.OUTCOME_INSTRUMENT)
            for item in definitions[slug].items()
            if item.is_answerable
        )
    )
    assert 0.005 < skipped / asked < 0.04
    assert missing_subscales > 0


def simulated_frame(people) -> pd.DataFrame:
    """The analysis dataset's columns, from the simulation's engine scores."""
    characteristics = synthetic.shipped_definitions()[synthetic.CHARACTERISTICS]
    labels = {
        name: dict(characteristics.item(name).choice_list)
        for name in ("sex", "education")
    }
    rows = []
    for person in people:
        row = {
            "age": float(person.age),
            "pain_duration_months": float(
                person.characteristics["pain_duration_months"]
            ),
            "sex": labels["sex"][person.characteristics["sex"]],
            "education": labels["education"][person.characteristics["education"]],
        }
        for timepoint, scores in person.scores.items():
            row |= {f"{timepoint}_{name}": value for name, value in scores.items()}
        rows.append(row)
    frame = pd.DataFrame(rows)
    for name, choices in labels.items():
        frame[name] = pd.Categorical(frame[name], categories=list(choices.values()))
    numeric = [c for c in frame.columns if c not in labels]
    frame[numeric] = frame[numeric].astype("float64")
    return frame


@pytest.fixture(scope="module")
def large_simulation():
    return simulated_frame(synthetic.simulate(20_000, seed=2018))


def planted_for(name):
    """The planted model of an outcome, and the share its coefficients take."""
    if name in synthetic.PLANTED:
        return synthetic.PLANTED[name], 1.0
    score = name.removeprefix("baseline_")
    return synthetic.PLANTED[TOTALS[0]], synthetic.subscale_share(score)


@pytest.mark.parametrize("name", TOTALS + [f"baseline_{s}" for s in SUBSCALES])
def test_a_large_simulation_recovers_every_planted_coefficient(large_simulation, name):
    block = last_block(fit(large_simulation, reference_spec(name)))
    model, share = planted_for(name)
    assert block["n"] > 18_000
    for coefficient in block["coefficients"]:
        value = model.coefficient(coefficient["term"]) * share
        assert abs(coefficient["b"] - value) < 4 * coefficient["se"], coefficient
    # Tight: the study's effects are measured to within a few percent.
    slopes = [
        c
        for c in block["coefficients"]
        if "partnership" in c["term"] or c["term"].endswith(synthetic.OUTCOME)
    ]
    assert slopes
    for coefficient in slopes:
        value = model.coefficient(coefficient["term"]) * share
        assert coefficient["se"] < 0.05 * abs(value)


def test_the_readme_states_the_planted_coefficients():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| planted coefficient |", 1)[1].split("\n\n", 1)[0]
    rows = {
        cells[0]: cells[1:]
        for line in table.splitlines()[2:]
        if (cells := [cell.strip() for cell in line.strip("|").split("|")])
    }
    terms = {
        "intercept": "(Intercept)",
        "baseline self-management total": f"baseline_{synthetic.OUTCOME}",
        "age (per year)": "age",
        "male, or prefers not to say": "sex[Male]",
        "pain severity (same timepoint)": "{}_pain_severity",
        "HADS anxiety": "{}_hads_anxiety",
        "HADS depression": "{}_hads_depression",
        "partnership: working together": "{}_partnership_clinician",
        "partnership: confidence": "{}_partnership_confidence",
    }
    for column, name in enumerate(TOTALS):
        model = synthetic.PLANTED[name]
        stated = {
            label: float(values[column].replace("−", "-"))
            for label, values in rows.items()
            if values[column]
        }
        expected = {"residual standard deviation": model.residual_sd}
        for label, term in terms.items():
            term = term.format(name.split("_")[0])
            if (
                term == "(Intercept)"
                or term.startswith("sex[")
                or (term in model.coefficients)
            ):
                expected[label] = model.coefficient(term)
        assert stated == expected
