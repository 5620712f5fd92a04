import datetime as dt
import hashlib
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pyreadstat
import pytest
from django.core.management import call_command
from django.utils import timezone

from analysis import export_formats, exports
from analysis.dataset import analysed_items
from analysis.exports import (
    NOT_ANSWERED,
    NOT_ASKED,
    SKIPPED,
    VISIT_MISSED,
    VISIT_OPEN,
    ExportRequest,
    export_pseudonym,
)
from analysis.models import Download
from analysis.runs import pseudonym as analysis_pseudonym
from instruments import catalogue
from instruments.answers import resolve
from instruments.definitions import from_data
from instruments.models import Response, ResponseStatus
from instruments.responses import scores_for
from participants import withdrawal
from participants.models import (
    Participant,
    ParticipantContact,
    ParticipantStatus,
    TimepointInstrument,
    Visit,
    VisitStatus,
    WithdrawalReason,
)

FORMULA_STARTS = ("=", "+", "-", "@")
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def export_bytes(study, **options) -> bytes:
    out = io.BytesIO()
    exports.write(exports.prepare(study, ExportRequest(**options)), out)
    return out.getvalue()


def read_csv(data: bytes) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(data), keep_default_na=False, na_values=[""], encoding="utf-8-sig"
    )


def included(study):
    return Participant.objects.filter(study=study).exclude(
        status=ParticipantStatus.WITHDRAWN, keep_data=False
    )


def submitted(study, slug, timepoint):
    return Response.objects.filter(
        visit__participant__study=study,
        instrument__slug=slug,
        visit__timepoint__code=timepoint,
        status=ResponseStatus.SUBMITTED,
    ).select_related("visit__participant")


