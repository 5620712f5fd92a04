"""Personal links: random, stored as a hash, one live link per visit."""

from django.core.management import call_command

from participants import links
from participants.models import VisitLink


def test_a_token_has_at_least_128_bits_and_only_its_hash_is_stored(baseline):
    token = links.issue_token(baseline)
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    stored = VisitLink.objects.get(visit=baseline)
    assert stored.token_hash == links.hash_token(token)
    assert token not in stored.token_hash
    assert links.visit_for_token(token) == baseline


def test_reissuing_retires_the_old_link(baseline):
    old = links.issue_token(baseline)
    new = links.issue_token(baseline)
    assert old != new
    assert links.visit_for_token(old) is None
    assert links.visit_for_token(new) == baseline


def test_unknown_and_oversized_tokens_find_nothing(baseline):
    links.issue_token(baseline)
    assert links.visit_for_token("not-a-token") is None
    assert links.visit_for_token("") is None
    assert links.visit_for_token("x" * 500) is None


def test_scheduled_messages_add_links_without_retiring_earlier_ones(baseline):
    first = links.issue_token(baseline, retire_others=False)
    second = links.issue_token(baseline, retire_others=False)
    assert links.visit_for_token(first) == baseline
    assert links.visit_for_token(second) == baseline
    by_hand = links.issue_token(baseline)
    assert links.visit_for_token(first) is None
    assert links.visit_for_token(second) is None
    assert links.visit_for_token(by_hand) == baseline


def test_issue_link_prints_a_working_link_and_retires_the_old_one(baseline, capsys):
    old = links.issue_token(baseline)
    call_command("issue_link", baseline.participant.code, timepoint="baseline")
    url = capsys.readouterr().out.strip()
    token = url.rstrip("/").rsplit("/", 1)[-1]
    assert url.startswith("http")
    assert links.visit_for_token(token) == baseline
    assert links.visit_for_token(old) is None


def test_issue_link_explains_unknown_participants_and_timepoints(baseline):
    import pytest
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No participant 'ZZZ-0001'"):
        call_command("issue_link", "ZZZ-0001", timepoint="baseline")
    with pytest.raises(CommandError, match="this study has: baseline, followup"):
        call_command("issue_link", baseline.participant.code, timepoint="week6")
