from django.conf import settings
from django.db import models
from django.urls import reverse

from participants.models import Study

PRESET_TITLES = {"custom": "Custom specification"}


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class AnalysisRun(models.Model):
    """One request to fit a set of models, with what came out and how to repeat it."""

    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, related_name="analysis_runs"
    )
    # A preset's name, or "custom" when the specification was written by hand.
    preset = models.CharField(max_length=50)
    title = models.CharField(
        max_length=120, blank=True, help_text="The investigator's name for the run."
    )
    # ModelSpec.as_dict() for each model, so the run can be repeated exactly.
    specification = models.JSONField(default=list)
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    step = models.CharField(max_length=200, blank=True)
    percent = models.PositiveSmallIntegerField(default=0)
    results = models.JSONField(default=list, blank=True)
    descriptives = models.JSONField(
        default=dict,
        blank=True,
        help_text="Table 1, correlations, attrition, mixed models.",
    )
    error = models.TextField(blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="analysis_runs",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the task queue last accepted the run; the planner queues it again if
    # it is still waiting long after (a broker outage, or a restarted Redis).
    handed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percent__lte=100), name="analysis_run_percent_max"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study.short_name} {self.preset} run #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("analysis:run_detail", args=[self.pk])

    @property
    def description(self) -> str:
        return self.title or PRESET_TITLES.get(self.preset, self.preset)

    @property
    def in_progress(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)


class DownloadStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    BUILDING = "building", "Being built"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Download(models.Model):
    """One de-identified data file taken from the study: the download log.

    Who asked, when, for what (the export request as JSON), in which format, how
    many rows, and the SHA-256 of the exact bytes handed over. CSV streams
    straight to the browser; other formats are built by a worker into
    ``EXPORT_ROOT`` and fetched from there.
    """

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="downloads")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="downloads",
    )
    request = models.JSONField(default=dict)
    layout = models.CharField(max_length=10)
    fmt = models.CharField("format", max_length=10)
    file_name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=DownloadStatus.choices, default=DownloadStatus.QUEUED
    )
    percent = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # Relative to EXPORT_ROOT; empty for streamed CSV, which is never stored.
    path = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    handed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percent__lte=100), name="download_percent_max"
            )
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("analysis:download_detail", args=[self.pk])

    @property
    def in_progress(self) -> bool:
        return self.status in (DownloadStatus.QUEUED, DownloadStatus.BUILDING)


# The interview strand's models live in their own module; importing them here
# is how Django finds them.
from analysis.interview_models import (  # noqa: E402
    Code,
    CodedSegment,
    Interview,
    InterviewSample,
    Memo,
    SampleMember,
    Theme,
    Transcript,
)

__all__ = [
    "AnalysisRun",
    "Code",
    "CodedSegment",
    "Download",
    "Interview",
    "InterviewSample",
    "Memo",
    "SampleMember",
    "Theme",
    "Transcript",
]
