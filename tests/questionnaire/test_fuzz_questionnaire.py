"""Arbitrary answers on every page of the patient's questionnaire.

Never a 5xx. A page with errors keeps the answers that passed (so that moving
between pages loses nothing) but never stores one that was rejected: each item
with an error keeps what was stored before. Nothing outside the visit's
responses changes, and the visit is submitted only when every page validates.
"""

from __future__ import annotations

from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from hypothesis import event, given
from hypothesis import strategies as st

from instruments import questionnaire
from instruments.forms import InstrumentForm
from instruments.models import Response, ResponseStatus
from participants.models import Visit, VisitStatus
from tests.fuzzing import FUZZ_SETTINGS, TEXT, changed_since, fingerprint
from tests.questionnaire.conftest import complete_answers

# The visit's responses (and their history) change as pages are saved;
# everything else must not.
RESPONSE_TABLES = {
    "instruments.Response",
    "instruments.HistoricalResponse",
    "participants.Visit",
    "participants.HistoricalVisit",
}


def item_values(item) -> st.SearchStrategy:
    codes = [code for code, _ in item.choice_list]
    bounds = [str(bound) for bound in (item.min, item.max) if bound is not None]
    sensible = codes + bounds
    single = st.one_of(st.sampled_from(sensible), TEXT) if sensible else TEXT
    return st.one_of(single, st.lists(single, min_size=2, max_size=3))


def page_payloads(page, valid: dict) -> st.SearchStrategy:
    items = [
        item
        for index in page.sections
        for item in page.definition.sections[index].items
        if item.is_answerable
    ]
    garbled = st.fixed_dictionaries(
        {}, optional={item.name: item_values(item) for item in items}
    )
    # Valid answers with a few changed, to reach the pages after this one.
    nearly = st.fixed_dictionaries(
        {}, optional={item.name: item_values(item) for item in items}
    ).map(lambda changed: {**valid, **changed})
    answers = st.one_of(st.just(valid), nearly, garbled)
    extra = st.dictionaries(st.text(min_size=1, max_size=20), TEXT, max_size=2)
    go = st.sampled_from(["next", "next", "previous", "autosave", "elsewhere"])
    return st.tuples(answers, extra, go).map(
        lambda parts: {**parts[1], **parts[0], "go": parts[2]}
    )


def stored(visit) -> dict[int, dict]:
    return {r.instrument_id: r.answers for r in Response.objects.filter(visit=visit)}


def as_post(answers: dict) -> MultiValueDict:
    return MultiValueDict(
        {
            name: [str(v) for v in value] if isinstance(value, list) else [str(value)]
            for name, value in answers.items()
        }
    )


def page_form(page, answers: dict) -> InstrumentForm:
    return InstrumentForm(
        as_post(answers),
        definition=page.definition,
        sections=list(page.sections),
        answers=answers,
    )


@FUZZ_SETTINGS
@given(data=st.data())
def test_arbitrary_answers_never_fail_store_rejects_or_submit_early(
    data, baseline, token
):
    pages = questionnaire.pages_for(baseline)
    valid = complete_answers()
    with transaction.atomic():
        client = Client()
        before_all = fingerprint()
        # Each page once or twice: a second try must not lose what the first saved.
        tries = [
            page
            for page in pages
            for _ in range(data.draw(st.integers(1, 2), label="tries"))
        ]
        for page in tries:
            payload = data.draw(page_payloads(page, valid[page.number]), label="page")
            before = stored(baseline)
            url = reverse("questionnaire:page", args=[token, page.number])
            response = client.post(url, payload)
            assert response.status_code < 500
            event(f"page answered {response.status_code}")
            after = stored(baseline)
            others = (set(before) | set(after)) - {page.instrument.pk}
            assert all(before.get(pk) == after.get(pk) for pk in others)
            if response.status_code == 200:
                # Re-shown with errors: each rejected item keeps its old answer.
                old = before.get(page.instrument.pk, {})
                new = after.get(page.instrument.pk, {})
                rejected = set(response.context["form"].errors)
                assert rejected, "a page re-shown without a reason"
                assert {n: new.get(n) for n in rejected} == {
                    n: old.get(n) for n in rejected
                }
        assert not changed_since(before_all) - RESPONSE_TABLES

        review = client.post(reverse("questionnaire:review", args=[token]))
        assert review.status_code < 500
        answers = stored(baseline)
        every_page_valid = all(
            page_form(page, answers.get(page.instrument.pk, {})).is_valid()
            for page in pages
        )
        # The staff-entered characteristics were submitted at enrolment.
        submitted = Response.objects.filter(
            visit=baseline,
            instrument__in=[page.instrument for page in pages],
            status=ResponseStatus.SUBMITTED,
        ).exists()
        completed = Visit.objects.get(pk=baseline.pk).status == VisitStatus.COMPLETED
        event(f"submitted: {submitted}")
        assert submitted == completed == (review.status_code == 302)
        assert submitted == every_page_valid
        transaction.set_rollback(True)
