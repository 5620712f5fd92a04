import pandas as pd
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analysis.dataset import build_dataset, content_hash
from instruments.models import Response, ResponseStatus
from participants import withdrawal
from participants.models import ParticipantStatus, WithdrawalReason
from tests.participants import journeys

# The demo answers open visits through the questionnaire, which checks the real
# clock, so its "today" has to be the real one; fixed once for the module.
SEX_LABELS = ["Female", "Male", "Other or prefers to self-describe"]
SEX_LABELS += ["Prefers not to say"]


def submitted(study, slug, timepoint):
    return Response.objects.filter(
        visit__participant__study=study,
        instrument__slug=slug,
        visit__timepoint__code=timepoint,
        status=ResponseStatus.SUBMITTED,
    ).select_related("visit__participant")


def test_it_has_one_row_per_participant_without_those_who_took_their_data_back(
    demo_study,
):
    leaving = demo_study.participants.filter(status=ParticipantStatus.ACTIVE).first()
    withdrawal.withdraw(
        leaving,
        withdrawn_on=timezone.localdate(),
        reason=WithdrawalReason.TOO_BURDENSOME,
        keep_data=False,
        today=timezone.localdate(),
    )

    frame = build_dataset(demo_study).frame

    kept = demo_study.participants.exclude(code=leaving.code)
    assert sorted(frame.index) == sorted(kept.values_list("code", flat=True))
    assert len(frame) == demo_study.participants.count() - 1
    assert frame.index.name == "study_id"
    # Withdrawn participants who let their data be kept stay in.
    assert (frame["status"] == ParticipantStatus.WITHDRAWN).sum() == 2


def test_it_names_columns_by_timepoint_and_score(demo_study):
    dataset = build_dataset(demo_study)

    for column in [
        "site",
        "status",
        "enrolled_on",
        "baseline_selfmgmt_knowledge",
        "followup_selfmgmt_total",
        "baseline_pain_severity",
        "baseline_hads_anxiety",
        "age",
        "pain_duration_months",
        "sex",
        "ethnicity",
        "treatments_1",
        "treatments_6",
    ]:
        assert column in dataset.frame.columns
        assert dataset.variables[column]
    assert list(dataset.frame.columns[:3]) == ["site", "status", "enrolled_on"]
    assert "dob" not in dataset.frame.columns  # an identifier
    assert "treatments_other" not in dataset.frame.columns  # free text
    assert dataset.variables["baseline_selfmgmt_knowledge"].endswith("(Baseline)")
    assert dataset.frame["baseline_selfmgmt_total"].dtype == "float64"
    assert list(dataset.frame["site"].cat.categories) == ["LDS", "SHF", "YRK"]


def test_its_values_are_the_stored_scores_and_answers(demo_study):
    response = submitted(demo_study, "self_management", "baseline").first()
    code = response.visit.participant.code
    pain = submitted(demo_study, "pain_severity", "baseline").get(
        visit__participant__code=code
    )
    characteristics = submitted(demo_study, "baseline_characteristics", "baseline")
    answers = characteristics.get(visit__participant__code=code).answers

    row = build_dataset(demo_study).frame.loc[code]

    for name in ["selfmgmt_knowledge", "selfmgmt_total"]:
        assert row[f"baseline_{name}"] == response.scores[name]["value"]
    assert row["baseline_pain_severity"] == pain.scores["pain_severity"]["value"]
    assert row["age"] == answers["age"]
    assert row["pain_duration_months"] == answers["pain_duration_months"]
    participant = response.visit.participant
    assert row["site"] == participant.site.code
    assert row["status"] == participant.status
    assert row["enrolled_on"] == pd.Timestamp(participant.enrolled_on)


def test_single_choice_items_are_categorical_with_their_labels(demo_study):
    characteristics = submitted(demo_study, "baseline_characteristics", "baseline")
    labels = dict(zip(["1", "2", "3", "4"], SEX_LABELS, strict=True))

    sex = build_dataset(demo_study).frame["sex"]

    assert isinstance(sex.dtype, pd.CategoricalDtype)
    assert list(sex.cat.categories) == SEX_LABELS
    for response in characteristics:
        code = response.visit.participant.code
        assert sex[code] == labels[response.answers["sex"]]


def test_checkbox_items_become_one_zero_or_one_column_per_option(demo_study):
    characteristics = submitted(demo_study, "baseline_characteristics", "baseline")

    frame = build_dataset(demo_study).frame

    columns = [f"treatments_{n}" for n in range(1, 7)]
    assert set(frame[columns].stack().unique()) <= {0, 1}
    for response in characteristics:
        ticked = set(response.answers.get("treatments", []))
        row = frame.loc[response.visit.participant.code, columns]
        assert {column[-1] for column in columns if row[column] == 1} == ticked


def test_missing_report_counts_who_has_each_variable(demo_study):
    answered = submitted(demo_study, "self_management", "followup").count()

    dataset = build_dataset(demo_study)

    rows = len(dataset.frame)
    report = dataset.missing.loc["followup_selfmgmt_total"]
    assert report["present"] == answered
    assert report["missing"] == rows - answered
    assert report["percent_missing"] == round((rows - answered) / rows * 100, 1)
    assert dataset.missing.loc["site", "missing"] == 0
    assert set(dataset.missing.index) == set(dataset.frame.columns)


def test_content_hash_is_stable_and_follows_the_data(demo_study):
    first = build_dataset(demo_study)
    second = build_dataset(demo_study)
    assert first.content_hash == second.content_hash
    shuffled = first.frame.iloc[::-1][list(reversed(first.frame.columns))]
    assert content_hash(shuffled) == first.content_hash

    response = submitted(demo_study, "self_management", "baseline").first()
    response.scores["selfmgmt_total"]["value"] += 1
    Response.objects.filter(pk=response.pk).update(scores=response.scores)

    assert build_dataset(demo_study).content_hash != first.content_hash


def test_it_takes_the_same_number_of_queries_for_a_larger_cohort(demo_study):
    with CaptureQueriesContext(connection) as before:
        small = build_dataset(demo_study)
    site = demo_study.sites.get(code="LDS")
    coordinator = get_user_model().objects.get(username="coordinator")
    for _ in range(10):
        journeys.enrol(site, coordinator)

    with CaptureQueriesContext(connection) as after:
        large = build_dataset(demo_study)

    assert len(large.frame) == len(small.frame) + 10
    assert len(after.captured_queries) == len(before.captured_queries) <= 6


def test_it_can_be_limited_to_some_sites(demo_study):
    site = demo_study.sites.get(code="SHF")

    frame = build_dataset(demo_study, sites=[site]).frame

    assert len(frame) == site.participants.count()
    assert set(frame["site"]) == {"SHF"}
