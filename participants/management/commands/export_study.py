from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from participants import protocol
from participants.models import Study


class Command(BaseCommand):
    help = "Write a study's protocol file (YAML), as load_study reads it."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "--out", type=Path, help="File to write (default: standard output)"
        )

    def handle(self, *args, slug: str, out: Path | None, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            known = ", ".join(Study.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"There is no study {slug!r}; there are: {known}.")
        text = protocol.export_yaml(study)
        if out is None:
            self.stdout.write(text, ending="")
        else:
            out.write_text(text, encoding="utf-8")
            self.stdout.write(f"Wrote {out}")
