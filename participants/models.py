import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from participants import contact_hashes
from participants.encryption import EncryptedDateField, EncryptedTextField
from studyportal.config import validate_time_zone_name


class Role(models.TextChoices):
    CLINIC_STAFF = "clinic_staff", "Clinic staff"
    COORDINATOR = "coordinator", "Coordinator"
    INVESTIGATOR = "investigator", "Investigator"
    # Reads and codes interview transcripts; an investigator without it cannot.
    QUALITATIVE = "qualitative", "Qualitative researcher"


class StudyPhase(models.TextChoices):
    # As REDCap's development and production status: test data made in set-up
    # stay out of a study in production's exports and analyses unless asked for.
    SETUP = "setup", "Set-up (testing)"
    PRODUCTION = "production", "Production (collecting real data)"


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
    contact_email = models.EmailField(
        blank=True, help_text="Shown to participants in every message."
    )
    contact_phone = models.CharField(max_length=30, blank=True)
    study_ids_in_downloads = models.BooleanField(
        "Downloads may carry study IDs",
        default=False,
        help_text="Off: every data download identifies participants by an export "
        "pseudonym only. On: whoever downloads may choose the study ID instead, "
        "which the clinic team can link to a person.",
    )
    time_zone = models.CharField(
        max_length=64,
        default="Europe/London",
        validators=[validate_time_zone_name],
        help_text="The study office's time zone; each site may have its own.",
    )
    phase = models.CharField(
        max_length=20, choices=StudyPhase.choices, default=StudyPhase.SETUP
    )
    coordinators_edit_setup = models.BooleanField(
        "Coordinators may edit the set-up",
        default=False,
        help_text="Off: only administrators change sites, timepoints, consent and "
        "measures in the study builder.",
    )
    # The study's measures, by variable name, as its protocol file declares
    # them (participants.protocol.Measures): key measures, the characteristics
    # for descriptive tables, analysis presets and interview sampling strata.
    measures = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.short_name or self.name


class ProtocolVersion(models.Model):
    """A study's whole protocol as it stood from one change to the next.

    Written by load_study and by the study builder whenever the set-up changes;
    its ``protocol`` is what export_study writes. Collected data are never
    rewritten by a new version.
    """

    study = models.ForeignKey(
        Study, on_delete=models.CASCADE, related_name="protocol_versions"
    )
    number = models.PositiveIntegerField()
    protocol = models.JSONField()
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "number"], name="protocol_version_per_study"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study} protocol v{self.number}"


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
    recruitment_target = models.PositiveIntegerField(
        default=0, help_text="Participants this site aims to enrol; 0 for none set."
    )
    is_active = models.BooleanField(default=True)
    last_participant_number = models.PositiveIntegerField(
        default=0, editable=False, help_text="The sequence behind study IDs."
    )

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


class ReminderPolicy(models.Model):
    """When a study's participants hear from it, in their own local time."""

    study = models.OneToOneField(
        Study, on_delete=models.CASCADE, related_name="reminder_policy"
    )
    invite_when_open = models.BooleanField(
        default=True, help_text="Send the link as soon as a visit's window opens."
    )
    first_reminder_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days after the window opens; 0 for none."
    )
    second_reminder_days = models.PositiveSmallIntegerField(
        default=14, help_text="Days after the window opens; 0 for none."
    )
    final_reminder_days_before_close = models.PositiveSmallIntegerField(
        default=2, help_text="Days before the window closes; 0 for none."
    )
    send_time = models.TimeField(
        default=dt.time(10, 0), help_text="Local time reminders are sent."
    )
    quiet_from = models.TimeField(default=dt.time(21, 0))
    quiet_until = models.TimeField(default=dt.time(8, 0))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "reminder policies"

    def __str__(self) -> str:
        return f"Reminders for {self.study}"

    def clean(self) -> None:
        if self.quiet_from == self.quiet_until:
            raise ValidationError("Quiet hours must start and end at different times.")


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


