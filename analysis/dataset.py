"""The analysis dataset: one row per participant, scores and characteristics.

Built with a fixed number of queries whatever the cohort size, then shaped
with pandas. Variable names are ``<timepoint>_<score>`` for questionnaire
scores and the item name for the staff-entered baseline characteristics.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from django.db.models import QuerySet

from instruments.definitions import (
    SINGLE_CHOICE_TYPES,
    Definition,
    Item,
    analysed_items,
)
from instruments.models import InstrumentVersion, Response, ResponseStatus
from participants import followup
from participants.enrolment import characteristics_instrument_slug, protocol_links
from participants.models import (
    Participant,
    ParticipantStatus,
    Site,
    Study,
    StudyPhase,
)

LEADING_VARIABLES = {
    "site": "Site",
    "status": "Participant status",
    "enrolled_on": "Date enrolled",
}
# 1 for those who completed the last timepoint (participants.followup's
# completers), 0 for the rest.
COMPLETER = "completer"
COMPLETER_LABEL = "Completed the last timepoint (1 yes, 0 no)"


@dataclass(frozen=True)
class Dataset:
    frame: pd.DataFrame
    variables: dict[str, str]
    missing: pd.DataFrame
    content_hash: str


def included_participants(
    study: Study, *, include_test_data: bool = False
) -> QuerySet[Participant]:
    """Everyone whose data may leave, in the dataset or a download: not those
    who withdrew and asked for their data to be removed, nor, once the study is
    in production, the test data made while it was set up (unless asked for).
    In set-up, test data are all there is, so they stay."""
    participants = Participant.objects.filter(study=study).exclude(
        status=ParticipantStatus.WITHDRAWN, keep_data=False
    )
    if study.phase == StudyPhase.PRODUCTION and not include_test_data:
        participants = participants.exclude(is_test_data=True)
    return participants


def has_test_data(study: Study) -> bool:
    return Participant.objects.filter(study=study, is_test_data=True).exists()


def build_dataset(study: Study, *, sites: Iterable[Site] | None = None) -> Dataset:
    """One row per participant of ``study`` (optionally only at ``sites``).

    ``study_id`` is the participant's study code, not a pseudonym: giving the
    dataset to investigators, the caller must pseudonymise it first.
    Participants who withdrew and asked for their data to be removed are left
    out, and so is a study in production's test data (``included_participants``);
    only submitted responses count.
    """
    participants = included_participants(study)
    if sites is not None:
        sites = list(sites)
        participants = participants.filter(site__in=sites)
        site_codes = sorted(site.code for site in sites)
    else:
        site_codes = list(study.sites.order_by("code").values_list("code", flat=True))
    fields = ["code", "site__code", "status", "enrolled_on", COMPLETER]
    people = pd.DataFrame.from_records(
        list(
            participants.annotate(**{COMPLETER: followup.is_completer()}).values(
                *fields
            )
        ),
        columns=fields,
    )
    frame = pd.DataFrame(
        {
            "site": pd.Categorical(people["site__code"], categories=site_codes),
            "status": people["status"].astype("string"),
            "enrolled_on": pd.to_datetime(people["enrolled_on"]),
            COMPLETER: people[COMPLETER].astype("bool").astype("Int64"),
        }
    ).set_axis(pd.Index(people["code"], name="study_id", dtype="string"))
    variables = {"study_id": "Study ID"} | LEADING_VARIABLES
    variables[COMPLETER] = COMPLETER_LABEL

    responses = list(
        Response.objects.filter(
            visit__participant__in=participants, status=ResponseStatus.SUBMITTED
        )
        .order_by("visit__timepoint__order", "instrument__slug", "visit__participant")
        .values(
            "visit__participant__code",
            "visit__timepoint__code",
            "visit__timepoint__label",
            "instrument__slug",
            "instrument_version",
            "answers",
            "scores",
        )
    )
    definitions = {
        version.pk: version.parsed
        for version in InstrumentVersion.objects.filter(
            pk__in={row["instrument_version"] for row in responses}
        )
    }
    scores, score_labels = _score_columns(responses, definitions)
    characteristics, characteristic_labels = _characteristic_columns(
        responses, definitions, slug=characteristics_instrument_slug(study)
    )
    frame = pd.concat(
        [frame, scores.reindex(frame.index), characteristics.reindex(frame.index)],
        axis=1,
    ).sort_index()
    frame.index.name = "study_id"
    variables |= score_labels | characteristic_labels
    return Dataset(
        frame=frame,
        variables=variables,
        missing=missing_report(frame),
        content_hash=content_hash(frame),
    )


def _score_columns(
    responses: list[dict], definitions: dict[int, Definition]
) -> tuple[pd.DataFrame, dict[str, str]]:
    values: dict[str, dict[str, float | None]] = {}
    labels: dict[str, str] = {}
    source: dict[str, str] = {}
    for row in responses:
        definition = definitions[row["instrument_version"]]
        score_labels = {score.name: score.label for score in definition.scores}
        stored = row["scores"] or {}
        # Definition order, not the stored JSON's, which a database may reorder.
        names = [name for name in score_labels if name in stored]
        names += sorted(set(stored) - set(names))
        for name in names:
            result = stored[name]
            column = f"{row['visit__timepoint__code']}_{name}"
            slug = row["instrument__slug"]
            if source.setdefault(column, slug) != slug:
                raise ValueError(
                    f"Both {source[column]} and {slug} give a score named {name}; "
                    "rename one so that each variable has one source."
                )
            labels.setdefault(
                column,
                score_label(
                    definition,
                    score_labels.get(name, name),
                    row["visit__timepoint__label"],
                ),
            )
            values.setdefault(column, {})[row["visit__participant__code"]] = result.get(
                "value"
            )
    frame = pd.DataFrame(
        {
            column: pd.Series(by_code, dtype="float64")
            for column, by_code in values.items()
        }
    )
    return frame, labels


def _characteristic_columns(
    responses: list[dict], definitions: dict[int, Definition], *, slug: str | None
) -> tuple[pd.DataFrame, dict[str, str]]:
    rows = [row for row in responses if row["instrument__slug"] == slug]
    if not rows:
        return pd.DataFrame(), {}
    # The latest version a response used names the variables.
    definition = definitions[max(row["instrument_version"] for row in rows)]
    codes = pd.Index([row["visit__participant__code"] for row in rows])
    answers = [row["answers"] or {} for row in rows]
    columns: dict[str, pd.Series] = {}
    labels: dict[str, str] = {}
    for item in analysed_items(definition):
        given = [answer.get(item.name) for answer in answers]
        if item.type == "checkbox":
            for code, label in item.choice_list:
                column = f"{item.name}_{code}"
                ticked = [int(code in (value or [])) for value in given]
                columns[column] = pd.Series(ticked, index=codes, dtype="Int64")
                labels[column] = ticked_label(item, label)
        elif item.type in SINGLE_CHOICE_TYPES:
            choices = dict(item.choice_list)
            columns[item.name] = pd.Series(
                pd.Categorical(
                    [choices.get(str(value)) for value in given],
                    categories=list(choices.values()),
                ),
                index=codes,
            )
            labels[item.name] = item.label
        else:
            columns[item.name] = pd.to_numeric(
                pd.Series(given, index=codes, dtype="object"), errors="coerce"
            ).astype("float64")
            labels[item.name] = item.label
    return pd.DataFrame(columns), labels


def score_label(definition: Definition, score: str, timepoint: str) -> str:
    return f"{definition.title}: {score} ({timepoint})"


def ticked_label(item: Item, choice: str) -> str:
    return f"{item.label}: {choice}"


def missing_report(frame: pd.DataFrame) -> pd.DataFrame:
    """Per variable: how many participants have a value, how many do not."""
    present = frame.notna().sum()
    missing = frame.isna().sum()
    total = len(frame)
    percent = (missing / total * 100).round(1) if total else missing.astype(float)
    report = pd.DataFrame(
        {"present": present, "missing": missing, "percent_missing": percent}
    )
    report.index.name = "variable"
    return report


def content_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of the frame as CSV, rows by study ID and columns by name.

    The same data gives the same hash however it was queried or assembled.
    """
    canonical = frame.sort_index().reindex(columns=sorted(frame.columns))
    text = canonical.to_csv(lineterminator="\n", date_format="%Y-%m-%d")
    return hashlib.sha256(text.encode()).hexdigest()


