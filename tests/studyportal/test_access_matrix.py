"""Who sees what: every URL of the project, GET as every role, against one table.

The URL list comes from the resolver, so a new URL without a row in ``EXPECTED``
fails ``test_every_url_has_an_expectation`` with its name. Views name the
capability they require, and a second test checks each of them against the
capability table in ``studyportal.access`` itself. Each object belongs
to site A; "staff_b" is clinic staff of site B, and must never reach it.

The participant holds a valid questionnaire link (and the opt-out link of their
messages); every other role requests the same pages with a guessed token, since
only the participant was given one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

ROLES = (
    "anonymous",
    "participant",
    "staff_a",
    "staff_b",
    "coordinator",
    "investigator",
    "qualitative",
    "admin",
)
STAFF_ROLES = ROLES[2:]

# Outcomes other than a status code.
LOGIN = "302 to login"
REDIRECT = "302 elsewhere"


def only(**allowed) -> dict[str, int | str]:
    """Visitors sent to log in, staff refused, except the roles ``allowed``."""
    expected: dict[str, int | str] = {role: 403 for role in STAFF_ROLES}
    expected.update(anonymous=LOGIN, participant=LOGIN)
    expected.update(allowed)
    return expected


def everyone(outcome: int | str) -> dict[str, int | str]:
    return {role: outcome for role in ROLES}


# Named profiles, reused across the table.
PUBLIC = everyone(200)
SIGNED_IN = only(**{role: 200 for role in STAFF_ROLES})
ADMIN_ONLY = only(admin=200)
# Screening and enrolment lists, and other pages without a site-A object.
ENROLLING = only(staff_a=200, staff_b=200, admin=200)
# A site-A screening or participant, entered by clinic staff.
STAFF_OF_SITE = only(staff_a=200, staff_b=404, admin=200)
FOLLOWING_UP = only(staff_a=200, staff_b=200, coordinator=200, admin=200)
# A site-A participant, followed up by their clinic or the coordinators.
FOLLOWING_UP_SITE = only(staff_a=200, staff_b=404, coordinator=200, admin=200)
COORDINATION = only(coordinator=200, admin=200)
ANALYSIS = only(investigator=200, admin=200)
# Downloads go to whoever asked for them (the investigator), not even an admin.
OWN_DOWNLOAD = only(investigator=200, admin=404)
INSTRUMENTS = only(
    staff_a=200, staff_b=200, coordinator=200, investigator=200, admin=200
)
INTERVIEW_LOG = only(coordinator=200, qualitative=200, admin=200)
QUALITATIVE = only(qualitative=200, admin=200)
RESEARCH_TEAM = only(coordinator=200, investigator=200, qualitative=200, admin=200)
# Only the holder of the link; a guessed token finds nothing.
PATIENT_LINK = {**everyone(404), "participant": 200}

EXPECTED: dict[str, dict[str, int | str]] = {
    # studyportal
    "home": SIGNED_IN,
    "healthz": PUBLIC,
    # Choosing the study to work on is a POST.
    "choose_study": everyone(405),
    "login": {**everyone(REDIRECT), "anonymous": 200, "participant": 200},
    # Django's LogoutView accepts POST only.
    "logout": everyone(405),
    "password_change": SIGNED_IN,
    "password_change_done": SIGNED_IN,
    # Two-step sign-in. Nobody here has an authenticator yet, so there is nothing
    # to turn off or verify: both go back to the overview or the home page.
    "two_factor": SIGNED_IN,
    "two_factor_set_up": SIGNED_IN,
    "two_factor_turn_off": only(**{role: REDIRECT for role in STAFF_ROLES}),
    "two_factor_verify": only(**{role: REDIRECT for role in STAFF_ROLES}),
    # The Django admin redirects every non-staff user to its own login page.
    "admin:index": {**everyone(LOGIN), "admin": 200},
    # instruments
    "instruments:list": INSTRUMENTS,
    "instruments:import": ADMIN_ONLY,
    "instruments:detail": INSTRUMENTS,
    "instruments:preview": INSTRUMENTS,
    "instruments:dictionary": INSTRUMENTS,
    # Verbatim, so it may hold spreadsheet formulas: for admins, to import into REDCap.
    "instruments:dictionary_round_trip": ADMIN_ONLY,
    # the questionnaire
    "questionnaire:opt_out": PATIENT_LINK,
    "questionnaire:start": PATIENT_LINK,
    "questionnaire:page": PATIENT_LINK,
    "questionnaire:review": PATIENT_LINK,
    "questionnaire:done": PATIENT_LINK,
    # screening, consent, enrolment, participants
    "participants:screening_list": ENROLLING,
    "participants:screening_new": ENROLLING,
    "participants:consent": STAFF_OF_SITE,
    "participants:enrol": STAFF_OF_SITE,
    "participants:list": FOLLOWING_UP,
    "participants:detail": FOLLOWING_UP_SITE,
    "participants:handover": FOLLOWING_UP_SITE,
    # A letter is made by POST only; a GET goes back to the handover page.
    "participants:letter": only(
        staff_a=REDIRECT, staff_b=404, coordinator=REDIRECT, admin=REDIRECT
    ),
    "participants:contact_edit": FOLLOWING_UP_SITE,
    "participants:characteristics_edit": STAFF_OF_SITE,
    "participants:paper_entry": STAFF_OF_SITE,
    "participants:reconsent": STAFF_OF_SITE,
    "participants:consent_scan": FOLLOWING_UP_SITE,
    "participants:withdraw": FOLLOWING_UP_SITE,
    "participants:reactivate": COORDINATION,
    "participants:history": COORDINATION,
    # retention dashboard
    "retention:dashboard": FOLLOWING_UP,
    "retention:consort_svg": {**FOLLOWING_UP, "investigator": 200},
    "retention:consort_png": {**FOLLOWING_UP, "investigator": 200},
    "retention:tracker_csv": COORDINATION,
    # worklist
    "worklist:list": FOLLOWING_UP,
    # POST only: the method is refused after the role check and before the
    # participant is looked up, so staff of site B see 405 too and learn nothing.
    "worklist:attempt": only(staff_a=405, staff_b=405, coordinator=405, admin=405),
    "worklist:lost": COORDINATION,
    "worklist:duplicates": COORDINATION,
    # POST only, like the contact attempt: a permitted GET is refused as a method.
    "worklist:duplicate_review": only(coordinator=405, admin=405),
    "worklist:phone": FOLLOWING_UP_SITE,
    "worklist:phone_entry": FOLLOWING_UP_SITE,
    # analysis runs
    "analysis:run_list": ANALYSIS,
    "analysis:specify": ANALYSIS,
    "analysis:run_detail": ANALYSIS,
    # POST only: a GET from a permitted role is refused as a method.
    "analysis:run_again": only(investigator=405, admin=405),
    "analysis:tables_csv": ANALYSIS,
    "analysis:tables_xlsx": ANALYSIS,
    # Drawn on the run's own data; this run's data have changed since, so the
    # roles let through get 409 rather than a model refitted on a 1-row cohort.
    "analysis:diagnostics_svg": only(investigator=409, admin=409),
    "analysis:diagnostics_png": only(investigator=409, admin=409),
    "analysis:data_csv": ANALYSIS,
    "analysis:reproduce_r": ANALYSIS,
    # One study to analyse: straight to its downloads page.
    "analysis:download_index": only(investigator=REDIRECT, admin=REDIRECT),
    "analysis:downloads": ANALYSIS,
    "analysis:download_log": COORDINATION,
    "analysis:download_detail": OWN_DOWNLOAD,
    "analysis:download_file": OWN_DOWNLOAD,
    "analysis:download_codebook": OWN_DOWNLOAD,
    # interviews
    "interviews:list": INTERVIEW_LOG,
    "interviews:samples": COORDINATION,
    "interviews:sample": COORDINATION,
    # Swapping, adding and accepting are POSTs; a GET goes back to the sample.
    "interviews:swap": only(coordinator=REDIRECT, admin=REDIRECT),
    "interviews:add": only(coordinator=REDIRECT, admin=REDIRECT),
    "interviews:accept": only(coordinator=REDIRECT, admin=REDIRECT),
    "interviews:detail": INTERVIEW_LOG,
    # Uploading is a POST by the qualitative team; a GET goes back to the interview.
    "interviews:transcript": only(qualitative=REDIRECT, admin=REDIRECT),
    # coding
    "coding:list": QUALITATIVE,
    # Transcripts outside the user's studies are not found.
    "coding:transcript": {
        **only(**{role: 404 for role in STAFF_ROLES}),
        "qualitative": 200,
        "admin": 200,
    },
    # POST only, checked before the segment is looked up: nothing is revealed.
    "coding:remove_segment": only(**{role: 405 for role in STAFF_ROLES}),
    "coding:codebook": QUALITATIVE,
    "coding:agreement": RESEARCH_TEAM,
    "coding:joint_display": RESEARCH_TEAM,
    "coding:joint_display_csv": RESEARCH_TEAM,
    "coding:joint_display_xlsx": RESEARCH_TEAM,
    # study set-up: administrators (coordinators only where the study lets them,
    # which this one does not); a study one may not edit is not found.
    "setup:index": ADMIN_ONLY,
    **{
        f"setup:{page}": {**only(**{r: 404 for r in STAFF_ROLES}), "admin": 200}
        for page in (
            "study",
            "download",
            "details",
            "sites",
            "timepoints",
            "questionnaires",
            "consent",
            "eligibility",
            "reminders",
            "measures",
            "team",
        )
    },
    # POST only, checked before the study is looked up: nothing is revealed.
    "setup:new_consent_version": only(**{role: 405 for role in STAFF_ROLES}),
    "setup:remove_member": only(**{role: 405 for role in STAFF_ROLES}),
}

# A scanned paper consent form of the site-A participant.
SCAN = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"

# Stand-ins for the credentials only the participant holds.
TOKEN = object()
SIGNED = object()
GUESSED = {TOKEN: "x" * 43, SIGNED: "1:forged:signature"}


# ---------------------------------------------------------------------------
# The URL configuration


def url_patterns(
    resolver: URLResolver | None = None, namespace: str = "", prefix: str = ""
) -> Iterator[tuple[str, str]]:
    """(full name, route) of every pattern; unnamed ones by their route."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry, inner, route)
        elif isinstance(entry, URLPattern):
            name = entry.name or f"<unnamed {route}>"
            yield namespace + name, route


