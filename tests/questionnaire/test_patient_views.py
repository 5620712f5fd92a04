"""The patient's pages through the test client: links, saving, submitting."""

from instruments.models import Response
from participants import links
from participants.models import VisitStatus
from tests.questionnaire.conftest import (
    PAIN,
    answer_everything,
    days_ago,
    questionnaire_url,
)


def test_the_welcome_page_says_how_long_and_what_happens(client, token, baseline):
    body = client.get(questionnaire_url("start", token)).content.decode()
    assert "Your baseline questionnaire" in body
    assert "5 short pages" in body
    assert "Start" in body
    assert "Participants" not in body  # no staff navigation


def test_next_saves_and_moves_on(client, token):
    response = client.post(questionnaire_url("page", token, 1), {**PAIN, "go": "next"})
    assert response["Location"] == questionnaire_url("page", token, 2)
    assert (
        Response.objects.get(instrument__slug="pain_severity").answers["pain_worst"]
        == 8
    )


def test_an_invalid_page_shows_errors_and_keeps_the_valid_answers(client, token):
    response = client.post(
        questionnaire_url("page", token, 1), {"pain_worst": "8", "go": "next"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "There are 3 problems with your answers" in body
    assert 'href="#id_pain_least_0"' in body
    pain = Response.objects.get(instrument__slug="pain_severity")
    assert pain.answers == {"pain_worst": 8}


def test_a_rejected_answer_does_not_replace_the_one_saved_before(client, token):
    client.post(questionnaire_url("page", token, 1), {**PAIN, "go": "next"})
    response = client.post(
        questionnaire_url("page", token, 1),
        {**PAIN, "pain_worst": "eleven", "go": "next"},
    )
    assert response.status_code == 200
    pain = Response.objects.get(instrument__slug="pain_severity")
    assert pain.answers["pain_worst"] == 8


def test_previous_keeps_answers_even_when_the_page_is_incomplete(client, token):
    response = client.post(
        questionnaire_url("page", token, 2), {"partner_01": "5", "go": "previous"}
    )
    assert response["Location"] == questionnaire_url("page", token, 1)
    assert Response.objects.get(instrument__slug="partnership").answers == {
        "partner_01": "5"
    }


def test_coming_back_resumes_on_the_first_unanswered_page(client, token):
    client.post(questionnaire_url("page", token, 1), {**PAIN, "go": "next"})
    body = client.get(questionnaire_url("start", token)).content.decode()
    assert "Carry on where you left off" in body
    assert questionnaire_url("page", token, 2) in body


def test_review_then_submit_once(client, token, baseline):
    answer_everything(client, token)
    review = client.get(questionnaire_url("review", token)).content.decode()
    assert "Check your answers" in review
    assert "Send my answers" in review
    done = client.post(questionnaire_url("review", token))
    assert done["Location"] == questionnaire_url("done", token)
    again = client.post(questionnaire_url("review", token))
    assert again["Location"] == questionnaire_url("done", token)
    baseline.refresh_from_db()
    assert baseline.status == VisitStatus.COMPLETED
    assert Response.objects.filter(status="submitted").count() == 5


def test_after_submission_every_page_leads_to_thank_you(client, token):
    answer_everything(client, token)
    client.post(questionnaire_url("review", token))
    for target in (
        questionnaire_url("start", token),
        questionnaire_url("page", token, 1),
    ):
        response = client.get(target)
        assert response["Location"] == questionnaire_url("done", token)
    assert "Thank you" in client.get(questionnaire_url("done", token)).content.decode()


def test_an_unknown_link_gets_a_friendly_page_that_reveals_nothing(client, protocol):
    response = client.get(questionnaire_url("start", "made-up-token"))
    body = response.content.decode()
    assert response.status_code == 404
    assert "This link does not work" in body
    assert protocol.name not in body


def test_an_old_link_stops_working_when_a_new_one_is_issued(client, token, baseline):
    links.issue_token(baseline)
    assert client.get(questionnaire_url("start", token)).status_code == 404


def test_an_expired_link_says_the_questionnaire_is_closed(client, token, baseline):
    baseline.closes_on = days_ago(1)
    baseline.opens_on = days_ago(20)
    baseline.save()
    response = client.get(questionnaire_url("start", token))
    assert response.status_code == 410
    assert "This questionnaire is closed" in response.content.decode()


def test_repeated_bad_tokens_are_slowed_down(client, db):
    for attempt in range(20):
        client.get(questionnaire_url("start", f"guess-{attempt}"))
    response = client.get(questionnaire_url("start", "guess-21"))
    assert response.status_code == 429
    assert "Please wait a few minutes" in response.content.decode()


def test_l9_a_valid_link_opens_from_an_address_that_has_guessed_too_often(
    client, token
):
    for attempt in range(25):
        client.get(questionnaire_url("start", f"guess-{attempt}"))
    assert client.get(questionnaire_url("start", "guess-26")).status_code == 429
    assert client.get(questionnaire_url("start", token)).status_code == 200
    assert client.get(questionnaire_url("page", token, 1)).status_code == 200


def test_behind_the_proxy_one_guesser_does_not_slow_down_other_addresses(
    client, settings, db
):
    # As settings.py sets them for TRUSTED_PROXY_COUNT=1.
    settings.AXES_IPWARE_PROXY_COUNT = 0
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    proxy = {"REMOTE_ADDR": "172.18.0.2"}
    for attempt in range(20):
        client.get(
            questionnaire_url("start", f"guess-{attempt}"),
            HTTP_X_FORWARDED_FOR="198.51.100.1",
            **proxy,
        )
    other = client.get(
        questionnaire_url("start", "mistyped"),
        HTTP_X_FORWARDED_FOR="203.0.113.9",
        **proxy,
    )
    assert other.status_code == 404
    guesser = client.get(
        questionnaire_url("start", "guess-21"),
        HTTP_X_FORWARDED_FOR="198.51.100.1",
        **proxy,
    )
    assert guesser.status_code == 429


def test_pages_are_never_cached(client, token):
    response = client.get(questionnaire_url("page", token, 1))
    assert "no-store" in response["Cache-Control"]


def test_leaving_a_page_saves_what_is_there(client, token):
    response = client.post(
        questionnaire_url("page", token, 1), {"pain_worst": "3", "go": "autosave"}
    )
    assert response.status_code == 204
    pain = Response.objects.get(instrument__slug="pain_severity")
    assert pain.answers == {"pain_worst": 3}
