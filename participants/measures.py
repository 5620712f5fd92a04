"""A study's variables and measures, from its instruments and its protocol.

Which variables a study's data hold is decided by the instruments each
timepoint collects: the characteristics taken at enrolment (the staff
instrument of the first timepoint) are variables under their own names, every
score is a variable per timepoint (``followup_pain_severity``). The protocol's
measures name these variables; everything that shows a key measure, a
characteristic, a preset or a sampling stratum reads them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from instruments.definitions import Definition, analysed_items

SITE = "site"


def _variables_of_items(definition: Definition) -> set[str]:
    names = set()
    for item in analysed_items(definition):
        if item.type == "checkbox":
            names |= {f"{item.name}_{code}" for code, _ in item.choice_list}
        names.add(item.name)
    return names


@dataclass(frozen=True)
class Variables:
    """What a protocol's instruments provide."""

    characteristics: set[str]  # taken at enrolment, named as the item
    per_timepoint: dict[str, set[str]]  # timepoint code -> item and score names

    def columns(self) -> set[str]:
        """The columns of the study's analysis data."""
        timed = {
            f"{code}_{name}"
            for code, names in self.per_timepoint.items()
            for name in names
        }
        return {SITE} | self.characteristics | timed


def protocol_variables(protocol) -> Variables | None:
    """The variables ``protocol`` (participants.protocol.Protocol) provides; None
    when an instrument it names is not in the library."""
    from instruments import catalogue

    library = catalogue.library()
    characteristics: set[str] = set()
    per_timepoint: dict[str, set[str]] = {}
    for index, timepoint in enumerate(protocol.timepoints):
        names = per_timepoint.setdefault(timepoint.code, set())
        staff_seen = False
        for slug in timepoint.instruments:
            definition = library.get(slug)
            if definition is None:
                return None
            if index == 0 and definition.respondent == "staff" and not staff_seen:
                staff_seen = True
                characteristics |= _variables_of_items(definition)
                continue
            names |= {score.name for score in definition.scores}
    return Variables(characteristics, per_timepoint)


# ---------------------------------------------------------------------------
# A study's measures, as its protocol names them


@dataclass(frozen=True)
class KeyMeasure:
    name: str  # as the protocol names it: an item or a score
    label: str
    instrument: str  # slug of the instrument that provides it
    path: str  # key path inside a response, e.g. scores__pain_severity__value
    column: str  # the variable in the study's data
    is_score: bool


def study_measures(study):
    """The study's measures (participants.protocol.MeasuresSpec)."""
    from participants.protocol import MeasuresSpec

    return MeasuresSpec.model_validate(study.measures or {})


def _first_timepoint_definitions(first) -> list[tuple[Definition, bool]]:
    """(definition, taken at enrolment) for each instrument of the timepoint
    ``first``, at its latest version, in two queries."""
    from instruments.catalogue import latest_definitions

    slugs = list(
        first.instruments.order_by("order").values_list("instrument__slug", flat=True)
    )
    by_slug = latest_definitions(slugs)
    found, staff_seen = [], False
    for slug in slugs:
        definition = by_slug.get(slug)
        if definition is None:
            continue
        at_enrolment = definition.respondent == "staff" and not staff_seen
        staff_seen = staff_seen or at_enrolment
        found.append((definition, at_enrolment))
    return found


@dataclass(frozen=True)
class AtFirstTimepoint:
    """The study's key measures, and its characteristics by role (age, sex,
    education), as the first timepoint's instruments provide them."""

    key_measures: list[KeyMeasure]
    characteristics: dict[str, KeyMeasure]


def at_first_timepoint(study, *, first=None) -> AtFirstTimepoint:
    """``first``: the study's first timepoint, when the caller has it already."""
    first = first or study.timepoints.order_by("order").first()
    chosen = study_measures(study)
    if first is None:
        return AtFirstTimepoint([], {})
    found: dict[str, KeyMeasure] = {}
    enrolment: dict[str, KeyMeasure] = {}
    for definition, at_enrolment in _first_timepoint_definitions(first):
        if at_enrolment:
            for item in analysed_items(definition):
                measure = KeyMeasure(
                    item.name,
                    item.label,
                    definition.slug,
                    f"answers__{item.name}",
                    item.name,
                    False,
                )
                found.setdefault(item.name, measure)
                enrolment.setdefault(item.name, measure)
            continue
        for score in definition.scores:
            found.setdefault(
                score.name,
                KeyMeasure(
                    score.name,
                    score.label,
                    definition.slug,
                    f"scores__{score.name}__value",
                    f"{first.code}_{score.name}",
                    True,
                ),
            )
    return AtFirstTimepoint(
        key_measures=[found[n] for n in chosen.key_measures if n in found],
        characteristics={
            role: enrolment[name]
            for role, name in chosen.characteristics
            if name and name in enrolment
        },
    )


def key_measures(study) -> list[KeyMeasure]:
    """The study's key measures at its first timepoint, in the protocol's order."""
    return at_first_timepoint(study).key_measures


def characteristic(study, role: str) -> KeyMeasure | None:
    """The characteristic the protocol names as ``role`` (sex, age, education)."""
    return at_first_timepoint(study).characteristics.get(role)


def table_one_columns(study) -> list[str]:
    """Table 1: the characteristics for descriptive tables, then the key measures."""
    chosen = study_measures(study).characteristics
    columns = [name for _, name in chosen if name]
    for measure in key_measures(study):
        if measure.column not in columns:
            columns.append(measure.column)
    return columns


def score_labels(study) -> dict[str, str]:
    """Each score any timepoint of the study collects, by name, with its label,
    in two queries."""
    from instruments.catalogue import latest_definitions
    from participants.models import TimepointInstrument

    slugs = TimepointInstrument.objects.filter(timepoint__study=study).values_list(
        "instrument__slug", flat=True
    )
    labels: dict[str, str] = {}
    for definition in latest_definitions(set(slugs)).values():
        for score in definition.scores:
            labels.setdefault(score.name, score.label)
    return labels


def score_of(column: str, timepoint_codes: list[str]) -> str:
    """The score a column such as ``followup_selfmgmt_total`` holds; "" if none."""
    for code in sorted(timepoint_codes, key=len, reverse=True):
        if column.startswith(f"{code}_"):
            return column[len(code) + 1 :]
    return ""
