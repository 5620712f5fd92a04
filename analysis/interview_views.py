"""Interview sampling, the interview log and transcripts."""

from __future__ import annotations

import random

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from analysis import interviews, sampling
from analysis.interview_models import Interview, SampleMember, Transcript
from participants.forms import DomainErrorMixin
from participants.models import Participant
from studyportal import access
from studyportal.errors import DomainError

TICKS = forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"})
RADIO = forms.RadioSelect(attrs={"class": "form-check-input"})
# The reference study interviewed 26 of those who agreed.
DEFAULT_SIZE = 26


# --- forms -------------------------------------------------------------------


class ProposeForm(DomainErrorMixin, forms.Form):
    study = forms.ModelChoiceField(queryset=None, empty_label=None)
    size = forms.IntegerField(
        label="How many to interview", min_value=1, initial=DEFAULT_SIZE
    )
    criteria = forms.MultipleChoiceField(
        label="Stratify by",
        required=False,
        widget=TICKS,
        help_text="None ticked: a simple random sample of everyone eligible.",
    )
    seed = forms.IntegerField(
        label="Random seed",
        min_value=0,
        max_value=2**31 - 1,
        help_text="The same seed with the same data proposes the same sample.",
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        studies = sampling.sampling_studies(user).order_by("name")
        self.fields["study"].queryset = studies
        if studies.count() == 1:
            self.fields["study"].widget = forms.HiddenInput()
            self.fields["study"].initial = studies.first().pk
        offered: dict[str, str] = {}
        for study in studies:
            for name, label in sampling.criteria_of(study).items():
                offered.setdefault(name, label)
        self.fields["criteria"].choices = list(offered.items())
        self.fields["criteria"].initial = [
            name for name in list(offered)[:2] if name != "site"
        ]
        self.fields["seed"].initial = random.SystemRandom().randint(1, 99999)


class SwapForm(DomainErrorMixin, forms.Form):
    reason = forms.CharField(label="Why swap them out", max_length=500)
    replacement = forms.CharField(
        label="Replacement's study ID",
        max_length=20,
        required=False,
        help_text="Leave empty to draw someone from the same stratum.",
    )

    def __init__(self, *args, sample, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sample = sample

    def clean_replacement(self) -> Participant | None:
        code = self.cleaned_data["replacement"].strip().upper()
        return _participant(self.sample, code) if code else None


class AddForm(DomainErrorMixin, forms.Form):
    participant = forms.CharField(label="Study ID", max_length=20)
    reason = forms.CharField(label="Why add them", max_length=500)

    def __init__(self, *args, sample, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sample = sample

    def clean_participant(self) -> Participant:
        return _participant(self.sample, self.cleaned_data["participant"].upper())


def _participant(sample, code: str) -> Participant:
    participant = Participant.objects.filter(
        study=sample.study, code=code.strip()
    ).first()
    if participant is None:
        raise forms.ValidationError(f"No participant of this study has the ID {code}.")
    return participant


class InterviewForm(DomainErrorMixin, forms.Form):
    status = forms.ChoiceField(choices=Interview.Status.choices, widget=RADIO)
    scheduled_for = forms.DateTimeField(
        label="Date and time",
        required=False,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    interviewer = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Not yet decided"
    )
    mode = forms.ChoiceField(
        choices=[("", "Not yet decided"), *Interview.Mode.choices],
        required=False,
        widget=RADIO,
    )
    duration_minutes = forms.IntegerField(
        label="Duration (minutes)", min_value=1, max_value=1000, required=False
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Practical notes only; no names or what was said.",
    )

    def __init__(self, *args, interview: Interview, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        staff = interviews.interviewers_for(interview.participant.study)
        self.fields["interviewer"].queryset = staff
        self.fields["interviewer"].label_from_instance = interviews.person_label


class TranscriptForm(DomainErrorMixin, forms.Form):
    file = forms.FileField(
        label="Upload a file",
        required=False,
        help_text="Plain text (.txt, UTF-8) or Word (.docx), at most 2 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".txt,.docx"}),
    )
    text = forms.CharField(
        label="Or paste the text",
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
    )
    other_names = forms.CharField(
        label="Other names to mask",
        required=False,
        max_length=1000,
        help_text="Separated by commas, for example a partner's or a clinician's "
        "name. Names written with a capital are masked too; check the result "
        "and list any name that is left.",
    )

    def clean(self):
        data = super().clean()
        upload, text = data.get("file"), (data.get("text") or "").strip()
        if upload and text:
            self.add_error("text", "Either upload a file or paste the text, not both.")
        elif not upload and not text:
            self.add_error("file", "Upload a file or paste the transcript below.")
        elif upload:
            try:
                data["text"] = interviews.read_upload(upload)
            except DomainError as error:
                self.add_domain_error(error)
        return data

    def names(self) -> list[str]:
        given = self.cleaned_data.get("other_names", "")
        return [name.strip() for name in given.replace("\n", ",").split(",")]


# --- views -------------------------------------------------------------------


@access.capability_required("manage_interviews")
def interview_list(request):
    has_transcript = Transcript.objects.filter(interview=OuterRef("pk"))
    log = interviews.interviews_for(request.user).annotate(
        has_transcript=Exists(has_transcript)
    )
    return render(request, "interviews/list.html", {"interviews": log})


@access.capability_required("sample_interviewees")
def samples(request):
    form = ProposeForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sample = sampling.propose(
                study=data["study"],
                size=data["size"],
                criteria=data["criteria"],
                seed=data["seed"],
                user=request.user,
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            return redirect(sample)
    studies = sampling.sampling_studies(request.user).order_by("name")
    context = {
        "form": form,
        "eligible": [(study, len(sampling.eligible(study))) for study in studies],
        "samples": sampling.samples_for(request.user)[:20],
    }
    return render(request, "interviews/samples.html", context)


@access.capability_required("sample_interviewees")
def sample_detail(request, pk: int):
    sample = get_object_or_404(sampling.samples_for(request.user), pk=pk)
    return _sample_page(request, sample)


@access.capability_required("sample_interviewees")
def swap_member(request, pk: int, member_pk: int):
    sample = get_object_or_404(sampling.samples_for(request.user), pk=pk)
    member = get_object_or_404(sample.members, pk=member_pk)
    if request.method != "POST":
        return redirect(sample)
    form = SwapForm(request.POST, sample=sample, prefix=f"swap-{member.pk}")
    if form.is_valid():
        try:
            new = sampling.swap(
                member,
                reason=form.cleaned_data["reason"],
                replacement=form.cleaned_data["replacement"],
                user=request.user,
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(
                request,
                f"{member.participant.code} swapped out; "
                f"{new.participant.code} proposed in their place.",
            )
            return redirect(sample)
    return _sample_page(request, sample, swap_forms={member.pk: form})


@access.capability_required("sample_interviewees")
def add_member(request, pk: int):
    sample = get_object_or_404(sampling.samples_for(request.user), pk=pk)
    if request.method != "POST":
        return redirect(sample)
    form = AddForm(request.POST, sample=sample)
    if form.is_valid():
        try:
            added = sampling.add(
                sample,
                participant=form.cleaned_data["participant"],
                reason=form.cleaned_data["reason"],
                user=request.user,
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, f"{added.participant.code} added to the sample.")
            return redirect(sample)
    return _sample_page(request, sample, add_form=form)


@access.capability_required("sample_interviewees")
def accept_sample(request, pk: int):
    sample = get_object_or_404(sampling.samples_for(request.user), pk=pk)
    if request.method != "POST":
        return redirect(sample)
    invited = sampling.accept(sample, user=request.user, today=timezone.localdate())
    messages.success(
        request,
        f"Sample accepted; {len(invited)} interview{'s' if len(invited) != 1 else ''} "
        "added to the log as invited.",
    )
    return redirect("interviews:list")


def _sample_page(request, sample, *, swap_forms=None, add_form=None):
    swap_forms = swap_forms or {}
    strata = sampling.strata_counts(sample)
    position = {stratum: n for n, (stratum, _, _) in enumerate(strata)}
    members = sorted(
        sample.members.select_related("participant", "changed_by"),
        key=lambda member: (
            position.get(member.stratum, len(position)),
            member.participant.code,
        ),
    )
    rows = [
        (
            member,
            swap_forms.get(member.pk)
            or SwapForm(sample=sample, prefix=f"swap-{member.pk}"),
        )
        for member in members
    ]
    context = {
        "sample": sample,
        "criteria": [
            sampling.criteria_of(sample.study).get(name, name)
            for name in sample.criteria
        ],
        "strata": strata,
        "rows": rows,
        "add_form": add_form or AddForm(sample=sample),
        "proposed": any(m.status == SampleMember.Status.PROPOSED for m, _ in rows),
    }
    return render(request, "interviews/sample.html", context)


@access.capability_required("manage_interviews")
def interview_detail(request, pk: int):
    interview = get_object_or_404(interviews.interviews_for(request.user), pk=pk)
    form = InterviewForm(
        request.POST or None, interview=interview, initial=_log_initial(interview)
    )
    if request.method == "POST" and form.is_valid():
        try:
            interviews.update(interview, **form.cleaned_data, user=request.user)
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, "Interview log updated.")
            return redirect(interview)
    return _interview_page(request, interview, log_form=form)


@access.capability_required("code_transcripts")
def upload_transcript(request, pk: int):
    interview = get_object_or_404(interviews.interviews_for(request.user), pk=pk)
    if not interviews.can_read_transcripts(request.user, interview.participant.study):
        raise PermissionDenied("Only the study's qualitative researchers do this.")
    if request.method != "POST":
        return redirect(interview)
    form = TranscriptForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data.get("file")
        try:
            interviews.save_transcript(
                interview,
                text=form.cleaned_data["text"],
                source=upload.name if upload else "",
                names_to_mask=form.names(),
                user=request.user,
            )
        except DomainError as error:
            form.add_domain_error(error)
        else:
            messages.success(request, "Transcript saved, with names masked.")
            return redirect(interview)
    return _interview_page(request, interview, transcript_form=form)


def _log_initial(interview: Interview) -> dict:
    return {
        "status": interview.status,
        "scheduled_for": interview.scheduled_for,
        "interviewer": interview.interviewer_id,
        "mode": interview.mode,
        "duration_minutes": interview.duration_minutes,
        "notes": interview.notes,
    }


def _interview_page(request, interview, *, log_form=None, transcript_form=None):
    study = interview.participant.study
    reader = interviews.can_read_transcripts(request.user, study)
    transcript = Transcript.objects.filter(interview=interview).first()
    context = {
        "interview": interview,
        # A failed transcript upload shows the page again with a fresh log form.
        "log_form": log_form
        or InterviewForm(interview=interview, initial=_log_initial(interview)),
        "reader": reader,
        "has_transcript": transcript is not None,
        # Only readers get the transcript into the template at all.
        "transcript": transcript if reader else None,
        "coded": transcript is not None and transcript.segments.exists(),
        "transcript_form": (transcript_form or TranscriptForm()) if reader else None,
        "history": interviews.history_for(interview),
    }
    return render(request, "interviews/detail.html", context)
