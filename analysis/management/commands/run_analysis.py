import json

from django.core.management.base import BaseCommand, CommandError

from analysis.dataset import build_dataset
from analysis.specification import PRESETS, run_models
from participants.models import Study


class Command(BaseCommand):
    help = (
        "Run a preset analysis now on the study's data and print the results "
        "(the same code an analysis run uses)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--preset", default="reference", choices=sorted(PRESETS))
        parser.add_argument("--format", default="json", choices=["json"])
        parser.add_argument("--study", help="Study slug (default: the only study)")

    def handle(self, *args, preset: str, study: str | None, **options):
        studies = Study.objects.all()
        if study:
            studies = studies.filter(slug=study)
        if studies.count() != 1:
            raise CommandError(
                "Name the study with --study SLUG."
                if studies.exists()
                else "No such study; run seed_demo or set one up in the admin."
            )
        dataset = build_dataset(studies.get())
        specs = PRESETS[preset]()
        output = {
            "preset": preset,
            "dataset": {
                "content_hash": dataset.content_hash,
                "participants": len(dataset.frame),
            },
            "models": run_models(dataset.frame, specs),
        }
        self.stdout.write(json.dumps(output, indent=2, allow_nan=False, default=str))
