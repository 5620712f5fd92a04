"""Storing definitions as versions: the shipped files, imports, and look-ups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from instruments.definitions import (
    Definition,
    DefinitionError,
    load_file,
    shipped_definition_files,
)
from instruments.models import Instrument, InstrumentVersion


@dataclass(frozen=True)
class Registered:
    version: InstrumentVersion
    created: bool
    note: str = ""


@transaction.atomic
def register(definition: Definition, *, source: str) -> Registered:
    """Store ``definition`` as a new version unless the latest already matches it.

    Changed content always makes a new version, so responses collected with an
    earlier one keep pointing at exactly what the patient saw.
    """
    instrument, _ = Instrument.objects.select_for_update().get_or_create(
        slug=definition.slug,
        defaults={"title": definition.title, "respondent": definition.respondent},
    )
    latest = instrument.versions.order_by("-number").first()
    if latest is not None and latest.checksum == definition.checksum:
        return Registered(latest, created=False)
    number = definition.version
    note = ""
    if latest is not None and number <= latest.number:
        number = latest.number + 1
        note = (
            f"{definition.slug}: the content changed but the version stayed at "
            f"{definition.version}; stored as version {number}"
        )
    stored = definition.model_copy(update={"version": number})
    version = InstrumentVersion.objects.create(
        instrument=instrument,
        number=number,
        definition=stored.to_data(),
        checksum=definition.checksum,
        source=source[:200],
    )
    Instrument.objects.filter(pk=instrument.pk).update(
        title=definition.title, respondent=definition.respondent
    )
    return Registered(version, created=True, note=note)


def load_definitions(paths: list[Path]) -> list[Definition]:
    """Read every file; if any is invalid, raise one error listing all of them."""
    definitions, problems = [], []
    for path in paths:
        try:
            definitions.append(load_file(path))
        except DefinitionError as exc:
            problems.extend(f"{exc.source}: {problem}" for problem in exc.problems)
    if problems:
        raise DefinitionError("instrument definitions", problems)
    slugs = [definition.slug for definition in definitions]
    duplicated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if duplicated:
        raise DefinitionError(
            "instrument definitions",
            [f"slug {slug!r} is defined by more than one file" for slug in duplicated],
        )
    return definitions


@transaction.atomic
def load_shipped() -> list[Registered]:
    paths = shipped_definition_files()
    definitions = load_definitions(paths)
    return [
        register(definition, source=f"file:{path.name}")
        for path, definition in zip(paths, definitions, strict=True)
    ]


def latest_version(slug: str) -> InstrumentVersion:
    return (
        InstrumentVersion.objects.select_related("instrument")
        .filter(instrument__slug=slug)
        .order_by("-number")[:1]
        .get()
    )


def library() -> dict[str, Definition]:
    """Every instrument a study may use, by slug: the latest stored version of
    each, and the shipped files not yet stored."""
    found = latest_definitions()
    for definition in load_definitions(shipped_definition_files()):
        found.setdefault(definition.slug, definition)
    return found


def shipped_and_stored_slugs() -> set[str]:
    return set(library())


def latest_definitions(slugs=None) -> dict[str, Definition]:
    """The latest stored definition of each instrument (of ``slugs`` if given),
    by slug, in one query."""
    versions = InstrumentVersion.objects.select_related("instrument")
    if slugs is not None:
        versions = versions.filter(instrument__slug__in=list(slugs))
    latest: dict[str, Definition] = {}
    for version in versions.order_by("instrument_id", "number"):
        latest[version.instrument.slug] = version.parsed
    return latest
