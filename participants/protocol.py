"""A study's protocol as data: the schema, checking it, loading it and writing it back.

A protocol file (YAML) declares a whole study: its sites, timepoints and the
questionnaires each collects, consent forms, eligibility criteria, reminder
policy, and its measures by variable name (key measures, the characteristics
for descriptive tables, analysis presets, interview sampling strata). The
structure is checked by pydantic, then the meaning (unique codes, instruments
that exist, variables the instruments provide); every problem is reported at
once, with the file and where in it.

``load`` makes the database say what the file says and records a new
``ProtocolVersion`` when anything changed; it never rewrites collected data,
and refuses a change that would leave data without its place in the protocol.
``export`` writes the same document back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from participants.models import (
    ConsentForm,
    ConsentRecord,
    ConsentStatement,
    EligibilityCriterion,
    Participant,
    ProtocolVersion,
    ReminderPolicy,
    ScreeningRecord,
    Site,
    Study,
    Timepoint,
    TimepointInstrument,
    Visit,
)
from studyportal.config import is_time_zone_name

CODE = r"^[a-z][a-z0-9_]*$"
SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SITE_CODE = r"^[A-Z]{2,6}$"
TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
STUDIES_DIR = Path(__file__).resolve().parent.parent / "studies"


class ProtocolError(ValueError):
    """A protocol that cannot be used, with every problem found in it."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{listed}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Text = Annotated[str, Field(min_length=1)]


class SiteSpec(Strict):
    code: Annotated[str, Field(pattern=SITE_CODE)]
    name: Text
    target: Annotated[int, Field(ge=0)] = 0
    time_zone: str | None = None
    active: bool = True


class TimepointSpec(Strict):
    code: Annotated[str, Field(pattern=CODE, max_length=30)]
    label: Text
    day: Annotated[int, Field(ge=0)]
    window_before: Annotated[int, Field(ge=0)] = 0
    window_after: Annotated[int, Field(ge=0)] = 0
    instruments: list[Annotated[str, Field(min_length=1)]] = []


class StatementSpec(Strict):
    code: Annotated[str, Field(pattern=CODE, max_length=40)]
    kind: Literal["take_part", "follow_up", "interview", "keep_data", "other"] = "other"
    text: Text
    required: bool = True


class ConsentSpec(Strict):
    version: Annotated[int, Field(ge=1)]
    title: Text
    introduction: str = ""
    current: bool = True
    requires_reconsent: bool = False
    statements: Annotated[list[StatementSpec], Field(min_length=1)]


class CriterionSpec(Strict):
    code: Annotated[str, Field(pattern=CODE, max_length=40)]
    text: Text
    exclusion_reason: str = ""


class ReminderSpec(Strict):
    invite_when_open: bool = True
    first_reminder_days: Annotated[int, Field(ge=0)] = 7
    second_reminder_days: Annotated[int, Field(ge=0)] = 14
    final_reminder_days_before_close: Annotated[int, Field(ge=0)] = 2
    send_time: Annotated[str, Field(pattern=TIME)] = "10:00"
    quiet_from: Annotated[str, Field(pattern=TIME)] = "21:00"
    quiet_until: Annotated[str, Field(pattern=TIME)] = "08:00"


class BlockSpec(Strict):
    name: Text
    # Dataset variable names; "{timepoint}_" stands for the model's timepoint.
    variables: Annotated[list[Text], Field(min_length=1)]


class PresetSpec(Strict):
    name: Annotated[str, Field(pattern=CODE)]
    label: Text
    timepoints: Annotated[list[Text], Field(min_length=1)]
    outcomes: Annotated[list[Text], Field(min_length=1)]
    blocks: Annotated[list[BlockSpec], Field(min_length=1)]
    reference_levels: dict[str, str | None] = {}
    # At a later timepoint, the outcome's value at the first one joins block 1.
    adjust_for_baseline: bool = True


class StratumSpec(Strict):
    name: Annotated[str, Field(pattern=CODE)]
    label: Text
    kind: Literal["tertile", "change", "site"]
    # tertile: the mean of these variables, cut into thirds.
    variables: list[str] = []
    # change: from ``before`` to ``after``.
    before: str = ""
    after: str = ""


class Characteristics(Strict):
    age: str | None = None
    sex: str | None = None
    education: str | None = None


class MeasuresSpec(Strict):
    key_measures: list[Text] = []
    characteristics: Characteristics = Characteristics()
    presets: list[PresetSpec] = []
    sampling_strata: list[StratumSpec] = []


