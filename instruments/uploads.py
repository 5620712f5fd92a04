from django import forms

from studyportal.text_files import NotText, decode_text

MAX_DICTIONARY_BYTES = 2 * 1024 * 1024
NOT_TEXT = {
    "encoding": "The file is not UTF-8 text; save it again as 'CSV UTF-8'.",
    "binary": "The file holds binary data, not CSV text; download the data "
    "dictionary from REDCap again, or save it again as 'CSV UTF-8'.",
}


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
            text = decode_text(upload.read())
        except NotText as problem:
            raise forms.ValidationError(NOT_TEXT[problem.reason]) from None
        self.cleaned_data["text"] = text
        return upload
