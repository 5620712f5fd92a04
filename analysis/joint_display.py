"""The joint display: who expressed which theme, beside their questionnaire scores.

Rows are the interviewed participants with a transcript, labelled by their
analysis pseudonym; scores come from ``build_dataset`` so that they are the
analysis dataset's own. No transcript text is read here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from django.db.models import QuerySet

from analysis import sampling
from analysis.dataset import build_dataset
from analysis.interview_models import CodedSegment, Theme, Transcript
from analysis.runs import pseudonym
from participants import measures
from participants.models import Study
from studyportal import access

TERTILES = list(sampling.TERTILES)
NO_TERTILE = "unknown"


def display_studies(user) -> QuerySet[Study]:
    """Studies whose joint display the user may see: it holds themes and scores,
    never transcript text."""
    return access.studies_for(user, "see_joint_display")


@dataclass(frozen=True)
class Plan:
    """What the display shows for a study: the scores its sampling strata use,
    at every timepoint and as the change from first to last, and rows grouped by
    its first tertile stratum."""

    grouping: str  # the tertile stratum's name, or "" when the study has none
    columns: list[tuple[str, str]]  # (column, label)
    changes: list[tuple[str, str, str]]  # (change column, first column, last column)
    tertile_variables: list[str]


def plan_for(study: Study) -> Plan:
    strata = measures.study_measures(study).sampling_strata
    timepoints = list(study.timepoints.order_by("order").values_list("code", "label"))
    labels = measures.score_labels(study)
    codes = [code for code, _ in timepoints]
    scores: list[str] = []
    for stratum in strata:
        for column in [*stratum.variables, stratum.before, stratum.after]:
            score = measures.score_of(column, codes)
            if score and score not in scores:
                scores.append(score)
    columns, changes = [], []
    for score in scores:
        label = labels.get(score, score)
        for code, time_label in timepoints:
            columns.append((f"{code}_{score}", f"{label}, {time_label.lower()}"))
        if len(codes) > 1:
            change = f"change_{score}"
            columns.append((change, f"{label}, change"))
            changes.append((change, f"{codes[0]}_{score}", f"{codes[-1]}_{score}"))
    tertile = next((s for s in strata if s.kind == "tertile"), None)
    return Plan(
        grouping=tertile.name if tertile else "",
        columns=columns,
        changes=changes,
        tertile_variables=list(tertile.variables) if tertile else [],
    )


@dataclass(frozen=True)
class Row:
    pseudonym: str
    site: str
    tertile: str
    themes: dict[int, bool]
    scores: dict[str, float | None]


@dataclass(frozen=True)
class TertileCount:
    tertile: str
    participants: int
    themes: dict[int, int]


@dataclass(frozen=True)
class JointDisplay:
    study: Study
    themes: list[Theme]
    rows: list[Row]
    tertiles: list[TertileCount]
    plan: Plan

    @property
    def columns(self) -> list[tuple[str, str]]:
        return self.plan.columns

    @property
    def grouping(self) -> str:
        return self.plan.grouping or "group"

    def header(self) -> list[str]:
        return [
            "pseudonym",
            "site",
            self.grouping,
            *(f"theme: {theme.name}" for theme in self.themes),
            *(column for column, _ in self.columns),
        ]

    def table(self) -> list[list]:
        """One list per participant, in ``header`` order: themes as 1 or 0.

        Themes come before the scores, so that the matrix reads first.
        """
        return [
            [
                row.pseudonym,
                row.site,
                row.tertile,
                *(int(row.themes[theme.pk]) for theme in self.themes),
                *(row.scores[column] for column, _ in self.columns),
            ]
            for row in self.rows
        ]

    def tertile_header(self) -> list[str]:
        return [
            self.grouping,
            "participants",
            *(f"theme: {theme.name}" for theme in self.themes),
        ]

    def tertile_table(self) -> list[list]:
        return [
            [
                count.tertile,
                count.participants,
                *(count.themes[theme.pk] for theme in self.themes),
            ]
            for count in self.tertiles
        ]


def _number(value) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def joint_display(study: Study, *, coder=None) -> JointDisplay:
    """The matrix of interviewed participants by themes, beside their scores.

    A participant expresses a theme when any passage of their transcript (by
    any coder, or by ``coder`` only) carries a code of that theme.
    """
    themes = list(Theme.objects.filter(study=study))
    transcripts = list(
        Transcript.objects.filter(interview__participant__study=study).values_list(
            "pk", "interview__participant__code", "interview__participant__site__code"
        )
    )
    coded = CodedSegment.codes.through.objects.filter(
        codedsegment__transcript__in=[pk for pk, _, _ in transcripts]
    )
    if coder is not None:
        coded = coded.filter(codedsegment__coder=coder)
    expressed = set(
        coded.values_list("codedsegment__transcript_id", "code__theme_id").distinct()
    )

    plan = plan_for(study)
    frame = build_dataset(study).frame
    for column, _ in plan.columns:
        if column not in frame:
            frame[column] = float("nan")
    for change, first, last in plan.changes:
        before = frame[first].astype("float64")
        after = frame[last].astype("float64")
        # Six places keep every digit a score has and drop subtraction noise.
        frame[change] = (after - before).round(6)
    # Over everyone in the dataset, not only those who agreed to interview.
    if plan.tertile_variables:
        tertiles = sampling.tertile_of(frame, plan.tertile_variables)
    else:
        tertiles = pd.Series(NO_TERTILE, index=frame.index, dtype="object")

    rows = []
    for pk, code, site in transcripts:
        in_dataset = code in frame.index
        rows.append(
            Row(
                pseudonym=pseudonym(code),
                site=site,
                tertile=tertiles[code] if in_dataset else NO_TERTILE,
                themes={theme.pk: (pk, theme.pk) in expressed for theme in themes},
                scores={
                    column: _number(frame.at[code, column]) if in_dataset else None
                    for column, _ in plan.columns
                },
            )
        )
    order = {name: index for index, name in enumerate([*TERTILES, NO_TERTILE])}
    rows.sort(key=lambda row: (order[row.tertile], row.pseudonym))

    counts = []
    for tertile in [*TERTILES, NO_TERTILE]:
        members = [row for row in rows if row.tertile == tertile]
        if tertile == NO_TERTILE and not members:
            continue
        counts.append(
            TertileCount(
                tertile=tertile,
                participants=len(members),
                themes={
                    theme.pk: sum(row.themes[theme.pk] for row in members)
                    for theme in themes
                },
            )
        )
    return JointDisplay(
        study=study, themes=themes, rows=rows, tertiles=counts, plan=plan
    )
