from django import forms

MAX_DICTIONARY_BYTES = 2 * 1024 * 1024


class DictionaryUploadForm(forms.Form):
    file = forms.FileField(
        label="REDCap data dictionary (CSV)",
        help_text="Exported from REDCap: Project setup › Data dictionary › Download.",
    )
    slug = forms.SlugField(
        required=False,
        label="Instrument name (optional)",
        help_text=(
            "For a dictionary with one form: the name to store it under. For several "
            "forms: the one form to import. Leave empty to import every form."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_DICTIONARY_BYTES:
            raise forms.ValidationError(
                "The file is larger than 2 MB; is it the right one?"
            )
        if not upload.name.lower().endswith(".csv"):
            raise forms.ValidationError("Choose the CSV file REDCap exports.")
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                "The file is not UTF-8 text; save it again as 'CSV UTF-8'."
            ) from None
        # NUL decodes as UTF-8 but marks a binary file, and no database text holds it.
        if "\x00" in text:
            raise forms.ValidationError(
                "The file holds binary data, not CSV text; download the data "
                "dictionary from REDCap again, or save it again as 'CSV UTF-8'."
            )
        self.cleaned_data["text"] = text
        return upload
