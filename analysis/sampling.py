"""Purposive sampling for interviews: propose a stratified sample, then settle it.

The software proposes; a coordinator accepts, swaps or adds, and each change
keeps its reason. A proposal is reproducible: the same data and the same seed
give the same members.
"""

from __future__ import annotations

import math
import random

import pandas as pd
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from analysis.dataset import build_dataset
from analysis.interview_models import Interview, InterviewSample, SampleMember
from participants import measures
from participants.models import (
    ConsentRecord,
    ConsentStatement,
    Participant,
    ParticipantStatus,
    Study,
)
from studyportal import access
from studyportal.errors import DomainError

TERTILES = ("low", "middle", "high")
CHANGES = ("improved", "not improved", "no follow-up", "change unknown")
EVERYONE = "everyone who agreed to interview"
SEPARATOR = " · "


def sampling_studies(user) -> QuerySet[Study]:
    """Studies whose interview samples the user may propose and settle."""
    return access.studies_for(user, "sample_interviewees")


def samples_for(user) -> QuerySet[InterviewSample]:
    return InterviewSample.objects.filter(
        study__in=sampling_studies(user)
    ).select_related("study", "created_by")


def eligible(study: Study) -> list[Participant]:
    """Participants still taking part whose latest consent agreed to interview.

    The same rule as ``Participant.interview_consent``, without two queries
    per participant.
    """
    # As Participant.latest_consent; the pk only settles a tie in created_at.
    latest = ConsentRecord.objects.filter(participant=OuterRef("pk")).order_by(
        "-created_at", "-pk"
    )
    candidates = list(
        Participant.objects.filter(study=study)
        .exclude(status__in=[ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST])
        .select_related("site")
        .annotate(latest_consent_pk=Subquery(latest.values("pk")[:1]))
        .order_by("code")
    )
    consents = ConsentRecord.objects.in_bulk(
        [p.latest_consent_pk for p in candidates if p.latest_consent_pk is not None]
    )
    interview_codes: dict[int, list[str]] = {}
    for form_pk, code in ConsentStatement.objects.filter(
        form__in={consent.form_id for consent in consents.values()},
        kind=ConsentStatement.Kind.INTERVIEW,
    ).values_list("form_id", "code"):
        interview_codes.setdefault(form_pk, []).append(code)

    def agreed_to_interview(participant: Participant) -> bool:
        # ConsentRecord.agreed_to, with each form's statement codes read once.
        consent = consents.get(participant.latest_consent_pk)
        if consent is None:
            return False
        codes = interview_codes.get(consent.form_id, [])
        return any(consent.agreed.get(code) for code in codes)

    return [
        participant for participant in candidates if agreed_to_interview(participant)
    ]


def criteria_of(study: Study) -> dict[str, str]:
    """The sampling strata the study's protocol declares, name to label."""
    return {
        stratum.name: stratum.label
        for stratum in measures.study_measures(study).sampling_strata
    }


def strata(study: Study, criteria: list[str]) -> dict[str, list[Participant]]:
    """The eligible participants grouped by ``criteria``, stratum label to people.

    Strata come in a natural order (low before high, improved before not) and
    people within a stratum by study ID; empty strata are left out.
    """
    return _strata(study, _checked(study, criteria), eligible(study))


@transaction.atomic
def propose(
    *, study: Study, size: int, criteria: list[str], seed: int, user
) -> InterviewSample:
    """Propose ``size`` participants, allocated to strata in proportion to their size.

    Allocation is by largest remainder; when ``size`` is at least the number of
    strata, every stratum gets one or more. Within a stratum members are drawn
    with ``random.Random(seed)``, strata taken in order.
    """
    criteria = _checked(study, criteria)
    people = eligible(study)
    if size < 1:
        raise DomainError("Propose at least one participant.", field="size")
    if size > len(people):
        raise DomainError(
            f"Only {len(people)} participant{'s' if len(people) != 1 else ''} "
            f"agreed to be interviewed and are still taking part; choose a sample "
            f"of at most {len(people)}.",
            field="size",
        )
    grouped = _strata(study, criteria, people)
    counts = allocate(size, {label: len(group) for label, group in grouped.items()})
    sample = InterviewSample.objects.create(
        study=study, size=size, criteria=criteria, seed=seed, created_by=user
    )
    rng = random.Random(seed)
    SampleMember.objects.bulk_create(
        SampleMember(
            sample=sample,
            participant=participant,
            stratum=label,
            status=SampleMember.Status.PROPOSED,
            changed_by=user,
        )
        for label, group in grouped.items()
        for participant in rng.sample(group, counts[label])
    )
    return sample


