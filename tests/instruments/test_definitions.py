"""Loading definitions: problems are named by file, item and what is wrong."""

import textwrap

import pytest

from instruments import catalogue
from instruments.definitions import (
    DefinitionError,
    from_data,
    load_file,
    shipped_definition_files,
)
from instruments.models import Instrument, InstrumentVersion


def minimal(**changes) -> dict:
    data = {
        "slug": "mood",
        "title": "Mood",
        "sections": [
            {
                "title": "Today",
                "items": [
                    {
                        "name": "feel",
                        "type": "rating",
                        "label": "How?",
                        "min": 0,
                        "max": 10,
                    },
                    {
                        "name": "why",
                        "type": "text",
                        "label": "Why?",
                        "branching": "[feel] < 3",
                    },
                ],
            }
        ],
    }
    data.update(changes)
    return data


def problems_of(data: dict) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        from_data(data, source="mood.yaml")
    assert str(caught.value).startswith("mood.yaml: ")
    return caught.value.problems


def with_items(*items) -> dict:
    return minimal(sections=[{"title": "", "items": list(items)}])


def test_a_valid_definition_loads():
    definition = from_data(minimal(), source="mood.yaml")
    assert [item.name for item in definition.items()] == ["feel", "why"]
    assert definition.branching["why"].fields() == [("feel", None)]


def test_structure_errors_name_the_item_and_field():
    data = with_items({"name": "feel", "type": "slider", "label": "x"})
    [problem] = problems_of(data)
    assert problem.startswith("item 'feel': type:")


def test_unknown_keys_are_refused():
    data = with_items({"name": "feel", "type": "text", "lable": "typo"})
    assert any("lable" in problem for problem in problems_of(data))


def test_unknown_field_in_branching_is_an_error_at_load_time():
    data = with_items(
        {"name": "feel", "type": "text"},
        {"name": "why", "type": "text", "branching": "[fele] = '1'"},
    )
    assert problems_of(data) == ["item 'why': branching refers to unknown field [fele]"]


def test_unreadable_branching_names_the_problem():
    data = with_items({"name": "why", "type": "text", "branching": "[a] = = 1"})
    [problem] = problems_of(data)
    assert problem.startswith("item 'why': branching '[a] = = 1' cannot be read")


def test_all_problems_are_reported_at_once():
    data = with_items(
        {"name": "a", "type": "radio"},
        {"name": "a", "type": "text", "min": 3},
        {"name": "c", "type": "calc"},
    )
    problems = problems_of(data)
    assert "item 'a': a radio item needs choices" in problems
    assert "item 'a': the variable name is used twice" in problems
    assert "item 'a': min and max apply only to numbers, ratings and dates" in problems
    assert "item 'c': a calc item needs a calculation" in problems


def test_checkbox_references_need_a_real_option():
    checkbox = {
        "name": "why",
        "type": "checkbox",
        "choices": [{"code": 1, "label": "Work"}, {"code": 2, "label": "Home"}],
    }
    data = with_items(
        checkbox,
        {"name": "other", "type": "text", "branching": "[why(3)] = '1'"},
        {"name": "plain", "type": "text", "branching": "[why] = '1'"},
        {"name": "notbox", "type": "text", "branching": "[other(1)] = '1'"},
    )
    problems = problems_of(data)
    assert "item 'other': branching uses [why(3)] but why has no option 3" in problems
    assert any(
        p.startswith("item 'plain'") and "without an option" in p for p in problems
    )
    assert (
        "item 'notbox': branching uses [other(1)] but other is not a checkbox"
        in problems
    )


def test_choice_sets_are_resolved_into_items():
    data = with_items({"name": "q", "type": "radio", "choices": "agree"})
    data["choice_sets"] = {
        "agree": [{"code": 1, "label": "Agree"}, {"code": 0, "label": "No"}]
    }
    definition = from_data(data, source="mood.yaml")
    assert definition.item("q").choice_list == (("1", "Agree"), ("0", "No"))
    assert "choice_sets" not in definition.to_data()


def test_missing_choice_set_is_named():
    data = with_items({"name": "q", "type": "radio", "choices": "agree"})
    assert problems_of(data) == [
        "item 'q': choice set 'agree' is not defined in choice_sets"
    ]


