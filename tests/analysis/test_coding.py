"""Coding transcripts: the codebook, coded passages, memos and Cohen's kappa."""

import random

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa as statsmodels_kappa

from analysis import coding
from analysis.interview_models import Code, CodedSegment, Memo, Theme, Transcript
from studyportal.errors import DomainError
from tests.factories import (
    StudyFactory,
    UserFactory,
    coordinator,
    investigator,
    qualitative,
)


def ratings(both: int, only_a: int, only_b: int, neither: int):
    """Paired 0/1 ratings making the given 2x2 table."""
    a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    return a, b


# --- Cohen's kappa: worked examples ------------------------------------------


@pytest.mark.parametrize(
    ("table", "kappa"),
    [
        # Wikipedia's worked example: 50 proposals, two readers; p_o .70, p_e .50.
        ((20, 5, 10, 15), 0.4),
        # Its two tables with the same 60% agreement and different kappa.
        ((45, 15, 25, 15), 0.1304),
        ((25, 35, 5, 35), 0.2593),
        # Landis and Koch style: 40 of 50 agree, balanced margins.
        ((20, 5, 5, 20), 0.6),
    ],
)
def test_kappa_matches_textbook_two_by_two_tables(table, kappa):
    assert coding.cohen_kappa(*ratings(*table)) == pytest.approx(kappa, abs=5e-5)


def test_perfect_agreement_is_one():
    assert coding.cohen_kappa(*ratings(3, 0, 0, 7)) == 1.0


def test_agreement_no_better_than_chance_is_zero():
    assert coding.cohen_kappa([1, 1, 0, 0], [1, 0, 1, 0]) == 0.0
    # Opposite constant raters agree on nothing, and chance predicts nothing.
    assert coding.cohen_kappa([1, 1, 1], [0, 0, 0]) == 0.0


def test_systematic_disagreement_is_negative():
    assert coding.cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == -1.0


def test_kappa_is_undefined_when_both_raters_are_constant_and_equal():
    assert coding.cohen_kappa([0, 0, 0], [0, 0, 0]) is None
    assert coding.cohen_kappa([1, 1], [1, 1]) is None
    assert coding.cohen_kappa([], []) is None


def test_kappa_takes_categories_as_well_as_zero_and_one():
    # p_o = 4/6, p_e = 3 x (2/6)^2 = 1/3, so kappa = (2/3 - 1/3) / (2/3).
    a = ["pain", "mood", "work", "pain", "mood", "work"]
    b = ["pain", "mood", "work", "pain", "work", "mood"]
    assert coding.cohen_kappa(a, b) == pytest.approx(0.5)


def test_kappa_agrees_with_statsmodels_on_random_ratings():
    rng = random.Random(7)
    for _ in range(20):
        a = [rng.choice("xyz") for _ in range(40)]
        b = [x if rng.random() < 0.6 else rng.choice("xyz") for x in a]
        pairs = list(zip(a, b, strict=True))
        table = np.array([[pairs.count((i, j)) for j in "xyz"] for i in "xyz"])
        expected = statsmodels_kappa(table).kappa
        assert coding.cohen_kappa(a, b) == pytest.approx(expected)


def test_kappa_needs_the_same_units_from_both_raters():
    with pytest.raises(ValueError):
        coding.cohen_kappa([1, 0], [1])


# --- sentence units -----------------------------------------------------------


def test_units_are_sentences_with_offsets_into_the_text():
    text = (
        "Interviewer: How are you? Tell me more.\n"
        "Participant: Fine! It hurts… sometimes. “It is what it is.”\n\n"
        "A line without a full stop\n"
    )
    spans = coding.units(text)
    assert [text[start:end] for start, end in spans] == [
        "Interviewer: How are you?",
        "Tell me more.",
        "Participant: Fine!",
        "It hurts…",
        "sometimes.",
        "“It is what it is.”",
        "A line without a full stop",
    ]


def test_units_of_blank_text_are_none():
    assert coding.units("  \n\n ") == []


# --- the codebook -------------------------------------------------------------


def test_a_qualitative_researcher_adds_themes_and_codes_in_order(study):
    researcher = qualitative(study)
    first = coding.add_theme(study=study, name="  Pacing  ", user=researcher)
    second = coding.add_theme(
        study=study, name="Sleep", description="Nights", user=researcher
    )
    assert (first.name, first.order, second.order) == ("Pacing", 1, 2)
    code = coding.add_code(
        theme=first, name="Breaks", definition="Stops before it hurts.", user=researcher
    )
    later = coding.add_code(
        theme=first, name="Planning", definition="Plans the day.", user=researcher
    )
    assert (code.order, later.order) == (1, 2)
    assert [t.name for t in coding.codebook(study)] == ["Pacing", "Sleep"]