def checked_patterns() -> dict[str, str]:
    """The patterns the matrix covers: all but the admin's own pages and files."""
    files = tuple(
        url.lstrip("/")
        for url in (settings.STATIC_URL, settings.MEDIA_URL)
        if url and url != "/"
    )
    return {
        name: route
        for name, route in url_patterns()
        if (name == "admin:index" or not name.startswith("admin:"))
        and not (files and route.startswith(files))
    }


# ---------------------------------------------------------------------------
# The world: the demo study, its users, and one of everything at site A


@dataclasses.dataclass
class World:
    users: dict[str, object]
    kwargs: dict[str, dict]
    token: str
    signed: str
    # What identifies the site-A participant, or opens their questionnaire.
    secrets: tuple[str, ...]
    # Staff's own words on why people declined, withdrew or were lost.
    free_text: dict[str, str]
    lost_pk: int


def _run_results(spec) -> list[dict]:
    coefficient = {
        "term": "(Intercept)",
        "b": 1.0,
        "se": 0.5,
        "beta": None,
        "t": 2.0,
        "p": 0.05,
        "ci_low": 0.0,
        "ci_high": 2.0,
        "vif": None,
    }
    block = {
        "number": 1,
        "r_squared": 0.2,
        "r_squared_change": 0.2,
        "f_change": 3.0,
        "df1": 1,
        "df2": 30,
        "p_f_change": 0.09,
        "coefficients": [coefficient],
    }
    return [
        {
            "name": spec.name,
            "outcome": spec.outcome,
            "block_names": ["Demographics"],
            "n": 32,
            "blocks": [block],
            "diagnostics": {},
        }
    ]


