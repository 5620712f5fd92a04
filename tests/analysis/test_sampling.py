"""Proposing a purposive interview sample, and settling it."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analysis import sampling
from analysis.dataset import build_dataset
from analysis.models import Interview, SampleMember
from participants.models import Participant, ParticipantStatus
from studyportal.errors import DomainError
from tests.factories import coordinator

ALL_CRITERIA = ["partnership_tertile", "selfmgmt_change", "site"]
TODAY = dt.date(2025, 3, 3)


def members(sample) -> list[tuple[str, str]]:
    return sorted(
        sample.members.exclude(status=SampleMember.Status.SWAPPED_OUT).values_list(
            "participant__code", "stratum"
        )
    )


def not_agreed(study) -> Participant:
    chosen = {p.pk for p in sampling.eligible(study)}
    return Participant.objects.filter(study=study).exclude(pk__in=chosen).first()


# --- who is eligible, and the strata ---------------------------------------


def test_only_those_taking_part_who_agreed_to_interview_are_eligible(demo_study):
    people = sampling.eligible(demo_study)
    codes = [p.code for p in people]
    assert codes == sorted(codes)
    assert 0 < len(people) < demo_study.participants.count()
    assert all(p.interview_consent for p in people)
    assert all(
        p.status not in (ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST)
        for p in people
    )
    left = people[0]
    left.status = ParticipantStatus.WITHDRAWN
    left.save()
    assert left.code not in {p.code for p in sampling.eligible(demo_study)}


def test_finding_who_is_eligible_takes_as_many_queries_for_six_as_for_two(
    demo_study,
):
    taking_part = Participant.objects.filter(study=demo_study).exclude(
        status__in=[ParticipantStatus.WITHDRAWN, ParticipantStatus.LOST]
    )
    willing = [p for p in taking_part.order_by("code") if p.interview_consent]
    unwilling = [p for p in taking_part.order_by("code") if not p.interview_consent]

    def eligible_among(kept: list[Participant]) -> tuple[list[str], int]:
        taking_part.exclude(pk__in=[p.pk for p in kept]).update(
            status=ParticipantStatus.WITHDRAWN
        )
        with CaptureQueriesContext(connection) as queries:
            people = sampling.eligible(demo_study)
        return [p.code for p in people], len(queries)

    six, six_queries = eligible_among(willing[:3] + unwilling[:3])
    two, two_queries = eligible_among(willing[:1] + unwilling[:1])
    assert six == [p.code for p in willing[:3]]
    assert two == [willing[0].code]
    assert six_queries == two_queries


def test_strata_split_everyone_eligible_by_words_a_reader_understands(demo_study):
    grouped = sampling.strata(demo_study, ALL_CRITERIA)
    everyone = sampling.eligible(demo_study)
    assert sum(len(group) for group in grouped.values()) == len(everyone)
    assert all(group for group in grouped.values())
    first = next(iter(grouped))
    assert first.startswith("partnership low · improved · ")
    site_codes = set(demo_study.sites.values_list("code", flat=True))
    for label in grouped:
        partnership, change, site = label.split(" · ")
        # A missing baseline score leaves its holder's third or change unknown.
        assert partnership in {
            f"partnership {w}" for w in [*sampling.TERTILES, "unknown"]
        }
        assert change in sampling.CHANGES
        assert site in site_codes


def test_partnership_thirds_and_change_follow_the_analysis_dataset(demo_study):
    frame = build_dataset(demo_study).frame
    grouped = sampling.strata(demo_study, ["partnership_tertile", "selfmgmt_change"])
    partnership = ["baseline_partnership_clinician", "baseline_partnership_confidence"]
    mean = frame[partnership].astype(float).mean(axis=1)
    highest_low = max(
        mean[p.code]
        for label, g in grouped.items()
        if label.startswith("partnership low")
        for p in g
    )
    lowest_high = min(
        mean[p.code]
        for label, g in grouped.items()
        if label.startswith("partnership high")
        for p in g
    )
    assert highest_low < lowest_high
    for label, group in grouped.items():
        for participant in group:
            after = frame.loc[participant.code, "followup_selfmgmt_total"]
            before = frame.loc[participant.code, "baseline_selfmgmt_total"]
            if label.endswith("no follow-up"):
                assert after != after  # NaN
            elif label.endswith("change unknown"):
                assert before != before
            else:
                improved = label.endswith(" improved") and "not improved" not in label
                assert (after - before > 0) == improved


def test_without_criteria_there_is_one_stratum_of_everyone(demo_study):
    grouped = sampling.strata(demo_study, [])
    assert list(grouped) == [sampling.EVERYONE]


def test_an_unknown_criterion_is_refused_by_name(demo_study):
    with pytest.raises(DomainError, match="'age'") as error:
        sampling.strata(demo_study, ["age"])
    assert error.value.field == "criteria"


# --- allocation --------------------------------------------------------------


def test_allocation_is_proportional_by_largest_remainder():
    assert sampling.allocate(10, {"a": 50, "b": 30, "c": 20}) == {
        "a": 5,
        "b": 3,
        "c": 2,
    }
    # Quotas 4.29, 2.57, 1.14: the largest remainder (b) gets the spare place.
    assert sampling.allocate(8, {"a": 15, "b": 9, "c": 4}) == {"a": 4, "b": 3, "c": 1}


def test_allocation_gives_every_stratum_one_when_size_allows():
    counts = sampling.allocate(4, {"a": 90, "b": 5, "c": 3, "d": 2})
    assert counts == {"a": 1, "b": 1, "c": 1, "d": 1}
    counts = sampling.allocate(6, {"a": 90, "b": 5, "c": 3, "d": 2})
    assert sum(counts.values()) == 6 and min(counts.values()) == 1
    assert counts["a"] == 3


def test_allocation_smaller_than_the_strata_favours_the_largest():
    assert sampling.allocate(2, {"a": 10, "b": 50, "c": 40}) == {
        "a": 0,
        "b": 1,
        "c": 1,
    }


# --- proposing ---------------------------------------------------------------


def test_the_same_seed_proposes_the_same_sample(demo_study):
    user = coordinator(demo_study)
    first = sampling.propose(
        study=demo_study, size=26, criteria=ALL_CRITERIA, seed=7, user=user
    )
    again = sampling.propose(
        study=demo_study, size=26, criteria=ALL_CRITERIA, seed=7, user=user
    )
    other = sampling.propose(
        study=demo_study, size=26, criteria=ALL_CRITERIA, seed=8, user=user
    )
    assert members(first) == members(again)
    assert members(first) != members(other)
    assert first.criteria == ALL_CRITERIA and first.seed == 7
    assert first.created_by == user
    statuses = set(first.members.values_list("status", flat=True))
    assert statuses == {SampleMember.Status.PROPOSED}


def test_a_sample_represents_every_stratum_in_proportion(demo_study):
    criteria = ["partnership_tertile", "selfmgmt_change"]
    grouped = sampling.strata(demo_study, criteria)
    size = 26
    assert size >= len(grouped)
    sample = sampling.propose(
        study=demo_study,
        size=size,
        criteria=list(reversed(criteria)),
        seed=2018,
        user=None,
    )
    assert sample.criteria == criteria
    assert sample.members.count() == size
    total = sum(len(group) for group in grouped.values())
    for label, eligible_in, in_sample in sampling.strata_counts(sample):
        assert eligible_in == len(grouped[label])
        assert in_sample >= 1
        assert abs(in_sample - size * eligible_in / total) < 2
    for member in sample.members.select_related("participant"):
        assert member.participant in grouped[member.stratum]


def test_a_sample_cannot_be_empty_or_larger_than_those_eligible(demo_study):
    eligible = len(sampling.eligible(demo_study))
    for size in (0, eligible + 1):
        with pytest.raises(DomainError) as error:
            sampling.propose(
                study=demo_study, size=size, criteria=["site"], seed=1, user=None
            )
        assert error.value.field == "size"
    assert "at most" in str(error.value)
    assert not demo_study.interview_samples.exists()


# --- swapping, adding, accepting ---------------------------------------------


@pytest.fixture
def sample(demo_study):
    return sampling.propose(
        study=demo_study, size=12, criteria=ALL_CRITERIA, seed=3, user=None
    )


def test_a_swap_needs_a_reason_and_draws_from_the_same_stratum(demo_study):
    user = coordinator(demo_study)
    sample = sampling.propose(
        study=demo_study, size=6, criteria=["site"], seed=3, user=None
    )
    member = sample.members.first()
    with pytest.raises(DomainError) as error:
        sampling.swap(member, reason="  ", user=user)
    assert error.value.field == "reason"
    new = sampling.swap(member, reason="Moved abroad", user=user)
    member.refresh_from_db()
    assert member.status == SampleMember.Status.SWAPPED_OUT
    assert member.reason == "Moved abroad" and member.changed_by == user
    assert new.status == SampleMember.Status.PROPOSED
    assert new.stratum == member.stratum
    assert new.participant != member.participant
    assert member.participant.code in new.reason


def test_swaps_are_reproducible(demo_study):
    drawn = []
    for _ in range(2):
        sample = sampling.propose(
            study=demo_study, size=5, criteria=[], seed=11, user=None
        )
        member = sample.members.order_by("participant__code").first()
        drawn.append(sampling.swap(member, reason="Ill", user=None).participant)
    assert drawn[0] == drawn[1]


def test_a_swap_with_no_one_left_in_the_stratum_says_so(demo_study):
    grouped = sampling.strata(demo_study, ALL_CRITERIA)
    size = len(grouped)
    sample = sampling.propose(
        study=demo_study, size=size, criteria=ALL_CRITERIA, seed=5, user=None
    )
    lonely = next(label for label, group in grouped.items() if len(group) == 1)
    member = sample.members.get(stratum=lonely)
    with pytest.raises(DomainError, match="No one else") as error:
        sampling.swap(member, reason="Declined", user=None)
    assert error.value.field == "replacement"
    member.refresh_from_db()
    assert member.status == SampleMember.Status.PROPOSED


def test_a_swap_may_name_the_replacement(sample):
    taken = set(sample.members.values_list("participant", flat=True))
    chosen = next(p for p in sampling.eligible(sample.study) if p.pk not in taken)
    new = sampling.swap(
        sample.members.first(), reason="Better fit", user=None, replacement=chosen
    )
    assert new.participant == chosen
    with pytest.raises(DomainError, match="already in this sample"):
        sampling.swap(
            sample.members.exclude(pk=new.pk).filter(status="proposed").first(),
            reason="Again",
            user=None,
            replacement=chosen,
        )


def test_adding_needs_a_reason_and_an_eligible_participant_not_yet_in(sample):
    user = coordinator(sample.study)
    taken = set(sample.members.values_list("participant", flat=True))
    chosen = next(p for p in sampling.eligible(sample.study) if p.pk not in taken)
    with pytest.raises(DomainError) as error:
        sampling.add(sample, participant=chosen, reason="", user=user)
    assert error.value.field == "reason"
    with pytest.raises(DomainError, match="have not agreed") as error:
        sampling.add(
            sample, participant=not_agreed(sample.study), reason="Keen", user=user
        )
    assert error.value.field == "participant"
    added = sampling.add(sample, participant=chosen, reason="Keen to talk", user=user)
    assert added.status == SampleMember.Status.ADDED
    assert added.reason == "Keen to talk"
    grouped = sampling.strata(sample.study, sample.criteria)
    assert chosen in grouped[added.stratum]
    with pytest.raises(DomainError, match="already in this sample"):
        sampling.add(sample, participant=chosen, reason="Twice", user=user)


def test_accepting_invites_every_accepted_and_added_member_once(sample):
    user = coordinator(sample.study)
    swapped = sample.members.first()
    sampling.swap(swapped, reason="Unwell", user=user)
    taken = set(sample.members.values_list("participant", flat=True))
    extra = [p for p in sampling.eligible(sample.study) if p.pk not in taken][:2]
    sampling.add(sample, participant=extra[0], reason="Rich account", user=user)

    interviews = sampling.accept(sample, user=user, today=TODAY)

    sample.refresh_from_db()
    assert sample.accepted_at is not None
    assert len(interviews) == 13
    assert all(i.status == Interview.Status.INVITED for i in interviews)
    assert all(i.invited_on == TODAY for i in interviews)
    statuses = sorted(sample.members.values_list("status", flat=True))
    assert statuses.count(SampleMember.Status.ACCEPTED) == 12
    assert statuses.count(SampleMember.Status.ADDED) == 1
    assert not Interview.objects.filter(participant=swapped.participant).exists()
    with pytest.raises(DomainError, match="only proposed members"):
        sampling.swap(
            sample.members.filter(status="accepted").first(), reason="x", user=user
        )

    sampling.add(sample, participant=extra[1], reason="Late addition", user=user)
    again = sampling.accept(sample, user=user, today=TODAY + dt.timedelta(days=1))
    assert [i.participant for i in again] == [extra[1]]
    assert Interview.objects.count() == 14