def test_theme_names_are_required_and_unique_in_any_case(study):
    researcher = qualitative(study)
    coding.add_theme(study=study, name="Pacing", user=researcher)
    with pytest.raises(DomainError, match="already has a theme") as error:
        coding.add_theme(study=study, name="pacing", user=researcher)
    assert error.value.field == "name"
    with pytest.raises(DomainError, match="name"):
        coding.add_theme(study=study, name="   ", user=researcher)


def test_codes_need_a_definition_and_a_name_unique_in_the_codebook(study):
    researcher = qualitative(study)
    pacing = coding.add_theme(study=study, name="Pacing", user=researcher)
    sleep = coding.add_theme(study=study, name="Sleep", user=researcher)
    coding.add_code(theme=pacing, name="Breaks", definition="Rests.", user=researcher)
    with pytest.raises(DomainError, match="definition") as error:
        coding.add_code(theme=sleep, name="Naps", definition=" ", user=researcher)
    assert error.value.field == "definition"
    with pytest.raises(DomainError, match="under “Pacing”"):
        coding.add_code(theme=sleep, name="BREAKS", definition="x", user=researcher)


def test_only_the_qualitative_team_edits_the_codebook(study):
    for outsider in (investigator(study), coordinator(study)):
        with pytest.raises(DomainError, match="qualitative team"):
            coding.add_theme(study=study, name="Pacing", user=outsider)
    admin = UserFactory(is_superuser=True)
    assert coding.add_theme(study=study, name="Pacing", user=admin).pk


# --- coding passages ----------------------------------------------------------


@pytest.fixture
def transcript(coded_study):
    return Transcript.objects.filter(
        interview__participant__study=coded_study
    ).order_by("pk")[0]


@pytest.fixture
def researcher(coded_study):
    return qualitative(coded_study)


def a_code(study, name="Feeling listened to") -> Code:
    return Code.objects.get(theme__study=study, name=name)


def test_coding_a_passage_keeps_its_offsets_codes_and_note(transcript, researcher):
    study = transcript.interview.participant.study
    codes = [a_code(study), a_code(study, "Deciding together")]
    segment = coding.code_passage(
        transcript=transcript,
        coder=researcher,
        start=0,
        end=11,
        codes=codes,
        memo=" first words ",
    )
    segment.refresh_from_db()
    assert (segment.start, segment.end, segment.memo) == (0, 11, "first words")
    assert segment.passage == transcript.text[:11]
    assert set(segment.codes.all()) == set(codes)
    assert segment.coder == researcher


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (-1, 5, "start", "must start within the transcript"),
        (10, 10, "end", "end after it starts"),
        (10, 4, "end", "end after it starts"),
        (0, 10**6, "end", "must end within the transcript"),
        (10**6, 10**6 + 1, "start", "must start within the transcript"),
    ],
)
def test_a_passage_must_lie_within_the_transcript(
    transcript, researcher, start, end, field, message
):
    study = transcript.interview.participant.study
    with pytest.raises(DomainError, match=message) as error:
        coding.code_passage(
            transcript=transcript,
            coder=researcher,
            start=start,
            end=end,
            codes=[a_code(study)],
        )
    assert error.value.field == field
    assert not CodedSegment.objects.filter(coder=researcher).exists()


def test_the_whole_transcript_may_be_one_passage(transcript, researcher):
    study = transcript.interview.participant.study
    segment = coding.code_passage(
        transcript=transcript,
        coder=researcher,
        start=0,
        end=len(transcript.text),
        codes=[a_code(study)],
    )
    assert segment.passage == transcript.text


def test_a_passage_needs_a_code_of_its_own_study(transcript, researcher):
    study = transcript.interview.participant.study
    with pytest.raises(DomainError, match="at least one code") as error:
        coding.code_passage(
            transcript=transcript, coder=researcher, start=0, end=5, codes=[]
        )
    assert error.value.field == "codes"
    other = StudyFactory()
    foreign = Code.objects.create(
        theme=Theme.objects.create(study=other, name="Elsewhere"),
        name="Foreign",
        definition="Not ours.",
    )
    with pytest.raises(DomainError, match="not in the codebook"):
        coding.code_passage(
            transcript=transcript,
            coder=researcher,
            start=0,
            end=5,
            codes=[a_code(study), foreign],
        )


def test_blank_space_alone_is_not_a_passage(transcript, researcher):
    newline = transcript.text.index("\n")
    with pytest.raises(DomainError, match="blank"):
        coding.code_passage(
            transcript=transcript,
            coder=researcher,
            start=newline,
            end=newline + 1,
            codes=[a_code(transcript.interview.participant.study)],
        )


def test_an_investigator_without_the_qualitative_role_cannot_code(transcript):
    study = transcript.interview.participant.study
    with pytest.raises(DomainError, match="qualitative team"):
        coding.code_passage(
            transcript=transcript,
            coder=investigator(study),
            start=0,
            end=5,
            codes=[a_code(study)],
        )