def _build_world(export_root) -> World:
    from analysis.dataset import build_dataset
    from analysis.exports import ExportRequest
    from analysis.interview_models import (
        CodedSegment,
        Interview,
        InterviewSample,
        SampleMember,
        Transcript,
    )
    from analysis.models import AnalysisRun, Download, DownloadStatus, RunStatus
    from instruments.models import Respondent
    from participants import consent, links, messaging
    from participants.models import ConsentMethod, PossibleDuplicate, VisitStatus
    from studyportal import demo
    from tests.factories import reference_specs
    from tests.participants import journeys

    study = demo.seed_reference_study()
    demo.seed_demo_users(study)
    by_name = {user.username: user for user in get_user_model().objects.all()}
    users = {
        "staff_a": by_name["clinic1"],
        "staff_b": by_name["clinic2"],
        "coordinator": by_name["coordinator"],
        "investigator": by_name["investigator"],
        "qualitative": by_name["qualitative"],
        "admin": by_name["admin"],
    }
    site_a = study.sites.get(code="LDS")
    staff_a = users["staff_a"]
    assert users["staff_b"].memberships.get().site.code != site_a.code

    details = journeys.contact(
        "Morwenna Quill", email="morwenna.quill@example.com", mobile="+447700900123"
    )
    participant = journeys.enrol(site_a, staff_a, details=details, interview=True)
    visit = participant.visits.get(status=VisitStatus.OPEN)
    instrument = (
        visit.timepoint.instruments.exclude(instrument__respondent=Respondent.STAFF)
        .select_related("instrument")
        .order_by("order")
        .first()
        .instrument
    )
    version = instrument.latest_version()
    paper_consent = consent.record_consent(
        screening=participant.screening,
        participant=participant,
        form=consent.current_form(study),
        method=ConsentMethod.PAPER,
        agreed=journeys.agreement(interview=True),
        consented_on=participant.enrolled_on,
        taken_by=staff_a,
        today=participant.enrolled_on,
        scanned_form=SimpleUploadedFile("signed.pdf", SCAN),
    )
    site_b_details = journeys.contact(
        "Ottoline Brisk", email="ottoline@example.com", mobile="+447700900456"
    )
    site_b_participant = journeys.enrol(
        study.sites.get(code="SHF"), users["staff_b"], details=site_b_details
    )
    pair = PossibleDuplicate.objects.create(
        participant=participant,
        other=site_b_participant,
        found_on=participant.enrolled_on,
    )
    consenting = journeys.screen(site_a, staff_a)
    consented = journeys.consented(site_a, staff_a)
    lost, free_text = _leavers(site_a, staff_a, users["coordinator"])

    investigator = users["investigator"]
    spec = reference_specs()[0]
    run = AnalysisRun.objects.create(
        study=study,
        preset="reference",
        specification=[spec.as_dict()],
        status=RunStatus.DONE,
        results=_run_results(spec),
        provenance={"dataset_hash": build_dataset(study).content_hash},
        requested_by=investigator,
    )
    stale_run = AnalysisRun.objects.create(
        study=study,
        preset="reference",
        specification=[spec.as_dict()],
        status=RunStatus.DONE,
        results=_run_results(spec),
        provenance={"dataset_hash": "data changed since"},
        requested_by=investigator,
    )
    export = ExportRequest()
    (export_root / "access-matrix.csv").write_text("pseudonym\nP0001\n")
    download = Download.objects.create(
        study=study,
        requested_by=investigator,
        request=export.as_dict(),
        layout=export.layout,
        fmt=export.fmt,
        file_name="access-matrix.csv",
        status=DownloadStatus.READY,
        path="access-matrix.csv",
    )

    coordinator = users["coordinator"]
    sample = InterviewSample.objects.create(
        study=study, size=1, criteria=[], seed=1, created_by=coordinator
    )
    member = SampleMember.objects.create(
        sample=sample, participant=participant, stratum="all"
    )
    interview = Interview.objects.create(
        participant=participant,
        status=Interview.Status.DONE,
        invited_on=timezone.localdate() - dt.timedelta(days=7),
        interviewer=users["qualitative"],
    )
    transcript = Transcript.objects.create(
        interview=interview,
        text="The clinic listened to me, and that helped.",
        uploaded_by=users["qualitative"],
    )
    segment = CodedSegment.objects.create(
        transcript=transcript, coder=users["qualitative"], start=0, end=20
    )

    on_participant = {"pk": participant.pk}
    on_visit = {"pk": participant.pk, "visit_pk": visit.pk}
    on_study = {"slug": participant.study.slug}
    kwargs = {
        **{
            name: on_study
            for name in EXPECTED
            if name.startswith("setup:") and name != "setup:index"
        },
        "setup:remove_member": {
            **on_study,
            "pk": users["staff_a"].memberships.get().pk,
        },
        "instruments:detail": {"slug": instrument.slug},
        "instruments:preview": {"slug": instrument.slug, "number": version.number},
        "instruments:dictionary": {"slug": instrument.slug, "number": version.number},
        "instruments:dictionary_round_trip": {
            "slug": instrument.slug,
            "number": version.number,
        },
        "questionnaire:opt_out": {"signed": SIGNED},
        "questionnaire:start": {"token": TOKEN},
        "questionnaire:page": {"token": TOKEN, "number": 1},
        "questionnaire:review": {"token": TOKEN},
        "questionnaire:done": {"token": TOKEN},
        "participants:consent": {"pk": consenting.pk},
        "participants:enrol": {"pk": consented.pk},
        "participants:detail": on_participant,
        "participants:handover": on_participant,
        "participants:letter": on_participant,
        "participants:contact_edit": on_participant,
        "participants:characteristics_edit": on_participant,
        "participants:paper_entry": {**on_visit, "slug": instrument.slug},
        "participants:reconsent": on_participant,
        "participants:consent_scan": {**on_participant, "consent_pk": paper_consent.pk},
        "participants:withdraw": on_participant,
        "participants:reactivate": on_participant,
        "participants:history": on_participant,
        "worklist:attempt": on_visit,
        "worklist:lost": on_participant,
        "worklist:duplicate_review": {"pk": pair.pk},
        "worklist:phone": on_visit,
        "worklist:phone_entry": {**on_visit, "slug": instrument.slug},
        "analysis:specify": {"study_pk": study.pk},
        "analysis:run_detail": {"pk": run.pk},
        "analysis:run_again": {"pk": run.pk},
        "analysis:tables_csv": {"pk": run.pk},
        "analysis:tables_xlsx": {"pk": run.pk},
        "analysis:diagnostics_svg": {"pk": stale_run.pk, "name": spec.name},
        "analysis:diagnostics_png": {"pk": stale_run.pk, "name": spec.name},
        "analysis:data_csv": {"pk": run.pk},
        "analysis:reproduce_r": {"pk": run.pk},
        "analysis:downloads": {"study_pk": study.pk},
        "analysis:download_detail": {"pk": download.pk},
        "analysis:download_file": {"pk": download.pk},
        "analysis:download_codebook": {"pk": download.pk},
        "interviews:sample": {"pk": sample.pk},
        "interviews:swap": {"pk": sample.pk, "member_pk": member.pk},
        "interviews:add": {"pk": sample.pk},
        "interviews:accept": {"pk": sample.pk},
        "interviews:detail": {"pk": interview.pk},
        "interviews:transcript": {"pk": interview.pk},
        "coding:transcript": {"pk": transcript.pk},
        "coding:remove_segment": {"pk": segment.pk},
    }
    token = links.issue_token(visit)
    return World(
        users=users,
        kwargs=kwargs,
        token=token,
        signed=urlparse(messaging.opt_out_url(participant)).path.split("/")[-2],
        secrets=(details.full_name, details.email, "7700900123", token),
        free_text=free_text,
        lost_pk=lost.pk,
    )


