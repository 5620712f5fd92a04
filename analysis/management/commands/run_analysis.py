import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.dataset import build_dataset
from analysis.management.study_option import add_study_option, study_from_option
from analysis.presets import study_presets
from analysis.runs import label_model
from analysis.specification import ModelSpec, run_models


class Command(BaseCommand):
    help = (
        "Run a preset analysis, or a specification from a JSON file, now on the "
        "study's data and print the results (the same code an analysis run uses)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--preset",
            help="A preset of the study's protocol (default: its first)",
        )
        parser.add_argument(
            "--spec",
            type=Path,
            help="JSON file with a list of model specifications, as an analysis "
            "run stores them (overrides --preset)",
        )
        parser.add_argument("--format", default="json", choices=["json"])
        add_study_option(parser)

    def handle(self, *args, preset: str, spec: Path | None, study: str | None, **_):
        chosen = study_from_option(study)
        if spec:
            specs = read_specs(spec)
        else:
            presets = study_presets(chosen)
            if not presets:
                raise CommandError(f"{chosen.short_name}'s protocol has no presets.")
            preset = preset or next(iter(presets))
            if preset not in presets:
                known = ", ".join(presets)
                raise CommandError(
                    f"There is no preset {preset!r}; there are: {known}."
                )
            specs = presets[preset].specs
        dataset = build_dataset(chosen)
        output = {
            "preset": "custom" if spec else preset,
            "dataset": {
                "content_hash": dataset.content_hash,
                "participants": len(dataset.frame),
            },
            "models": [
                label_model(model, dataset.variables)
                for model in run_models(dataset.frame, specs)
            ],
        }
        self.stdout.write(json.dumps(output, indent=2, allow_nan=False, default=str))


def read_specs(path: Path) -> list[ModelSpec]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CommandError(f"Cannot read {path}: {error}") from error
    if not isinstance(data, list) or not data:
        raise CommandError(f"{path} must hold a list of model specifications.")
    try:
        return [ModelSpec.from_dict(item) for item in data]
    except TypeError as error:
        raise CommandError(
            f"{path}: each specification needs name, outcome, blocks and "
            f"block_names, and may have categorical, sample and site_covariate "
            f"({error})."
        ) from error
