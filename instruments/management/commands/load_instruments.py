from django.core.management.base import BaseCommand, CommandError

from instruments import catalogue
from instruments.definitions import DefinitionError


class Command(BaseCommand):
    help = (
        "Load every shipped definition in instruments/definitions/; a changed "
        "definition becomes a new version. Safe to run again."
    )

    def handle(self, *args, **options):
        try:
            results = catalogue.load_shipped()
        except DefinitionError as exc:
            raise CommandError(str(exc)) from None
        for result in results:
            version = result.version
            state = "new version" if result.created else "unchanged"
            self.stdout.write(
                f"{version.instrument.slug:<28} v{version.number}  {state}"
            )
            if result.note:
                self.stdout.write(self.style.WARNING(result.note))
