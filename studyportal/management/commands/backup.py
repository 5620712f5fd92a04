from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from studyportal import backups


class Command(BaseCommand):
    help = (
        "Back up the database (DATABASE_URL) with pg_dump to backups/<time>.dump, "
        "or to --output. The file holds personal data: store it encrypted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, help="the file to write")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, output, database, **options):
        path = output or backups.default_backup_path(settings.BASE_DIR / "backups")
        try:
            written = backups.backup_database(
                database=settings.DATABASES[database], path=path
            )
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Backed up to {written}"))
