"""The HTTP SMS backend against a tiny provider on the loopback interface."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from participants import messaging, sms
from participants.models import Channel, MessageStatus, OutboundMessage
from tests.participants import journeys


class Provider(ThreadingHTTPServer):
    """Records each request and answers with ``status`` and ``reply``."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ProviderHandler)
        self.requests: list[dict] = []
        self.status = 200
        self.reply: dict = {"id": "msg-0001"}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1/messages"


class ProviderHandler(BaseHTTPRequestHandler):
    server: Provider

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.server.requests.append(
            {
                "path": self.path,
                "headers": dict(self.headers),
                "json": json.loads(self.rfile.read(length)),
            }
        )
        body = json.dumps(self.server.reply).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def provider(settings, monkeypatch):
    # A proxy set in the environment must not stand between the test and its server.
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    server = Provider()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    settings.SMS_HTTP_URL = server.url
    settings.SMS_HTTP_TOKEN = "test-token"
    settings.SMS_FROM = "BackPain"
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def send(text: str = "Your questionnaire is ready") -> str:
    return sms.HttpBackend().send("+447911123456", text)


def test_a_message_is_posted_as_json_with_the_bearer_token(provider):
    assert send() == "msg-0001"
    (request,) = provider.requests
    assert request["path"] == "/v1/messages"
    assert request["json"] == {
        "to": "+447911123456",
        "from": "BackPain",
        "body": "Your questionnaire is ready",
    }
    assert request["headers"]["Authorization"] == "Bearer test-token"
    assert request["headers"]["Content-Type"] == "application/json"


def test_a_numeric_id_is_returned_as_text(provider):
    provider.reply = {"id": 4711}
    assert send() == "4711"


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_a_provider_error_or_rate_limit_is_retryable(provider, status):
    provider.status = status
    with pytest.raises(OSError, match=f"answered {status}"):
        send()


@pytest.mark.parametrize("status", [400, 401, 422])
def test_a_refused_message_is_not_retried(provider, status):
    provider.status = status
    with pytest.raises(ValueError, match=f"refused the message: {status}"):
        send()


def test_an_unreachable_provider_is_retryable(provider):
    provider.shutdown()
    provider.server_close()
    with pytest.raises(OSError):
        send()


def test_a_missing_url_is_a_configuration_error(settings):
    settings.SMS_HTTP_URL = ""
    with pytest.raises(ValueError, match="SMS_HTTP_URL is not set"):
        send()


# ---------------------------------------------------------------------------
# Through the sender


@pytest.fixture
def text_message(site_a, staff_a, settings, provider) -> OutboundMessage:
    settings.SMS_BACKEND = "participants.sms.HttpBackend"
    participant = journeys.enrol(
        site_a, staff_a, details=journeys.contact(preferred_channel=Channel.SMS)
    )
    visit = participant.visits.get(timepoint__code="baseline")
    return OutboundMessage.objects.create(
        visit=visit, kind="invite", channel="sms", due_at=visit.created_at
    )


def test_a_sent_text_records_the_providers_id(provider, text_message):
    assert messaging.send(text_message.pk) == "sent"
    text_message.refresh_from_db()
    assert (text_message.status, text_message.provider_id) == (
        MessageStatus.SENT,
        "msg-0001",
    )
    (request,) = provider.requests
    assert request["json"]["to"] == "+447911123456"
    assert "/q/" in request["json"]["body"]


def test_a_provider_error_leaves_the_text_for_the_retry(provider, text_message):
    provider.status = 503
    with pytest.raises(OSError):
        messaging.send(text_message.pk)
    text_message.refresh_from_db()
    assert text_message.status == MessageStatus.PENDING
    assert text_message.error == "OSError: SMS provider answered 503"
    provider.status = 200
    assert messaging.send(text_message.pk) == "sent"
    text_message.refresh_from_db()
    assert text_message.attempts == 2


def test_a_refused_text_is_recorded_as_failed(provider, text_message):
    provider.status = 400
    with pytest.raises(ValueError):
        messaging.send(text_message.pk)
    text_message.refresh_from_db()
    assert text_message.status == MessageStatus.FAILED
    assert text_message.error == "ValueError: SMS provider refused the message: 400"
