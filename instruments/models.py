from functools import cached_property

from django.conf import settings
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from instruments.definitions import Definition, from_data


class Respondent(models.TextChoices):
    PATIENT = "patient", "Patient"
    STAFF = "staff", "Clinic staff"


class Instrument(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    title = models.CharField(max_length=200)
    respondent = models.CharField(max_length=10, choices=Respondent.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("instruments:detail", args=[self.slug])

    def latest_version(self) -> "InstrumentVersion | None":
        return self.versions.order_by("-number").first()


class InstrumentVersion(models.Model):
    """One immutable version of a definition; responses point at the one they used."""

    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    checksum = models.CharField(max_length=64)
    source = models.CharField(
        max_length=200, help_text="Where the definition came from (file or import)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instrument", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "number"], name="one_number_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument.title} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("instruments:preview", args=[self.instrument.slug, self.number])

    @cached_property
    def parsed(self) -> Definition:
        # The definition JSON is read from the database only on a cache miss,
        # so callers may load versions with .defer("definition").
        return parsed_definition(self.pk, self.checksum, lambda: self.definition)


_PARSED: dict[tuple[int, str], Definition] = {}


def parsed_definition(pk: int | None, checksum: str, data) -> Definition:
    """Versions never change, so each is validated and parsed once per process."""
    if pk is None:
        return from_data(data(), source="unsaved instrument version")
    key = (pk, checksum)
    if key not in _PARSED:
        _PARSED[key] = from_data(data(), source=f"instrument version {pk}")
    return _PARSED[key]


class ResponseStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"


class ResponseMode(models.TextChoices):
    WEB = "web", "Patient's own device"
    TABLET = "tablet", "Clinic tablet"
    PAPER = "paper", "Paper, entered by staff"
    PHONE = "phone", "Phone interview, entered by staff"
    STAFF = "staff", "Staff data entry"


class Response(models.Model):
    """Answers to one instrument at one visit, against the version shown."""

    visit = models.ForeignKey(
        "participants.Visit", on_delete=models.CASCADE, related_name="responses"
    )
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="responses"
    )
    instrument_version = models.ForeignKey(
        InstrumentVersion, on_delete=models.PROTECT, related_name="responses"
    )
    answers = models.JSONField(default=dict, blank=True)
    scores = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=20,
        choices=ResponseStatus.choices,
        default=ResponseStatus.IN_PROGRESS,
    )
    mode = models.CharField(max_length=10, choices=ResponseMode.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    paradata = models.JSONField(
        default=dict, blank=True, help_text="Pages saved, device class, timings."
    )
    history = HistoricalRecords(excluded_fields=["paradata"])

    class Meta:
        ordering = ["visit", "instrument"]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "instrument"], name="one_response_per_visit_instrument"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument.slug} at {self.visit}"

    @property
    def is_submitted(self) -> bool:
        return self.status == ResponseStatus.SUBMITTED
