"""Contact details: normalising phone numbers and finding possible duplicates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import phonenumbers
from django.db.models import Q

from participants import contact_hashes
from participants.models import Channel, Participant, Study
from studyportal.errors import DomainError

DEFAULT_REGION = "GB"
# Ofcom keeps 07700 900000 to 900999 for drama: never given to anyone, so a
# text to one reaches no person. phonenumbers does not list the range as
# valid; it is accepted here so demos and training use numbers that are safe.
DRAMA_MOBILES = range(447700900000, 447700901000)


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
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if int(e164[1:]) in DRAMA_MOBILES:
        return e164
    if not phonenumbers.is_valid_number(number):
        raise DomainError("This is not a valid phone number.", field="mobile")
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise DomainError("Text messages need a mobile number.", field="mobile")
    return e164


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
        match |= Q(contact__email_hash=contact_hashes.email_hash(details.email))
    if details.mobile:
        match |= Q(contact__mobile_hash=contact_hashes.mobile_hash(details.mobile))
    if details.full_name and details.date_of_birth:
        match |= Q(
            contact__name_dob_hash=contact_hashes.name_dob_hash(
                details.full_name, details.date_of_birth
            )
        )
    if not match:
        return []
    found = Participant.objects.filter(study=study).filter(match).select_related("site")
    if exclude is not None:
        found = found.exclude(pk=exclude.pk)
    return list(found.distinct())


def search_filter(text: str, *, region: str = DEFAULT_REGION) -> Q:
    """Participants whose study ID contains ``text``, or whose name has all its
    words, or whose email or phone number is ``text`` (in any format)."""
    text = text.strip()
    match = Q(code__icontains=text) | Q(
        contact__email_hash=contact_hashes.email_hash(text)
    )
    words = contact_hashes.name_words(text)
    if words:
        name = Q()
        for word in words:
            token = contact_hashes.name_word_token(word)
            name &= Q(contact__name_words__contains=f" {token} ")
        match |= name
    phone = _as_phone_number(text, region=region)
    if phone:
        match |= Q(contact__mobile_hash=contact_hashes.mobile_hash(phone))
    return match


def _as_phone_number(text: str, *, region: str) -> str:
    """``text`` in E.164 if it reads as a possible phone number, else ""."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
