"""The items-layout CSV export of a million item responses, beside PostgreSQL's COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/studyportal_bench \
        .venv/bin/python bench/export_csv.py [--items 1000000]

On a throwaway test database, enrols synthetic participants (answers from
``studyportal.synthetic``, both visits submitted, written with bulk_create)
until the items layout without scores has at least ``--items`` rows. Then
runs each measurement in a fresh process, so that its peak memory is its own:

- export: ``analysis.exports.write`` of that layout to a CSV file;
- traced: the same under tracemalloc, for the peak of Python allocations
  (tracing slows it down, so its time is not the export's);
- copy: ``COPY (SELECT ...) TO STDOUT`` of the same answers through
  psycopg2's ``copy_expert`` to a file. COPY neither expands tick boxes into
  one row per option nor pseudonymises, labels or neutralises anything, so it
  is the floor: the database's own cost of reading and writing those rows.

Prints rows, bytes, seconds, how far the peak resident set rose above the
resident set at the start of the work (Linux: the peak is reset through
/proc/self/clear_refs first), and the export's time as a multiple of COPY's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import throwaway_database, write_synthetic  # noqa: E402

BATCH = 1000
SEED = 2018
STUDY_SLUG = "back-pain-partnership"


def build(study, target: int, user) -> int:
    """Participants with both visits answered, until ``target`` item rows."""
    from django.db import connection
    from django.utils import timezone

    from analysis import exports
    from studyportal import synthetic

    rng = random.Random(SEED)
    today = timezone.localdate()
    # More than enough; the loop stops once the target is reached.
    upper = target // 40 + BATCH
    enrolled_on = [
        today - dt.timedelta(days=rng.randint(120, 730)) for _ in range(upper)
    ]
    people = synthetic.simulate(upper, seed=SEED, enrolled_on=enrolled_on)
    request = exports.ExportRequest(layout="items", scores=False)
    made, rows = 0, 0
    while rows < target:
        batch = [next(people) for _ in range(BATCH)]
        write_synthetic(study, batch, user=user, rng=rng, first_code=made)
        made += len(batch)
        # Fresh statistics, or the planner takes the growing tables for empty.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        rows = exports.prepare(study, request).count()
        print(f"  {made:,} participants, {rows:,} item rows", flush=True)
    return rows


def copy_sql(study) -> tuple[str, list]:
    """The answers the items layout exports, straight out of the database."""
    from analysis.exports import exported_items
    from instruments.models import InstrumentVersion

    left_out = set()
    for version in InstrumentVersion.objects.all():
        kept = {item.name for item in exported_items(version.parsed)}
        left_out |= {item.name for item in version.parsed.items()} - kept
    sql = """
        COPY (
            SELECT participant.code, site.code, timepoint.code,
                   (response.submitted_at AT TIME ZONE %s)::date
                       - participant.enrolled_on,
                   instrument.slug, version.number, answer.key, 'item',
                   answer.value #>> '{}'
            FROM instruments_response AS response
            JOIN participants_visit AS visit ON visit.id = response.visit_id
            JOIN participants_participant AS participant
                ON participant.id = visit.participant_id
            JOIN participants_site AS site ON site.id = participant.site_id
            JOIN participants_timepoint AS timepoint
                ON timepoint.id = visit.timepoint_id
            JOIN instruments_instrument AS instrument
                ON instrument.id = response.instrument_id
            JOIN instruments_instrumentversion AS version
                ON version.id = response.instrument_version_id
            CROSS JOIN LATERAL jsonb_each(response.answers) AS answer
            WHERE response.status = 'submitted' AND participant.study_id = %s
              AND NOT (answer.key = ANY(%s))
              AND answer.value NOT IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb)
            ORDER BY participant.code, timepoint."order", instrument.slug
        ) TO STDOUT WITH (FORMAT csv, HEADER)
    """
    from django.conf import settings

    return sql, [settings.TIME_ZONE, study.pk, sorted(left_out)]


def child(kind: str, out: Path) -> dict:
    """One measurement, in this (fresh) process."""
    import tracemalloc

    from django.db import connection

    from analysis import export_formats, exports  # noqa: F401 (loaded before measuring)
    from participants.models import Study

    study = Study.objects.get(slug=STUDY_SLUG)
    sql, params = copy_sql(study)
    connection.ensure_connection()
    reset_peak()
    before = memory_kib("VmRSS")
    if kind == "traced":
        tracemalloc.start()
    started = time.perf_counter()
    if kind in ("export", "traced"):
        export = exports.prepare(
            study, exports.ExportRequest(layout="items", scores=False)
        )
        with out.open("wb") as file:
            result = exports.write(export, file)
        rows, size = result.rows, result.size
    else:
        raw = connection.connection.cursor()
        with out.open("wb") as file:
            raw.copy_expert(raw.mogrify(sql, params).decode(), file)
        with out.open("rb") as file:
            rows = sum(1 for _ in file) - 1
        size = out.stat().st_size
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] if kind == "traced" else None
    after = memory_kib("VmHWM")
    return {
        "kind": kind,
        "rows": rows,
        "bytes": size,
        "seconds": seconds,
        "rss_growth_mib": max(after - before, 0) / 1024,
        "traced_peak_mib": traced / 2**20 if traced is not None else None,
    }


def memory_kib(field: str) -> int:
    """VmRSS (resident now) or VmHWM (peak resident) from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"No {field} in /proc/self/status; this needs Linux.")


def reset_peak() -> None:
    """Start the peak resident set afresh (Linux 4.0+), so that the imports'
    peak does not hide, or stand in for, the work's."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def run_child(kind: str, database_url: str, folder: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--out", str(folder / kind)],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(completed.stderr)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["export", "traced", "copy"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.out)))
        return
    with throwaway_database():
        measure(args.items)


def measure(target: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from studyportal import demo

    study = demo.seed_reference_study()
    user = get_user_model().objects.create_user("bench-clinic")
    started = time.perf_counter()
    rows = build(study, target, user)
    print(f"built {rows:,} item rows in {time.perf_counter() - started:.0f} s")
    settings = connection.settings_dict
    database_url = (
        f"postgres://{settings['USER']}:{settings['PASSWORD'] or ''}@"
        f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/"
        f"{settings['NAME']}"
    )
    # The children read what this process wrote.
    connection.close()
    with tempfile.TemporaryDirectory(prefix="studyportal-bench-") as folder:
        results = {
            kind: run_child(kind, database_url, Path(folder))
            for kind in ("copy", "export", "traced")
        }
    export, copy, traced = results["export"], results["copy"], results["traced"]
    print()
    print(f"{'':24} {'rows':>10} {'MB':>8} {'seconds':>8} {'peak RSS +MiB':>14}")
    for name, result in (("PostgreSQL COPY", copy), ("exports.write (CSV)", export)):
        print(
            f"{name:24} {result['rows']:>10,} {result['bytes'] / 1e6:>8.1f} "
            f"{result['seconds']:>8.2f} {result['rss_growth_mib']:>14.1f}"
        )
    print(
        f"export / COPY time: {export['seconds'] / copy['seconds']:.1f}x; "
        f"export rows per second: {export['rows'] / export['seconds']:,.0f}; "
        f"peak traced Python memory of the export: {traced['traced_peak_mib']:.1f} MiB"
    )


if __name__ == "__main__":
    main()
