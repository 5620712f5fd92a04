from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import downloads, exports
from analysis.management.study_option import add_study_option, study_from_option


class Command(BaseCommand):
    help = (
        "Write a de-identified dataset (and, for --format zip, its codebook and "
        "import scripts) to a file: the same export investigators download."
    )

    def add_arguments(self, parser):
        parser.add_argument("--layout", default="wide", choices=list(exports.LAYOUTS))
        parser.add_argument(
            "--format", dest="fmt", default="csv", choices=list(exports.FORMATS)
        )
        parser.add_argument("--out", required=True, type=Path, help="File to write")
        add_study_option(parser)
        parser.add_argument(
            "--instrument",
            action="append",
            default=[],
            metavar="SLUG",
            help="Only this questionnaire (repeat for more; default: all)",
        )
        parser.add_argument(
            "--timepoint",
            action="append",
            default=[],
            metavar="CODE",
            help="Only this timepoint (repeat for more; default: all)",
        )
        parser.add_argument(
            "--no-items", action="store_true", help="Leave out item responses"
        )
        parser.add_argument("--no-scores", action="store_true", help="Leave out scores")
        parser.add_argument(
            "--dates",
            default="days",
            choices=list(exports.DATE_MODES),
            help="days: days since enrolment; shifted: dates moved per participant",
        )
        parser.add_argument("--age-bands", action="store_true", help="Age in bands")
        parser.add_argument(
            "--study-ids",
            action="store_true",
            help="Study IDs instead of export pseudonyms (only where the study "
            "allows them: 'Downloads may carry study IDs' in its settings)",
        )
        parser.add_argument(
            "--bom", action="store_true", help="UTF-8 byte order mark for Excel (CSV)"
        )
        parser.add_argument(
            "--include-test-data",
            action="store_true",
            help="Keep the test data made while the study was set up, which a "
            "study in production leaves out",
        )

    def handle(self, *args, **options):
        study = study_from_option(options["study"])
        try:
            request = exports.ExportRequest(
                layout=options["layout"],
                fmt=options["fmt"],
                instruments=tuple(options["instrument"]),
                timepoints=tuple(options["timepoint"]),
                items=not options["no_items"],
                scores=not options["no_scores"],
                dates=options["dates"],
                age_bands=options["age_bands"],
                pseudonym=not options["study_ids"],
                excel_bom=options["bom"],
                include_test_data=options["include_test_data"],
            )
            export = exports.prepare(study, request)
        except ValueError as error:
            raise CommandError(str(error)) from error
        path: Path = options["out"]
        try:
            with path.open("wb") as out:
                result = exports.write(export, out)
        except exports.ExportError as error:
            path.unlink(missing_ok=True)
            raise CommandError(error.message) from error
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error}") from error
        downloads.log_written(
            study=study, request=request, file_name=path.name, result=result
        )
        self.stdout.write(
            f"Wrote {result.rows} rows ({result.size} bytes) to {path}\n"
            f"SHA-256 {result.sha256}"
        )