def test_coders_remove_only_their_own_passages(transcript, researcher):
    study = transcript.interview.participant.study
    segment = coding.code_passage(
        transcript=transcript, coder=researcher, start=0, end=5, codes=[a_code(study)]
    )
    with pytest.raises(DomainError, match="only remove passages you coded"):
        coding.remove_segment(segment, user=qualitative(study))
    coding.remove_segment(segment, user=researcher)
    assert not CodedSegment.objects.filter(pk=segment.pk).exists()


def test_a_memo_needs_words(transcript, researcher):
    with pytest.raises(DomainError, match="Write the memo"):
        coding.add_memo(transcript=transcript, author=researcher, text="  ")
    memo = coding.add_memo(transcript=transcript, author=researcher, text=" Angry. ")
    assert Memo.objects.get(pk=memo.pk).text == "Angry."


def test_second_coders_see_only_their_own_passages(transcript, researcher):
    study = transcript.interview.participant.study
    coding.code_passage(
        transcript=transcript, coder=researcher, start=0, end=5, codes=[a_code(study)]
    )
    assert coding.segments_of(transcript, researcher).count() == 1
    assert not coding.segments_of(transcript, qualitative(study)).exists()


def test_a_coders_passages_read_their_text_without_a_query_each(
    transcript, researcher, django_assert_num_queries
):
    study = transcript.interview.participant.study
    for start, end in [(0, 5), (6, 11)]:
        coding.code_passage(
            transcript=transcript,
            coder=researcher,
            start=start,
            end=end,
            codes=[a_code(study)],
        )
    segments = list(coding.segments_of(transcript, researcher))
    with django_assert_num_queries(0):
        passages = [segment.passage for segment in segments]
    assert passages == [transcript.text[0:5], transcript.text[6:11]]


def test_transcripts_are_for_the_qualitative_team_and_admins(coded_study):
    all_of_them = Transcript.objects.filter(interview__participant__study=coded_study)
    assert set(coding.transcripts_for(qualitative(coded_study))) == set(all_of_them)
    assert set(coding.transcripts_for(UserFactory(is_superuser=True))) == set(
        all_of_them
    )
    assert not coding.transcripts_for(investigator(coded_study)).exists()
    assert not coding.transcripts_for(coordinator(coded_study)).exists()
    assert not coding.transcripts_for(qualitative(StudyFactory())).exists()


# --- agreement ----------------------------------------------------------------


def test_agreement_counts_sentence_units_of_transcripts_both_coded(coded_study):
    first, second = qualitative(coded_study), qualitative(coded_study)
    shared, only_first = Transcript.objects.filter(
        interview__participant__study=coded_study
    ).order_by("pk")[:2]
    spans = coding.units(shared.text)
    listened, deciding = a_code(coded_study), a_code(coded_study, "Deciding together")

    def code(coder, transcript, start, end, *codes):
        coding.code_passage(
            transcript=transcript, coder=coder, start=start, end=end, codes=codes
        )

    # Listened: first coder units 0-1, second coder unit 1 and a few characters of 2.
    code(first, shared, spans[0][0], spans[1][1], listened)
    code(second, shared, spans[1][0], spans[1][1], listened)
    code(second, shared, spans[2][0] + 2, spans[2][0] + 6, listened)
    # Deciding: only the first coder, unit 3.
    code(first, shared, spans[3][0], spans[3][1], deciding)
    # A transcript only one of them coded does not count.
    code(first, only_first, 0, len(only_first.text), listened, deciding)

    rows = {row.code.name: row for row in coding.agreement(coded_study, first, second)}
    n = len(spans)
    listened_row = rows["Feeling listened to"]
    assert (
        listened_row.both,
        listened_row.only_a,
        listened_row.only_b,
        listened_row.neither,
    ) == (1, 1, 1, n - 3)
    observed = (n - 2) / n
    expected = (2 / n) * (2 / n) + ((n - 2) / n) ** 2
    assert listened_row.kappa == pytest.approx((observed - expected) / (1 - expected))
    deciding_row = rows["Deciding together"]
    assert (deciding_row.both, deciding_row.only_a, deciding_row.neither) == (
        0,
        1,
        n - 1,
    )
    assert deciding_row.kappa == 0.0
    unused = rows["Doubts about the approach"]
    assert unused.kappa is None
    assert unused.undefined_because == (
        "Undefined: neither coder applied this code to any sentence."
    )
    assert [row.code.name for row in coding.agreement(coded_study, first, second)] == [
        code.name
        for theme in coding.codebook(coded_study)
        for code in theme.codes.all()
    ]


def test_agreement_without_a_shared_transcript_says_so(coded_study):
    rows = coding.agreement(
        coded_study, qualitative(coded_study), qualitative(coded_study)
    )
    assert rows and all(row.units == 0 and row.kappa is None for row in rows)
    assert rows[0].undefined_because == "No transcript was coded by both coders."