def allocate(size: int, stratum_sizes: dict[str, int]) -> dict[str, int]:
    """How many to draw from each stratum: proportional, by largest remainder.

    Ties in the remainder go to the larger stratum, then to the earlier one.
    If ``size`` allows, a stratum left with none takes one from the stratum
    furthest above its exact share.
    """
    total = sum(stratum_sizes.values())
    quotas = {label: size * n / total for label, n in stratum_sizes.items()}
    counts = {label: math.floor(quota) for label, quota in quotas.items()}
    order = list(stratum_sizes)
    by_remainder = sorted(
        order,
        key=lambda label: (
            -(quotas[label] - counts[label]),
            -stratum_sizes[label],
            order.index(label),
        ),
    )
    for label in by_remainder[: size - sum(counts.values())]:
        counts[label] += 1
    if size >= len(stratum_sizes):
        for label in order:
            if counts[label]:
                continue
            donor = max(
                (other for other in order if counts[other] > 1),
                key=lambda other: (counts[other] - quotas[other], -order.index(other)),
            )
            counts[donor] -= 1
            counts[label] = 1
    return counts


@transaction.atomic
def swap(
    member: SampleMember,
    *,
    reason: str,
    user,
    replacement: Participant | None = None,
) -> SampleMember:
    """Take a proposed member out, with a reason, and propose someone in their place.

    Without ``replacement`` the new member is drawn from the same stratum among
    eligible participants not yet in the sample, seeded by the sample's seed
    plus the number of swaps made before this one. Returns the new member.
    """
    member = SampleMember.objects.select_for_update().get(pk=member.pk)
    sample = member.sample
    reason = reason.strip()
    if member.status != SampleMember.Status.PROPOSED:
        raise DomainError(
            f"{member.participant.code} is {member.get_status_display().lower()}; "
            "only proposed members can be swapped. Once accepted, record the "
            "interview as declined and add someone instead."
        )
    if not reason:
        raise DomainError("Say why this participant is swapped out.", field="reason")
    grouped = _strata(sample.study, sample.criteria, eligible(sample.study))
    taken = set(sample.members.values_list("participant_id", flat=True))
    if replacement is None:
        free = [p for p in grouped.get(member.stratum, []) if p.pk not in taken]
        if not free:
            raise DomainError(
                f"No one else in the stratum “{member.stratum}” agreed to be "
                "interviewed; choose a replacement from another stratum by study ID.",
                field="replacement",
            )
        swaps_so_far = sample.members.filter(
            status=SampleMember.Status.SWAPPED_OUT
        ).count()
        replacement = random.Random(sample.seed + swaps_so_far).choice(free)
        stratum = member.stratum
    else:
        stratum = _place(replacement, sample, grouped, taken, field="replacement")
    member.status = SampleMember.Status.SWAPPED_OUT
    member.reason = reason
    member.changed_by = user
    member.save(update_fields=["status", "reason", "changed_by", "changed_at"])
    return SampleMember.objects.create(
        sample=sample,
        participant=replacement,
        stratum=stratum,
        status=SampleMember.Status.PROPOSED,
        reason=f"In place of {member.participant.code}.",
        changed_by=user,
    )


@transaction.atomic
def add(
    sample: InterviewSample, *, participant: Participant, reason: str, user
) -> SampleMember:
    """Add an eligible participant to the sample by hand, saying why."""
    sample = InterviewSample.objects.select_for_update().get(pk=sample.pk)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why this participant is added.", field="reason")
    grouped = _strata(sample.study, sample.criteria, eligible(sample.study))
    taken = set(sample.members.values_list("participant_id", flat=True))
    stratum = _place(participant, sample, grouped, taken, field="participant")
    return SampleMember.objects.create(
        sample=sample,
        participant=participant,
        stratum=stratum,
        status=SampleMember.Status.ADDED,
        reason=reason,
        changed_by=user,
    )


@transaction.atomic
def accept(sample: InterviewSample, *, user, today) -> list[Interview]:
    """Accept the proposed members and invite everyone in the sample to interview.

    Every accepted or added member without an interview gets one, invited
    ``today``; calling it again after an addition invites only the newcomer.
    Returns the interviews created.
    """
    sample = InterviewSample.objects.select_for_update().get(pk=sample.pk)
    proposed = sample.members.filter(status=SampleMember.Status.PROPOSED)
    proposed.update(
        status=SampleMember.Status.ACCEPTED, changed_by=user, changed_at=timezone.now()
    )
    if sample.accepted_at is None:
        sample.accepted_at = timezone.now()
        sample.save(update_fields=["accepted_at"])
    members = sample.members.filter(
        status__in=[SampleMember.Status.ACCEPTED, SampleMember.Status.ADDED],
        participant__interview__isnull=True,
    ).select_related("participant")
    return [
        Interview.objects.create(
            participant=member.participant,
            status=Interview.Status.INVITED,
            invited_on=today,
        )
        for member in members
    ]


