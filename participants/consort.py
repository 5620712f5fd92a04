"""The CONSORT-style flow of a cohort, counted live and drawn with matplotlib.

Aggregate numbers only, so investigators may have it. The counts come from the
same scope as the retention dashboard and reconcile with its tables: where each
participant stands at follow-up is ``participants.followup``'s state of their
visit at the last timepoint. The analysed N is never worked out here: it is the
N of each model of the study's latest finished analysis run, read through the
function the analysis app registers (``read_analysed_with``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils import timezone

from participants import followup
from participants.followup import FollowUpState, StateCounts
from participants.models import (
    DeclineReason,
    EligibilityCriterion,
    LostReason,
    ParticipantStatus,
    ScreeningOutcome,
    Study,
    Timepoint,
    WithdrawalReason,
)
from participants.retention import (
    Scope,
    baseline_and_followup,
    chart_rc,
    figure_png,
    figure_svg,
)

NO_CRITERION = "no criterion recorded"
NO_REASON = "No reason recorded"


def exclusion_label(criterion: EligibilityCriterion) -> str:
    """Why someone who does not meet the criterion was excluded."""
    return criterion.exclusion_reason or f"Did not meet: {criterion.text}"


# ---------------------------------------------------------------------------
# The analysed N, from the analysis


@dataclass(frozen=True)
class AnalysedModel:
    name: str
    n: int


@dataclass(frozen=True)
class Analysed:
    """The N of each fitted model of one finished analysis run."""

    run: int
    finished_on: dt.date
    models: tuple[AnalysedModel, ...]

    @property
    def n_range(self) -> str:
        sizes = sorted({model.n for model in self.models})
        if not sizes:
            return "no model fitted"
        return str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}–{sizes[-1]}"


AnalysedReader = Callable[[Study], Analysed | None]
_analysed_reader: AnalysedReader | None = None


def read_analysed_with(reader: AnalysedReader | None) -> None:
    """Where the analysed N comes from: the analysis app gives the function
    that reads its latest finished run (participants may not import it)."""
    global _analysed_reader
    _analysed_reader = reader


def analysed_for(scope: Scope) -> Analysed | None:
    """The latest finished analysis run's N per model, when the scope is the
    whole study (a run analyses every site and enrolment date); else None."""
    if _analysed_reader is None or scope.enrolled_from or scope.enrolled_to:
        return None
    every_site = set(scope.study.sites.values_list("pk", flat=True))
    if {site.pk for site in scope.sites} != every_site:
        return None
    return _analysed_reader(scope.study)


# ---------------------------------------------------------------------------
# Counting


@dataclass(frozen=True)
class ConsortCounts:
    assessed: int = 0
    not_eligible: int = 0
    unmet_criteria: list[tuple[str, int]] = field(default_factory=list)
    declined: int = 0
    decline_reasons: list[tuple[str, int]] = field(default_factory=list)
    not_approached: int = 0
    not_yet_enrolled: int = 0  # agreed or consented, not enrolled (yet)
    enrolled: int = 0
    baseline_completed: int = 0
    # Participants by the state of their visit at the last timepoint.
    followup: StateCounts = field(default_factory=StateCounts)
    lost: int = 0  # participants lost to follow-up, whenever
    lost_reasons: list[tuple[str, int]] = field(default_factory=list)
    withdrawn: int = 0  # participants who withdrew, whenever
    withdrawal_reasons: list[tuple[str, int]] = field(default_factory=list)
    withdrawn_after_followup: int = 0
    removed_from_analysis: int = 0  # completed follow-up, withdrew, data not kept
    analysed_run: Analysed | None = None

    @property
    def excluded(self) -> int:
        return (
            self.not_eligible
            + self.declined
            + self.not_approached
            + self.not_yet_enrolled
        )

    @property
    def allocated_to_followup(self) -> int:
        # An observational cohort: everyone enrolled is followed up.
        return self.enrolled

    @property
    def followup_completed(self) -> int:
        return self.followup.completed

    @property
    def followup_lost(self) -> int:
        return self.followup.lost

    @property
    def followup_withdrawn(self) -> int:
        return self.followup.withdrawn

    @property
    def followup_missed(self) -> int:
        """Window closed without completion, neither withdrawn nor lost."""
        return self.followup.missed

    @property
    def followup_to_come(self) -> int:
        """Not yet due, open or overdue."""
        return self.followup.still_to_come

    @property
    def completed_with_data(self) -> int:
        """Completed follow-up, less those who withdrew asking for their data
        to be removed: who an analysis of completers can include."""
        return self.followup_completed - self.removed_from_analysis

    @property
    def not_followed_up(self) -> int:
        return self.enrolled - self.followup_completed


def consort_counts(
    scope: Scope,
    *,
    timepoints: list[Timepoint],
    criteria: list[EligibilityCriterion] | None = None,
    today: dt.date | None = None,
) -> ConsortCounts:
    """Screening and participant flow for the scope, in a fixed number of queries."""
    today = today or timezone.localdate()
    if criteria is None:
        criteria = list(scope.study.criteria.all())
    screenings = scope.screenings().order_by()
    unmet = {
        criterion.code: Count(
            "id",
            filter=Q(outcome=ScreeningOutcome.INELIGIBLE)
            & Q(**{f"criteria_met__{criterion.code}": False}),
        )
        for criterion in criteria
    }
    none_unmet = Q(outcome=ScreeningOutcome.INELIGIBLE)
    for criterion in criteria:
        none_unmet &= ~Q(**{f"criteria_met__{criterion.code}": False})
    declines = {
        reason: Count(
            "id", filter=Q(outcome=ScreeningOutcome.DECLINED, decline_reason=reason)
        )
        for reason in DeclineReason.values
    }
    screened = screenings.aggregate(
        assessed=Count("id"),
        not_eligible=Count("id", filter=Q(outcome=ScreeningOutcome.INELIGIBLE)),
        declined=Count("id", filter=Q(outcome=ScreeningOutcome.DECLINED)),
        not_approached=Count("id", filter=Q(outcome=ScreeningOutcome.NOT_APPROACHED)),
        not_yet_enrolled=Count(
            "id",
            filter=Q(
                outcome__in=[ScreeningOutcome.CONSENTING, ScreeningOutcome.CONSENTED],
                participant__isnull=True,
            ),
        ),
        no_criterion=Count("id", filter=none_unmet),
        **{f"unmet__{code}": count for code, count in unmet.items()},
        **{f"decline__{reason}": count for reason, count in declines.items()},
    )
    unmet_criteria = [
        (exclusion_label(criterion), screened[f"unmet__{criterion.code}"])
        for criterion in criteria
        if screened[f"unmet__{criterion.code}"]
    ]
    if screened["no_criterion"]:
        unmet_criteria.append((NO_CRITERION, screened["no_criterion"]))
    decline_labels = dict(DeclineReason.choices)
    decline_reasons = [
        (str(decline_labels[reason]), screened[f"decline__{reason}"])
        for reason in DeclineReason.values
        if screened[f"decline__{reason}"]
    ]

    baseline, last = baseline_and_followup(timepoints)
    participants = scope.participants().order_by()
    annotations = {}
    if baseline is not None:
        annotations["baseline_state"] = followup.state_at(baseline, today=today)
    if last is not None:
        annotations["last_state"] = followup.state_at(last, today=today)
    participants = participants.annotate(**annotations)

    def state(which: str, value: str) -> Q:
        return Q(**{which: value}) if which in annotations else Q(pk__in=[])

    followup_done = state("last_state", FollowUpState.COMPLETED)
    withdrawn = Q(status=ParticipantStatus.WITHDRAWN)
    lost = Q(status=ParticipantStatus.LOST)
    # The reasons of those whose follow-up ended so, to sit under their counts.
    withdrawal_counts = {
        reason: Count(
            "id",
            filter=state("last_state", FollowUpState.WITHDRAWN)
            & Q(withdrawal_reason=reason),
        )
        for reason in WithdrawalReason.values
    }
    # Categories only: staff's own words (the details) never reach the figure.
    lost_counts = {
        reason: Count(
            "id",
            filter=state("last_state", FollowUpState.LOST) & Q(lost_reason=reason),
        )
        for reason in LostReason.values
    }
    flow = participants.aggregate(
        enrolled=Count("id"),
        **{
            f"state__{value}": Count("id", filter=state("last_state", value))
            for value in FollowUpState.values
        },
        baseline_completed=Count(
            "id", filter=state("baseline_state", FollowUpState.COMPLETED)
        ),
        lost=Count("id", filter=lost),
        withdrawn=Count("id", filter=withdrawn),
        withdrawn_after_followup=Count("id", filter=withdrawn & followup_done),
        removed_from_analysis=Count(
            "id", filter=withdrawn & Q(keep_data=False) & followup_done
        ),
        **{
            f"withdrawal__{reason}": count
            for reason, count in withdrawal_counts.items()
        },
        **{f"lost__{reason}": count for reason, count in lost_counts.items()},
    )
    states = StateCounts.of(
        {value: flow.pop(f"state__{value}") for value in FollowUpState.values}
    )
    withdrawal_reasons = _reasons(
        flow, "withdrawal", WithdrawalReason.choices, states.withdrawn
    )
    lost_reasons = _reasons(flow, "lost", LostReason.choices, states.lost)
    return ConsortCounts(
        assessed=screened["assessed"],
        not_eligible=screened["not_eligible"],
        unmet_criteria=unmet_criteria,
        declined=screened["declined"],
        decline_reasons=decline_reasons,
        not_approached=screened["not_approached"],
        not_yet_enrolled=screened["not_yet_enrolled"],
        followup=states,
        lost_reasons=lost_reasons,
        withdrawal_reasons=withdrawal_reasons,
        analysed_run=analysed_for(scope),
        **flow,
    )


def _reasons(
    flow: dict, prefix: str, choices: list[tuple[str, str]], total: int
) -> list[tuple[str, int]]:
    """(label, n) of each reason given, popped from ``flow``; those without a
    recorded reason last, so that the reasons add up to ``total``."""
    pairs = [(str(label), flow.pop(f"{prefix}__{value}")) for value, label in choices]
    unrecorded = total - sum(n for _, n in pairs)
    if unrecorded > 0:
        pairs.append((NO_REASON, unrecorded))
    return [pair for pair in pairs if pair[1]]


# ---------------------------------------------------------------------------
# Drawing


@dataclass(frozen=True)
class Box:
    lines: list[str]
    bold_first: bool = True


def boxes(
    counts: ConsortCounts, *, followup_label: str
) -> list[tuple[str, Box, Box | None]]:
    """Stage label, main box and side box, top to bottom."""

    def reasons(pairs: list[tuple[str, int]], limit: int = 6) -> list[str]:
        shown = [f"    {label} (n={n})" for label, n in pairs[:limit]]
        rest = sum(n for _, n in pairs[limit:])
        if rest:
            shown.append(f"    other reasons (n={rest})")
        return shown

    excluded = Box(
        [
            f"Excluded (n={counts.excluded})",
            f"  Not meeting criteria (n={counts.not_eligible})",
            *reasons(counts.unmet_criteria),
            f"  Declined (n={counts.declined})",
            *reasons(counts.decline_reasons),
            f"  Not approached (n={counts.not_approached})",
        ]
        + (
            [f"  Consent or enrolment pending (n={counts.not_yet_enrolled})"]
            if counts.not_yet_enrolled
            else []
        )
    )
    not_followed = Box(
        [
            f"Did not complete follow-up (n={counts.not_followed_up})",
            f"  Lost to follow-up (n={counts.followup_lost})",
            *reasons(counts.lost_reasons, 3),
            f"  Withdrew (n={counts.followup_withdrawn})",
            *reasons(counts.withdrawal_reasons),
            f"  Window closed, not completed (n={counts.followup_missed})",
            f"  Follow-up still to come (n={counts.followup_to_come})",
        ]
    )
    after = []
    if counts.withdrawn_after_followup:
        after.append(f"Withdrew afterwards (n={counts.withdrawn_after_followup})")
    if counts.removed_from_analysis:
        after.append(f"  Data removed at withdrawal (n={counts.removed_from_analysis})")
    removed = Box(after) if after else None
    return [
        (
            "Screening",
            Box([f"Assessed for eligibility (n={counts.assessed})"]),
            excluded,
        ),
        ("Enrolment", Box([f"Enrolled (n={counts.enrolled})"]), None),
        (
            "Baseline",
            Box([f"Baseline completed (n={counts.baseline_completed})"]),
            None,
        ),
        (
            "Follow-up",
            Box([f"Allocated to follow-up (n={counts.allocated_to_followup})"]),
            not_followed,
        ),
        (
            "",
            Box([f"{followup_label} completed (n={counts.followup_completed})"]),
            removed,
        ),
        ("Analysis", analysis_box(counts), None),
    ]


def analysis_box(counts: ConsortCounts) -> Box:
    """The N of each model of the latest finished run, or, with no run, who
    completed follow-up: never an analysed N that no analysis gave."""
    run = counts.analysed_run
    if run is None:
        return Box(
            [
                f"Completed follow-up (n={counts.completed_with_data})",
                "  No finished analysis run yet",
            ]
        )
    limit = 6
    finished = f"{run.finished_on.day} {run.finished_on:%b %Y}"
    lines = [
        f"Analysed in run {run.run} of {finished} (n={run.n_range})",
        *(f"    {model.name} (n={model.n})" for model in run.models[:limit]),
    ]
    rest = run.models[limit:]
    if rest:
        sizes = Analysed(run.run, run.finished_on, rest).n_range
        lines.append(f"    {len(rest)} other models (n={sizes})")
    return Box(lines)


LINE = 0.24  # inches per line of text
PAD = 0.14
GAP = 0.32
WIDTH = 10.0
STAGE_X, MAIN_X, MAIN_W, SIDE_X, SIDE_W = 0.1, 1.4, 3.6, 5.6, 4.3


def consort_figure(counts: ConsortCounts, *, followup_label: str = "Follow-up"):
    """The flow diagram as a matplotlib Figure, laid out in inches."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from participants.retention import BRAND

    rows = boxes(counts, followup_label=followup_label)
    heights = []
    for _, main, side in rows:
        main_h = len(main.lines) * LINE + 2 * PAD
        side_h = len(side.lines) * LINE + 2 * PAD if side else 0
        heights.append((main_h, side_h, max(main_h, side_h)))
    total = sum(h for *_, h in heights) + GAP * (len(rows) - 1) + 0.2
    with rc_context(chart_rc()):
        figure = Figure(figsize=(WIDTH, total))
        axes = figure.add_axes((0, 0, 1, 1))
        axes.set_xlim(0, WIDTH)
        axes.set_ylim(total, 0)
        axes.set_axis_off()

        def draw(x, y, w, box, h):
            axes.add_patch(
                FancyBboxPatch(
                    (x, y),
                    w,
                    h,
                    boxstyle="round,pad=0,rounding_size=0.06",
                    facecolor="white",
                    edgecolor=BRAND,
                    linewidth=1.2,
                )
            )
            for i, line in enumerate(box.lines):
                axes.text(
                    x + 0.12 if len(box.lines) > 1 else x + w / 2,
                    y + PAD + (i + 0.5) * LINE,
                    line.strip() if i == 0 else line.replace("    ", "      "),
                    ha="left" if len(box.lines) > 1 else "center",
                    va="center",
                    fontsize=10 if i == 0 else 9,
                    fontweight="bold" if i == 0 and box.bold_first else "normal",
                    color="#212529",
                )

        def arrow(start, end):
            axes.add_patch(
                FancyArrowPatch(
                    start, end, arrowstyle="-|>", mutation_scale=12, color="#495057"
                )
            )

        y = 0.1
        previous_bottom = None
        for (stage, main, side), (main_h, side_h, row_h) in zip(
            rows, heights, strict=True
        ):
            main_y = y + (row_h - main_h) / 2
            draw(MAIN_X, main_y, MAIN_W, main, main_h)
            centre = MAIN_X + MAIN_W / 2
            if previous_bottom is not None:
                arrow((centre, previous_bottom), (centre, main_y))
            if side:
                side_y = y + (row_h - side_h) / 2
                draw(SIDE_X, side_y, SIDE_W, side, side_h)
                arrow(
                    (MAIN_X + MAIN_W, main_y + main_h / 2),
                    (SIDE_X, main_y + main_h / 2),
                )
            if stage:
                axes.text(
                    STAGE_X,
                    main_y + main_h / 2,
                    stage,
                    ha="left",
                    va="center",
                    fontsize=10,
                    fontweight="bold",
                    color=BRAND,
                )
            previous_bottom = main_y + main_h
            y += row_h + GAP
    return figure