def _leavers(site, staff, coordinator):
    """A lost participant, a withdrawn one and a declined screening, in staff's words.

    Each reason is "other", so that only the words tell them apart.
    """
    from participants import screening, withdrawal, worklist
    from participants.models import (
        DeclineReason,
        LostReason,
        ScreeningOutcome,
        WithdrawalReason,
    )
    from tests.participants import journeys

    free_text = {
        "lost": "Quillfeather moved in with her sister",
        "withdrawn": "Quillfeather found the calls upsetting",
        "declined": "Quillfeather distrusts the hospital",
    }
    today = timezone.localdate()
    lost = worklist.mark_lost(
        journeys.enrol(site, staff),
        reason=LostReason.OTHER,
        detail=free_text["lost"],
        today=today,
        user=coordinator,
    )
    withdrawal.withdraw(
        journeys.enrol(site, staff),
        withdrawn_on=today,
        reason=WithdrawalReason.OTHER,
        detail=free_text["withdrawn"],
        keep_data=True,
        today=today,
    )
    screening.record_screening(
        site=site,
        screened_on=today,
        criteria_met=journeys.all_met(),
        outcome=ScreeningOutcome.DECLINED,
        decline_reason=DeclineReason.OTHER,
        decline_detail=free_text["declined"],
        user=staff,
        today=today,
    )
    return lost, free_text


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once per module and rolled back after its last test."""
    from django.db import transaction

    export_root = tmp_path_factory.mktemp("exports")
    media_root = tmp_path_factory.mktemp("media")
    with (
        override_settings(EXPORT_ROOT=export_root, MEDIA_ROOT=media_root),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        yield _build_world(export_root)
        transaction.set_rollback(True)


@pytest.fixture
def fetch(world, db, monkeypatch):
    from instruments import patient_views
    from studyportal import health

    # Every role but the participant guesses a token here; the limit on guesses
    # has its own tests. The broker's health is not a question of access.
    monkeypatch.setattr(patient_views, "FAILED_LOOKUP_LIMIT", 10**6)
    monkeypatch.setattr(health, "CHECKS", {"database": health.check_database})

    def get(name: str, role: str):
        return client_as(world, role).get(url_for(world, name, role))

    return get


def url_for(world: World, name: str, role: str) -> str:
    """The URL of ``name``, with the credentials ``role`` holds in it."""
    own = {TOKEN: world.token, SIGNED: world.signed}
    credentials = own if role == "participant" else GUESSED
    kwargs = {
        key: credentials.get(value, value)
        for key, value in world.kwargs.get(name, {}).items()
    }
    return reverse(name, kwargs=kwargs)


def client_as(world: World, role: str) -> Client:
    """A test client signed in as ``role``; the participant has opened their link."""
    client = Client()
    if role == "participant":
        client.get(reverse("questionnaire:start", args=[world.token]))
    elif role != "anonymous":
        client.force_login(world.users[role])
    return client


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def outcome_of(response) -> int | str:
    if response.status_code != 302:
        return response.status_code
    logins = {reverse("login"), reverse("admin:login")}
    return LOGIN if urlparse(response["Location"]).path in logins else REDIRECT


# ---------------------------------------------------------------------------
# The tests


def test_every_url_has_an_expectation():
    patterns = checked_patterns()
    missing = sorted(
        f"{name} ({route})" for name, route in patterns.items() if name not in EXPECTED
    )
    assert not missing, f"URLs without a row in EXPECTED: {', '.join(missing)}"
    stale = sorted(set(EXPECTED) - set(patterns))
    assert not stale, f"EXPECTED rows for URLs that no longer exist: {stale}"


def test_every_row_states_every_role():
    incomplete = {name: set(ROLES) - set(row) for name, row in EXPECTED.items()}
    assert not {name: roles for name, roles in incomplete.items() if roles}


# Roles that must never read who the site-A participant is (DESIGN.md).
KEPT_FROM = ("investigator", "staff_b")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_role_gets_what_the_table_says(name, fetch, world):
    responses = {role: fetch(name, role) for role in ROLES}
    got = {role: outcome_of(response) for role, response in responses.items()}
    wrong = {
        role: f"expected {EXPECTED[name][role]}, got {got[role]}"
        for role in ROLES
        if got[role] != EXPECTED[name][role]
    }
    for role in KEPT_FROM:
        body = body_of(responses[role])
        shown = [secret for secret in world.secrets if secret in body]
        if shown:
            wrong[role] = f"the page shows {len(shown)} contact detail(s) or token"
    assert not wrong, f"{name}: {wrong}"


# ---------------------------------------------------------------------------
# The capability table, read: each guarded URL lets in whom the table names


def guarded_urls() -> dict[str, str]:
    """URL name -> the capability its view requires, as the view itself says."""

    def walk(resolver: URLResolver, namespace: str) -> Iterator[tuple[str, str]]:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                inner = (
                    f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                )
                yield from walk(entry, inner)
            elif entry.name:
                capability = getattr(entry.callback, "required_capability", None)
                yield namespace + entry.name, capability

    pairs = walk(get_resolver(), "")
    return {name: capability for name, capability in pairs if capability}


def holds(world: World, persona: str, capability: str, *, site=None) -> bool:
    """Whether the table gives ``persona`` the capability (at ``site``): a grant's
    role in one of their memberships, in a study that allows it; admins always."""
    from django.db.models import Q

    from participants.models import StaffMembership
    from studyportal.access import CAPABILITIES

    user = world.users.get(persona)
    if user is None:
        return False
    if user.is_superuser:
        return True
    grant = CAPABILITIES[capability]
    memberships = StaffMembership.objects.filter(user=user, role__in=grant.roles)
    if grant.study_allows:
        memberships = memberships.filter(**{f"study__{grant.study_allows}": True})
    if site is not None:
        memberships = memberships.filter(
            Q(site=site) | Q(site__isnull=True, study_id=site.study_id)
        )
    return memberships.exists()


@pytest.mark.parametrize("capability", sorted(set(guarded_urls().values())))
def test_each_capability_lets_in_exactly_the_roles_the_table_lists(
    capability, fetch, world
):
    from participants.models import Participant

    site_a = Participant.objects.get(pk=world.kwargs["participants:detail"]["pk"]).site
    allowed = {persona for persona in ROLES if holds(world, persona, capability)}
    assert "admin" in allowed
    wrong, answered_200 = {}, set()
    for name in sorted(n for n, c in guarded_urls().items() if c == capability):
        got = {persona: outcome_of(fetch(name, persona)) for persona in ROLES}
        let_in = {p for p, outcome in got.items() if outcome not in (403, LOGIN)}
        if let_in != allowed:
            wrong[name] = f"lets in {sorted(let_in)}, the table {sorted(allowed)}"
        answered_200 |= {persona for persona, outcome in got.items() if outcome == 200}
    assert wrong == {}, capability
    # Its pages work for everyone it lets in whose sites hold site A's records;
    # staff of site B may find those records missing (404), never refused.
    at_site_a = {p for p in allowed if holds(world, p, capability, site=site_a)}
    assert at_site_a <= answered_200 <= allowed, (
        f"{capability}: 200 for {sorted(answered_200)}, the table {sorted(allowed)}"
    )


# ---------------------------------------------------------------------------
# M-2: staff's words on why someone left stay with the clinic team


def _readable(data: bytes) -> str:
    """The text of a download; zip containers (xlsx, zip) member by member."""
    buffer = io.BytesIO(data)
    if zipfile.is_zipfile(buffer):
        with zipfile.ZipFile(buffer) as archive:
            return "\n".join(
                archive.read(name).decode(errors="replace")
                for name in archive.namelist()
            )
    return data.decode(errors="replace")


def _content(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _every_export(world) -> list[str]:
    """Every layout in every format, built as the investigator's downloads are."""
    from analysis import downloads, exports
    from analysis.models import Download, DownloadStatus
    from participants.models import Study

    investigator = world.users["investigator"]
    study = Study.objects.get(pk=world.kwargs["analysis:downloads"]["study_pk"])
    urls = []
    for layout in exports.LAYOUTS:
        for fmt in exports.FORMATS:
            request = exports.ExportRequest(layout=layout, fmt=fmt)
            download = Download.objects.create(
                study=study,
                requested_by=investigator,
                request=request.as_dict(),
                layout=layout,
                fmt=fmt,
                file_name=exports.file_name(study, request),
                status=DownloadStatus.QUEUED,
            )
            downloads.build(download.pk)
            download.refresh_from_db()
            assert download.status == DownloadStatus.READY, download.error
            urls += [
                reverse(name, kwargs={"pk": download.pk})
                for name in ("analysis:download_file", "analysis:download_codebook")
            ]
    return urls


