import datetime as dt

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from participants import messaging, reminders, schedule


class Command(BaseCommand):
    help = (
        "Update visit statuses, plan the messages that have come due and send "
        "them now, printing each step (the beat tasks do the same on schedule)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would be planned and sent; change nothing.",
        )

    def handle(self, *args, dry_run: bool, **options):
        now = timezone.now()
        if dry_run:
            # Visit statuses are updated and rolled back, so that the plan shown
            # leaves out visits a real run would first mark missed.
            with transaction.atomic():
                self.update_and_plan(now, dry_run=True)
                due = reminders.due_message_ids(now)
                transaction.set_rollback(True)
            self.stdout.write(f"Messages: would send {len(due)} already pending.")
            return
        self.update_and_plan(now, dry_run=False)
        due = reminders.due_message_ids(now)
        outcomes: dict[str, int] = {}
        for message_id in due:
            try:
                outcome = messaging.send(message_id)
            except Exception as exc:  # report and go on with the others
                outcome = f"failed ({type(exc).__name__})"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = ", ".join(f"{count} {what}" for what, count in outcomes.items())
        self.stdout.write(f"Messages: {summary or 'none due'}.")

    def update_and_plan(self, now: dt.datetime, *, dry_run: bool) -> None:
        changes = schedule.update_statuses(timezone.localdate())
        released = reminders.release_stale_claims(now)
        if dry_run:
            self.stdout.write(
                f"Visits: would open {changes.opened}, "
                f"would mark {changes.missed} missed."
                + _completed(changes.completed, would=True)
            )
            if released:
                self.stdout.write(f"Would release {released} stale claim(s).")
        else:
            self.stdout.write(
                f"Visits: {changes.opened} opened, {changes.missed} missed."
                + _completed(changes.completed, would=False)
            )
            if released:
                self.stdout.write(f"Released {released} stale claim(s).")
        planned = reminders.plan_due(now, dry_run=dry_run)
        for line in planned.descriptions:
            self.stdout.write(f"  plan {line}")
        verb = "would plan" if dry_run else "planned"
        self.stdout.write(f"Messages: {verb} {planned.created}.")


def _completed(count: int, *, would: bool) -> str:
    if not count:
        return ""
    marked = "would mark" if would else "marked"
    return f" Participants: {marked} {count} completed."
