import random

from django.core.management.base import BaseCommand, CommandError

from participants import simulation
from participants.models import Study
from studyportal.errors import DomainError


class Command(BaseCommand):
    help = (
        "Fill a study that is being set up with made-up participants, marked as "
        "test data: screened, consented and enrolled at every site over the past "
        "weeks, answering each timepoint's questionnaires through the same "
        "services as real ones. A study in production leaves test data out of "
        "its analyses and downloads."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The study's slug")
        parser.add_argument(
            "--participants", type=int, required=True, metavar="N", help="How many"
        )
        parser.add_argument(
            "--followup-rate",
            type=float,
            default=simulation.DEFAULT_FOLLOWUP_RATE,
            metavar="SHARE",
            help="Share of each follow-up completed by those whose window has "
            "opened (default %(default)s); the rest miss it",
        )
        parser.add_argument(
            "--seed",
            type=int,
            help="The same seed on the same day gives the same data (default: "
            "a random one, printed)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Add test data to a study in production",
        )

    def handle(self, *args, slug: str, participants: int, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            known = ", ".join(
                Study.objects.order_by("slug").values_list("slug", flat=True)
            )
            raise CommandError(
                f"There is no study {slug!r}. "
                + (
                    f"Known studies: {known}."
                    if known
                    else "There are no studies yet; load one with load_study."
                )
            )
        seed = options["seed"]
        if seed is None:
            seed = random.SystemRandom().randrange(1_000_000)
        try:
            made = simulation.simulate(
                study,
                participants=participants,
                followup_rate=options["followup_rate"],
                seed=seed,
                force=options["force"],
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write("\n".join(made.lines()))
