from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from participants.consent import scan_kind_named, scan_kind_of
from participants.contacts import ContactDetails, normalise_mobile
from participants.models import (
    Channel,
    ConsentMethod,
    DeclineReason,
    ParticipantStatus,
    ScreeningOutcome,
    WithdrawalReason,
)
from studyportal.config import is_time_zone_name
from studyportal.errors import DomainError

MAX_SCAN_BYTES = 10 * 1024 * 1024
COMMON_TIME_ZONES = [
    "Europe/London",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Australia/Sydney",
    "Pacific/Auckland",
]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


def not_in_future(value: dt.date) -> None:
    if value and value > timezone.localdate():
        raise forms.ValidationError("The date cannot be in the future.")


class DomainErrorMixin:
    """Put a service's DomainError next to its field, or at the top."""

    def add_domain_error(self, error: DomainError) -> None:
        field = error.field if error.field in self.fields else None
        self.add_error(field, error.message)


class ScreeningForm(DomainErrorMixin, forms.Form):
    site = forms.ModelChoiceField(queryset=None, empty_label=None)
    screened_on = forms.DateField(
        label="Date screened", widget=DateInput, validators=[not_in_future]
    )
    outcome = forms.ChoiceField(
        label="If eligible: what happened?",
        required=False,
        widget=forms.RadioSelect,
        choices=[
            (
                ScreeningOutcome.CONSENTING,
                "Agreed to hear about the study: take consent now",
            ),
            (ScreeningOutcome.DECLINED, "Declined to take part"),
            (ScreeningOutcome.NOT_APPROACHED, "Not approached"),
        ],
    )
    decline_reason = forms.ChoiceField(
        label="Reason for declining",
        required=False,
        choices=[("", "Choose…"), *DeclineReason.choices],
    )
    decline_detail = forms.CharField(
        label="Other reason", required=False, max_length=300
    )

    def __init__(self, *args, sites, criteria, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        if sites.count() == 1:
            self.fields["site"].initial = sites.first()
            self.fields["site"].widget = forms.HiddenInput()
        self.fields["screened_on"].initial = timezone.localdate()
        self.criteria = list(criteria)
        for criterion in self.criteria:
            self.fields[f"criterion_{criterion.code}"] = forms.TypedChoiceField(
                label=criterion.text,
                choices=[("yes", "Yes"), ("no", "No")],
                coerce=lambda value: value == "yes",
                widget=forms.RadioSelect,
                error_messages={"required": "Answer yes or no."},
            )

    def criterion_fields(self):
        return [self[f"criterion_{c.code}"] for c in self.criteria]

    def criteria_met(self) -> dict[str, bool]:
        return {c.code: self.cleaned_data[f"criterion_{c.code}"] for c in self.criteria}


class ConsentFormForm(DomainErrorMixin, forms.Form):
    """What the patient agrees to, statement by statement."""

    method = forms.ChoiceField(
        label="How is consent taken?",
        choices=ConsentMethod.choices,
        widget=forms.RadioSelect,
        initial=ConsentMethod.ELECTRONIC,
    )
    typed_name = forms.CharField(
        label="Patient: type your full name to sign",
        required=False,
        max_length=200,
        help_text="Needed for e-consent.",
    )
    consented_on = forms.DateField(
        label="Date of consent", widget=DateInput, validators=[not_in_future]
    )
    scanned_form = forms.FileField(
        label="Scanned paper form (optional)",
        required=False,
        help_text="PDF or photo, up to 10 MB.",
    )

    def __init__(self, *args, consent_form, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["consented_on"].initial = timezone.localdate()
        self.statements = list(consent_form.statements.all())
        for statement in self.statements:
            if statement.required:
                field = forms.BooleanField(
                    label=statement.text,
                    required=False,
                    help_text="Required to take part.",
                )
            else:
                field = forms.TypedChoiceField(
                    label=statement.text,
                    choices=[("yes", "Yes, I agree"), ("no", "No, I do not agree")],
                    coerce=lambda value: value == "yes",
                    widget=forms.RadioSelect,
                    error_messages={"required": "Choose yes or no for this statement."},
                    help_text="Optional.",
                )
            self.fields[f"statement_{statement.code}"] = field

    def statement_fields(self):
        return [self[f"statement_{s.code}"] for s in self.statements]

    def agreed(self) -> dict[str, bool]:
        return {
            s.code: bool(self.cleaned_data.get(f"statement_{s.code}"))
            for s in self.statements
        }

    def clean_scanned_form(self):
        upload = self.cleaned_data.get("scanned_form")
        if not upload:
            return upload
        if upload.size > MAX_SCAN_BYTES:
            raise forms.ValidationError("The file is larger than 10 MB.")
        # A file renamed to look like a scan (a web page, a program) is refused
        # whatever its name says.
        claimed = scan_kind_named(upload.name)
        if claimed is None:
            raise forms.ValidationError("Upload a PDF, PNG or JPEG file.")
        if scan_kind_of(upload) != claimed:
            raise forms.ValidationError(
                f"“{upload.name}” is not the {claimed.name} file its name says. "
                "Scan the form again as PDF, PNG or JPEG and upload that."
            )
        return upload

    def clean(self):
        cleaned = super().clean()
        for statement in self.statements:
            name = f"statement_{statement.code}"
            if statement.required and name not in self.errors and not cleaned.get(name):
                self.add_error(name, "This statement must be agreed to take part.")
        return cleaned


class ContactForm(DomainErrorMixin, forms.Form):
    full_name = forms.CharField(label="Full name", max_length=200)
    email = forms.EmailField(
        label="Email address",
        required=False,
        error_messages={"invalid": "Enter an email address, like name@example.com."},
    )
    mobile = forms.CharField(
        label="Mobile number",
        required=False,
        max_length=30,
        help_text="For example 07911 123456; stored as +447911123456.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    preferred_channel = forms.ChoiceField(
        label="How should we send questionnaire links?",
        choices=Channel.choices,
        widget=forms.RadioSelect,
        initial=Channel.EMAIL,
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=[(name, name.replace("_", " ")) for name in COMMON_TIME_ZONES],
        initial="Europe/London",
        help_text="Messages are only sent between 08:00 and 21:00 in this time zone.",
    )
    date_of_birth = forms.DateField(
        label="Date of birth (optional)",
        required=False,
        widget=DateInput,
        validators=[not_in_future],
        help_text="Helps spot a patient enrolled twice.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.initial.get("time_zone")
        if current and current not in COMMON_TIME_ZONES:
            self.fields["time_zone"].choices.append((current, current))

    def clean_mobile(self):
        try:
            return normalise_mobile(self.cleaned_data["mobile"])
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_time_zone(self):
        name = self.cleaned_data["time_zone"]
        if not is_time_zone_name(name):
            raise forms.ValidationError("Choose a time zone from the list.")
        return name

    def details(self) -> ContactDetails:
        data = self.cleaned_data
        return ContactDetails(
            full_name=data["full_name"].strip(),
            email=data["email"].strip().lower(),
            mobile=data["mobile"],
            preferred_channel=data["preferred_channel"],
            time_zone=data["time_zone"],
            date_of_birth=data["date_of_birth"],
        )


class WithdrawalForm(DomainErrorMixin, forms.Form):
    withdrawn_on = forms.DateField(
        label="Date of withdrawal", widget=DateInput, validators=[not_in_future]
    )
    reason = forms.ChoiceField(
        label="Reason", choices=[("", "Choose…"), *WithdrawalReason.choices]
    )
    detail = forms.CharField(label="Details", required=False, max_length=300)
    keep_data = forms.TypedChoiceField(
        label="May the data collected so far be kept and analysed?",
        choices=[("yes", "Yes, keep the data"), ("no", "No, exclude the data")],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["withdrawn_on"].initial = timezone.localdate()


class ReactivationForm(DomainErrorMixin, forms.Form):
    reason = forms.CharField(
        label="Why is this participant taking part again?",
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ParticipantFilterForm(forms.Form):
    q = forms.CharField(
        label="Study ID, name, email or phone", required=False, max_length=100
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any"), *ParticipantStatus.choices],
    )
    site = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any")
    due = forms.ChoiceField(
        label="Visits",
        required=False,
        choices=[
            ("", "Any"),
            ("open", "A visit is open now"),
            ("overdue", "Past its due date, not completed"),
        ],
    )

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        for name in ("status", "site", "due"):
            self.fields[name].widget.attrs["class"] = "form-select"