def test_matrix_items_must_share_options_and_follow_one_another():
    agree = [{"code": 1, "label": "Agree"}, {"code": 0, "label": "Disagree"}]
    data = with_items(
        {"name": "m1", "type": "radio", "choices": agree, "matrix": "grid"},
        {"name": "gap", "type": "text"},
        {"name": "m2", "type": "radio", "choices": agree[:1], "matrix": "grid"},
    )
    problems = problems_of(data)
    assert "matrix 'grid': its items must follow one another" in problems
    assert any("item 'm2' must have the same type and options" in p for p in problems)


def test_score_problems_are_named():
    data = minimal(
        scores=[
            {"name": "total", "label": "T", "method": "sum", "items": ["feel", "why"]},
            {
                "name": "feel",
                "label": "Clash",
                "method": "mean",
                "items": ["feel"],
                "reverse": ["why"],
                "min_answered": 2,
                "prorate": True,
            },
        ]
    )
    problems = problems_of(data)
    assert "score 'total': item 'why' has no numeric values to score" in problems
    assert "score 'feel': the name is already used by an item or score" in problems
    assert "score 'feel': reverse-coded item 'why' is not one of its items" in problems
    assert "score 'feel': min_answered is larger than the number of items" in problems
    assert any("prorating applies to sums" in p for p in problems)


def test_a_percent_score_needs_items_with_a_range():
    only = {"name": "only", "type": "radio", "choices": [{"code": 1, "label": "Yes"}]}
    share = {"name": "share", "label": "Share", "method": "mean", "items": ["only"]}
    data = with_items(only) | {"scores": [share | {"percent": True}]}
    assert problems_of(data) == [
        "score 'share': item 'only' has a single value, so it has no range to "
        "count as a percentage"
    ]


def test_rating_limits_are_checked():
    data = with_items({"name": "r", "type": "rating", "min": 0, "max": 500})
    assert problems_of(data) == ["item 'r': a rating can have at most 101 points"]


def test_a_file_that_is_not_yaml_is_reported_with_its_name(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("slug: [unclosed\n")
    with pytest.raises(DefinitionError, match="broken.yaml: 1 problem"):
        load_file(path)


def test_a_yaml_file_loads_with_dates(tmp_path):
    path = tmp_path / "visit.yaml"
    path.write_text(
        textwrap.dedent(
            """
            slug: visit
            title: Visit
            sections:
              - items:
                  - {name: seen, type: date, min: 2020-01-01, max: today}
            """
        )
    )
    definition = load_file(path)
    assert definition.item("seen").min == "2020-01-01"


# ---------------------------------------------------------------------------
# Versions


def test_registering_the_same_definition_twice_keeps_one_version(db):
    definition = from_data(minimal(), source="mood.yaml")
    first = catalogue.register(definition, source="file:mood.yaml")
    again = catalogue.register(definition, source="file:mood.yaml")
    assert first.created and not again.created
    assert InstrumentVersion.objects.count() == 1


def test_a_changed_definition_becomes_a_new_version_and_old_ones_stay(db):
    original = from_data(minimal(), source="mood.yaml")
    catalogue.register(original, source="file:mood.yaml")
    changed = from_data(minimal(title="Mood today"), source="mood.yaml")
    result = catalogue.register(changed, source="file:mood.yaml")
    assert result.created
    assert result.version.number == 2
    assert "stored as version 2" in result.note
    old = InstrumentVersion.objects.get(number=1)
    assert old.parsed.title == "Mood"
    assert old.parsed == original
    assert Instrument.objects.get().title == "Mood today"


def test_a_bumped_version_number_is_kept(db):
    catalogue.register(from_data(minimal(), source="m"), source="file")
    bumped = from_data(minimal(title="Mood 3", version=3), source="m")
    assert catalogue.register(bumped, source="file").version.number == 3


def test_load_shipped_is_idempotent(db):
    first = catalogue.load_shipped()
    second = catalogue.load_shipped()
    assert all(result.created for result in first)
    assert not any(result.created for result in second)
    assert InstrumentVersion.objects.count() == len(first)
    assert len(first) == len(shipped_definition_files())


def test_one_bad_file_loads_nothing(db, tmp_path, monkeypatch):
    good = tmp_path / "good.yaml"
    good.write_text(
        "slug: good\ntitle: Good\nsections: [{items: [{name: a, type: text}]}]\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "slug: bad\ntitle: Bad\nsections: [{items: [{name: a, type: radio}]}]\n"
    )
    monkeypatch.setattr(catalogue, "shipped_definition_files", lambda: [bad, good])
    with pytest.raises(DefinitionError, match="bad.yaml: item 'a': a radio item needs"):
        catalogue.load_shipped()
    assert not Instrument.objects.exists()
