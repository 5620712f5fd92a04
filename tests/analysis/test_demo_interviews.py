"""The demo's interview strand: 26 interviews, transcripts, a codebook, coding."""

from django.contrib.auth import authenticate
from django.utils import timezone

from analysis import coding
from analysis.interview_models import (
    CodedSegment,
    Interview,
    InterviewSample,
    SampleMember,
    Theme,
    Transcript,
)
from analysis.joint_display import joint_display
from participants.models import Role
from studyportal import access, demo

REFERENCE_THEMES = [
    "Connecting with health professionals",
    "Being supported through partnerships",
    "Feeling positive and making progress towards self-management",
    "Acknowledging the impact but feeling no difference",
]


def test_26_sampled_participants_were_interviewed(coded_study):
    sample = InterviewSample.objects.get(study=coded_study)
    assert (sample.size, sample.criteria) == (
        26,
        ["partnership_tertile", "selfmgmt_change"],
    )
    assert sample.members.filter(status=SampleMember.Status.ACCEPTED).count() == 26
    interviews = Interview.objects.filter(participant__study=coded_study)
    assert interviews.count() == 26
    for interview in interviews:
        assert interview.status == Interview.Status.DONE
        assert interview.mode and 25 <= interview.duration_minutes <= 60
        assert interview.interviewer.username == "qualitative"
        assert interview.participant.interview_consent
        assert interview.scheduled_for.date() <= timezone.localdate()


def test_each_has_a_short_transcript_of_turns(coded_study):
    transcripts = Transcript.objects.filter(interview__participant__study=coded_study)
    assert transcripts.count() == 26
    for transcript in transcripts:
        assert 8 <= len(coding.units(transcript.text)) <= 15
        lines = transcript.text.splitlines()
        speakers = ("Interviewer: ", "Participant: ")
        assert all(line.startswith(speakers) for line in lines)
        assert "Demo Participant" not in transcript.text


def test_the_codebook_has_the_four_reference_themes(coded_study):
    themes = list(Theme.objects.filter(study=coded_study))
    assert [theme.name for theme in themes] == REFERENCE_THEMES
    for theme in themes:
        assert 2 <= theme.codes.count() <= 3
        assert all(code.definition for code in theme.codes.all())


def test_every_transcript_is_coded_and_a_third_twice(coded_study):
    coded_by = {
        name: set(
            CodedSegment.objects.filter(
                coder__username=name,
                transcript__interview__participant__study=coded_study,
            ).values_list("transcript", flat=True)
        )
        for name in demo.DEMO_CODERS
    }
    assert len(coded_by["qualitative"]) == 26
    assert 8 <= len(coded_by["qualitative2"]) <= 10
    first, second = (
        coded_study.staff.get(user__username=name).user for name in demo.DEMO_CODERS
    )
    kappas = [
        row.kappa
        for row in coding.agreement(coded_study, first, second)
        if row.kappa is not None
    ]
    # Mostly agreeing, not identically.
    assert 0.5 < sum(kappas) / len(kappas) < 1


def test_the_joint_display_shows_the_planted_patterns(coded_study):
    display = joint_display(coded_study)
    assert len(display.rows) == 26
    connecting, supported, progress, no_difference = display.themes
    by_tertile = {count.tertile: count for count in display.tertiles}
    high, low = by_tertile["high"], by_tertile["low"]
    assert high.themes[supported.pk] / high.participants == 1
    assert low.themes[supported.pk] == low.themes[connecting.pk] == 0
    for row in display.rows:
        change = row.scores["change_selfmgmt_total"]
        improved = change is not None and change > 0
        assert row.themes[progress.pk] == improved
        assert row.themes[no_difference.pk] == (not improved)


def test_seeding_again_changes_nothing(coded_study):
    counts = [
        model.objects.count()
        for model in (Interview, Transcript, Theme, CodedSegment, InterviewSample)
    ]
    summary = demo.seed_demo_interviews(coded_study, today=timezone.localdate())
    assert summary == demo.DemoInterviews(interviews=26, transcripts=26, themes=4)
    assert counts == [
        model.objects.count()
        for model in (Interview, Transcript, Theme, CodedSegment, InterviewSample)
    ]


def test_the_qualitative_demo_logins_work(coded_study, rf):
    logins = {login.username for login in demo.seed_demo_users(coded_study)}
    assert {"qualitative", "qualitative2"} <= logins
    for name in demo.DEMO_CODERS:
        request = rf.post("/accounts/login/")
        user = authenticate(request, username=name, password=demo.DEMO_PASSWORD)
        assert access.roles_of(user) == {Role.QUALITATIVE}