class TimepointInstrument(models.Model):
    """Which questionnaires a timepoint collects, and in what order."""

    timepoint = models.ForeignKey(
        Timepoint, on_delete=models.CASCADE, related_name="instruments"
    )
    instrument = models.ForeignKey(
        "instruments.Instrument", on_delete=models.PROTECT, related_name="+"
    )
    order = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["timepoint", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["timepoint", "instrument"], name="instrument_once_per_timepoint"
            )
        ]

    def __str__(self) -> str:
        return f"{self.timepoint.code}: {self.instrument.slug}"


# ---------------------------------------------------------------------------
# Screening and consent


class EligibilityCriterion(models.Model):
    """One line of a study's eligibility checklist; all must be met."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="criteria")
    code = models.SlugField(max_length=40)
    text = models.CharField(max_length=300)
    exclusion_reason = models.CharField(
        max_length=300,
        blank=True,
        help_text="Why someone who does not meet it is excluded, as CONSORT says it, "
        "for example 'Under 18'.",
    )
    order = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["study", "order"]
        verbose_name_plural = "eligibility criteria"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "code"], name="criterion_per_study"
            )
        ]

    def __str__(self) -> str:
        return self.text


class ScreeningOutcome(models.TextChoices):
    INELIGIBLE = "ineligible", "Not eligible"
    NOT_APPROACHED = "not_approached", "Eligible, not approached"
    DECLINED = "declined", "Eligible, declined"
    CONSENTING = "consenting", "Eligible, agreed to hear about consent"
    CONSENTED = "consented", "Consented"
    ENROLLED = "enrolled", "Enrolled"


class DeclineReason(models.TextChoices):
    NOT_INTERESTED = "not_interested", "Not interested"
    NO_TIME = "no_time", "No time"
    TOO_UNWELL = "too_unwell", "Too unwell"
    NO_INTERNET = "no_internet", "No internet or device"
    OTHER = "other", "Other"


class ScreeningRecord(models.Model):
    """A referred patient checked against the criteria; no name is recorded."""

    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, related_name="screenings"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="screenings")
    screened_on = models.DateField()
    criteria_met = models.JSONField(
        default=dict, help_text="Criterion code to whether it was met."
    )
    eligible = models.BooleanField()
    outcome = models.CharField(max_length=20, choices=ScreeningOutcome.choices)
    decline_reason = models.CharField(
        max_length=20, choices=DeclineReason.choices, blank=True
    )
    # Free text in staff's own words: shown to clinic staff, never to investigators.
    decline_detail = models.CharField(max_length=300, blank=True)
    screened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Made by simulate_study, not by a clinic: see StudyPhase.
    is_test_data = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-screened_on", "-id"]

    def __str__(self) -> str:
        return f"Screening {self.pk} at {self.site.code} on {self.screened_on}"

    @property
    def unmet_criteria(self) -> list[str]:
        return [code for code, met in self.criteria_met.items() if not met]


class ConsentForm(models.Model):
    """A version of the study's consent form, made of statements."""

    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, related_name="consent_forms"
    )
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    introduction = models.TextField(blank=True)
    is_current = models.BooleanField(default=True)
    requires_reconsent = models.BooleanField(
        default=False,
        help_text="Those who consented to an earlier version must consent again.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "version"], name="consent_form_version_per_study"
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class ConsentStatement(models.Model):
    class Kind(models.TextChoices):
        TAKE_PART = "take_part", "Take part"
        FOLLOW_UP = "follow_up", "Be contacted for follow-up"
        INTERVIEW = "interview", "Be interviewed (optional)"
        KEEP_DATA = "keep_data", "Data kept after withdrawal"
        OTHER = "other", "Other"

    form = models.ForeignKey(
        ConsentForm, on_delete=models.CASCADE, related_name="statements"
    )
    code = models.SlugField(max_length=40)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    text = models.TextField()
    required = models.BooleanField(
        default=True, help_text="Required statements must be agreed to take part."
    )
    order = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["form", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["form", "code"], name="statement_code_per_form"
            )
        ]

    def __str__(self) -> str:
        return self.text[:60]


