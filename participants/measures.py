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
