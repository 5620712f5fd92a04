"""The joint display: themes beside the analysis dataset's scores."""

import math

import pandas as pd
import pytest
from django.contrib.auth import get_user_model

from analysis import coding
from analysis.dataset import build_dataset
from analysis.interview_models import Code, CodedSegment, Theme, Transcript
from analysis.joint_display import display_studies, joint_display
from analysis.runs import pseudonym
from tests.factories import (
    StudyFactory,
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
    qualitative,
)


def codes_by_pseudonym(study) -> dict[str, str]:
    return {
        pseudonym(code): code
        for code in Transcript.objects.filter(
            interview__participant__study=study
        ).values_list("interview__participant__code", flat=True)
    }


def same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and a == pytest.approx(b)


def test_rows_are_the_transcribed_participants_by_pseudonym(coded_study):
    display = joint_display(coded_study)
    labels = codes_by_pseudonym(coded_study)
    assert len(display.rows) == 26
    assert {row.pseudonym for row in display.rows} == set(labels)
    study_codes = set(labels.values())
    for row in display.table():
        assert not study_codes & {cell for cell in row if isinstance(cell, str)}


def test_scores_equal_the_analysis_datasets(coded_study):
    frame = build_dataset(coded_study).frame
    labels = codes_by_pseudonym(coded_study)
    display = joint_display(coded_study)
    checked = 0
    for row in display.rows:
        values = frame.loc[labels[row.pseudonym]]
        for score in ("partnership_clinician", "partnership_confidence"):
            for time in ("baseline", "followup"):
                assert same(row.scores[f"{time}_{score}"], values[f"{time}_{score}"])
        for time in ("baseline", "followup"):
            column = f"{time}_selfmgmt_total"
            assert same(row.scores[column], values[column])
            checked += values[column] == values[column]
        change = values["followup_selfmgmt_total"] - values["baseline_selfmgmt_total"]
        assert same(row.scores["change_selfmgmt_total"], change)
    assert checked > 26  # most have both a baseline and a follow-up total


def test_tertiles_cut_the_whole_cohort_by_mean_baseline_partnership(coded_study):
    frame = build_dataset(coded_study).frame
    mean = frame[
        ["baseline_partnership_clinician", "baseline_partnership_confidence"]
    ].mean(axis=1, skipna=False)
    expected = pd.qcut(mean.dropna(), 3, labels=["low", "middle", "high"])
    labels = codes_by_pseudonym(coded_study)
    for row in joint_display(coded_study).rows:
        code = labels[row.pseudonym]
        assert row.tertile == expected.get(code, "unknown")


def test_tertile_counts_add_up_the_rows(coded_study):
    display = joint_display(coded_study)
    assert sum(count.participants for count in display.tertiles) == 26
    for count in display.tertiles:
        members = [row for row in display.rows if row.tertile == count.tertile]
        assert count.participants == len(members)
        for theme in display.themes:
            expressing = sum(row.themes[theme.pk] for row in members)
            assert count.themes[theme.pk] == expressing
    assert display.tertile_table()[0][:2] == [
        display.tertiles[0].tertile,
        display.tertiles[0].participants,
    ]


def test_a_theme_is_expressed_when_any_passage_carries_one_of_its_codes(coded_study):
    display = joint_display(coded_study)
    labels = codes_by_pseudonym(coded_study)
    for row in display.rows:
        themes = set(
            CodedSegment.objects.filter(
                transcript__interview__participant__code=labels[row.pseudonym]
            ).values_list("codes__theme", flat=True)
        )
        assert {pk for pk, expressed in row.themes.items() if expressed} == themes


def test_one_coders_view_counts_only_their_passages(coded_study):
    second = get_user_model().objects.get(username="qualitative2")
    coded_by_second = set(
        CodedSegment.objects.filter(coder=second).values_list(
            "transcript__interview__participant__code", flat=True
        )
    )
    display = joint_display(coded_study, coder=second)
    assert len(display.rows) == 26
    for row in display.rows:
        code = codes_by_pseudonym(coded_study)[row.pseudonym]
        assert any(row.themes.values()) == (code in coded_by_second)


def test_a_new_passage_ticks_its_theme(coded_study):
    display = joint_display(coded_study)
    row = next(r for r in display.rows if not all(r.themes.values()))
    theme = next(t for t in display.themes if not row.themes[t.pk] and t.codes.exists())
    code = codes_by_pseudonym(coded_study)[row.pseudonym]
    transcript = Transcript.objects.get(interview__participant__code=code)
    coding.code_passage(
        transcript=transcript,
        coder=qualitative(coded_study),
        start=0,
        end=5,
        codes=[Code.objects.filter(theme=theme).first()],
    )
    rows = joint_display(coded_study).rows
    again = next(r for r in rows if r.pseudonym == row.pseudonym)
    assert again.themes[theme.pk]


def test_the_table_has_a_column_for_each_score_and_theme(coded_study):
    display = joint_display(coded_study)
    header = display.header()
    assert header[:3] == ["pseudonym", "site", "partnership_tertile"]
    assert header[3:7] == [
        f"theme: {theme.name}" for theme in Theme.objects.filter(study=coded_study)
    ]
    # The scores the study's sampling strata use, at each timepoint and changed.
    assert header[7:] == [
        f"{time}_{score}"
        for score in (
            "partnership_clinician",
            "partnership_confidence",
            "selfmgmt_total",
        )
        for time in ("baseline", "followup", "change")
    ]
    assert all(len(row) == len(header) for row in display.table())
    assert {cell for row in display.table() for cell in row[3:7]} == {0, 1}


def test_a_study_without_interviews_has_no_rows_and_zero_counts(study):
    display = joint_display(study)
    assert display.rows == []
    assert [(c.tertile, c.participants) for c in display.tertiles] == [
        ("low", 0),
        ("middle", 0),
        ("high", 0),
    ]


def test_the_research_team_sees_the_display_and_clinic_staff_do_not(coded_study):
    for user in (
        investigator(coded_study),
        coordinator(coded_study),
        qualitative(coded_study),
        UserFactory(is_superuser=True),
    ):
        assert coded_study in display_studies(user)
    assert not display_studies(clinic_staff(coded_study.sites.first())).exists()
    assert coded_study not in display_studies(investigator(StudyFactory()))
