"""Forms that start analysis runs: a preset, or a specification built by hand."""

from __future__ import annotations

from django import forms

from analysis import runs
from analysis.dataset import Variable
from analysis.presets import study_presets
from analysis.specification import SAMPLES, ModelSpec, custom_specs

MAX_BLOCKS = 4
NOT_USED = ""
OUTCOME = "outcome"
DEFAULT_BLOCK_NAMES = ["Demographics", "Clinical", "Partnership", "Block 4"]


class StartRunForm(forms.Form):
    study = forms.ModelChoiceField(queryset=None, empty_label=None)
    preset = forms.ChoiceField(label="Analysis")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        studies = runs.analysis_studies(user).order_by("name")
        self.fields["study"].queryset = studies
        if studies.count() == 1:
            self.fields["study"].widget = forms.HiddenInput()
            self.fields["study"].initial = studies.first().pk
        offered: dict[str, str] = {}
        for study in studies:
            for name, preset in study_presets(study).items():
                offered.setdefault(name, preset.label)
        self.fields["preset"].choices = list(offered.items())

    def clean(self):
        data = super().clean()
        study, preset = data.get("study"), data.get("preset")
        if study and preset and preset not in study_presets(study):
            self.add_error("preset", f"{study.short_name} has no such analysis.")
        return data


def block_field(number: int) -> str:
    return f"block_{number}"