class ConsentMethod(models.TextChoices):
    ELECTRONIC = "electronic", "E-consent on a clinic device"
    PAPER = "paper", "Paper form"


class ImmutableRecordError(Exception):
    pass


class ImmutableQuerySet(models.QuerySet):
    """Bulk changes would slip past the model's save(); refuse them too."""

    def update(self, **kwargs):
        raise ImmutableRecordError("Consent records cannot be changed in bulk.")

    def delete(self):
        raise ImmutableRecordError("Consent records cannot be deleted.")


class ConsentRecord(models.Model):
    """What a patient agreed to, once; a change means a new record."""

    screening = models.ForeignKey(
        ScreeningRecord, on_delete=models.PROTECT, related_name="consents"
    )
    participant = models.ForeignKey(
        "Participant",
        on_delete=models.PROTECT,
        related_name="consents",
        null=True,
        blank=True,
    )
    form = models.ForeignKey(
        ConsentForm, on_delete=models.PROTECT, related_name="records"
    )
    method = models.CharField(max_length=20, choices=ConsentMethod.choices)
    agreed = models.JSONField(help_text="Statement code to whether it was agreed.")
    typed_name = models.CharField(max_length=200, blank=True)
    consented_on = models.DateField()
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    scanned_form = models.FileField(upload_to="consent/%Y/%m/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        ordering = ["-consented_on", "-id"]

    def __str__(self) -> str:
        return f"Consent {self.pk} ({self.form})"

    def save(self, *args, **kwargs):
        # Linking the enrolled participant is the one change allowed afterwards.
        if self.pk is not None:
            stored = ConsentRecord.objects.get(pk=self.pk)
            changed = [
                f.name
                for f in self._meta.concrete_fields
                if f.name != "participant"
                and getattr(stored, f.attname) != getattr(self, f.attname)
            ]
            relinked = stored.participant_id not in (None, self.participant_id)
            if changed or relinked:
                raise ImmutableRecordError(
                    "A consent record cannot be changed; record a new consent instead."
                )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError("A consent record cannot be deleted.")

    def agreed_to(self, kind: str) -> bool:
        codes = self.form.statements.filter(kind=kind).values_list("code", flat=True)
        return any(self.agreed.get(code) for code in codes)


# ---------------------------------------------------------------------------
# Participants


class ParticipantStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    WITHDRAWN = "withdrawn", "Withdrawn"
    LOST = "lost", "Lost to follow-up"


class WithdrawalReason(models.TextChoices):
    NO_LONGER_WISHES = "no_longer_wishes", "No longer wishes to take part"
    TOO_UNWELL = "too_unwell", "Too unwell"
    TOO_BURDENSOME = "burden", "Questionnaires too burdensome"
    MOVED = "moved", "Moved away or changed clinic"
    DIED = "died", "Died"
    OTHER = "other", "Other"


class LostReason(models.TextChoices):
    """Why a participant was lost to follow-up, as reported beyond the clinic.

    The category is what figures and downloads show; a coordinator's own words
    go in ``Participant.lost_detail``, which stays with the clinic team.
    """

    MOVED = "moved", "Moved away"
    NO_CONTACT = "no_contact", "No contact possible"
    TOO_UNWELL = "too_unwell", "Too unwell"
    DIED = "died", "Died"
    OTHER = "other", "Other"


class Participant(models.Model):
    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, related_name="participants"
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="participants"
    )
    code = models.CharField("study ID", max_length=20, unique=True)
    screening = models.OneToOneField(
        ScreeningRecord, on_delete=models.PROTECT, related_name="participant"
    )
    status = models.CharField(
        max_length=20,
        choices=ParticipantStatus.choices,
        default=ParticipantStatus.ACTIVE,
    )
    enrolled_on = models.DateField()
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    withdrawn_on = models.DateField(null=True, blank=True)
    withdrawal_reason = models.CharField(
        max_length=30, choices=WithdrawalReason.choices, blank=True
    )
    # Free text in staff's own words: shown to clinic staff, never to investigators.
    withdrawal_detail = models.CharField(max_length=300, blank=True)
    keep_data = models.BooleanField(
        default=True, help_text="Data collected before withdrawal may be kept."
    )
    lost_on = models.DateField(null=True, blank=True)
    lost_reason = models.CharField(
        max_length=20, choices=LostReason.choices, blank=True
    )
    lost_detail = models.CharField(max_length=300, blank=True)
    # What the opt-out link in messages carries: random, so the link says
    # nothing about the participant; made when the first message is written.
    opt_out_key = models.CharField(
        max_length=32, unique=True, null=True, blank=True, editable=False
    )
    # Made by simulate_study, not by a clinic: see StudyPhase.
    is_test_data = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["opt_out_key"])

    class Meta:
        ordering = ["site", "code"]

    def __str__(self) -> str:
        return self.code

    def get_absolute_url(self) -> str:
        return reverse("participants:detail", args=[self.pk])

    def latest_consent(self) -> "ConsentRecord | None":
        return self.consents.select_related("form").order_by("-created_at").first()

    @property
    def interview_consent(self) -> bool:
        consent = self.latest_consent()
        return bool(consent and consent.agreed_to(ConsentStatement.Kind.INTERVIEW))


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "Text message (SMS)"
    BOTH = "both", "Email and text message"
    NONE = "none", "No messages (phone or post only)"