# What the dataset will hold, read from the study's protocol alone.


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    # Categorical variables list their levels; numeric ones have none.
    levels: tuple[str, ...] = ()

    @property
    def categorical(self) -> bool:
        return bool(self.levels)


def variable_catalogue(study: Study) -> list[Variable]:
    """The variables a model of ``study`` can use, in protocol order.

    Built from the timepoints' instruments at their latest versions, without
    reading any response, so it costs the same for 50 participants or 100,000.
    Names and labels are those ``build_dataset`` gives the same columns.
    """
    site_codes = tuple(study.sites.order_by("code").values_list("code", flat=True))
    catalogue = [Variable("site", LEADING_VARIABLES["site"], site_codes)]
    slug = characteristics_instrument_slug(study)
    scores: list[Variable] = []
    for link in protocol_links(study):
        version = link.instrument.latest_version()
        if version is None:
            continue
        definition = version.parsed
        if link.instrument.slug == slug:
            catalogue += _characteristic_variables(definition)
            continue
        scores += [
            Variable(
                f"{link.timepoint.code}_{score.name}",
                score_label(definition, score.label, link.timepoint.label),
            )
            for score in definition.scores
        ]
    return catalogue + scores


def _characteristic_variables(definition: Definition) -> list[Variable]:
    variables = []
    for item in analysed_items(definition):
        if item.type == "checkbox":
            variables += [
                Variable(f"{item.name}_{code}", ticked_label(item, label))
                for code, label in item.choice_list
            ]
        elif item.type in SINGLE_CHOICE_TYPES:
            levels = tuple(label for _, label in item.choice_list)
            variables.append(Variable(item.name, item.label, levels))
        else:
            variables.append(Variable(item.name, item.label))
    return variables
