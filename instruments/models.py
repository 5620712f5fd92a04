from functools import cached_property

from django.db import models
from django.urls import reverse

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
        return from_data(self.definition, source=str(self))
