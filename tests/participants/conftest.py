import pytest

from participants import sms
from studyportal import demo
from tests.factories import clinic_staff, coordinator, investigator


@pytest.fixture
def protocol(db):
    """The reference study with its criteria, consent form and instruments."""
    study = demo.seed_reference_study()
    return study


@pytest.fixture
def site_a(protocol):
    return protocol.sites.get(code="LDS")


@pytest.fixture
def site_b(protocol):
    return protocol.sites.get(code="SHF")


@pytest.fixture
def staff_a(site_a):
    return clinic_staff(site_a)


@pytest.fixture
def staff_b(site_b):
    return clinic_staff(site_b)


@pytest.fixture
def coordinator_user(protocol):
    return coordinator(protocol)


@pytest.fixture
def investigator_user(protocol):
    return investigator(protocol)


@pytest.fixture
def sms_outbox():
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()
