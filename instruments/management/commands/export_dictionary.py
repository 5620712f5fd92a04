from django.core.management.base import BaseCommand, CommandError

from instruments import redcap
from instruments.models import InstrumentVersion


class Command(BaseCommand):
    help = (
        "Write an instrument as a REDCap data dictionary CSV to standard output, "
        "every cell as written, for importing back into REDCap."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        # Every command already has --version (Django's own), hence --number.
        parser.add_argument(
            "--number", type=int, help="Version number (default: the latest)"
        )
        parser.add_argument(
            "--spreadsheet-safe",
            action="store_true",
            help=(
                "Start any cell that a spreadsheet would run as a formula with an "
                "apostrophe, as the staff download does (REDCap would keep it)."
            ),
        )

    def handle(
        self,
        *args,
        slug: str,
        number: int | None,
        spreadsheet_safe: bool,
        **options,
    ):
        versions = InstrumentVersion.objects.filter(instrument__slug=slug)
        if number is not None:
            versions = versions.filter(number=number)
        version = versions.order_by("-number").first()
        if version is None:
            which = f" version {number}" if number else ""
            raise CommandError(f"no instrument {slug!r}{which}; run load_instruments?")
        write = (
            redcap.readable_dictionary if spreadsheet_safe else redcap.export_dictionary
        )
        self.stdout.write(write(version.parsed), ending="")
