"""The interview strand: who is sampled, interviewed, transcribed and coded.

Imported by ``analysis.models`` so that Django finds the models; kept apart
because the qualitative strand is a concept of its own.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from participants.models import Participant, Study


class InterviewSample(models.Model):
    """A purposive sample proposed by the software and settled by a coordinator."""

    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, related_name="interview_samples"
    )
    size = models.PositiveSmallIntegerField()
    # The stratifying criteria by name, e.g. ["partnership_tertile", "site"].
    criteria = models.JSONField(default=list)
    seed = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Interview sample {self.pk} of {self.study.short_name} ({self.size})"

    def get_absolute_url(self) -> str:
        return reverse("interviews:sample", args=[self.pk])


class SampleMember(models.Model):
    """One participant's place in a sample, and why it changed."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        SWAPPED_OUT = "swapped_out", "Swapped out"
        ADDED = "added", "Added by hand"

    sample = models.ForeignKey(
        InterviewSample, on_delete=models.CASCADE, related_name="members"
    )
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="sample_places"
    )
    # The stratum in words, e.g. "partnership high · improved · LDS".
    stratum = models.CharField(max_length=200)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PROPOSED
    )
    reason = models.TextField(blank=True, help_text="Why it was swapped or added.")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["stratum", "participant__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["sample", "participant"], name="participant_once_per_sample"
            )
        ]

    def __str__(self) -> str:
        return f"{self.participant.code} in sample {self.sample_id}"


class Interview(models.Model):
    """One participant's interview, from invitation to done (or not)."""

    class Mode(models.TextChoices):
        IN_PERSON = "in_person", "In person"
        PHONE = "phone", "Phone"
        VIDEO = "video", "Video call"

    class Status(models.TextChoices):
        INVITED = "invited", "Invited"
        SCHEDULED = "scheduled", "Scheduled"
        DONE = "done", "Done"
        DECLINED = "declined", "Declined"
        NO_SHOW = "no_show", "Did not attend"

    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, related_name="interview"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.INVITED
    )
    invited_on = models.DateField()
    scheduled_for = models.DateTimeField(null=True, blank=True)
    interviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="interviews_held",
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, blank=True)
    duration_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Who moved the interview to which status, and when, stays on record.
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["participant__code"]

    def __str__(self) -> str:
        return f"Interview with {self.participant.code} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("interviews:detail", args=[self.pk])


class Transcript(models.Model):
    """What was said, as text; coded passages point into it by character offset."""

    interview = models.OneToOneField(
        Interview, on_delete=models.PROTECT, related_name="transcript"
    )
    text = models.TextField()
    source = models.CharField(
        max_length=200, blank=True, help_text="File name it came from, if uploaded."
    )
    # Names replaced by placeholders before saving (the original is not kept).
    masked_names = models.JSONField(default=list, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    # Every upload, paste and replacement, with the text it replaced.
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Transcript of {self.interview}"

    def get_absolute_url(self) -> str:
        return reverse("coding:transcript", args=[self.pk])


class Theme(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="themes")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["study", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="theme_name_once")
        ]

    def __str__(self) -> str:
        return self.name


class Code(models.Model):
    """A label for passages, with the definition coders apply it by."""

    theme = models.ForeignKey(Theme, on_delete=models.PROTECT, related_name="codes")
    name = models.CharField(max_length=200)
    definition = models.TextField()
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["theme__order", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["theme", "name"], name="code_name_once")
        ]

    def __str__(self) -> str:
        return self.name


class CodedSegment(models.Model):
    """A passage of a transcript (characters start to end) one coder coded."""

    transcript = models.ForeignKey(
        Transcript, on_delete=models.CASCADE, related_name="segments"
    )
    coder = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="segments"
    )
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    codes = models.ManyToManyField(Code, related_name="segments")
    memo = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["transcript", "start", "end", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")),
                name="segment_not_empty",
            )
        ]

    def __str__(self) -> str:
        return f"{self.transcript_id}:{self.start}-{self.end} by {self.coder_id}"

    @property
    def passage(self) -> str:
        return self.transcript.text[self.start : self.end]


class Memo(models.Model):
    """A coder's note on a transcript as a whole."""

    transcript = models.ForeignKey(
        Transcript, on_delete=models.CASCADE, related_name="memos"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["transcript", "created_at", "pk"]

    def __str__(self) -> str:
        return f"Memo on {self.transcript_id} by {self.author_id}"
