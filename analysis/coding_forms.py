from __future__ import annotations

from django import forms

from analysis.interview_models import Code, Theme
from participants.forms import DomainErrorMixin


class CodePassageForm(DomainErrorMixin, forms.Form):
    start = forms.IntegerField(label="From character", min_value=0)
    end = forms.IntegerField(label="To character", min_value=1)
    codes = forms.ModelMultipleChoiceField(
        queryset=Code.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one code for the passage."},
    )
    memo = forms.CharField(
        label="Note on this passage (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["codes"].queryset = Code.objects.filter(
            theme__study=study
        ).select_related("theme")

    def selected_codes(self) -> set[str]:
        return {str(value) for value in (self["codes"].value() or [])}


class MemoForm(DomainErrorMixin, forms.Form):
    text = forms.CharField(label="Memo", widget=forms.Textarea(attrs={"rows": 3}))


class ThemeForm(DomainErrorMixin, forms.Form):
    name = forms.CharField(label="Theme name", max_length=200)
    description = forms.CharField(
        label="Description (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class CodeForm(DomainErrorMixin, forms.Form):
    theme = forms.ModelChoiceField(queryset=Theme.objects.none(), empty_label=None)
    name = forms.CharField(label="Code name", max_length=200)
    definition = forms.CharField(
        label="Definition",
        help_text="When a passage should carry this code.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["theme"].queryset = Theme.objects.filter(study=study)


class CoderChoiceForm(forms.Form):
    """Two coders to compare; choices are those who coded the study's transcripts."""

    coder_a = forms.ModelChoiceField(queryset=None, label="First coder")
    coder_b = forms.ModelChoiceField(queryset=None, label="Second coder")

    def __init__(self, *args, coders, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("coder_a", "coder_b"):
            self.fields[name].queryset = coders
            self.fields[name].label_from_instance = lambda user: user.get_username()

    def clean(self):
        data = super().clean()
        if data.get("coder_a") and data.get("coder_a") == data.get("coder_b"):
            raise forms.ValidationError("Choose two different coders.")
        return data


class JointDisplayForm(forms.Form):
    coder = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Coded by",
        empty_label="Any coder",
    )

    def __init__(self, *args, coders, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["coder"].queryset = coders
        self.fields["coder"].label_from_instance = lambda user: user.get_username()