CONTACT_ENCRYPTED_FIELDS = ("full_name", "email", "mobile", "date_of_birth")
CONTACT_HASH_FIELDS = ("email_hash", "mobile_hash", "name_dob_hash", "name_words")


class ParticipantContact(models.Model):
    """Identifying details, kept apart so that access can be refused as a whole.

    The details are encrypted at rest; the keyed hashes beside them are what
    duplicate checks and searches match (participants.contact_hashes).
    """

    participant = models.OneToOneField(
        Participant, on_delete=models.CASCADE, related_name="contact"
    )
    full_name = EncryptedTextField(max_length=200)
    email = EncryptedTextField(blank=True)
    mobile = EncryptedTextField(
        max_length=20, blank=True, help_text="International format, e.g. +447911123456."
    )
    preferred_channel = models.CharField(
        max_length=10, choices=Channel.choices, default=Channel.EMAIL
    )
    time_zone = models.CharField(
        max_length=64, default="Europe/London", validators=[validate_time_zone_name]
    )
    date_of_birth = EncryptedDateField(null=True, blank=True)
    email_hash = models.CharField(
        max_length=64, blank=True, db_index=True, editable=False
    )
    mobile_hash = models.CharField(
        max_length=64, blank=True, db_index=True, editable=False
    )
    name_dob_hash = models.CharField(
        max_length=64, blank=True, db_index=True, editable=False
    )
    # Searched with LIKE '% token %', which no B-tree index serves; a scan of
    # one short column is cheap at a cohort's size.
    name_words = models.TextField(blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # The hashes are derived from the details the history already holds.
    history = HistoricalRecords(excluded_fields=list(CONTACT_HASH_FIELDS))

    def __str__(self) -> str:
        return f"Contact details of {self.participant}"

    def save(self, *args, **kwargs):
        self.refresh_hashes()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, *CONTACT_HASH_FIELDS}
        super().save(*args, **kwargs)

    def refresh_hashes(self) -> bool:
        """Recompute the keyed hashes from the details; True if any changed."""
        fresh = {
            "email_hash": contact_hashes.email_hash(self.email),
            "mobile_hash": contact_hashes.mobile_hash(self.mobile),
            "name_dob_hash": contact_hashes.name_dob_hash(
                self.full_name, self.date_of_birth
            ),
            "name_words": contact_hashes.name_word_index(self.full_name),
        }
        changed = any(getattr(self, name) != value for name, value in fresh.items())
        for name, value in fresh.items():
            setattr(self, name, value)
        return changed


