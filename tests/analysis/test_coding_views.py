"""Coding pages, agreement and the joint display, tried by every role."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from openpyxl import load_workbook

from analysis.interview_models import Code, CodedSegment, Memo, Theme, Transcript
from participants.models import Role
from studyportal.demo import DEMO_SAYINGS, DEMO_UNCODED
from tests.factories import (
    MembershipFactory,
    StudyFactory,
    UserFactory,
    clinic_staff,
    coordinator,
    investigator,
    qualitative,
)

PAGES = [
    "coding:list",
    "coding:codebook",
    "coding:agreement",
    "coding:joint_display",
    "coding:joint_display_csv",
    "coding:joint_display_xlsx",
]
TEXT_PAGES = {"coding:list", "coding:codebook"}


@pytest.fixture
def transcript(coded_study):
    return Transcript.objects.filter(
        interview__participant__study=coded_study
    ).order_by("pk")[0]


def demo_user(name: str):
    return get_user_model().objects.get(username=name)


def users(study) -> dict:
    return {
        "clinic staff": clinic_staff(study.sites.first()),
        "coordinator": coordinator(study),
        "investigator": investigator(study),
        "qualitative": qualitative(study),
        "admin": UserFactory(is_superuser=True, is_staff=True),
    }


def sentences_said(transcript) -> list[str]:
    """Participant sentences of the transcript, none of which a page may leak."""
    return [
        sentence
        for key, pool in DEMO_SAYINGS.items()
        for sentence in pool
        if sentence in transcript.text and key not in DEMO_UNCODED
    ]


def test_anonymous_visitors_are_sent_to_log_in(client, transcript):
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    response = client.get(transcript.get_absolute_url())
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("clinic staff", set()),
        (
            "coordinator",
            set(PAGES) - TEXT_PAGES,
        ),
        ("investigator", set(PAGES) - TEXT_PAGES),
        ("qualitative", set(PAGES)),
        ("admin", set(PAGES)),
    ],
)
def test_each_role_reaches_only_its_pages(client, coded_study, role, allowed):
    client.force_login(users(coded_study)[role])
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == (200 if name in allowed else 403), name


@pytest.mark.parametrize("role", ["clinic staff", "coordinator", "investigator"])
def test_only_the_qualitative_team_reads_transcript_text(
    client, coded_study, transcript, role
):
    said = sentences_said(transcript)
    assert said
    client.force_login(users(coded_study)[role])
    response = client.get(transcript.get_absolute_url())
    assert response.status_code == 404
    assert not any(sentence.encode() in response.content for sentence in said)
    segment = CodedSegment.objects.filter(transcript=transcript).first()
    response = client.post(reverse("coding:remove_segment", args=[segment.pk]))
    assert response.status_code == 404
    assert CodedSegment.objects.filter(pk=segment.pk).exists()
    # Nor does any page they may open carry a word of it.
    for name in PAGES:
        content = client.get(reverse(name)).content
        assert not any(sentence.encode() in content for sentence in said), name


@pytest.mark.parametrize("role", ["qualitative", "admin"])
def test_the_qualitative_team_reads_the_transcript(
    client, coded_study, transcript, role
):
    client.force_login(users(coded_study)[role])
    response = client.get(transcript.get_absolute_url())
    assert response.status_code == 200
    for sentence in sentences_said(transcript):
        assert sentence in response.content.decode()


def test_the_section_offers_transcripts_only_to_those_who_may_code(client, coded_study):
    client.force_login(qualitative(coded_study))
    page = client.get(reverse("coding:joint_display")).content.decode()
    assert f'href="{reverse("coding:codebook")}"' in page
    assert f'href="{reverse("coding:list")}"' in page
    client.force_login(investigator(coded_study))
    page = client.get(reverse("coding:joint_display")).content.decode()
    assert f'href="{reverse("coding:list")}"' not in page
    assert f'href="{reverse("coding:agreement")}"' in page


def test_the_text_container_holds_exactly_the_transcript_text(client, transcript):
    from html import unescape

    client.force_login(demo_user("qualitative"))
    page = client.get(transcript.get_absolute_url()).content.decode()
    start = page.index("data-transcript-text")
    inner = page[page.index(">", start) + 1 : page.index("</div>", start)]
    assert "<mark" in inner  # the first coder's passages are highlighted
    plain = inner.replace('<mark class="coded">', "").replace("</mark>", "")
    assert unescape(plain) == transcript.text


def test_a_second_coder_never_sees_the_first_coders_passages(client, transcript):
    first = CodedSegment.objects.filter(
        transcript=transcript, coder=demo_user("qualitative")
    ).first()
    client.force_login(qualitative(transcript.interview.participant.study))
    page = client.get(transcript.get_absolute_url()).content.decode()
    assert "<mark" not in page
    assert f"Characters {first.start} to {first.end}" not in page
    assert "You have not coded any passage" in page


def test_coding_a_passage_through_the_page(client, coded_study, transcript):
    coder = qualitative(coded_study)
    client.force_login(coder)
    codes = Code.objects.filter(theme__study=coded_study)[:2]
    response = client.post(
        transcript.get_absolute_url(),
        {
            "action": "code",
            "start": 13,
            "end": 30,
            "codes": [code.pk for code in codes],
            "memo": "Sets the scene",
        },
        follow=True,
    )
    assert "Passage coded." in response.content.decode()
    segment = CodedSegment.objects.get(coder=coder)
    assert (segment.start, segment.end, segment.memo) == (13, 30, "Sets the scene")
    assert set(segment.codes.all()) == set(codes)
    page = response.content.decode()
    assert f'<mark class="coded">{transcript.text[13:30]}</mark>' in page


def test_a_bad_passage_is_explained_next_to_its_field(client, coded_study, transcript):
    client.force_login(qualitative(coded_study))
    code = Code.objects.filter(theme__study=coded_study).first()
    length = len(transcript.text)
    response = client.post(
        transcript.get_absolute_url(),
        {"action": "code", "start": 5, "end": length + 10, "codes": [code.pk]},
    )
    assert response.status_code == 200
    assert f"at most {length}" in response.content.decode()
    response = client.post(
        transcript.get_absolute_url(), {"action": "code", "start": 5, "end": 9}
    )
    assert "Choose at least one code" in response.content.decode()
    assert not CodedSegment.objects.filter(coder=response.wsgi_request.user).exists()


def test_removing_a_passage_and_keeping_a_memo(client, coded_study, transcript):
    coder = qualitative(coded_study)
    client.force_login(coder)
    code = Code.objects.filter(theme__study=coded_study).first()
    client.post(
        transcript.get_absolute_url(),
        {"action": "code", "start": 0, "end": 11, "codes": [code.pk]},
    )
    segment = CodedSegment.objects.get(coder=coder)
    client.post(reverse("coding:remove_segment", args=[segment.pk]))
    assert not CodedSegment.objects.filter(pk=segment.pk).exists()
    others = CodedSegment.objects.filter(transcript=transcript).first()
    response = client.post(
        reverse("coding:remove_segment", args=[others.pk]), follow=True
    )
    assert "only remove passages you coded" in response.content.decode()
    assert CodedSegment.objects.filter(pk=others.pk).exists()
    response = client.post(
        transcript.get_absolute_url(),
        {"action": "memo", "text": "Talks about work a lot."},
        follow=True,
    )
    assert Memo.objects.get(author=coder).text == "Talks about work a lot."
    assert "Talks about work a lot." in response.content.decode()


def test_the_codebook_page_adds_themes_and_codes(client, coded_study):
    client.force_login(qualitative(coded_study))
    url = reverse("coding:codebook")
    response = client.post(
        url, {"action": "theme", "theme-name": "Sleep", "theme-description": ""}
    )
    assert response.status_code == 302
    theme = Theme.objects.get(study=coded_study, name="Sleep")
    response = client.post(
        url,
        {
            "action": "code",
            "code-theme": theme.pk,
            "code-name": "Waking at night",
            "code-definition": "Pain wakes the participant.",
        },
        follow=True,
    )
    assert "Waking at night" in response.content.decode()
    assert theme.codes.get().definition == "Pain wakes the participant."
    response = client.post(
        url,
        {
            "action": "code",
            "code-theme": theme.pk,
            "code-name": "waking AT night",
            "code-definition": "Again.",
        },
    )
    assert "already has a code" in response.content.decode()


def test_the_agreement_page_reports_kappa_per_code(client, coded_study):
    client.force_login(investigator(coded_study))
    first, second = demo_user("qualitative"), demo_user("qualitative2")
    url = reverse("coding:agreement")
    response = client.get(url, {"coder_a": first.pk, "coder_b": second.pk})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Cohen&#x27;s kappa" in page or "Cohen's kappa" in page
    for code in Code.objects.filter(theme__study=coded_study):
        assert code.name in page
    response = client.get(url, {"coder_a": first.pk, "coder_b": first.pk})
    assert "Choose two different coders." in response.content.decode()


def test_the_joint_display_page_shows_themes_and_tertiles(client, coded_study):
    client.force_login(coordinator(coded_study))
    page = client.get(reverse("coding:joint_display")).content.decode()
    for theme in Theme.objects.filter(study=coded_study):
        assert theme.name in page
    assert "Themes by partnership tertile" in page
    for code in Transcript.objects.filter(
        interview__participant__study=coded_study
    ).values_list("interview__participant__code", flat=True):
        assert code not in page


@pytest.mark.parametrize("page", ["coding:agreement", "coding:joint_display"])
def test_someone_on_two_studies_switches_in_the_header(client, coded_study, page):
    user = investigator(coded_study)
    other = StudyFactory(name="Zeta cohort study", short_name="Zeta")
    MembershipFactory(user=user, study=other, role=Role.INVESTIGATOR)
    client.force_login(user)
    response = client.get(reverse(page))
    assert response.context["study"] == coded_study
    assert f'name="study" value="{other.pk}"' in response.content.decode()
    client.post(reverse("choose_study"), {"study": other.pk, "next": reverse(page)})
    response = client.get(reverse(page))
    assert response.status_code == 200
    assert response.context["study"] == other
    # The first study is not offered on the page any more: one study at a time.
    response = client.get(reverse(page), {"study": coded_study.pk})
    assert response.context["study"] == other


def test_someone_on_one_study_is_not_asked_to_choose(client, coded_study):
    client.force_login(investigator(coded_study))
    for page in ("coding:agreement", "coding:joint_display"):
        assert 'id="study-choice"' not in client.get(reverse(page)).content.decode()


def test_the_joint_display_downloads_as_csv_and_xlsx(client, coded_study):
    client.force_login(investigator(coded_study))
    response = client.get(reverse("coding:joint_display_csv"))
    assert response["Content-Disposition"].endswith('-joint-display.csv"')
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["pseudonym", "site", "partnership_tertile"]
    assert len(rows) == 27
    assert all(row[0].startswith("P") for row in rows[1:])

    second = demo_user("qualitative2")
    response = client.get(reverse("coding:joint_display_xlsx"), {"coder": second.pk})
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Joint display", "By partnership tertile"]
    sheet = book["Joint display"]
    assert sheet.max_row == 27
    # Only the transcripts the second coder coded express any theme.
    themes = [row[3:7] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert 0 < sum(any(row) for row in themes) < 26
    tertiles = list(book["By partnership tertile"].iter_rows(values_only=True))
    assert tertiles[0][:2] == ("partnership_tertile", "participants")