class SpecificationForm(forms.Form):
    """Which variable plays which part, one choice per variable.

    Each variable is left out, an outcome (numeric variables only) or a
    predictor entered in one of the ordered blocks; categorical predictors are
    dummy coded against the reference level chosen beside them. Every outcome
    gets its own model with the same blocks.
    """

    title = forms.CharField(
        label="Name of this analysis",
        max_length=120,
        required=False,
        help_text="Shown in the list of runs, for example “Pain as a moderator”.",
    )
    sample = forms.ChoiceField(
        label="Who is analysed",
        choices=list(SAMPLES.items()),
        initial="all",
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    site_covariate = forms.BooleanField(
        label="Add site as a covariate in the first block", required=False
    )
    match_timepoint = forms.BooleanField(
        label="For an outcome measured after baseline, use the predictors' scores "
        "from the outcome's timepoint",
        required=False,
    )
    baseline_adjust = forms.BooleanField(
        label="For an outcome measured after baseline, add its baseline value to "
        "the first block",
        required=False,
    )

    def __init__(
        self,
        *args,
        variables: list[Variable],
        baseline_code: str,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.variables = variables
        self.baseline_code = baseline_code
        for number in range(1, MAX_BLOCKS + 1):
            self.fields[f"{block_field(number)}_name"] = forms.CharField(
                label=f"Name of block {number}",
                max_length=60,
                required=False,
                initial=DEFAULT_BLOCK_NAMES[number - 1],
            )
        blocks = [(block_field(n), f"Block {n}") for n in range(1, MAX_BLOCKS + 1)]
        for variable in variables:
            roles = [(NOT_USED, "Not used")]
            if not variable.categorical:
                roles.append((OUTCOME, "Outcome"))
            self.fields[f"role_{variable.name}"] = forms.ChoiceField(
                label=f"Part played by {variable.label}",
                choices=roles + blocks,
                required=False,
            )
            if variable.categorical:
                self.fields[f"reference_{variable.name}"] = forms.ChoiceField(
                    label=f"Reference level of {variable.label}",
                    choices=[(level, level) for level in variable.levels],
                    initial=variable.levels[0],
                    required=False,
                )

    def rows(self):
        """(variable, role field, reference field or None), for the template."""
        for variable in self.variables:
            reference = (
                self[f"reference_{variable.name}"] if variable.categorical else None
            )
            yield variable, self[f"role_{variable.name}"], reference

    def block_name_fields(self):
        return [self[f"{block_field(n)}_name"] for n in range(1, MAX_BLOCKS + 1)]

    def clean(self):
        data = super().clean()
        roles = {
            variable.name: data.get(f"role_{variable.name}") or NOT_USED
            for variable in self.variables
        }
        labels = {variable.name: variable.label for variable in self.variables}
        outcomes = [name for name, role in roles.items() if role == OUTCOME]
        blocks, names = [], []
        for number in range(1, MAX_BLOCKS + 1):
            field = block_field(number)
            entered = [name for name, role in roles.items() if role == field]
            if entered:
                blocks.append(entered)
                names.append(
                    data.get(f"{block_field(number)}_name") or f"Block {number}"
                )
        if not outcomes:
            self.add_error(None, "Choose at least one variable as the outcome.")
        if not blocks:
            self.add_error(
                None, "Choose at least one predictor by putting a variable in a block."
            )
        if data.get("site_covariate") and roles.get("site"):
            self.add_error(
                "site_covariate",
                "Site is already in the model; either leave its row as “Not used” "
                "or untick this box.",
            )
        if self.errors:
            return data
        # No level chosen: the first level present is the reference.
        categorical = {
            variable.name: data.get(f"reference_{variable.name}") or None
            for variable in self.variables
            if variable.categorical
        }
        baseline_of, swap = {}, {}
        for outcome in outcomes:
            timepoint, score = _split(outcome)
            if not score or timepoint == self.baseline_code:
                continue
            earlier = f"{self.baseline_code}_{score}"
            if data.get("baseline_adjust") and earlier in labels:
                baseline_of[outcome] = earlier
            if data.get("match_timepoint"):
                swap[outcome] = self._at_timepoint(blocks, timepoint, labels)
        data["specs"] = custom_specs(
            outcomes=outcomes,
            blocks=blocks,
            block_names=names,
            categorical=categorical,
            sample=data["sample"],
            site_covariate=data.get("site_covariate", False),
            baseline_of=baseline_of,
            swap=swap,
        )
        return data

    def _at_timepoint(
        self, blocks: list[list[str]], timepoint: str, known: dict[str, str]
    ) -> dict[str, str]:
        swap = {}
        for name in (name for block in blocks for name in block):
            earlier, score = _split(name)
            later = f"{timepoint}_{score}"
            if earlier == self.baseline_code and later in known:
                swap[name] = later
        return swap


def _split(name: str) -> tuple[str, str]:
    """A score variable's timepoint and score: ``followup_x`` is (followup, x)."""
    timepoint, _, score = name.partition("_")
    return timepoint, score


def initial_from(specs: list[ModelSpec], *, baseline_code: str) -> dict:
    """Form values that rebuild ``specs`` (those this form or a preset made).

    The blocks come from a model of a baseline outcome when there is one; the
    models of later outcomes tell whether their predictors followed the
    outcome's timepoint and whether their baseline value was added.
    """
    if not specs:
        return {}
    at_baseline = [s for s in specs if _split(s.outcome)[0] == baseline_code]
    later = [s for s in specs if _split(s.outcome)[0] != baseline_code]
    template = (at_baseline or specs)[0]
    match_timepoint = any(
        _split(name)[0] == _split(spec.outcome)[0]
        for spec in later
        for block in spec.blocks
        for name in block
    )
    baseline_adjust = any(
        f"{baseline_code}_{_split(spec.outcome)[1]}" in spec.blocks[0]
        and f"{baseline_code}_{_split(spec.outcome)[1]}" not in template.blocks[0]
        for spec in later
    )
    initial = {
        "sample": template.sample,
        "site_covariate": template.site_covariate,
        "match_timepoint": match_timepoint,
        "baseline_adjust": baseline_adjust,
    }
    for number, (block, name) in enumerate(
        zip(template.blocks, template.block_names, strict=False), start=1
    ):
        initial[f"{block_field(number)}_name"] = name
        for variable in block:
            initial[f"role_{variable}"] = block_field(number)
    for spec in specs:
        initial[f"role_{spec.outcome}"] = OUTCOME
        for variable, level in spec.categorical.items():
            if level:
                initial[f"reference_{variable}"] = level
    return initial
