"""The CONSORT-style flow of a cohort, counted live and drawn with matplotlib.

Aggregate numbers only, so investigators may have it. The counts come from the
same scope as the retention dashboard and reconcile with its tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q

from participants.models import (
    DeclineReason,
    EligibilityCriterion,
    LostReason,
    ParticipantStatus,
    ScreeningOutcome,
    Timepoint,
    Visit,
    VisitStatus,
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
NO_LOST_REASON = "No reason recorded"


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
    followup_completed: int = 0
    lost: int = 0
    lost_reasons: list[tuple[str, int]] = field(default_factory=list)
    withdrawn: int = 0
    withdrawal_reasons: list[tuple[str, int]] = field(default_factory=list)
    withdrawn_after_followup: int = 0
    lost_after_followup: int = 0
    followup_missed: int = 0  # active, window closed without completion
    followup_to_come: int = 0  # active, window not yet over
    removed_from_analysis: int = 0  # completed follow-up, withdrew, data not kept

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
    def analysed(self) -> int:
        return self.followup_completed - self.removed_from_analysis

    @property
    def not_followed_up(self) -> int:
        return self.enrolled - self.followup_completed


def consort_counts(
    scope: Scope,
    *,
    timepoints: list[Timepoint],
    criteria: list[EligibilityCriterion] | None = None,
) -> ConsortCounts:
    """Screening and participant flow for the scope, in three queries."""
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
        (criterion.text, screened[f"unmet__{criterion.code}"])
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

    baseline, followup = baseline_and_followup(timepoints)
    participants = scope.participants().order_by()

    def visit_at(timepoint, *statuses):
        if timepoint is None:
            return Q(pk__in=[])
        return Q(
            Exists(
                Visit.objects.filter(
                    participant=OuterRef("pk"),
                    timepoint=timepoint,
                    status__in=statuses,
                )
            )
        )

    followup_done = visit_at(followup, VisitStatus.COMPLETED)
    active = Q(status__in=[ParticipantStatus.ACTIVE, ParticipantStatus.COMPLETED])
    withdrawn = Q(status=ParticipantStatus.WITHDRAWN)
    lost = Q(status=ParticipantStatus.LOST)
    withdrawal_counts = {
        reason: Count("id", filter=withdrawn & Q(withdrawal_reason=reason))
        for reason in WithdrawalReason.values
    }
    # Categories only: staff's own words (the details) never reach the figure.
    lost_counts = {
        reason: Count("id", filter=lost & Q(lost_reason=reason))
        for reason in LostReason.values
    }
    flow = participants.aggregate(
        enrolled=Count("id"),
        baseline_completed=Count(
            "id", filter=visit_at(baseline, VisitStatus.COMPLETED)
        ),
        followup_completed=Count("id", filter=followup_done),
        lost=Count("id", filter=lost),
        withdrawn=Count("id", filter=withdrawn),
        withdrawn_after_followup=Count("id", filter=withdrawn & followup_done),
        lost_after_followup=Count("id", filter=lost & followup_done),
        followup_missed=Count(
            "id", filter=active & visit_at(followup, VisitStatus.MISSED)
        ),
        followup_to_come=Count(
            "id",
            filter=active & visit_at(followup, VisitStatus.SCHEDULED, VisitStatus.OPEN),
        ),
        removed_from_analysis=Count(
            "id", filter=withdrawn & Q(keep_data=False) & followup_done
        ),
        **{
            f"withdrawal__{reason}": count
            for reason, count in withdrawal_counts.items()
        },
        **{f"lost__{reason}": count for reason, count in lost_counts.items()},
    )
    withdrawal_labels = dict(WithdrawalReason.choices)
    withdrawal_reasons = [
        (str(withdrawal_labels[reason]), flow.pop(f"withdrawal__{reason}"))
        for reason in WithdrawalReason.values
    ]
    lost_labels = dict(LostReason.choices)
    lost_reasons = [
        (str(lost_labels[reason]), flow.pop(f"lost__{reason}"))
        for reason in LostReason.values
    ]
    unrecorded = flow["lost"] - sum(n for _, n in lost_reasons)
    if unrecorded:
        lost_reasons.append((NO_LOST_REASON, unrecorded))
    return ConsortCounts(
        assessed=screened["assessed"],
        not_eligible=screened["not_eligible"],
        unmet_criteria=unmet_criteria,
        declined=screened["declined"],
        decline_reasons=decline_reasons,
        not_approached=screened["not_approached"],
        not_yet_enrolled=screened["not_yet_enrolled"],
        lost_reasons=[pair for pair in lost_reasons if pair[1]],
        withdrawal_reasons=[pair for pair in withdrawal_reasons if pair[1]],
        **flow,
    )


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
    lost_lines = [
        f"  Lost to follow-up (n={counts.lost})",
        *reasons(counts.lost_reasons, 3),
    ]
    withdrawn_lines = [
        f"  Withdrew (n={counts.withdrawn})",
        *reasons(counts.withdrawal_reasons),
    ]
    if counts.withdrawn_after_followup:
        withdrawn_lines.append(
            f"    of whom after follow-up (n={counts.withdrawn_after_followup})"
        )
    not_followed = Box(
        [
            f"Did not complete follow-up (n={counts.not_followed_up})",
            *lost_lines,
            *withdrawn_lines,
            f"  Window closed, not completed (n={counts.followup_missed})",
            f"  Follow-up still to come (n={counts.followup_to_come})",
        ]
    )
    removed = (
        Box([f"Data removed at withdrawal (n={counts.removed_from_analysis})"])
        if counts.removed_from_analysis
        else None
    )
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
        ("Analysis", Box([f"Analysed (n={counts.analysed})"]), None),
    ]


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
    return (
        f"{counts.assessed} assessed for eligibility; {counts.excluded} excluded "
        f"({counts.not_eligible} not meeting criteria, {counts.declined} declined, "
        f"{counts.not_approached} not approached, {counts.not_yet_enrolled} pending); "
        f"{counts.enrolled} enrolled; {counts.baseline_completed} completed baseline; "
        f"{counts.followup_completed} completed follow-up; {counts.lost} lost to "
        f"follow-up; {counts.withdrawn} withdrew; {counts.analysed} analysed."
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