def test_m2_staff_words_on_why_people_left_never_reach_an_investigator(
    fetch, world, monkeypatch
):
    from matplotlib.text import Text

    coordinator = client_as(world, "coordinator")
    detail = reverse("participants:detail", kwargs={"pk": world.lost_pk})
    # The words are kept, and shown to the clinic team.
    assert world.free_text["lost"] in body_of(coordinator.get(detail))

    drawn = []
    draw = Text.draw

    def recording(text, renderer):
        drawn.append(text.get_text())
        return draw(text, renderer)

    monkeypatch.setattr(Text, "draw", recording)
    investigator = client_as(world, "investigator")
    pages = {name: body_of(fetch(name, "investigator")) for name in sorted(EXPECTED)}
    pages |= {
        url: _readable(_content(investigator.get(url))) for url in _every_export(world)
    }
    png = investigator.get(reverse("retention:consort_png"))
    assert png.status_code == 200
    pages["CONSORT PNG, text drawn"] = "\n".join(drawn)
    shown = {
        where: [what for what, words in world.free_text.items() if words in body]
        for where, body in pages.items()
    }
    assert {where: what for where, what in shown.items() if what} == {}
    assert any("Lost to follow-up" in text for text in drawn)


# ---------------------------------------------------------------------------
# I-7: no page is kept by a browser or a proxy


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_i7_no_page_is_stored_by_a_browser_or_proxy(name, fetch, world):
    stored = {}
    for role in ROLES:
        response = fetch(name, role)
        if response.status_code == 200 and "no-store" not in response.get(
            "Cache-Control", ""
        ):
            stored[role] = response.get("Cache-Control")
    assert stored == {}, f"{name} may be stored: {stored}"


