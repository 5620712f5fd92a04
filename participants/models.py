from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from studyportal.config import validate_time_zone_name


class Role(models.TextChoices):
    CLINIC_STAFF = "clinic_staff", "Clinic staff"
    COORDINATOR = "coordinator", "Coordinator"
    INVESTIGATOR = "investigator", "Investigator"


class Study(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    short_name = models.CharField(
        max_length=40, help_text="Shown in the navigation bar and page titles."
    )
    description = models.TextField(blank=True)
    recruitment_target = models.PositiveIntegerField(
        default=0, help_text="Number of participants the study aims to enrol."
    )
    reference = models.CharField(
        max_length=300, blank=True, help_text="Protocol or publication reference."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.short_name or self.name


class Site(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    code = models.CharField(
        max_length=6,
        validators=[
            RegexValidator(
                r"^[A-Z]{2,6}$", "Use 2 to 6 capital letters, for example LDS."
            )
        ],
        help_text="Prefix of participants' study IDs, for example LDS in LDS-0007.",
    )
    time_zone = models.CharField(
        max_length=64, default="Europe/London", validators=[validate_time_zone_name]
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["study", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "code"], name="site_code_per_study"
            ),
            models.UniqueConstraint(
                fields=["study", "name"], name="site_name_per_study"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Timepoint(models.Model):
    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, related_name="timepoints"
    )
    code = models.SlugField(
        max_length=30, help_text="Used in variable names, for example baseline."
    )
    label = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField()
    offset_days = models.PositiveIntegerField(
        help_text="Days from the anchor (enrolment) to the target date."
    )
    window_before_days = models.PositiveIntegerField(default=0)
    window_after_days = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["study", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "code"], name="timepoint_code_per_study"
            ),
            models.UniqueConstraint(
                fields=["study", "order"], name="timepoint_order_per_study"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} (day {self.offset_days})"

    @property
    def window_description(self) -> str:
        if not (self.window_before_days or self.window_after_days):
            return f"day {self.offset_days}"
        first = max(self.offset_days - self.window_before_days, 0)
        last = self.offset_days + self.window_after_days
        return f"days {first}–{last}"


class StaffMembership(models.Model):
    """What a member of staff does, and where.

    Clinic staff always belong to one site. Coordinators and investigators work
    across the whole study unless a site is given.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="staff")
    site = models.ForeignKey(
        Site,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="staff",
        help_text="Leave empty for a study-wide coordinator or investigator.",
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "role", "site"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "site", "role"],
                condition=models.Q(site__isnull=False),
                name="one_membership_per_role_and_site",
            ),
            models.UniqueConstraint(
                fields=["user", "study", "role"],
                condition=models.Q(site__isnull=True),
                name="one_study_wide_membership_per_role",
            ),
        ]

    def __str__(self) -> str:
        where = self.site.code if self.site_id else "all sites"
        return f"{self.user} – {self.get_role_display()} ({where})"

    def clean(self) -> None:
        if self.role == Role.CLINIC_STAFF and not self.site_id:
            raise ValidationError({"site": "Clinic staff must belong to a site."})
        if self.site_id and self.study_id and self.site.study_id != self.study_id:
            raise ValidationError({"site": "This site belongs to another study."})
