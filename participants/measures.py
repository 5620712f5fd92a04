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


def _first_timepoint_definitions(study) -> list[tuple[Definition, bool]]:
    """(definition, taken at enrolment) for each instrument of the first timepoint."""
    first = study.timepoints.order_by("order").first()
    if first is None:
        return []
    found, staff_seen = [], False
    for link in first.instruments.select_related("instrument").order_by("order"):
        version = link.instrument.latest_version()
        if version is None:
            continue
        definition = version.parsed
        at_enrolment = definition.respondent == "staff" and not staff_seen
        staff_seen = staff_seen or at_enrolment
        found.append((definition, at_enrolment))
    return found


def key_measures(study) -> list[KeyMeasure]:
    """The study's key measures at its first timepoint, in the protocol's order."""
    first = study.timepoints.order_by("order").first()
    if first is None:
        return []
    measures: dict[str, KeyMeasure] = {}
    for definition, at_enrolment in _first_timepoint_definitions(study):
        if at_enrolment:
            for item in analysed_items(definition):
                measures.setdefault(
                    item.name,
                    KeyMeasure(
                        item.name,
                        item.label,
                        definition.slug,
                        f"answers__{item.name}",
                        item.name,
                        False,
                    ),
                )
            continue
        for score in definition.scores:
            measures.setdefault(
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
    return [
        measures[name]
        for name in study_measures(study).key_measures
        if name in measures
    ]


def characteristic(study, role: str) -> KeyMeasure | None:
    """The characteristic the protocol names as ``role`` (sex, age, education)."""
    name = getattr(study_measures(study).characteristics, role)
    if not name:
        return None
    for definition, at_enrolment in _first_timepoint_definitions(study):
        if not at_enrolment:
            continue
        for item in analysed_items(definition):
            if item.name == name:
                return KeyMeasure(
                    name, item.label, definition.slug, f"answers__{name}", name, False
                )
    return None


def table_one_columns(study) -> list[str]:
    """Table 1: the characteristics for descriptive tables, then the key measures."""
    chosen = study_measures(study).characteristics
    columns = [name for _, name in chosen if name]
    for measure in key_measures(study):
        if measure.column not in columns:
            columns.append(measure.column)
    return columns