def by_pseudonym(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("pseudonym")


# ---------------------------------------------------------------------------
# A small questionnaire with everything awkward: formulas in its labels,
# branching, a date, free text, a tick box with letter codes, two versions.

ODD_V1 = {
    "slug": "odd_items",
    "title": "=Odd questionnaire",
    "sections": [
        {
            "title": "Odd",
            "items": [
                {
                    "name": "mood",
                    "type": "radio",
                    "label": '=HYPERLINK("http://example.invalid","mood")',
                    "choices": [
                        {"code": 1, "label": "=1+1"},
                        {"code": 2, "label": "@SUM(A1)"},
                        {"code": 3, "label": "+calm"},
                        {"code": 4, "label": "-low"},
                    ],
                },
                {"name": "had_flare", "type": "yesno", "label": "A flare-up?"},
                {
                    "name": "flare_date",
                    "type": "date",
                    "label": "When did it start?",
                    "branching": "[had_flare] = '1'",
                },
                {
                    "name": "flare_pain",
                    "type": "rating",
                    "label": "How bad was it?",
                    "min": 0,
                    "max": 10,
                    "anchors": {"low": "No pain", "high": "Worst pain"},
                    "branching": "[had_flare] = '1'",
                },
                {
                    "name": "helped",
                    "type": "checkbox",
                    "label": "What helped?",
                    "choices": [
                        {"code": "a", "label": "Rest"},
                        {"code": "b", "label": "Walking"},
                    ],
                },
                {"name": "steps", "type": "integer", "label": "Steps a day"},
                {"name": "comment", "type": "notes", "label": "Anything else?"},
                {"name": "callback", "type": "text", "label": "Phone to call back"},
            ],
        }
    ],
    "scores": [
        {
            "name": "flare_score",
            "label": "Flare pain",
            "method": "sum",
            "items": ["flare_pain"],
        }
    ],
}


def odd_v2() -> dict:
    """Version 2 drops ``steps`` and asks for hours of sleep."""
    data = {**ODD_V1, "version": 2}
    items = [item for item in ODD_V1["sections"][0]["items"] if item["name"] != "steps"]
    items.append({"name": "sleep_hours", "type": "decimal", "label": "Hours of sleep"})
    data["sections"] = [{"title": "Odd", "items": items}]
    return data


def answer(visit, version, answers: dict) -> Response:
    definition = version.parsed
    resolved = resolve(definition, answers, today=timezone.localdate()).answers
    return Response.objects.create(
        visit=visit,
        instrument=version.instrument,
        instrument_version=version,
        answers=resolved,
        scores=scores_for(definition, resolved),
        status=ResponseStatus.SUBMITTED,
        mode="web",
        submitted_at=timezone.now(),
    )


def add_odd_items(demo_study) -> dict:
    """odd_items at baseline: answered by three participants, not by a fourth."""
    first = catalogue.register(from_data(ODD_V1, source="test"), source="test").version
    baseline = demo_study.timepoints.get(code="baseline")
    TimepointInstrument.objects.create(
        timepoint=baseline, instrument=first.instrument, order=20
    )
    people = list(
        included(demo_study).filter(status=ParticipantStatus.ACTIVE).order_by("code")
    )[:4]
    visits = [p.visits.get(timepoint=baseline) for p in people]
    flare_on = people[0].enrolled_on + dt.timedelta(days=10)
    answer(
        visits[0],
        first,
        {
            "mood": "1",
            "had_flare": "1",
            "flare_date": flare_on.isoformat(),
            "flare_pain": 7,
            "helped": ["a"],
            "comment": "Call Demo Participant 001 on her mobile",
            "callback": "+447700900101",
        },
    )
    answer(visits[1], first, {"mood": "2", "had_flare": "0", "steps": 4000})
    second = catalogue.register(from_data(odd_v2(), source="test"), source="test")
    answer(
        visits[2], second.version, {"mood": "3", "had_flare": "0", "sleep_hours": 6.5}
    )
    return {"people": people, "first": first, "second": second.version}


@pytest.fixture
def odd(demo_study, db):
    return add_odd_items(demo_study)


# ---------------------------------------------------------------------------
# The request


def test_request_round_trips_through_a_dict():
    request = ExportRequest(
        layout="long",
        fmt="sav",
        instruments=["pain_severity"],
        timepoints=("followup",),
        dates="shifted",
        age_bands=True,
    )

    assert request.instruments == ("pain_severity",)
    assert ExportRequest.from_dict(request.as_dict()) == request
    assert request.as_dict()["instruments"] == ["pain_severity"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"layout": "tall"}, "layout must be one of wide, long, items"),
        ({"fmt": "pdf"}, "fmt must be one of"),
        ({"dates": "real"}, "dates must be one of days, shifted"),
        ({"colour": "red"}, "Unknown export option(s): colour"),
        ({"items": False, "scores": False}, "Choose item responses, scores or both"),
        ({"age_bands": "yes"}, "age_bands must be true or false"),
        ({"instruments": "pain_severity"}, "instruments must be a list"),
        ({"timepoints": None}, "timepoints must be a list"),
    ],
)
def test_request_rejects_what_it_does_not_know(data, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ExportRequest.from_dict(data)


def test_prepare_names_an_unknown_instrument_or_timepoint(demo_study, db):
    with pytest.raises(ValueError, match="no questionnaire nonsense"):
        exports.prepare(demo_study, ExportRequest(instruments=("nonsense",)))
    with pytest.raises(ValueError, match="no timepoint week_6"):
        exports.prepare(demo_study, ExportRequest(timepoints=("week_6",)))


def test_file_name_has_study_layout_date_and_extension(demo_study, db):
    request = ExportRequest(layout="long", fmt="sav")
    name = exports.file_name(demo_study, request, today=dt.date(2026, 12, 1))
    assert name == "back-pain-partnership-long-2026-12-01.sav"
    bundle = ExportRequest(fmt="zip")
    assert exports.file_name(demo_study, bundle).endswith(".zip")
    assert set(exports.CONTENT_TYPES) == set(exports.FORMATS)


# ---------------------------------------------------------------------------
# Wide: values against the database


def test_wide_csv_has_one_row_per_participant_with_their_scores_and_answers(
    demo_study, db
):
    frame = by_pseudonym(read_csv(export_bytes(demo_study)))

    assert len(frame) == included(demo_study).count()
    assert frame.index.is_unique
    checked = 0
    for response in submitted(demo_study, "self_management", "baseline")[:5]:
        row = frame.loc[export_pseudonym(response.visit.participant.code)]
        score = response.scores["selfmgmt_total"]["value"]
        if score is None:
            assert row["baseline_selfmgmt_total"] == NOT_ANSWERED.code
        else:
            assert row["baseline_selfmgmt_total"] == pytest.approx(score)
        for name in ("selfmgmt_01", "selfmgmt_12"):
            given = response.answers.get(name)
            expected = NOT_ANSWERED.code if given is None else int(given)
            assert row[f"baseline_{name}"] == expected
        checked += 1
    for response in submitted(demo_study, "baseline_characteristics", "baseline")[:5]:
        row = frame.loc[export_pseudonym(response.visit.participant.code)]
        assert row["age"] == response.answers["age"]
        assert row["sex"] == int(response.answers["sex"])
        ticked = response.answers.get("treatments", [])
        assert row["treatments_1"] == int("1" in ticked)
        checked += 1
    assert checked == 10


def test_wide_marks_a_follow_up_that_never_came_as_visit_missed(demo_study, db):
    frame = by_pseudonym(read_csv(export_bytes(demo_study)))
    missed = Visit.objects.filter(
        participant__in=included(demo_study),
        timepoint__code="followup",
        status=VisitStatus.MISSED,
    ).select_related("participant")

    assert missed.exists()
    for visit in missed[:5]:
        row = frame.loc[export_pseudonym(visit.participant.code)]
        assert row["followup_visit"] == "missed"
        assert row["followup_day"] == VISIT_MISSED.code
        assert row["followup_selfmgmt_total"] == VISIT_MISSED.code
        assert row["followup_pain_worst"] == VISIT_MISSED.code


def test_wide_leaves_out_those_who_took_their_data_back(demo_study, db):
    leaving = demo_study.participants.filter(status=ParticipantStatus.ACTIVE).first()
    withdrawal.withdraw(
        leaving,
        withdrawn_on=timezone.localdate(),
        reason=WithdrawalReason.TOO_BURDENSOME,
        keep_data=False,
        today=timezone.localdate(),
    )

    frame = read_csv(export_bytes(demo_study))

    assert export_pseudonym(leaving.code) not in set(frame["pseudonym"])
    assert len(frame) == demo_study.participants.count() - 1


def test_missing_values_say_why(demo_study, odd):
    first, second, third, fourth = (export_pseudonym(p.code) for p in odd["people"])
    frame = by_pseudonym(read_csv(export_bytes(demo_study, instruments=("odd_items",))))

    assert frame.loc[first, "baseline_mood"] == 1
    assert frame.loc[first, "baseline_flare_pain"] == 7
    assert frame.loc[first, "baseline_flare_date"] == 10
    assert frame.loc[first, "baseline_steps"] == NOT_ANSWERED.code
    assert frame.loc[second, "baseline_steps"] == 4000
    assert frame.loc[second, "baseline_flare_pain"] == SKIPPED.code
    assert frame.loc[second, "baseline_flare_date"] == SKIPPED.code
    assert frame.loc[second, "baseline_flare_score"] == NOT_ANSWERED.code
    # Version 2 has no steps, version 1 no hours of sleep.
    assert frame.loc[third, "baseline_steps"] == NOT_ASKED.code
    assert frame.loc[third, "baseline_sleep_hours"] == 6.5
    assert frame.loc[first, "baseline_sleep_hours"] == NOT_ASKED.code
    assert frame.loc[fourth, "baseline_mood"] == VISIT_MISSED.code
    # A tick box with letter codes: one 0/1 variable per option.
    assert frame.loc[first, "baseline_helped_a"] == 1
    assert frame.loc[first, "baseline_helped_b"] == 0
    assert frame.loc[second, "baseline_helped_a"] == 0
    # Free text never becomes a variable.
    assert not [c for c in frame.columns if "comment" in c or "callback" in c]


def test_long_layout_says_not_asked_where_a_timepoint_lacks_the_instrument(
    demo_study, odd
):
    first = export_pseudonym(odd["people"][0].code)
    frame = read_csv(
        export_bytes(
            demo_study, layout="long", instruments=("odd_items", "partnership")
        )
    )
    rows = frame[frame["pseudonym"] == first].set_index("timepoint")

    assert rows.loc["baseline", "mood"] == 1
    assert rows.loc["followup", "mood"] == NOT_ASKED.code
    assert rows.loc["followup", "partner_01"] != NOT_ASKED.code


# ---------------------------------------------------------------------------
# Row counts of the long and items layouts


def test_long_layout_has_one_row_per_participant_and_visit(demo_study, db):
    export = exports.prepare(demo_study, ExportRequest(layout="long"))
    expected = Visit.objects.filter(participant__in=included(demo_study)).count()

    frame = read_csv(export_bytes(demo_study, layout="long"))

    assert export.count() == expected == len(frame)
    assert set(frame["timepoint"]) == {"baseline", "followup"}
    assert not frame.duplicated(["pseudonym", "timepoint"]).any()


def expected_item_rows(study) -> int:
    """Answered analysed items (a tick box counts once per option) and scores."""
    rows = 0
    responses = Response.objects.filter(
        visit__participant__in=included(study), status=ResponseStatus.SUBMITTED
    ).select_related("instrument_version")
    for response in responses:
        definition = response.instrument_version.parsed
        for item in analysed_items(definition):
            if response.answers.get(item.name) in (None, "", []):
                continue
            rows += len(item.choice_list) if item.type == "checkbox" else 1
        rows += sum(
            1 for result in response.scores.values() if result["value"] is not None
        )
    return rows


def test_items_layout_has_one_row_per_answered_item_and_score(demo_study, db):
    export = exports.prepare(demo_study, ExportRequest(layout="items"))

    frame = read_csv(export_bytes(demo_study, layout="items"))

    assert export.count() == expected_item_rows(demo_study) == len(frame)
    assert set(frame["kind"]) == {"item", "score"}
    response = submitted(demo_study, "partnership", "followup").first()
    rows = frame[
        (frame["pseudonym"] == export_pseudonym(response.visit.participant.code))
        & (frame["timepoint"] == "followup")
        & (frame["variable"] == "partner_03")
    ]
    assert rows["value"].tolist() == [int(response.answers["partner_03"])]
    assert rows["value_label"].tolist() == [
        response.instrument_version.parsed.item("partner_03").choice_label(
            response.answers["partner_03"]
        )
    ]


def test_items_layout_counts_without_scores_or_items(demo_study, db):
    for options in ({"items": False}, {"scores": False}):
        export = exports.prepare(demo_study, ExportRequest(layout="items", **options))
        assert export.count() == sum(1 for _ in export.rows())
        kinds = {row[7] for row in export.rows()}
        assert kinds == ({"score"} if options.get("items") is False else {"item"})


# ---------------------------------------------------------------------------
# Every format, read back


def test_xlsx_holds_the_same_values_as_the_csv(demo_study, db):
    csv = read_csv(export_bytes(demo_study))
    sheet = pd.read_excel(io.BytesIO(export_bytes(demo_study, fmt="xlsx")), "data")

    pd.testing.assert_frame_equal(
        csv, sheet, check_dtype=False, check_column_type=False
    )
    book = openpyxl.load_workbook(io.BytesIO(export_bytes(demo_study, fmt="xlsx")))
    assert book.sheetnames == ["data", "codebook"]
    codes = [
        cell
        for row in book["data"].iter_rows(min_row=2)
        for cell in row
        if cell.value == VISIT_MISSED.code
    ]
    assert codes and all(cell.data_type == "n" for cell in codes)


def read_stat(fmt: str, data: bytes, tmp_path: Path, **options):
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(data)
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    return reader(str(path), **options)


def test_spss_file_has_labels_and_declared_missing_values(demo_study, db, tmp_path):
    csv = read_csv(export_bytes(demo_study))
    data = export_bytes(demo_study, fmt="sav")
    variables = {
        v.name: v for v in exports.prepare(demo_study, ExportRequest()).variables
    }

    frame, meta = read_stat("sav", data, tmp_path, user_missing=True)

    assert list(frame.columns) == list(csv.columns)
    numeric = [name for name, v in variables.items() if v.type == "numeric"]
    pd.testing.assert_frame_equal(
        frame[numeric], csv[numeric].astype("float64"), check_dtype=False
    )
    assert list(frame["pseudonym"]) == list(csv["pseudonym"])
    assert meta.column_names_to_labels["baseline_selfmgmt_total"] == (
        variables["baseline_selfmgmt_total"].label
    )
    assert "Self-management" in meta.column_names_to_labels["baseline_selfmgmt_total"]
    assert meta.variable_value_labels["sex"] == {
        1.0: "Female",
        2.0: "Male",
        3.0: "Other or prefers to self-describe",
        4.0: "Prefers not to say",
        float(NOT_ANSWERED.code): "not answered",
        float(SKIPPED.code): "skipped by branching",
        float(NOT_ASKED.code): "not asked",
        float(VISIT_MISSED.code): "visit missed",
        float(VISIT_OPEN.code): "visit still open",
    }
    # Four codes or more make a range; SPSS takes up to three as single values.
    assert meta.missing_ranges["followup_pain_worst"] == [
        {"lo": float(NOT_ANSWERED.code), "hi": float(VISIT_OPEN.code)}
    ]
    assert meta.missing_ranges["followup_selfmgmt_total"] == [
        {"lo": float(NOT_ANSWERED.code), "hi": float(VISIT_OPEN.code)}
    ]
    assert meta.missing_ranges["followup_day"] == [
        {"lo": float(code), "hi": float(code)}
        for code in (VISIT_MISSED.code, VISIT_OPEN.code)
    ]
    # Read the usual way, SPSS's missing values are missing.
    plain, _ = read_stat("sav", data, tmp_path)
    missed = csv["followup_selfmgmt_total"] == VISIT_MISSED.code
    assert missed.any() and plain.loc[missed, "followup_selfmgmt_total"].isna().all()


def test_stata_file_has_labels_and_extended_missing_values(demo_study, db, tmp_path):
    csv = read_csv(export_bytes(demo_study))
    data = export_bytes(demo_study, fmt="dta")
    variables = {
        v.name: v for v in exports.prepare(demo_study, ExportRequest()).variables
    }

    frame, meta = read_stat("dta", data, tmp_path, user_missing=True)

    assert list(frame.columns) == list(csv.columns)
    letters = {m.code: m.stata for m in exports.MISSING_CODES}
    for name in ("followup_selfmgmt_total", "baseline_partner_05", "sex"):
        expected = [letters.get(value, value) for value in csv[name]]
        assert [
            value if isinstance(value, str) else pytest.approx(value)
            for value in frame[name]
        ] == expected
    assert meta.variable_value_labels["followup_selfmgmt_total"] == {
        "a": "not answered",
        "c": "not asked",
        "d": "visit missed",
        "e": "visit still open",
    }
    assert meta.variable_value_labels["sex"][1] == "Female"
    assert meta.variable_value_labels["sex"]["d"] == "visit missed"
    for name in ("baseline_partnership_confidence", "followup_selfmgmt_total"):
        label = variables[name].label
        assert meta.column_names_to_labels[name] == (
            label if len(label) <= 80 else label[:77] + "..."
        )
    # A second, independent reader: value label sets are named after variables.
    with pd.io.stata.StataReader(io.BytesIO(data)) as reader:
        stata = reader.read(convert_categoricals=False, convert_missing=True)
        labels = reader.value_labels()
        names = reader.variable_labels()
    assert list(stata.columns) == list(csv.columns)
    # pandas shows a label of .d by Stata's number for it in a label table.
    stata_missing_d = 2_147_483_621 + 4
    assert labels["followup_partnership_confidence"][stata_missing_d] == "visit missed"
    assert labels["sex"][2] == "Male"
    assert (
        names["followup_selfmgmt_total"]
        == (meta.column_names_to_labels["followup_selfmgmt_total"])
    )
    missed = csv["followup_selfmgmt_total"] == VISIT_MISSED.code
    assert stata.loc[missed, "followup_selfmgmt_total"].astype(
        str
    ).unique().tolist() == [".d"]


def test_shifted_dates_read_back_as_dates_in_every_format(demo_study, db, tmp_path):
    options = {"dates": "shifted"}
    csv = read_csv(export_bytes(demo_study, **options))
    expected = pd.to_datetime(csv["enrolled_on"])
    sheet = pd.read_excel(
        io.BytesIO(export_bytes(demo_study, fmt="xlsx", **options)), "data"
    )
    assert list(pd.to_datetime(sheet["enrolled_on"])) == list(expected)
    for fmt in ("sav", "dta"):
        frame, meta = read_stat(
            fmt, export_bytes(demo_study, fmt=fmt, **options), tmp_path
        )
        assert list(pd.to_datetime(frame["enrolled_on"])) == list(expected)


# ---------------------------------------------------------------------------
# De-identification


def identifying_strings(study) -> set[str]:
    strings = set()
    for contact in ParticipantContact.objects.filter(participant__study=study):
        strings |= {contact.full_name, contact.email, contact.mobile}
        if contact.mobile:
            strings.add(contact.mobile.removeprefix("+"))
    strings |= set(study.participants.values_list("code", flat=True))
    return {text for text in strings if text}


def readable_parts(fmt: str, data: bytes) -> list[bytes]:
    if fmt in ("xlsx", "zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [data] + [archive.read(name) for name in archive.namelist()]
    return [data]


@pytest.mark.parametrize("fmt", list(exports.FORMATS))
@pytest.mark.parametrize("layout", list(exports.LAYOUTS))
def test_no_name_email_phone_or_study_id_appears_in_any_file(
    demo_study, odd, fmt, layout
):
    secrets = identifying_strings(demo_study) | {
        "Demo Participant 001",
        "+447700900101",
    }
    born = {
        contact.date_of_birth.isoformat()
        for contact in ParticipantContact.objects.filter(participant__study=demo_study)
        if contact.date_of_birth
    }
    free_text = {"TENS machine", "Chiropractic", "Massage", "Pilates"}

    data = export_bytes(demo_study, fmt=fmt, layout=layout)

    for part in readable_parts(fmt, data):
        for text in secrets | born | free_text:
            for encoded in {text.encode("utf-8"), text.encode("utf-16-le")}:
                assert encoded not in part, text


def test_free_text_is_in_the_database_the_files_leave_it_out(demo_study, odd):
    # The check above is only worth something if the answers were there.
    assert Response.objects.filter(answers__treatments_other__isnull=False).exists()
    assert Response.objects.filter(answers__comment__isnull=False).exists()


def allow_study_ids(study) -> None:
    study.study_ids_in_downloads = True
    study.save(update_fields=["study_ids_in_downloads"])


def test_study_ids_only_when_asked(demo_study, db):
    allow_study_ids(demo_study)
    frame = read_csv(export_bytes(demo_study, pseudonym=False))

    assert "pseudonym" not in frame.columns
    assert set(frame["study_id"]) == set(
        included(demo_study).values_list("code", flat=True)
    )


def test_i1_study_ids_never_leave_a_study_that_does_not_allow_them(
    demo_study, db, tmp_path
):
    from django.core.management.base import CommandError

    assert not demo_study.study_ids_in_downloads
    with pytest.raises(ValueError, match="export pseudonym only"):
        export_bytes(demo_study, pseudonym=False)
    with pytest.raises(CommandError, match="export pseudonym only"):
        call_command(
            "export_dataset",
            "--study",
            demo_study.slug,
            "--format",
            "csv",
            "--out",
            str(tmp_path / "out.csv"),
            "--study-ids",
            stdout=io.StringIO(),
        )
    assert not (tmp_path / "out.csv").exists()


def test_export_pseudonym_is_stable_and_not_the_analysis_pseudonym(demo_study, db):
    first = read_csv(export_bytes(demo_study))["pseudonym"]
    second = read_csv(export_bytes(demo_study, layout="long"))["pseudonym"]

    codes = list(included(demo_study).values_list("code", flat=True))
    assert set(first) == set(second) == {export_pseudonym(code) for code in codes}
    assert not {export_pseudonym(code) for code in codes} & {
        analysis_pseudonym(code) for code in codes
    }
    assert all(
        export_pseudonym(code)[1:] not in analysis_pseudonym(code) for code in codes
    )
    # Rows follow the pseudonym, not the order of enrolment.
    assert list(first) == sorted(first)


def test_shifted_dates_are_stable_and_differ_between_participants(demo_study, db):
    first = by_pseudonym(read_csv(export_bytes(demo_study, dates="shifted")))
    second = by_pseudonym(
        read_csv(export_bytes(demo_study, dates="shifted", fmt="csv"))
    )
    days = by_pseudonym(read_csv(export_bytes(demo_study)))

    assert first["enrolled_on"].equals(second["enrolled_on"])
    offsets = {}
    for participant in included(demo_study):
        label = export_pseudonym(participant.code)
        shifted = dt.date.fromisoformat(first.loc[label, "enrolled_on"])
        offset = (shifted - participant.enrolled_on).days
        assert offset != 0 and abs(offset) <= exports.MAX_SHIFT_DAYS
        offsets[label] = offset
        # The interval between enrolment and a visit is kept.
        completed = first.loc[label, "baseline_date"]
        assert (dt.date.fromisoformat(completed) - shifted).days == days.loc[
            label, "baseline_day"
        ]
    assert len(set(offsets.values())) > 10


def test_age_can_be_banded(demo_study, db):
    frame = by_pseudonym(read_csv(export_bytes(demo_study, age_bands=True)))
    export = exports.prepare(demo_study, ExportRequest(age_bands=True))
    age = next(v for v in export.variables if v.name == "age")

    assert age.values == exports.AGE_BANDS
    assert "bands" in age.label
    for response in submitted(demo_study, "baseline_characteristics", "baseline")[:20]:
        years = response.answers["age"]
        row = frame.loc[export_pseudonym(response.visit.participant.code)]
        assert row["age"] == exports.age_band(years)
    assert [exports.age_band(y) for y in (18, 29, 30, 39, 79, 80, 104)] == [
        1,
        1,
        2,
        2,
        6,
        7,
        7,
    ]


def test_small_cells_finds_a_deliberately_small_cell(demo_study, db):
    response = (
        submitted(demo_study, "baseline_characteristics", "baseline")
        .filter(visit__participant__site__code="YRK")
        .first()
    )
    response.answers = {**response.answers, "sex": "3"}
    response.save()
    expected = Response.objects.filter(
        pk__in=submitted(demo_study, "baseline_characteristics", "baseline"),
        visit__participant__site__code="YRK",
        answers__sex="3",
    ).count()

    cells = exports.small_cells(demo_study)

    assert 0 < expected < 5
    assert (
        exports.SmallCell("YRK", "Other or prefers to self-describe", expected) in cells
    )
    assert all(0 < cell.count < 5 for cell in cells)
    assert not [cell for cell in cells if cell.sex == "Female"]


# ---------------------------------------------------------------------------
# Spreadsheet formulas


def test_formulas_are_neutralised_in_csv_and_xlsx(demo_study, odd):
    data = export_bytes(demo_study, layout="items", instruments=("odd_items",))
    frame = read_csv(data)
    labels = set(frame["value_label"].dropna())

    assert {"'=1+1", "'@SUM(A1)", "'+calm"} <= labels
    for column in ("pseudonym", "site", "instrument", "variable", "value_label"):
        assert not frame[column].dropna().str.startswith(FORMULA_STARTS).any()
    # Negative codes stay numbers in a numeric column.
    wide = export_bytes(demo_study, instruments=("odd_items",))
    assert f",{VISIT_MISSED.code}," in wide.decode()
    assert f",'{VISIT_MISSED.code}" not in wide.decode()

    book = openpyxl.load_workbook(
        io.BytesIO(
            export_bytes(
                demo_study, fmt="xlsx", layout="items", instruments=("odd_items",)
            )
        )
    )
    texts = [
        cell.value
        for sheet in book
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str)
    ]
    assert "'=1+1" in texts
    assert any(text.startswith("'=HYPERLINK") for text in texts)
    assert not [text for text in texts if text.startswith(FORMULA_STARTS)]


# ---------------------------------------------------------------------------
# Names


def test_variable_names_suit_spss_and_stata(demo_study, odd):
    for layout in exports.LAYOUTS:
        export = exports.prepare(demo_study, ExportRequest(layout=layout))
        names = [variable.name for variable in export.variables]
        assert all(NAME_PATTERN.match(name) for name in names), names
        assert len({name.lower() for name in names}) == len(names)
    wide = exports.prepare(demo_study, ExportRequest())
    names = [variable.name for variable in wide.variables]
    assert "baseline_pain_worst" in names
    assert "followup_selfmgmt_total" in names
    assert "followup_partnership_confidence" in names


def test_long_names_are_shortened_the_same_way_every_time():
    full = "followup_" + "a_very_long_item_name_from_an_imported_dictionary"
    first = exports.variable_name(full, set())
    assert first == exports.variable_name(full, set())
    assert len(first) == 32 and first.startswith("followup_a_very_long")
    taken = {first.lower()}
    second = exports.variable_name(full, taken)
    assert second != first and len(second) <= 32
    assert exports.variable_name("3-month_pain", set()) == "v_3_month_pain"
    assert exports.variable_name("in", set()) == "in_"


# ---------------------------------------------------------------------------
# Writing


def test_write_reports_rows_hash_and_size_and_streams_the_same_csv(demo_study, db):
    export = exports.prepare(demo_study, ExportRequest(layout="items"))
    seen = []
    out = io.BytesIO()

    result = exports.write(export, out, progress=seen.append)

    data = out.getvalue()
    assert result.rows == export.count()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)
    assert b"".join(chunk for chunk, _ in export_formats.csv_chunks(export)) == data
    assert seen == sorted(seen) and seen[-1] == result.rows and len(seen) > 2


