"""Contact details: mobile numbers, channels and possible duplicates."""

import datetime as dt

import pytest

from participants.contacts import check_channel, normalise_mobile, possible_duplicates
from participants.models import Channel
from studyportal.errors import DomainError
from tests.factories import StudyFactory
from tests.participants import journeys
from tests.participants.journeys import contact


@pytest.mark.parametrize(
    "raw",
    ["07911 123456", "07911123456", "+44 7911 123456", " +447911123456 "],
)
def test_a_uk_mobile_is_stored_in_international_format(raw):
    assert normalise_mobile(raw) == "+447911123456"


def test_a_blank_mobile_stays_blank():
    assert normalise_mobile("  ") == ""


@pytest.mark.parametrize("raw", ["not a number", "12", "07911 12345", "+44 79"])
def test_an_invalid_mobile_is_refused(raw):
    with pytest.raises(DomainError) as error:
        normalise_mobile(raw)
    assert error.value.field == "mobile"


def test_a_landline_is_refused_for_text_messages():
    with pytest.raises(DomainError, match="mobile number") as error:
        normalise_mobile("0113 496 0000")
    assert error.value.field == "mobile"


@pytest.mark.parametrize(
    ("channel", "missing"),
    [
        (Channel.EMAIL, "email"),
        (Channel.BOTH, "email"),
        (Channel.SMS, "mobile"),
    ],
)
def test_the_chosen_channel_needs_its_address(channel, missing):
    details = contact(preferred_channel=channel, **{missing: ""})
    with pytest.raises(DomainError) as error:
        check_channel(details)
    assert error.value.field == missing


def test_no_messages_needs_no_address():
    check_channel(contact(email="", mobile="", preferred_channel=Channel.NONE))


@pytest.fixture
def enrolled(site_a, staff_a):
    details = contact(
        "Alex Example",
        email="Alex@Example.com",
        mobile="+447911123456",
        date_of_birth=dt.date(1970, 5, 17),
    )
    return journeys.enrol(site_a, staff_a, details=details)


def test_the_same_email_in_any_case_is_a_possible_duplicate(enrolled):
    details = contact("Someone Else", email="alex@EXAMPLE.com", mobile="")
    assert possible_duplicates(enrolled.study, details) == [enrolled]


def test_the_same_mobile_is_a_possible_duplicate(enrolled):
    details = contact("Someone Else", email="other@example.com")
    assert possible_duplicates(enrolled.study, details) == [enrolled]


def test_the_same_name_and_birth_date_is_a_possible_duplicate(enrolled):
    details = contact(
        " alex example ",
        email="",
        mobile="",
        date_of_birth=dt.date(1970, 5, 17),
    )
    assert possible_duplicates(enrolled.study, details) == [enrolled]


def test_the_same_name_with_another_birth_date_is_no_duplicate(enrolled):
    details = contact(
        "Alex Example", email="", mobile="", date_of_birth=dt.date(1971, 5, 17)
    )
    assert possible_duplicates(enrolled.study, details) == []


def test_the_same_name_without_a_birth_date_is_no_duplicate(enrolled):
    details = contact("Alex Example", email="", mobile="")
    assert possible_duplicates(enrolled.study, details) == []


def test_participants_of_another_study_are_no_duplicates(enrolled):
    assert possible_duplicates(StudyFactory(), contact(email="alex@example.com")) == []


def test_a_participant_is_not_its_own_duplicate(enrolled):
    details = contact(email="alex@example.com")
    assert possible_duplicates(enrolled.study, details, exclude=enrolled) == []


@pytest.mark.parametrize("typed", ["07700 900123", "+44 7700 900000", "07700900999"])
def test_i8_ofcoms_drama_mobiles_are_accepted(typed):
    assert normalise_mobile(typed).startswith("+447700900")


@pytest.mark.parametrize("typed", ["07700 901000", "07700 9001234"])
def test_i8_only_the_drama_range_is_let_through(typed):
    with pytest.raises(DomainError):
        normalise_mobile(typed)
