from django.core.management.base import BaseCommand, CommandError

from participants import links
from participants.models import Participant


class Command(BaseCommand):
    help = (
        "Print a fresh personal questionnaire link for a participant's visit; "
        "the previous link stops working."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "study_id", help="The participant's study ID, e.g. LDS-0007"
        )
        parser.add_argument(
            "--timepoint", required=True, help="Timepoint code, e.g. baseline"
        )

    def handle(self, *args, study_id: str, timepoint: str, **options):
        participant = Participant.objects.filter(code__iexact=study_id).first()
        if participant is None:
            raise CommandError(f"No participant {study_id!r}.")
        visit = participant.visits.filter(timepoint__code=timepoint).first()
        if visit is None:
            codes = ", ".join(
                participant.visits.values_list("timepoint__code", flat=True)
            )
            raise CommandError(f"No timepoint {timepoint!r}; this study has: {codes}.")
        token = links.issue_token(visit)
        self.stdout.write(links.questionnaire_url(token))
        if visit.status != "open":
            self.stderr.write(
                f"Note: the {timepoint} visit is {visit.get_status_display().lower()}; "
                "the link shows a closed page until it opens."
            )