# ---------------------------------------------------------------------------
# L-2: ids that are not ids find nothing, and never raise

# Digits of other scripts and superscripts pass str.isdigit(); the long one
# passes int() but not PostgreSQL's bigint.
NOT_IDS = ("²", "٣", "1e3", "-1", "0x1", " 1", "99999999999999999999999")
# Every name a view reads from a query string.
QUERY_NAMES = (
    "from", "study", "page", "site", "status", "back", "coder_a", "coder_b",
    "enrolled_from", "enrolled_to", "q", "next", "timepoint",
)  # fmt: skip


def _with_path_ids(world: World, name: str, role: str, value: str) -> str:
    """The URL of ``name`` with every numeric id in its path replaced by ``value``."""
    url = url_for(world, name, role)
    numbers = [
        str(v) for v in world.kwargs.get(name, {}).values() if isinstance(v, int)
    ]
    for number in numbers:
        url = url.replace(f"/{number}/", f"/{value}/", 1)
    return url


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_l2_ids_that_are_not_ids_never_give_a_500(name, world, fetch):
    role = next((r for r in ROLES if EXPECTED[name][r] == 200), "admin")
    client = client_as(world, role)
    failures = {}
    for value in NOT_IDS:
        query = {key: value for key in QUERY_NAMES}
        url = url_for(world, name, role)
        response = client.get(url, query)
        if response.status_code >= 500:
            failures[f"?…={value}"] = response.status_code
        if value.isascii() and value.isdigit():
            response = client.get(_with_path_ids(world, name, role, value))
            if response.status_code >= 500:
                failures[f"path id {value}"] = response.status_code
    assert failures == {}, f"{name}: {failures}"


