"""The ``--study`` option the analysis commands share."""

from __future__ import annotations

from argparse import ArgumentParser

from django.core.management.base import CommandError

from participants.models import Study


def add_study_option(parser: ArgumentParser) -> None:
    parser.add_argument("--study", help="Study slug (default: the only study)")


def study_from_option(slug: str | None) -> Study:
    """The study ``--study`` names, or the only one when it is not given."""
    studies = Study.objects.all()
    if slug:
        studies = studies.filter(slug=slug)
    if studies.count() != 1:
        raise CommandError(
            "Name the study with --study SLUG."
            if studies.exists()
            else "No such study; run seed_demo or set one up in the admin."
        )
    return studies.get()