def strata_counts(sample: InterviewSample) -> list[tuple[str, int, int]]:
    """(stratum, eligible in it, in the sample) for each stratum, in order.

    Swapped-out members do not count; a stratum that no longer has anyone
    eligible still shows if the sample has members from it.
    """
    grouped = _strata(sample.study, sample.criteria, eligible(sample.study))
    in_sample: dict[str, int] = {}
    for stratum in sample.members.exclude(
        status=SampleMember.Status.SWAPPED_OUT
    ).values_list("stratum", flat=True):
        in_sample[stratum] = in_sample.get(stratum, 0) + 1
    rows = [
        (label, len(group), in_sample.get(label, 0)) for label, group in grouped.items()
    ]
    rows += [(label, 0, n) for label, n in in_sample.items() if label not in grouped]
    return rows


# ---------------------------------------------------------------------------


def _checked(study: Study, criteria: list[str]) -> list[str]:
    known = criteria_of(study)
    unknown = [name for name in criteria if name not in known]
    if unknown:
        raise DomainError(
            f"There is no sampling criterion called {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(known) or 'none (the protocol declares none)'}.",
            field="criteria",
        )
    return [name for name in known if name in criteria]


def _strata(
    study: Study, criteria: list[str], people: list[Participant]
) -> dict[str, list[Participant]]:
    if not criteria:
        return {EVERYONE: list(people)} if people else {}
    keys = _stratum_keys(study, criteria, people)
    grouped: dict[tuple, list[Participant]] = {}
    for participant in people:
        grouped.setdefault(keys[participant.pk], []).append(participant)
    return {
        SEPARATOR.join(word for _, word in key): group
        for key, group in sorted(grouped.items())
    }


def _stratum_keys(
    study: Study, criteria: list[str], people: list[Participant]
) -> dict[int, tuple]:
    """Each participant's stratum as sortable ((rank, word), ...) pairs."""
    declared = {s.name: s for s in measures.study_measures(study).sampling_strata}
    chosen = [declared[name] for name in criteria]
    columns = sorted(
        {
            column
            for stratum in chosen
            for column in [*stratum.variables, stratum.before, stratum.after]
            if column
        }
    )
    frame = build_dataset(study).frame.reindex(
        index=[participant.code for participant in people], columns=columns
    )
    frame = frame.apply(pd.to_numeric, errors="coerce").astype("float64")
    words = {}
    for stratum in chosen:
        if stratum.kind == "tertile":
            words[stratum.name] = tertile_of(frame, stratum.variables)
        elif stratum.kind == "change":
            change = frame[stratum.after] - frame[stratum.before]
            words[stratum.name] = {
                code: change_word(change[code], frame[stratum.after][code])
                for code in frame.index
            }
    keys = {}
    for participant in people:
        key = []
        for stratum in chosen:
            if stratum.kind == "tertile":
                word = words[stratum.name][participant.code]
                rank = TERTILES.index(word) if word in TERTILES else len(TERTILES)
                key.append((rank, f"{_short(stratum.name)} {word}"))
            elif stratum.kind == "change":
                word = words[stratum.name][participant.code]
                key.append((CHANGES.index(word), word))
            else:
                key.append((0, participant.site.code))
        keys[participant.pk] = tuple(key)
    return keys


def _short(name: str) -> str:
    """``partnership_tertile`` reads "partnership" in a stratum's label."""
    return name.removesuffix("_tertile").replace("_", " ")


def tertile_of(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Low, middle or high third of the mean of ``columns``, by study ID.

    The thirds are cut over the rows of ``frame``: the sampling criterion
    passes those eligible, the joint display and the demo the whole cohort.
    """
    values = frame.reindex(columns=list(columns)).apply(pd.to_numeric, errors="coerce")
    return tertiles(values.astype("float64").mean(axis=1, skipna=False))


def tertiles(values: pd.Series) -> pd.Series:
    """low / middle / high third by ``pd.qcut``; "unknown" where there is no value.

    Many tied scores can make two cut points equal; then people are ranked
    first (ties in study ID order) so that each third still holds a third.
    """
    known = values.dropna()
    words = pd.Series("unknown", index=values.index, dtype="object")
    if len(known) >= len(TERTILES):
        try:
            thirds = pd.qcut(known, len(TERTILES), labels=TERTILES)
        except ValueError:
            thirds = pd.qcut(known.rank(method="first"), len(TERTILES), labels=TERTILES)
        words[known.index] = thirds.astype("object")
    elif len(known):
        words[known.index] = "middle"
    return words


def change_word(change: float, after: float) -> str:
    if pd.isna(after):
        return "no follow-up"
    if pd.isna(change):
        return "change unknown"
    return "improved" if change > 0 else "not improved"


def _place(
    participant: Participant,
    sample: InterviewSample,
    grouped: dict[str, list[Participant]],
    taken: set[int],
    *,
    field: str,
) -> str:
    """The stratum ``participant`` joins ``sample`` in, or why they cannot."""
    if participant.pk in taken:
        raise DomainError(f"{participant.code} is already in this sample.", field=field)
    for label, group in grouped.items():
        if any(each.pk == participant.pk for each in group):
            return label
    raise DomainError(
        f"{participant.code} cannot be interviewed: they have not agreed to "
        "interview, or are no longer taking part, or belong to another study.",
        field=field,
    )
