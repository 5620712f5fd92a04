"""Losses recorded in free text before reasons had categories."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from participants.models import LostReason, Participant, ParticipantStatus
from tests.participants import journeys

BEFORE = [("participants", "0009_message_printed_status")]
WORDS = "Moved to Spain, no forwarding address"


def _as_before_categories(participant, reason: str) -> None:
    """Lost as the old form recorded it: the coordinator's words as the reason."""
    with connection.cursor() as cursor:
        for table, key in (
            ("participants_participant", "id"),
            ("participants_historicalparticipant", "id"),
        ):
            cursor.execute(
                f"UPDATE {table} SET status = %s, lost_reason = %s WHERE {key} = %s",
                [ParticipantStatus.LOST, reason, participant.pk],
            )


@pytest.mark.django_db(transaction=True)
def test_free_text_reasons_become_other_with_the_text_kept_as_detail(site_a, staff_a):
    worded = journeys.enrol(site_a, staff_a)
    unworded = journeys.enrol(site_a, staff_a)
    still_active = journeys.enrol(site_a, staff_a)
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        _as_before_categories(worded, WORDS)
        _as_before_categories(unworded, "")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    moved = Participant.objects.get(pk=worded.pk)
    assert (moved.lost_reason, moved.lost_detail) == (LostReason.OTHER, WORDS)
    assert {(row.lost_reason, row.lost_detail) for row in moved.history.all()} == {
        (LostReason.OTHER, WORDS)
    }
    blank = Participant.objects.get(pk=unworded.pk)
    assert (blank.lost_reason, blank.lost_detail) == (LostReason.OTHER, "")
    active = Participant.objects.get(pk=still_active.pk)
    assert (active.lost_reason, active.lost_detail) == ("", "")
