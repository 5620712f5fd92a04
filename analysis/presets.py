"""A study's analysis presets, from its protocol, as model specifications.

A preset names outcomes, the timepoints to model them at, and ordered blocks of
predictors; one model per outcome and timepoint. At a later timepoint, with
``adjust_for_baseline``, the outcome's value at the first timepoint joins the
first block (the reference study's design at follow-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.specification import ModelSpec
from participants.measures import study_measures
from participants.models import Study


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    specs: list[ModelSpec]


def preset_specs(preset, first: str) -> list[ModelSpec]:
    """The models of ``preset`` (a protocol PresetSpec); ``first``: the first
    timepoint's code."""
    specs = []
    for timepoint in preset.timepoints:
        for outcome in preset.outcomes:
            blocks = [
                [name.replace("{timepoint}", timepoint) for name in block.variables]
                for block in preset.blocks
            ]
            baseline = f"{first}_{outcome}"
            if (
                preset.adjust_for_baseline
                and timepoint != first
                and all(baseline not in block for block in blocks)
            ):
                blocks[0].append(baseline)
            used = {name for block in blocks for name in block}
            specs.append(
                ModelSpec(
                    name=f"{timepoint}_{outcome}",
                    outcome=f"{timepoint}_{outcome}",
                    blocks=blocks,
                    block_names=[block.name for block in preset.blocks],
                    categorical={
                        name: level
                        for name, level in preset.reference_levels.items()
                        if name in used
                    },
                )
            )
    return specs


def study_presets(study: Study) -> dict[str, Preset]:
    """The study's presets by name, in the protocol's order."""
    first = study.timepoints.order_by("order").values_list("code", flat=True).first()
    if first is None:
        return {}
    return {
        preset.name: Preset(preset.name, preset.label, preset_specs(preset, first))
        for preset in study_measures(study).presets
    }
