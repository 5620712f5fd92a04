"""Arbitrary POST data to every form of the project: never a 5xx, never a partial save.

The URLs come from the resolver, through the access matrix's table. A URL is a
form's when a page posts to it or GET is not its method; it is posted to as the
first role the table lets through whose empty POST is not refused (403, 404),
and left out if that answer is 405. Field names, and the values a person could
choose, are read from the forms of the pages of the project. ``FORMS`` lists the
form URLs found, one fuzzing case each.

A POST that is not a success (a redirect, or 204) must leave the database as it
was, apart from the tables that record every request (``tests.fuzzing.UNWATCHED``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.fuzzing import (
    FILE_CONTENT,
    FUZZ_SETTINGS,
    TEXT,
    changed_since,
    fingerprint,
)
from tests.studyportal import test_access_matrix as matrix
from tests.studyportal.test_access_matrix import (
    EXPECTED,
    REDIRECT,
    ROLES,
    checked_patterns,
    client_as,
    url_for,
)

# The access matrix's world: one of everything at site A, built once per module.
world = matrix.world

# Roles the table lets reach a URL (405 and 409 only once they are let in).
LET_THROUGH = (200, REDIRECT, 405, 409)
# The patient's pages keep each valid answer even on a page with errors, so that
# moving between pages loses nothing; tests/questionnaire/test_fuzz_questionnaire.py
# holds their own rules.
OWN_TESTS = {"questionnaire:page", "questionnaire:review"}
# Answers whose success is a page rather than a redirect: the printed letter,
# with its fresh link, and the confirmation of an opt-out.
SUCCESS_PAGES = {"participants:letter", "questionnaire:opt_out"}
NOT_A_SUCCESS = (200, 400, 403, 404, 409, 410, 413, 429)
# The URLs ``forms_of`` finds to be forms, written out because parametrizing needs
# them before there is a database; test_every_form_of_the_project_is_fuzzed fails
# when the two differ.
FORMS = (
    "analysis:diagnostics_png",
    "analysis:diagnostics_svg",
    "analysis:download_index",
    "analysis:downloads",
    "analysis:run_again",
    "analysis:run_list",
    "analysis:specify",
    "choose_study",
    "coding:codebook",
    "coding:remove_segment",
    "coding:transcript",
    "instruments:import",
    "instruments:preview",
    "interviews:accept",
    "interviews:add",
    "interviews:detail",
    "interviews:samples",
    "interviews:swap",
    "interviews:transcript",
    "login",
    "logout",
    "participants:characteristics_edit",
    "participants:consent",
    "participants:contact_edit",
    "participants:enrol",
    "participants:handover",
    "participants:letter",
    "participants:paper_entry",
    "participants:reactivate",
    "participants:reconsent",
    "participants:screening_new",
    "participants:withdraw",
    "password_change",
    "setup:consent",
    "setup:details",
    "setup:eligibility",
    "setup:index",
    "setup:measures",
    "setup:new_consent_version",
    "setup:questionnaires",
    "setup:reminders",
    "setup:remove_member",
    "setup:sites",
    "setup:team",
    "setup:timepoints",
    "two_factor_set_up",
    "two_factor_turn_off",
    "two_factor_verify",
    "worklist:attempt",
    "worklist:duplicate_review",
    "worklist:lost",
    "worklist:phone_entry",
)


# ---------------------------------------------------------------------------
# The forms of a page


class _Forms(HTMLParser):
    """Each POST form's action and, per field name, the values offered."""

    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.forms: list[tuple[str, dict[str, set[str]]]] = []
        self._fields: dict[str, set[str]] | None = None
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {key: value or "" for key, value in attrs}
        if tag == "form":
            if attrs.get("method", "get").lower() == "post":
                action = urljoin(self.page_url, attrs.get("action") or self.page_url)
                self._fields = defaultdict(set)
                self.forms.append((urlparse(action).path, self._fields))
            return
        if self._fields is None or not attrs.get("name"):
            return
        name = attrs["name"]
        if name == "csrfmiddlewaretoken":
            return
        if tag in ("input", "button"):
            self._fields[name].add(attrs.get("value", ""))
        elif tag == "textarea":
            self._fields[name]
            self._textarea = name
        elif tag == "select":
            self._fields[name]
            self._select = name
        if tag == "option" and self._select:
            self._fields[self._select].add(attrs.get("value", ""))

    def handle_data(self, data):
        if self._textarea and self._fields is not None:
            self._fields[self._textarea].add(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._fields = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


@dataclasses.dataclass
class FormSite:
    # Form fields, and the values offered, by the path they are posted to.
    fields: dict[str, dict[str, set[str]]]
    # Who posts to each form URL: the first role let through whose empty POST
    # is not refused; a URL without a form is not in it.
    posters: dict[str, str]


@pytest.fixture(scope="module")
def forms_of(world, django_db_blocker) -> FormSite:
    fields: dict[str, dict[str, set[str]]] = {}
    with django_db_blocker.unblock():
        for name in post_urls():
            role = next((r for r in ROLES if EXPECTED[name][r] == 200), None)
            if role is None:
                continue
            url = url_for(world, name, role)
            response = client_as(world, role).get(url)
            if response.streaming or "html" not in response.get("Content-Type", ""):
                continue
            parser = _Forms(url)
            parser.feed(response.content.decode())
            for action, found in parser.forms:
                for field, values in found.items():
                    fields.setdefault(action, defaultdict(set))[field] |= values
        posters = {}
        for name in post_urls():
            let_through = [r for r in ROLES if EXPECTED[name][r] in LET_THROUGH]
            # No page posts here and every role opens it with GET: not a form.
            if urlparse(
                url_for(world, name, let_through[0])
            ).path not in fields and all(EXPECTED[name][r] == 200 for r in let_through):
                continue
            for role in let_through:
                with transaction.atomic():
                    url = url_for(world, name, role)
                    status = client_as(world, role).post(url, {}).status_code
                    transaction.set_rollback(True)
                if status == 405:
                    break
                if status not in (403, 404):
                    posters[name] = role
                    break
    return FormSite(fields=fields, posters=posters)


def post_urls() -> list[str]:
    """Every URL someone may reach; one not yet in the table fails the matrix."""
    return sorted(
        name
        for name in checked_patterns()
        if name in EXPECTED
        and name not in OWN_TESTS
        and any(EXPECTED[name][role] in LET_THROUGH for role in ROLES)
    )


def values_for(offered: set[str]) -> st.SearchStrategy:
    choices = sorted(offered - {""})
    single = st.one_of(st.sampled_from(choices), TEXT) if choices else TEXT
    # Repeating a key sends a list where one value is expected.
    return st.one_of(single, st.lists(single, min_size=2, max_size=3))


def payloads(fields: dict[str, set[str]]) -> st.SearchStrategy:
    """Every field or some of them, with what the page offers or anything at all,
    and a few keys no form has."""
    strategies = {name: values_for(offered) for name, offered in fields.items()}
    known = st.one_of(
        st.fixed_dictionaries(strategies),
        st.fixed_dictionaries({}, optional=strategies),
    )
    extra = st.dictionaries(st.text(min_size=1, max_size=20), TEXT, max_size=3)
    return st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]})


