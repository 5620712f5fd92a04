import csv
import io
import runpy
import zipfile

import pandas as pd
import pytest

from analysis import codebook, exports
from analysis.exports import NOT_ANSWERED, VISIT_MISSED, ExportRequest
from tests.analysis.test_exports import (
    add_odd_items,
    export_bytes,
    read_csv,
)


@pytest.fixture
def odd(demo_study, db):
    return add_odd_items(demo_study)


def rows_by_variable(export):
    return {row["variable"]: row for row in codebook.codebook_rows(export)}


def test_codebook_describes_each_variable_with_values_and_missing_codes(demo_study, db):
    export = exports.prepare(demo_study, ExportRequest())
    rows = rows_by_variable(export)

    assert list(rows) == [variable.name for variable in export.variables]
    assert set(rows["sex"]) == set(codebook.CODEBOOK_FIELDS)
    assert rows["sex"]["values"] == (
        "1=Female; 2=Male; 3=Other or prefers to self-describe; 4=Prefers not to say"
    )
    assert rows["sex"]["instrument"] == "baseline_characteristics"
    assert rows["sex"]["version"] == 1
    assert rows["followup_selfmgmt_total"]["missing"] == (
        f"{NOT_ANSWERED.code}=not answered; -99997=not asked; "
        f"{VISIT_MISSED.code}=visit missed; -99995=visit still open"
    )
    assert rows["baseline_pain_worst"]["values"].startswith("0=")
    assert rows["pseudonym"]["type"] == "string"
    assert rows["pseudonym"]["version"] == ""
    assert rows["site"]["values"].startswith("LDS=Leeds")


def test_items_layout_codebook_lists_what_the_variable_column_holds(demo_study, db):
    export = exports.prepare(demo_study, ExportRequest(layout="items"))
    rows = rows_by_variable(export)

    assert "value" in rows
    assert rows["variable=partner_01"]["instrument"] == "partnership"
    assert rows["variable=partner_01"]["values"].startswith("1=")
    assert rows["variable=treatments_6"]["values"] == "0=Not ticked; 1=Ticked"
    assert "Self-management total" in rows["variable=selfmgmt_total"]["label"]
    assert rows["variable=selfmgmt_total"]["missing"] == ""


def test_codebook_csv_and_html_neutralise_and_escape_labels(demo_study, odd):
    export = exports.prepare(demo_study, ExportRequest(instruments=("odd_items",)))

    table = list(csv.DictReader(io.StringIO(codebook.codebook_csv(export))))
    page = codebook.codebook_html(export)

    mood = next(row for row in table if row["variable"] == "baseline_mood")
    assert mood["label"].startswith("'=HYPERLINK")
    assert mood["values"] == "1==1+1; 2=@SUM(A1); 3=+calm; 4=-low"
    assert mood["missing"].startswith(f"'{exports.NOT_ANSWERED.code}=not answered")
    assert not [
        value
        for row in table
        for value in row.values()
        if value.startswith(("=", "+", "-", "@"))
    ]
    assert demo_study.name in page
    assert "Days since enrolment" in page and "export pseudonym" in page
    assert "=HYPERLINK(&quot;http://example.invalid&quot;" in page
    assert "<script" not in page
    for missing in exports.MISSING_CODES:
        assert str(missing.code) in page and missing.reason in page


def unpack(data: bytes, folder):
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        bundle.extractall(folder)
        return bundle.namelist()


def test_python_loader_reads_types_labels_and_missing_values(demo_study, db, tmp_path):
    names = unpack(export_bytes(demo_study, fmt="zip", dates="shifted"), tmp_path)
    csv_frame = read_csv((tmp_path / names[0]).read_bytes())

    loader = runpy.run_path(str(tmp_path / "load_data.py"))
    data = loader["load"]()

    assert list(data.columns) == list(csv_frame.columns)
    assert isinstance(data["sex"].dtype, pd.CategoricalDtype)
    assert "Female" in data["sex"].cat.categories
    assert (data["sex"].isna() == (csv_frame["sex"] < 0)).all()
    missed = csv_frame["followup_selfmgmt_total"] == VISIT_MISSED.code
    assert missed.any() and data.loc[missed, "followup_selfmgmt_total"].isna().all()
    numbers = data.select_dtypes("number")
    assert not (numbers <= VISIT_MISSED.code).any().any()
    assert pd.api.types.is_datetime64_any_dtype(data["enrolled_on"])
    assert data.attrs["labels"]["sex"] == "Sex"


def test_python_loader_restores_text_that_was_neutralised(demo_study, odd, tmp_path):
    names = unpack(
        export_bytes(demo_study, fmt="zip", layout="items", instruments=("odd_items",)),
        tmp_path,
    )
    raw = read_csv((tmp_path / names[0]).read_bytes())

    data = runpy.run_path(str(tmp_path / "load_data.py"))["load"]()

    assert "'=1+1" in set(raw["value_label"])
    assert "=1+1" in set(data["value_label"].dropna())
    assert "'+calm" in set(raw["value_label"])
    assert "+calm" in set(data["value_label"].dropna())


def test_r_script_reads_the_csv_with_types_factors_and_missing_codes(demo_study, db):
    export = exports.prepare(demo_study, ExportRequest(dates="shifted"))

    script = codebook.r_script(export, "data.csv")

    assert 'read.csv(\n  "data.csv",' in script
    assert '"pseudonym" = "character"' in script
    assert '"followup_selfmgmt_total" = "numeric"' in script
    assert 'data[["enrolled_on"]] <- as.Date(data[["enrolled_on"]])' in script
    assert (
        'data[["sex"]] <- factor(data[["sex"]], levels = c(1, 2, 3, 4), labels = '
        'c("Female", "Male", "Other or prefers to self-describe", '
        '"Prefers not to say"))'
    ) in script
    assert f'"{NOT_ANSWERED.code}" = "not answered"' in script
    assert 'attr(data[["sex"]], "label") <- "Sex"' in script
    assert script.count("(") == script.count(")")