class Protocol(Strict):
    slug: Annotated[str, Field(pattern=SLUG, max_length=50)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    short_name: Annotated[str, Field(min_length=1, max_length=40)]
    description: str = ""
    recruitment_target: Annotated[int, Field(ge=0)] = 0
    reference: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    time_zone: str = "Europe/London"
    study_ids_in_downloads: bool = False
    coordinators_edit_setup: bool = False
    sites: Annotated[list[SiteSpec], Field(min_length=1)]
    timepoints: Annotated[list[TimepointSpec], Field(min_length=1)]
    consent: Annotated[list[ConsentSpec], Field(min_length=1)]
    eligibility: list[CriterionSpec] = []
    reminders: ReminderSpec = ReminderSpec()
    measures: MeasuresSpec = MeasuresSpec()


# ---------------------------------------------------------------------------
# Reading and checking


def read_file(path: Path) -> Protocol:
    source = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(source, [f"cannot be read: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise ProtocolError(source, [f"is not valid YAML: {exc}"]) from None
    return from_data(data, source=source)


def from_data(data: Any, *, source: str) -> Protocol:
    """A Protocol from parsed YAML; ProtocolError lists everything wrong with it."""
    if not isinstance(data, dict):
        raise ProtocolError(source, ["the file must hold a mapping at the top"])
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(source, _describe_errors(exc, data)) from None
    problems = list(_check_meaning(protocol))
    if problems:
        raise ProtocolError(source, problems)
    return protocol


def _describe_errors(exc: ValidationError, data: dict) -> list[str]:
    return [
        f"{_where(list(error['loc']), data)}: {error['msg']}" for error in exc.errors()
    ]


def _where(location: list, data: Any) -> str:
    """Where in the file: ``timepoints[followup].day``, not ``timepoints.1.day``."""
    parts, node = [], data
    for part in location:
        if isinstance(part, int) and parts:
            try:
                node = node[part]
                name = node.get("code") or node.get("name") or node.get("version")
            except (KeyError, IndexError, TypeError, AttributeError):
                name = None
            parts[-1] += f"[{name}]" if name is not None else f"[{part + 1}]"
            continue
        parts.append(str(part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts) or "protocol"


def _duplicates(values) -> list:
    seen, twice = set(), []
    for value in values:
        if value in seen and value not in twice:
            twice.append(value)
        seen.add(value)
    return twice


def _check_meaning(protocol: Protocol) -> Iterator[str]:
    from instruments import catalogue

    for what, values in (
        ("site code", [site.code for site in protocol.sites]),
        ("site name", [site.name for site in protocol.sites]),
        ("timepoint code", [tp.code for tp in protocol.timepoints]),
        ("consent version", [form.version for form in protocol.consent]),
        ("criterion code", [c.code for c in protocol.eligibility]),
        ("preset name", [p.name for p in protocol.measures.presets]),
        ("stratum name", [s.name for s in protocol.measures.sampling_strata]),
    ):
        for value in _duplicates(values):
            yield f"{what} {value!r} is used twice"
    zones = [("time_zone", protocol.time_zone)] + [
        (f"sites[{site.code}].time_zone", site.time_zone)
        for site in protocol.sites
        if site.time_zone
    ]
    for where, zone in zones:
        if not is_time_zone_name(zone):
            yield f"{where}: {zone!r} is not a time zone name such as Europe/London"
    days = [tp.day for tp in protocol.timepoints]
    if days != sorted(days) or _duplicates(days):
        yield "timepoints: days must increase from one timepoint to the next"
    if protocol.timepoints[0].day != 0:
        yield f"timepoints[{protocol.timepoints[0].code}].day: the first is day 0"
    if sum(form.current for form in protocol.consent) != 1:
        yield "consent: exactly one version must be current: true"
    for form in protocol.consent:
        for code in _duplicates(s.code for s in form.statements):
            yield f"consent[{form.version}]: statement {code!r} is used twice"
        kinds = [s.kind for s in form.statements if s.kind != "other"]
        for kind in _duplicates(kinds):
            yield f"consent[{form.version}]: more than one {kind} statement"
        if "take_part" not in kinds:
            yield f"consent[{form.version}]: no statement of kind take_part"
    known = catalogue.shipped_and_stored_slugs()
    for tp in protocol.timepoints:
        for slug in _duplicates(tp.instruments):
            yield f"timepoints[{tp.code}].instruments: {slug!r} is listed twice"
        for slug in tp.instruments:
            if slug not in known:
                yield (
                    f"timepoints[{tp.code}].instruments: there is no instrument "
                    f"{slug!r} in the library"
                )
    yield from _check_measures(protocol)


def _check_measures(protocol: Protocol) -> Iterator[str]:
    from participants import measures

    available = measures.protocol_variables(protocol)
    if available is None:  # an instrument is missing: reported above
        return
    first = protocol.timepoints[0].code
    at_first = available.per_timepoint.get(first, set()) | available.characteristics
    for name in protocol.measures.key_measures:
        if name not in at_first:
            yield (
                f"measures.key_measures: {name!r} is no characteristic or score "
                f"collected at {first}"
            )
    for role, name in protocol.measures.characteristics:
        if name and name not in available.characteristics:
            yield (
                f"measures.characteristics.{role}: {name!r} is no item of the "
                "characteristics collected at enrolment"
            )
    codes = [tp.code for tp in protocol.timepoints]
    columns = available.columns()
    for preset in protocol.measures.presets:
        where = f"measures.presets[{preset.name}]"
        for code in preset.timepoints:
            if code not in codes:
                yield f"{where}.timepoints: there is no timepoint {code!r}"
        for code in preset.timepoints:
            if code not in codes:
                continue
            for outcome in preset.outcomes:
                if f"{code}_{outcome}" not in columns:
                    yield f"{where}.outcomes: {outcome!r} is not measured at {code}"
            for block in preset.blocks:
                for variable in block.variables:
                    name = variable.replace("{timepoint}", code)
                    if name not in columns:
                        yield (
                            f"{where}.blocks[{block.name}]: {name!r} is no variable "
                            "of the study's data"
                        )
    for stratum in protocol.measures.sampling_strata:
        where = f"measures.sampling_strata[{stratum.name}]"
        named = [*stratum.variables, stratum.before, stratum.after]
        for name in filter(None, named):
            if name not in columns:
                yield f"{where}: {name!r} is no variable of the study's data"
        if stratum.kind == "tertile" and not stratum.variables:
            yield f"{where}: a tertile stratum needs variables"
        if stratum.kind == "change" and not (stratum.before and stratum.after):
            yield f"{where}: a change stratum needs before and after"


# ---------------------------------------------------------------------------
# Loading into the database


@dataclass(frozen=True)
class Loaded:
    study: Study
    version: ProtocolVersion | None  # None when nothing changed
    created: bool


def normalised(protocol: Protocol) -> dict:
    """The document as ``export`` writes it: every default spelled out."""
    data = protocol.model_dump(mode="json")
    for site in data["sites"]:
        site["time_zone"] = site["time_zone"] or protocol.time_zone
    return data


def _time(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


@transaction.atomic
def load(protocol: Protocol, *, user=None, note: str = "") -> Loaded:
    """Make the database hold ``protocol``; a new ProtocolVersion if anything changed.

    Raises ProtocolError, and changes nothing, where the change would leave
    collected data without its place: a site, timepoint or instrument that has
    data, or a consent form someone has signed.
    """
    from instruments import catalogue

    document = normalised(protocol)
    study = Study.objects.select_for_update().filter(slug=protocol.slug).first()
    created = study is None
    problems = list(_shared_site_codes(protocol))
    if study is not None:
        problems += list(_orphaned_by(study, protocol))
    if problems:
        raise ProtocolError(protocol.slug, problems)
    if study is not None:
        latest = study.protocol_versions.order_by("-number").first()
        if latest is not None and latest.protocol == document:
            return Loaded(study, None, False)
    catalogue.load_shipped()
    fields = {
        "name": protocol.name,
        "short_name": protocol.short_name,
        "description": protocol.description,
        "recruitment_target": protocol.recruitment_target,
        "reference": protocol.reference,
        "contact_email": protocol.contact_email,
        "contact_phone": protocol.contact_phone,
        "time_zone": protocol.time_zone,
        "study_ids_in_downloads": protocol.study_ids_in_downloads,
        "coordinators_edit_setup": protocol.coordinators_edit_setup,
        "measures": protocol.measures.model_dump(mode="json"),
    }
    study, _ = Study.objects.update_or_create(slug=protocol.slug, defaults=fields)
    _load_sites(study, protocol)
    _load_timepoints(study, protocol)
    _load_consent(study, protocol)
    _load_criteria(study, protocol)
    rules = protocol.reminders
    ReminderPolicy.objects.update_or_create(
        study=study,
        defaults={
            "invite_when_open": rules.invite_when_open,
            "first_reminder_days": rules.first_reminder_days,
            "second_reminder_days": rules.second_reminder_days,
            "final_reminder_days_before_close": rules.final_reminder_days_before_close,
            "send_time": _time(rules.send_time),
            "quiet_from": _time(rules.quiet_from),
            "quiet_until": _time(rules.quiet_until),
        },
    )
    number = (
        study.protocol_versions.order_by("-number")
        .values_list("number", flat=True)
        .first()
        or 0
    ) + 1
    version = ProtocolVersion.objects.create(
        study=study,
        number=number,
        protocol=export(study),
        note=note,
        created_by=user,
    )
    return Loaded(study, version, created)


def _load_sites(study: Study, protocol: Protocol) -> None:
    wanted = {site.code for site in protocol.sites}
    study.sites.exclude(code__in=wanted).delete()
    for site in protocol.sites:
        Site.objects.update_or_create(
            study=study,
            code=site.code,
            defaults={
                "name": site.name,
                "recruitment_target": site.target,
                "time_zone": site.time_zone or protocol.time_zone,
                "is_active": site.active,
            },
        )


def _load_timepoints(study: Study, protocol: Protocol) -> None:
    from instruments.models import Instrument

    wanted = [tp.code for tp in protocol.timepoints]
    study.timepoints.exclude(code__in=wanted).delete()
    # Orders move in two steps, so that swapping two never meets the constraint.
    existing = study.timepoints.all()
    for timepoint in existing:
        timepoint.order += 1000
        timepoint.save(update_fields=["order"])
    instruments = {i.slug: i for i in Instrument.objects.all()}
    for order, spec in enumerate(protocol.timepoints, start=1):
        timepoint, _ = Timepoint.objects.update_or_create(
            study=study,
            code=spec.code,
            defaults={
                "label": spec.label,
                "order": order,
                "offset_days": spec.day,
                "window_before_days": spec.window_before,
                "window_after_days": spec.window_after,
            },
        )
        timepoint.instruments.exclude(instrument__slug__in=spec.instruments).delete()
        links = list(timepoint.instruments.all())
        for link in links:
            link.order += 1000
            link.save(update_fields=["order"])
        for position, slug in enumerate(spec.instruments, start=1):
            TimepointInstrument.objects.update_or_create(
                timepoint=timepoint,
                instrument=instruments[slug],
                defaults={"order": position},
            )


def _load_consent(study: Study, protocol: Protocol) -> None:
    for spec in protocol.consent:
        form, _ = ConsentForm.objects.update_or_create(
            study=study,
            version=spec.version,
            defaults={
                "title": spec.title,
                "introduction": spec.introduction,
                "is_current": spec.current,
                "requires_reconsent": spec.requires_reconsent,
            },
        )
        form.statements.exclude(code__in=[s.code for s in spec.statements]).delete()
        for order, statement in enumerate(spec.statements, start=1):
            ConsentStatement.objects.update_or_create(
                form=form,
                code=statement.code,
                defaults={
                    "kind": statement.kind,
                    "text": statement.text,
                    "required": statement.required,
                    "order": order,
                },
            )
    versions = [spec.version for spec in protocol.consent]
    study.consent_forms.exclude(version__in=versions).delete()


def _load_criteria(study: Study, protocol: Protocol) -> None:
    wanted = [criterion.code for criterion in protocol.eligibility]
    study.criteria.exclude(code__in=wanted).delete()
    for order, criterion in enumerate(protocol.eligibility, start=1):
        EligibilityCriterion.objects.update_or_create(
            study=study,
            code=criterion.code,
            defaults={
                "text": criterion.text,
                "exclusion_reason": criterion.exclusion_reason,
                "order": order,
            },
        )


def _shared_site_codes(protocol: Protocol) -> Iterator[str]:
    """Site codes start study IDs, which are unique across all studies."""
    codes = [site.code for site in protocol.sites]
    taken = (
        Site.objects.filter(code__in=codes)
        .exclude(study__slug=protocol.slug)
        .select_related("study")
    )
    for site in taken:
        yield (
            f"sites[{site.code}]: the code is used by {site.study.short_name}; "
            "study IDs start with it, so each study needs its own codes"
        )


def _orphaned_by(study: Study, protocol: Protocol) -> Iterator[str]:
    """What the change would take from collected data, each with the reason."""
    from instruments.models import Response

    sites = {site.code for site in protocol.sites}
    for site in study.sites.exclude(code__in=sites):
        if site.screenings.exists() or Participant.objects.filter(site=site).exists():
            yield (
                f"sites: {site.code} has screenings or participants; it can be "
                "made inactive (active: false) but not removed"
            )
    timepoints = {tp.code: tp for tp in protocol.timepoints}
    for timepoint in study.timepoints.all():
        spec = timepoints.get(timepoint.code)
        if spec is None:
            if Visit.objects.filter(timepoint=timepoint).exists():
                yield (f"timepoints: {timepoint.code} has visits; it cannot be removed")
            continue
        for link in timepoint.instruments.select_related("instrument"):
            slug = link.instrument.slug
            if slug in spec.instruments:
                continue
            answered = Response.objects.filter(
                visit__timepoint=timepoint, instrument=link.instrument
            )
            if answered.exists():
                yield (
                    f"timepoints[{timepoint.code}].instruments: {slug} has answers "
                    "there; it cannot be removed"
                )
    versions = {form.version: form for form in protocol.consent}
    for form in study.consent_forms.prefetch_related("statements"):
        if not ConsentRecord.objects.filter(form=form).exists():
            continue
        spec = versions.get(form.version)
        if spec is None:
            yield f"consent: version {form.version} has been signed; keep it"
            continue
        given = [(s.code, s.kind, s.text, s.required) for s in spec.statements]
        signed = [
            (s.code, s.kind, s.text, s.required)
            for s in form.statements.order_by("order")
        ]
        if given != signed:
            yield (
                f"consent[{form.version}]: people have signed this version, so "
                "its statements cannot change; add a new version instead"
            )
    criteria = {criterion.code for criterion in protocol.eligibility}
    removed = set(study.criteria.values_list("code", flat=True)) - criteria
    if removed and ScreeningRecord.objects.filter(study=study).exists():
        yield (
            f"eligibility: {', '.join(sorted(removed))} were used in screenings; "
            "keep them (their wording may change)"
        )


# ---------------------------------------------------------------------------
# Writing back


def _hhmm(value: dt.time) -> str:
    return value.strftime("%H:%M")


def export(study: Study) -> dict:
    """The study's protocol as a document ``from_data`` reads back unchanged."""
    policy = ReminderPolicy.objects.filter(study=study).first() or ReminderPolicy()
    document = {
        "slug": study.slug,
        "name": study.name,
        "short_name": study.short_name,
        "description": study.description,
        "recruitment_target": study.recruitment_target,
        "reference": study.reference,
        "contact_email": study.contact_email,
        "contact_phone": study.contact_phone,
        "time_zone": study.time_zone,
        "study_ids_in_downloads": study.study_ids_in_downloads,
        "coordinators_edit_setup": study.coordinators_edit_setup,
        "sites": [
            {
                "code": site.code,
                "name": site.name,
                "target": site.recruitment_target,
                "time_zone": site.time_zone,
                "active": site.is_active,
            }
            for site in study.sites.order_by("code")
        ],
        "timepoints": [
            {
                "code": tp.code,
                "label": tp.label,
                "day": tp.offset_days,
                "window_before": tp.window_before_days,
                "window_after": tp.window_after_days,
                "instruments": [
                    link.instrument.slug
                    for link in tp.instruments.select_related("instrument").order_by(
                        "order"
                    )
                ],
            }
            for tp in study.timepoints.order_by("order")
        ],
        "consent": [
            {
                "version": form.version,
                "title": form.title,
                "introduction": form.introduction,
                "current": form.is_current,
                "requires_reconsent": form.requires_reconsent,
                "statements": [
                    {
                        "code": s.code,
                        "kind": s.kind,
                        "text": s.text,
                        "required": s.required,
                    }
                    for s in form.statements.order_by("order")
                ],
            }
            for form in study.consent_forms.order_by("version")
        ],
        "eligibility": [
            {
                "code": c.code,
                "text": c.text,
                "exclusion_reason": c.exclusion_reason,
            }
            for c in study.criteria.order_by("order")
        ],
        "reminders": {
            "invite_when_open": policy.invite_when_open,
            "first_reminder_days": policy.first_reminder_days,
            "second_reminder_days": policy.second_reminder_days,
            "final_reminder_days_before_close": policy.final_reminder_days_before_close,
            "send_time": _hhmm(policy.send_time),
            "quiet_from": _hhmm(policy.quiet_from),
            "quiet_until": _hhmm(policy.quiet_until),
        },
        "measures": MeasuresSpec.model_validate(study.measures or {}).model_dump(
            mode="json"
        ),
    }
    return Protocol.model_validate(document).model_dump(mode="json")


def export_yaml(study: Study) -> str:
    return yaml.safe_dump(export(study), sort_keys=False, allow_unicode=True, width=88)


def shipped_files() -> list[Path]:
    return sorted(STUDIES_DIR.glob("*.yaml"))


def load_shipped(slug: str) -> Loaded:
    """Load the shipped protocol file whose study is ``slug``."""
    for path in shipped_files():
        protocol = read_file(path)
        if protocol.slug == slug:
            return load(protocol, note=f"Loaded from {path.name}")
    raise ProtocolError(slug, [f"no file in {STUDIES_DIR.name}/ declares this study"])
