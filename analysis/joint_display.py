"""The joint display: who expressed which theme, beside their questionnaire scores.

Rows are the interviewed participants with a transcript, labelled by their
analysis pseudonym; scores come from ``build_dataset`` so that they are the
analysis dataset's own. No transcript text is read here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db.models import QuerySet

from analysis import sampling
from analysis.dataset import build_dataset
from analysis.interview_models import CodedSegment, Theme, Transcript
from analysis.runs import pseudonym
from participants.models import Study
from studyportal import access

# (dataset score, label): each shown at baseline, at follow-up and as the change.
SCORES = [
    ("partnership_clinician", "Partnership: clinician"),
    ("partnership_confidence", "Partnership: confidence"),
    ("selfmgmt_total", "Self-management total"),
]
TIMES = [("baseline", "baseline"), ("followup", "follow-up")]
TERTILES = list(sampling.TERTILES)
NO_TERTILE = "unknown"


def display_studies(user) -> QuerySet[Study]:
    """Studies whose joint display the user may see: it holds themes and scores,
    never transcript text."""
    return access.studies_for(user, "see_joint_display")


def score_columns() -> list[tuple[str, str]]:
    """(column, label) of the scores in display order: each score, then its change."""
    columns = []
    for score, label in SCORES:
        for time, time_label in TIMES:
            columns.append((f"{time}_{score}", f"{label}, {time_label}"))
        columns.append((f"change_{score}", f"{label}, change"))
    return columns


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
    columns: list[tuple[str, str]] = field(default_factory=score_columns)

    def header(self) -> list[str]:
        return [
            "pseudonym",
            "site",
            "partnership_tertile",
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
            "partnership_tertile",
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

    frame = build_dataset(study).frame
    for score, _ in SCORES:
        for time, _ in TIMES:
            column = f"{time}_{score}"
            if column not in frame:
                frame[column] = float("nan")
        before = frame[f"baseline_{score}"].astype("float64")
        after = frame[f"followup_{score}"].astype("float64")
        # Six places keep every digit a score has and drop subtraction noise.
        frame[f"change_{score}"] = (after - before).round(6)
    # Over everyone in the dataset, not only those who agreed to interview.
    tertiles = sampling.partnership_tertile(frame)

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
                    for column, _ in score_columns()
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
    return JointDisplay(study=study, themes=themes, rows=rows, tertiles=counts)
