"""End-to-end time of the reference analysis against its statsmodels fits alone.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/studyportal_bench \
        .venv/bin/python bench/analysis_run.py [--sizes 147 10000 100000]

For each size, on a throwaway test database: enrols that many synthetic
participants drawn from ``studyportal.synthetic`` (every baseline submitted,
70% of follow-ups), with the scoring engine's scores, written with
bulk_create. Then, in the same process:

- end to end: ``request_run`` of the ``reference`` preset, then ``perform`` as
  the worker does: the dataset built from PostgreSQL, pseudonymised, the ten
  hierarchical models, the sample description (Table 1, correlations,
  completers, five MixedLMs), everything stored on the run row;
- fits alone: the same models and description on the already prepared frame,
  with no database.

Prints the seconds of each and their ratio, plus the parts: building the
dataset, the ten regressions alone and the description alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import throwaway_database, write_synthetic  # noqa: E402

BATCH = 2000
FOLLOWED_UP = 0.7
SEED = 147


def build(study, size: int, user) -> None:
    """``size`` participants enrolled through the past two years, with answers."""
    from django.utils import timezone

    from studyportal import synthetic

    rng = random.Random(SEED)
    today = timezone.localdate()
    enrolled_on = [
        today - dt.timedelta(days=rng.randint(120, 730)) for _ in range(size)
    ]
    people = synthetic.simulate(size, seed=SEED, enrolled_on=enrolled_on)
    for first in range(0, size, BATCH):
        batch = [next(people) for _ in range(min(BATCH, size - first))]
        write_synthetic(
            study,
            batch,
            user=user,
            rng=rng,
            first_code=first,
            followed_up=FOLLOWED_UP,
        )


def measure(size: int) -> dict[str, float]:
    from unittest import mock

    from django.contrib.auth import get_user_model

    from analysis import runs
    from analysis.dataset import build_dataset
    from analysis.models import AnalysisRun, RunStatus
    from analysis.specification import PRESETS, run_models
    from studyportal import demo

    study = demo.seed_reference_study()
    user = get_user_model().objects.create_user("bench-investigator")
    started = time.perf_counter()
    build(study, size, user)
    print(f"  {size:,} participants written in {time.perf_counter() - started:.1f} s")

    with mock.patch("analysis.tasks.perform_run.delay"):
        started = time.perf_counter()
        run = runs.request_run(study=study, user=user, preset="reference")
        runs.perform(run.pk)
        end_to_end = time.perf_counter() - started
    run = AnalysisRun.objects.get(pk=run.pk)
    assert run.status == RunStatus.DONE, run.error
    fitted = [model for model in run.results if "error" not in model]
    assert len(fitted) == len(PRESETS["reference"]()), run.results

    started = time.perf_counter()
    frame = runs.pseudonymise(build_dataset(study).frame)
    dataset = time.perf_counter() - started
    specs = PRESETS["reference"]()
    started = time.perf_counter()
    run_models(frame, specs)
    regressions = time.perf_counter() - started
    started = time.perf_counter()
    runs.describe(frame)
    description = time.perf_counter() - started
    return {
        "end_to_end": end_to_end,
        "fits": regressions + description,
        "dataset": dataset,
        "regressions": regressions,
        "description": description,
        "n": fitted[0]["n"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[147, 10000, 100000])
    options = parser.parse_args()
    # Convergence notes from MixedLM on synthetic data are not the subject here.
    warnings.simplefilter("ignore")
    rows = []
    for size in options.sizes:
        print(f"{size:,} participants:")
        with throwaway_database():
            rows.append((size, measure(size)))
    print()
    print(
        f"{'participants':>12} {'end to end s':>13} {'fits alone s':>13} "
        f"{'ratio':>6} {'dataset s':>10} {'regressions s':>14} {'description s':>14}"
    )
    for size, r in rows:
        print(
            f"{size:>12,} {r['end_to_end']:>13.2f} {r['fits']:>13.2f} "
            f"{r['end_to_end'] / r['fits']:>6.2f} {r['dataset']:>10.2f} "
            f"{r['regressions']:>14.2f} {r['description']:>14.2f}"
        )


if __name__ == "__main__":
    main()
