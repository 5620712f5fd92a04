"""The study builder's forms: each reads and writes one section of the document."""

from __future__ import annotations

import yaml
from django import forms
from django.contrib.auth import get_user_model

from participants.models import Role
from studyportal.config import is_time_zone_name

CODE_HELP = "Lower-case letters, digits and _; used in variable names."


def _time_zone(value: str) -> str:
    if not is_time_zone_name(value):
        raise forms.ValidationError("Enter a time zone such as Europe/London.")
    return value


class NewStudyForm(forms.Form):
    name = forms.CharField(max_length=200, label="Full title")
    short_name = forms.CharField(
        max_length=40, help_text="Shown in the navigation bar and page titles."
    )
    slug = forms.SlugField(
        max_length=50,
        label="Short address",
        help_text="Lower-case letters, digits and hyphens, for example knee-physio.",
    )
    site_code = forms.RegexField(
        regex=r"^[A-Z]{2,6}$",
        label="First site's code",
        help_text="2 to 6 capital letters; the prefix of study IDs, e.g. LDS.",
        error_messages={"invalid": "Use 2 to 6 capital letters, for example LDS."},
    )
    site_name = forms.CharField(max_length=200, label="First site's name")


class DetailsForm(forms.Form):
    name = forms.CharField(max_length=200, label="Full title")
    short_name = forms.CharField(max_length=40)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    recruitment_target = forms.IntegerField(min_value=0)
    reference = forms.CharField(max_length=300, required=False)
    contact_email = forms.EmailField(
        required=False, help_text="Shown to participants in every message."
    )
    contact_phone = forms.CharField(max_length=30, required=False)
    time_zone = forms.CharField(max_length=64, validators=[_time_zone])
    study_ids_in_downloads = forms.BooleanField(
        required=False, label="Downloads may carry study IDs"
    )
    coordinators_edit_setup = forms.BooleanField(
        required=False, label="Coordinators may edit the set-up"
    )

    def __init__(self, *args, admin: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not admin:
            del self.fields["coordinators_edit_setup"]
            del self.fields["study_ids_in_downloads"]


class SiteForm(forms.Form):
    code = forms.RegexField(
        regex=r"^[A-Z]{2,6}$",
        error_messages={"invalid": "Use 2 to 6 capital letters, for example LDS."},
    )
    name = forms.CharField(max_length=200)
    target = forms.IntegerField(min_value=0, initial=0, label="Recruitment target")
    time_zone = forms.CharField(
        max_length=64, validators=[_time_zone], initial="Europe/London"
    )
    active = forms.BooleanField(required=False, initial=True)


class TimepointForm(forms.Form):
    code = forms.RegexField(
        regex=r"^[a-z][a-z0-9_]*$",
        max_length=30,
        help_text=CODE_HELP,
        error_messages={"invalid": CODE_HELP},
    )
    label = forms.CharField(max_length=100)
    day = forms.IntegerField(min_value=0, help_text="Days after enrolment.")
    window_before = forms.IntegerField(
        min_value=0, initial=0, label="Opens days before"
    )
    window_after = forms.IntegerField(
        min_value=0, initial=14, label="Closes days after"
    )


class StatementForm(forms.Form):
    code = forms.RegexField(
        regex=r"^[a-z][a-z0-9_]*$", max_length=40, error_messages={"invalid": CODE_HELP}
    )
    kind = forms.ChoiceField(
        choices=[
            ("take_part", "Taking part"),
            ("follow_up", "Contact for follow-up"),
            ("interview", "Interview"),
            ("keep_data", "Keeping data after withdrawal"),
            ("other", "Other"),
        ]
    )
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    required = forms.BooleanField(required=False, initial=True)


class ConsentForm(forms.Form):
    title = forms.CharField(max_length=200)
    introduction = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class CriterionForm(forms.Form):
    code = forms.RegexField(
        regex=r"^[a-z][a-z0-9_]*$", max_length=40, error_messages={"invalid": CODE_HELP}
    )
    text = forms.CharField(max_length=300, label="Criterion")
    exclusion_reason = forms.CharField(
        max_length=300,
        required=False,
        help_text="As CONSORT shows it for someone who does not meet it.",
    )


class RemindersForm(forms.Form):
    invite_when_open = forms.BooleanField(
        required=False, label="Send the link when a visit's window opens"
    )
    first_reminder_days = forms.IntegerField(
        min_value=0, help_text="Days after the window opens; 0 for none."
    )
    second_reminder_days = forms.IntegerField(
        min_value=0, help_text="Days after the window opens; 0 for none."
    )
    final_reminder_days_before_close = forms.IntegerField(
        min_value=0, help_text="Days before the window closes; 0 for none."
    )
    send_time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}))
    quiet_from = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}))
    quiet_until = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}))


def _yaml_list(value: str, what: str) -> list:
    try:
        parsed = yaml.safe_load(value) if value.strip() else []
    except yaml.YAMLError as exc:
        raise forms.ValidationError(f"The {what} are not valid YAML: {exc}") from None
    if not isinstance(parsed, list):
        raise forms.ValidationError(
            f"The {what} must be a list (each entry: - name: ...)."
        )
    return parsed


class MeasuresForm(forms.Form):
    key_measures = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Compared between completers and others, and shown in Table 1.",
    )
    sex = forms.ChoiceField(required=False, label="Sex")
    age = forms.ChoiceField(required=False, label="Age")
    education = forms.ChoiceField(required=False, label="Education")
    presets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "class": "font-monospace"}),
        label="Analysis presets (YAML)",
    )
    sampling_strata = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "font-monospace"}),
        label="Interview sampling strata (YAML)",
    )

    def __init__(self, *args, first_timepoint, characteristics, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key_measures"].choices = [
            (name, name) for name in sorted(first_timepoint | characteristics)
        ]
        options = [("", "(none)")] + [(name, name) for name in sorted(characteristics)]
        for name in ("sex", "age", "education"):
            self.fields[name].choices = options

    def clean_presets(self):
        return _yaml_list(self.cleaned_data["presets"], "presets")

    def clean_sampling_strata(self):
        return _yaml_list(self.cleaned_data["sampling_strata"], "strata")


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices)
    site = forms.ChoiceField(required=False, help_text="Clinic staff work at a site.")

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.sites = {str(site.pk): site for site in sites}
        self.fields["site"].choices = [("", "All sites")] + [
            (str(site.pk), str(site)) for site in sites
        ]

    def clean_username(self):
        name = self.cleaned_data["username"]
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError(
                "There is no active user with this username; an administrator "
                "adds users in the Django admin."
            )
        return user

    def clean_site(self):
        return self.sites.get(self.cleaned_data["site"])


SiteFormSet = forms.formset_factory(SiteForm, extra=1, can_delete=True)
TimepointFormSet = forms.formset_factory(TimepointForm, extra=1, can_delete=True)
StatementFormSet = forms.formset_factory(StatementForm, extra=1, can_delete=True)
CriterionFormSet = forms.formset_factory(CriterionForm, extra=1, can_delete=True)


def filled_forms(formset) -> list[dict]:
    """The rows a person filled in and did not mark for removal, in order."""
    return [
        form.cleaned_data
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]
