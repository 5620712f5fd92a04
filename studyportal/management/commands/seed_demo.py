from django.core.management.base import BaseCommand
from django.utils import timezone

from instruments import catalogue
from studyportal import demo


class Command(BaseCommand):
    help = (
        "Create or refresh the reference study, its demo users and, once, its demo "
        "participants, and once its interview sample with transcripts and coding "
        "(idempotent)."
    )

    def handle(self, *args, **options):
        study = demo.seed_reference_study()
        logins = demo.seed_demo_users(study)
        loaded = catalogue.load_shipped()
        cohort = demo.seed_demo_participants(study, today=timezone.localdate())
        interviews = demo.seed_demo_interviews(study, today=timezone.localdate())
        self.stdout.write(self.style.SUCCESS(f"Study ready: {study.name}"))
        self.stdout.write(f"Questionnaires: {len(loaded)} loaded")
        self.stdout.write(
            f"Participants: {cohort.enrolled} enrolled ({cohort.screened} screened)"
        )
        self.stdout.write(
            f"Interviews: {interviews.interviews} done, {interviews.transcripts} "
            f"transcribed and coded into {interviews.themes} themes"
        )
        self.stdout.write(f"Demo logins (password: {demo.DEMO_PASSWORD}):")
        for login in logins:
            self.stdout.write(f"  {login.username:<14} {login.description}")
