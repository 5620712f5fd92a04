"""Coding transcripts in the browser, coder agreement and the joint display.

Transcript pages are for those who may code the study's transcripts (others
get 404, so no text leaks); agreement and the joint display hold no transcript
text and are open to those who may see the joint display.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from analysis import coding
from analysis.coding_forms import (
    CodeForm,
    CodePassageForm,
    CoderChoiceForm,
    JointDisplayForm,
    MemoForm,
    ThemeForm,
)
from analysis.interview_models import CodedSegment, Transcript
from analysis.interviews import transcript_studies
from analysis.joint_display import display_studies, joint_display
from analysis.runs import pseudonym
from participants.models import Study
from studyportal import access
from studyportal.errors import DomainError
from studyportal.spreadsheets import csv_response, xlsx_response


def _chosen_study(request, studies) -> Study:
    """The working study, if the user's role reaches it here
    (``studyportal.current_study``: one study at a time)."""
    study = studies.first()
    if study is None:
        raise PermissionDenied("Your role does not give access to this page.")
    return study


def highlighted(text: str, segments) -> SafeString:
    """The transcript text with the given passages marked, and nothing else added.

    The text content of the result is exactly ``text``, so that offsets the
    browser measures in it are offsets into the transcript.
    """
    edges = {edge for segment in segments for edge in (segment.start, segment.end)}
    cuts = sorted({0, len(text), *edges})
    parts = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        # A bare CR would be folded into the LF after it by the HTML parser.
        piece = str(escape(text[start:end])).replace("\r", "&#13;")
        if any(s.start <= start and end <= s.end for s in segments):
            parts.append(f'<mark class="coded">{piece}</mark>')
        else:
            parts.append(piece)
    return mark_safe("".join(parts))  # noqa: S308 - every piece is escaped above


# ---------------------------------------------------------------------------
# Transcripts and coding


@access.capability_required("code_transcripts")
def transcript_list(request):
    studies = transcript_studies(request.user).order_by("name")
    if not studies:
        raise PermissionDenied("Only the qualitative team may read transcripts.")
    transcripts = list(
        coding.transcripts_for(request.user).order_by(
            "interview__participant__study__name", "interview__participant__code"
        )
    )
    mine = set(
        CodedSegment.objects.filter(
            coder=request.user, transcript__in=transcripts
        ).values_list("transcript_id", flat=True)
    )
    rows = [
        {
            "transcript": transcript,
            "label": pseudonym(transcript.interview.participant.code),
            "coded_by_me": transcript.pk in mine,
        }
        for transcript in transcripts
    ]
    rows.sort(key=lambda row: (row["coded_by_me"], row["label"]))
    return render(
        request,
        "coding/list.html",
        {"rows": rows, "studies": studies, "several": len(studies) > 1},
    )


@login_required
def transcript_detail(request, pk: int):
    transcript = get_object_or_404(coding.transcripts_for(request.user), pk=pk)
    study = coding.study_of(transcript)
    action = request.POST.get("action") if request.method == "POST" else None
    code_form = CodePassageForm(request.POST if action == "code" else None, study=study)
    memo_form = MemoForm(request.POST if action == "memo" else None)
    if action == "code" and code_form.is_valid():
        data = code_form.cleaned_data
        try:
            coding.code_passage(
                transcript=transcript,
                coder=request.user,
                start=data["start"],
                end=data["end"],
                codes=data["codes"],
                memo=data["memo"],
            )
        except DomainError as error:
            code_form.add_domain_error(error)
        else:
            messages.success(request, "Passage coded.")
            return redirect(transcript)
    if action == "memo" and memo_form.is_valid():
        try:
            coding.add_memo(
                transcript=transcript,
                author=request.user,
                text=memo_form.cleaned_data["text"],
            )
        except DomainError as error:
            memo_form.add_domain_error(error)
        else:
            messages.success(request, "Memo saved.")
            return redirect(transcript)
    segments = list(coding.segments_of(transcript, request.user))
    context = {
        "transcript": transcript,
        "study": study,
        "label": pseudonym(transcript.interview.participant.code),
        "text": highlighted(transcript.text, segments),
        "themes": coding.codebook(study),
        "form": code_form,
        "chosen_codes": code_form.selected_codes(),
        "selected_passage": _selected_passage(code_form, transcript),
        "memo_form": memo_form,
        "segments": segments,
        "memos": transcript.memos.filter(author=request.user),
    }
    return render(request, "coding/transcript.html", context)


def _selected_passage(form: CodePassageForm, transcript: Transcript) -> str:
    """The passage a form sent back with errors had selected, to show it again."""
    try:
        start, end = int(form["start"].value()), int(form["end"].value())
    except (TypeError, ValueError):
        return ""
    return transcript.text[start:end] if 0 <= start < end else ""


@login_required
@require_POST
def remove_segment(request, pk: int):
    segment = get_object_or_404(
        CodedSegment.objects.filter(
            transcript__in=coding.transcripts_for(request.user)
        ).select_related("transcript"),
        pk=pk,
    )
    transcript: Transcript = segment.transcript
    try:
        coding.remove_segment(segment, user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Coded passage removed.")
    return redirect(transcript)


# ---------------------------------------------------------------------------
# The codebook


@access.capability_required("code_transcripts")
def codebook(request):
    studies = transcript_studies(request.user).order_by("name")
    study = _chosen_study(request, studies)
    action = request.POST.get("action") if request.method == "POST" else None
    theme_form = ThemeForm(request.POST if action == "theme" else None, prefix="theme")
    code_form = CodeForm(
        request.POST if action == "code" else None, study=study, prefix="code"
    )
    try:
        if action == "theme" and theme_form.is_valid():
            theme = coding.add_theme(
                study=study,
                name=theme_form.cleaned_data["name"],
                description=theme_form.cleaned_data["description"],
                user=request.user,
            )
            messages.success(request, f"Theme “{theme.name}” added.")
            return redirect(f"{request.path}?study={study.pk}")
        if action == "code" and code_form.is_valid():
            code = coding.add_code(
                theme=code_form.cleaned_data["theme"],
                name=code_form.cleaned_data["name"],
                definition=code_form.cleaned_data["definition"],
                user=request.user,
            )
            messages.success(request, f"Code “{code.name}” added to {code.theme}.")
            return redirect(f"{request.path}?study={study.pk}")
    except DomainError as error:
        (theme_form if action == "theme" else code_form).add_domain_error(error)
    context = {
        "study": study,
        "studies": studies,
        "themes": coding.codebook(study),
        "theme_form": theme_form,
        "code_form": code_form,
    }
    return render(request, "coding/codebook.html", context)


# ---------------------------------------------------------------------------
# Agreement and the joint display: no transcript text, the whole research team


@access.capability_required("see_joint_display")
def agreement(request):
    studies = display_studies(request.user).order_by("name")
    study = _chosen_study(request, studies)
    coders = coding.coders_of(study)
    form = CoderChoiceForm(
        request.GET if "coder_a" in request.GET else None, coders=coders
    )
    rows = None
    if form.is_bound and form.is_valid():
        rows = coding.agreement(
            study, form.cleaned_data["coder_a"], form.cleaned_data["coder_b"]
        )
    context = {"study": study, "studies": studies, "form": form, "rows": rows}
    return render(request, "coding/agreement.html", context)


def _display(request):
    studies = display_studies(request.user).order_by("name")
    study = _chosen_study(request, studies)
    form = JointDisplayForm(request.GET or None, coders=coding.coders_of(study))
    coder = form.cleaned_data["coder"] if form.is_bound and form.is_valid() else None
    return study, studies, form, joint_display(study, coder=coder)


@access.capability_required("see_joint_display")
def joint_display_page(request):
    study, studies, form, display = _display(request)
    query = request.GET.urlencode()
    context = {
        "study": study,
        "studies": studies,
        "form": form,
        "display": display,
        "matrix": [
            {
                "row": row,
                "scores": [row.scores[column] for column, _ in display.columns],
                "themes": [row.themes[theme.pk] for theme in display.themes],
            }
            for row in display.rows
        ],
        "query": f"?{query}" if query else f"?study={study.pk}",
    }
    return render(request, "coding/joint_display.html", context)


@access.capability_required("see_joint_display")
def joint_display_csv(request):
    study, _, _, display = _display(request)
    return csv_response(
        f"{study.slug}-joint-display.csv", display.header(), display.table()
    )


@access.capability_required("see_joint_display")
def joint_display_xlsx(request):
    study, _, _, display = _display(request)
    return xlsx_response(
        f"{study.slug}-joint-display.xlsx",
        {
            "Joint display": (display.header(), display.table()),
            "By partnership tertile": (
                display.tertile_header(),
                display.tertile_table(),
            ),
        },
    )
