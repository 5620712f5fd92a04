"""Contact details: normalising phone numbers and finding possible duplicates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import phonenumbers
from django.db.models import Q

from participants.models import Channel, Participant, Study
from studyportal.errors import DomainError

DEFAULT_REGION = "GB"


@dataclass(frozen=True)
class ContactDetails:
    full_name: str
    email: str = ""
    mobile: str = ""
    preferred_channel: str = Channel.EMAIL
    time_zone: str = "Europe/London"
    date_of_birth: dt.date | None = None


def normalise_mobile(raw: str, *, region: str = DEFAULT_REGION) -> str:
    """A mobile number in E.164 (+447700900123); DomainError if it is not one."""
    text = raw.strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise DomainError(
            "Enter a mobile number, for example 07911 123456 or +44 7911 123456.",
            field="mobile",
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise DomainError("This is not a valid phone number.", field="mobile")
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise DomainError("Text messages need a mobile number.", field="mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_channel(details: ContactDetails) -> None:
    needs_email = details.preferred_channel in (Channel.EMAIL, Channel.BOTH)
    needs_mobile = details.preferred_channel in (Channel.SMS, Channel.BOTH)
    if needs_email and not details.email:
        raise DomainError("Add an email address to send links by email.", field="email")
    if needs_mobile and not details.mobile:
        raise DomainError("Add a mobile number to send text messages.", field="mobile")


def possible_duplicates(
    study: Study, details: ContactDetails, *, exclude: Participant | None = None
) -> list[Participant]:
    """Participants of the study with the same email, mobile, or name and birth date."""
    match = Q()
    if details.email:
        match |= Q(contact__email__iexact=details.email)
    if details.mobile:
        match |= Q(contact__mobile=details.mobile)
    if details.full_name and details.date_of_birth:
        match |= Q(
            contact__full_name__iexact=details.full_name.strip(),
            contact__date_of_birth=details.date_of_birth,
        )
    if not match:
        return []
    found = Participant.objects.filter(study=study).filter(match).select_related("site")
    if exclude is not None:
        found = found.exclude(pk=exclude.pk)
    return list(found.distinct())