class ContactView(models.Model):
    """Each time someone opened a participant's contact details or, when
    ``consent`` is set, the signed consent form (which bears name and signature)."""

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="contact_views"
    )
    viewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    viewed_at = models.DateTimeField(auto_now_add=True)
    page = models.CharField(max_length=200)
    consent = models.ForeignKey(
        ConsentRecord,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The consent record whose scanned form was opened.",
    )

    class Meta:
        ordering = ["-viewed_at"]

    def __str__(self) -> str:
        what = "signed consent form" if self.consent_id else "contact details"
        return f"{self.viewed_by} viewed {self.participant}'s {what}"


class PossibleDuplicate(models.Model):
    """A new participant whose details match someone the enrolling staff may not
    see; a coordinator decides whether they are the same person."""

    class Outcome(models.TextChoices):
        SAME = "same", "Same person"
        DIFFERENT = "different", "Different people"

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="possible_duplicates"
    )
    other = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    found_on = models.DateField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["found_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "other"], name="one_duplicate_pair"
            )
        ]

    def __str__(self) -> str:
        return f"{self.participant} may be {self.other}"


class VisitStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
    MISSED = "missed", "Missed"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Visit(models.Model):
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="visits"
    )
    timepoint = models.ForeignKey(
        Timepoint, on_delete=models.PROTECT, related_name="visits"
    )
    opens_on = models.DateField()
    due_on = models.DateField()
    closes_on = models.DateField()
    status = models.CharField(
        max_length=20, choices=VisitStatus.choices, default=VisitStatus.SCHEDULED
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    next_message_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When the planner looks again."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["next_message_at"])

    class Meta:
        ordering = ["participant", "timepoint__order"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "timepoint"], name="one_visit_per_timepoint"
            )
        ]

    def __str__(self) -> str:
        return f"{self.participant} {self.timepoint.code}"


class ContactAttempt(models.Model):
    """A coordinator's attempt to reach a participant about an open visit."""

    class Channel(models.TextChoices):
        PHONE = "phone", "Phone call"
        SMS = "sms", "Text message"
        EMAIL = "email", "Email"
        IN_PERSON = "in_person", "In person"

    class Outcome(models.TextChoices):
        NO_ANSWER = "no_answer", "No answer"
        LEFT_MESSAGE = "left_message", "Left a message"
        WILL_COMPLETE = "will_complete", "Will complete"
        DECLINED = "declined", "Declined"
        WRONG_NUMBER = "wrong_number", "Wrong number"

    visit = models.ForeignKey(
        Visit, on_delete=models.CASCADE, related_name="contact_attempts"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    note = models.CharField(max_length=500, blank=True)
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    made_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-made_at"]

    def __str__(self) -> str:
        channel, outcome = self.get_channel_display(), self.get_outcome_display()
        return f"{channel} to {self.visit}: {outcome}"


class VisitLink(models.Model):
    """A personal link to a visit's questionnaire, kept only as its SHA-256."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="links")
    token_hash = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        state = "retired" if self.retired_at else "live"
        return f"Link to {self.visit} ({state})"


class MessageKind(models.TextChoices):
    INVITE = "invite", "Invitation"
    REMINDER_1 = "reminder_1", "Reminder 1"
    REMINDER_2 = "reminder_2", "Reminder 2"
    FINAL = "final", "Final reminder"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    # Accepted by a development backend that only logs it: it never reached anyone.
    PRINTED = "printed", "Printed, not sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class OutboundMessage(models.Model):
    """A message to a participant, as a row: planned, then sent at most once."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    channel = models.CharField(
        max_length=10, choices=[("email", "Email"), ("sms", "SMS")]
    )
    due_at = models.DateTimeField()
    status = models.CharField(
        max_length=20, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_id = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at"]
        indexes = [models.Index(fields=["status", "due_at"], name="message_status_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "kind", "channel"], name="one_message_per_kind_channel"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.channel} for {self.visit}"