def describe(counts: ConsortCounts) -> str:
    run = counts.analysed_run
    analysed = (
        f"analysed in run {run.run}, n={run.n_range} by model"
        if run
        else "no finished analysis run yet"
    )
    return (
        f"{counts.assessed} assessed for eligibility; {counts.excluded} excluded "
        f"({counts.not_eligible} not meeting criteria, {counts.declined} declined, "
        f"{counts.not_approached} not approached, {counts.not_yet_enrolled} pending); "
        f"{counts.enrolled} enrolled; {counts.baseline_completed} completed baseline; "
        f"{counts.followup_completed} completed follow-up; {counts.followup_lost} "
        f"lost to follow-up; {counts.followup_withdrawn} withdrew; "
        f"{counts.followup_missed} missed it; {counts.followup_to_come} still to "
        f"come; {analysed}."
    )


def consort_svg(counts: ConsortCounts, *, followup_label: str = "Follow-up") -> str:
    return figure_svg(
        consort_figure(counts, followup_label=followup_label),
        title="Participant flow (CONSORT)",
        description=describe(counts),
    )


def consort_png(counts: ConsortCounts, *, followup_label: str = "Follow-up") -> bytes:
    return figure_png(
        consort_figure(counts, followup_label=followup_label),
        dpi=150,
        facecolor="white",
    )


def download_name(scope: Scope, extension: str, *, today: dt.date) -> str:
    return f"{scope.study.slug}-consort-{today.isoformat()}.{extension}"