# ---------------------------------------------------------------------------
# The tests


def post_and_check(world, role: str, name: str, data: dict) -> None:
    """Post ``data``, then roll back; a refusal must have changed nothing."""
    with transaction.atomic():
        client = client_as(world, role)
        before = fingerprint()
        response = client.post(url_for(world, name, role), data)
        status = response.status_code
        event(f"answered {status}")
        assert status < 500, f"{name}: {status}"
        if status in NOT_A_SUCCESS and name not in SUCCESS_PAGES:
            changed = changed_since(before)
            assert not changed, f"{name} answered {status} but changed {changed}"
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_every_form_of_the_project_is_fuzzed(forms_of):
    # A sample of forms, one per part of the portal, so that a broken form
    # index cannot quietly leave the fuzzing with nothing to do.
    expected = {
        "login",
        "participants:screening_new",
        "participants:contact_edit",
        "participants:withdraw",
        "instruments:import",
        "worklist:attempt",
        "analysis:specify",
        "interviews:transcript",
        "coding:transcript",
        "coding:remove_segment",
    }
    assert expected <= set(forms_of.posters)
    # The fuzzed list is fixed at collection; it must name every form found.
    found = set(forms_of.posters)
    assert found == set(FORMS), (
        f"add to FORMS: {sorted(found - set(FORMS))}; "
        f"remove from FORMS: {sorted(set(FORMS) - found)}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", FORMS)
@settings(FUZZ_SETTINGS, max_examples=20)
@given(data=st.data())
def test_arbitrary_posts_never_fail_or_save_part(name, data, world, forms_of):
    role = forms_of.posters[name]
    url = url_for(world, name, role)
    fields = forms_of.fields.get(urlparse(url).path, {})
    post_and_check(world, role, name, data.draw(payloads(fields), label="payload"))


# ---------------------------------------------------------------------------
# Uploaded files: a REDCap data dictionary, an interview transcript

DICTIONARY = Path(__file__).parent.parent / "instruments/fixtures/redcap_export.csv"


@pytest.mark.django_db
@FUZZ_SETTINGS
@given(data=st.data())
def test_arbitrary_data_dictionaries_never_fail_or_save_part(data, world):
    rows = list(csv.reader(io.StringIO(DICTIONARY.read_text(encoding="utf-8-sig"))))
    # Appending keeps most of the dictionary importable, so the import is reached.
    edits = st.tuples(
        st.integers(1, len(rows) - 1),
        st.integers(0, len(rows[0]) - 1),
        st.one_of(TEXT, FILE_CONTENT.map(lambda b: b.decode(errors="replace"))),
        st.booleans(),
    )
    for row, column, value, append in data.draw(
        st.lists(edits, max_size=3), label="edits"
    ):
        rows[row][column] = rows[row][column] + value if append else value
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    upload = SimpleUploadedFile(
        "dictionary.csv", buffer.getvalue().encode(), content_type="text/csv"
    )
    slug = data.draw(st.one_of(st.just(""), TEXT), label="slug")
    post_and_check(world, "admin", "instruments:import", {"file": upload, "slug": slug})


@pytest.mark.django_db
@FUZZ_SETTINGS
@given(data=st.data())
def test_arbitrary_transcript_files_never_fail_or_save_part(data, world):
    from analysis.interview_models import CodedSegment

    content = data.draw(FILE_CONTENT, label="content")
    name = data.draw(st.sampled_from(["t.txt", "t.TXT", "t.docx", "t.pdf", "t"]))
    with transaction.atomic():
        # A coded transcript cannot be replaced; uncoded, the upload is stored.
        CodedSegment.objects.all().delete()
        post_and_check(
            world,
            "qualitative",
            "interviews:transcript",
            {"file": SimpleUploadedFile(name, content), "other_names": ""},
        )
        transaction.set_rollback(True)
