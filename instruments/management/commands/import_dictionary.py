from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from instruments import catalogue, redcap
from studyportal.text_files import NotText, decode_text


class Command(BaseCommand):
    help = (
        "Import instruments from a REDCap data dictionary CSV (one per form). "
        "Nothing is stored if any row has a problem."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--slug",
            help="Slug for a one-form dictionary, or the form to take from several.",
        )

    def handle(self, *args, path: Path, slug: str | None, **options):
        try:
            text = decode_text(path.read_bytes())
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        except NotText as problem:
            if problem.reason == "binary":
                raise CommandError(
                    f"{path} holds binary data, not CSV text; download the data "
                    "dictionary from REDCap again"
                ) from None
            raise CommandError(
                f"{path} is not UTF-8 text; save it as CSV UTF-8"
            ) from None
        try:
            definitions = redcap.import_dictionary(text, slug=slug)
        except redcap.DictionaryError as exc:
            raise CommandError(f"{path.name}: nothing imported.\n{exc}") from None
        with transaction.atomic():
            results = [
                catalogue.register(definition, source=f"import:{path.name}")
                for definition in definitions
            ]
        for result in results:
            state = "new version" if result.created else "unchanged"
            version = result.version
            self.stdout.write(
                f"{version.instrument.slug:<28} v{version.number}  {state}"
            )
