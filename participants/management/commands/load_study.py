from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from participants import protocol


class Command(BaseCommand):
    help = (
        "Set up or update a study from its protocol file (YAML). Running it again "
        "with the same file changes nothing; a changed file makes a new protocol "
        "version and never rewrites collected data."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--note", default="", help="Why the protocol changed")

    def handle(self, *args, path: Path, note: str, **options):
        try:
            loaded = protocol.load(
                protocol.read_file(path), note=note or f"Loaded from {path.name}"
            )
        except protocol.ProtocolError as error:
            raise CommandError(str(error)) from error
        study = loaded.study
        if loaded.version is None:
            self.stdout.write(f"{study.slug}: unchanged")
        elif loaded.created:
            self.stdout.write(
                f"{study.slug}: created (protocol version {loaded.version.number})"
            )
        else:
            self.stdout.write(
                f"{study.slug}: updated to protocol version {loaded.version.number}"
            )