def test_l2_a_run_id_in_other_digits_starts_from_nothing(world):
    investigator = client_as(world, "investigator")
    url = url_for(world, "analysis:specify", "investigator")
    for value in ("²", "٣", "99999999999999999999999"):
        response = investigator.get(url, {"from": value})
        assert response.status_code == 200, value


def test_l2_one_helper_reads_ids():
    from studyportal.ids import parse_id

    assert parse_id("42") == 42
    assert [parse_id(v) for v in (*NOT_IDS, "", None, "0", "007", 5)] == [None] * 12
    assert parse_id(str(2**63 - 1)) == 2**63 - 1
    assert parse_id(str(2**63)) is None


# ---------------------------------------------------------------------------
# A second study: its team sees nothing of this one


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_team_of_another_study_sees_nothing_of_this_one(name, world, fetch):
    from participants.models import Role, Study
    from tests.factories import MembershipFactory, StudyFactory, clinic_staff

    other = StudyFactory(name="Another cohort", short_name="Another")
    site = other.sites.create(name="Elsewhere Clinic", code="ELS")
    team = [
        MembershipFactory(study=other, role=role).user
        for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.QUALITATIVE)
    ] + [clinic_staff(site)]
    study = Study.objects.get(pk=world.kwargs["analysis:downloads"]["study_pk"])
    shown = {}
    for person in team:
        client = Client()
        client.force_login(person)
        response = client.get(url_for(world, name, "staff_b"))
        assert response.status_code < 500, (name, person)
        body = body_of(response)
        found = [secret for secret in world.secrets if secret in body]
        if found or (response.status_code == 200 and study.name in body):
            shown[str(person)] = response.status_code
    assert shown == {}, f"{name}: {shown}"