def test_csv_can_start_with_a_byte_order_mark_for_excel(demo_study, db):
    assert export_bytes(demo_study, excel_bom=True).startswith(
        b"\xef\xbb\xbfpseudonym,"
    )
    assert export_bytes(demo_study).startswith(b"pseudonym,")


def test_xlsx_refuses_more_rows_than_excel_holds(demo_study, db, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 10)
    monkeypatch.setattr("analysis.export_formats.XLSX_MAX_ROWS", 10)
    with pytest.raises(exports.ExportError, match="choose CSV"):
        export_bytes(demo_study, fmt="xlsx")


def test_zip_bundle_holds_data_codebook_and_scripts(demo_study, db):
    data = export_bytes(demo_study, fmt="zip")
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        names = bundle.namelist()
        base = exports.file_name(demo_study, ExportRequest()).removesuffix(".csv")
        assert names == [
            f"{base}.csv",
            f"{base}-codebook.csv",
            f"{base}-codebook.html",
            "load_data.R",
            "load_data.py",
        ]
        assert bundle.read(f"{base}.csv") == export_bytes(demo_study)


# ---------------------------------------------------------------------------
# The command


@pytest.mark.parametrize("fmt", list(exports.FORMATS))
def test_command_writes_each_format_with_its_hash(demo_study, db, tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    out = io.StringIO()

    call_command(
        "export_dataset",
        "--layout",
        "wide",
        "--format",
        fmt,
        "--out",
        str(path),
        stdout=out,
    )

    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() in out.getvalue()
    assert f"Wrote {included(demo_study).count()} rows" in out.getvalue()
    logged = Download.objects.get()
    assert logged.sha256 == hashlib.sha256(data).hexdigest()
    assert (logged.fmt, logged.requested_by) == (fmt, None)
    assert logged.rows == included(demo_study).count()
    for part in readable_parts(fmt, data):
        for text in identifying_strings(demo_study):
            assert text.encode() not in part


def test_command_takes_every_option(demo_study, db, tmp_path):
    allow_study_ids(demo_study)
    path = tmp_path / "out.csv"
    call_command(
        "export_dataset",
        "--layout",
        "long",
        "--format",
        "csv",
        "--out",
        str(path),
        "--study",
        demo_study.slug,
        "--instrument",
        "pain_severity",
        "--timepoint",
        "followup",
        "--no-items",
        "--dates",
        "shifted",
        "--age-bands",
        "--study-ids",
        "--bom",
        stdout=io.StringIO(),
    )
    frame = read_csv(path.read_bytes())
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert set(frame["timepoint"]) == {"followup"}
    assert "pain_severity" in frame.columns and "pain_worst" not in frame.columns
    assert "study_id" in frame.columns and "date" in frame.columns


def test_command_explains_a_bad_choice(demo_study, db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no questionnaire nonsense"):
        call_command(
            "export_dataset",
            "--out",
            str(tmp_path / "x.csv"),
            "--instrument",
            "nonsense",
        )
