from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from studyportal import backups


class Command(BaseCommand):
    help = (
        "Restore a backup made by `backup` into the database (DATABASE_URL), "
        "replacing what is there."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the .dump file to restore")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="do not ask for confirmation",
        )

    def handle(self, *args, file, database, interactive, **options):
        target = settings.DATABASES[database]
        if interactive:
            answer = input(
                f"This replaces every table in database {target.get('NAME')!r} "
                f"with the contents of {file}. Type 'yes' to continue: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Restore cancelled.")
        # pg_restore drops tables; an open connection of this process would block it.
        connections[database].close()
        try:
            backups.restore_database(database=target, path=file)
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Restored {file}"))
