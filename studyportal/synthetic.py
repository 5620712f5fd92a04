"""A synthetic cohort shaped like the reference study, drawn from a stated model.

``simulate`` draws participants' answers, item by item, for the enrolment form
and for each questionnaire at baseline and follow-up. The demo enrols people
through the real services and gives them these answers; a benchmark can draw
any number. Scores always come from the scoring engine, and the outcome is
drawn from the scores (and the age) exactly as the analysis dataset will hold
them, so fitting the reference preset to the data recovers ``PLANTED``.

The model, for each participant (N(m, s²) is a fresh normal draw each time)
--------------------------------------------------------------------------

1. Characteristics, independent of everything below. Age in years
   a ~ round(N(52, 13²)) kept within 22-84, with a date of birth that makes
   the participant a years old on the day of enrolment; sex female 58%, male
   40%, prefers not to say 2%; education, ethnic group, work, NS-SEC and
   treatments from fixed shares (work depends on age);
   pain_duration_months = 3 + round(LogNormal(3.6, 0.9)), at most 480.
   ``age`` is the enrolment form's calculated item worked out on the day of
   enrolment (from the date of birth for 80%, from the age typed in for 20%).

2. Latent traits η = (pain, anxiety, depression, clinician, confidence):
       baseline    η_b ~ N(0, R),                      R = LATENT_CORRELATION
       follow-up   η_f = ρ η_b + √(1 − ρ²) u + δ,      u ~ N(0, R)
   with ρ = LATENT_STABILITY and δ = FOLLOWUP_SHIFT.

3. Predictor items, each rounded to the nearest whole answer and kept within
   its scale (``ITEM_MODELS``; η_t is the item's trait):
       answer = centre + offset(item) + loading · η_t + N(0, noise²)
       pain_severity items           0-10   trait pain
       partnership_clinician items   1-5    trait clinician
       partnership_confidence items  1-5    trait confidence
       hads_anxiety items            0-3    trait anxiety
       hads_depression items         0-3    trait depression
   The formula gives the item on its scored direction; a reverse-coded item
   (partner_05, partner_14, hads_a2, hads_a5, hads_d1, hads_d2, hads_d6) is
   stored flipped, low + high − answer, which the score flips back.

4. Skipped items. Each participant skips each optional item (all but the pain
   ratings, which are required) with probability q, the same at both
   timepoints: q = SKIP_RATE, or HIGH_SKIP_RATE for a HIGH_SKIPPERS share of
   people. Skipping does not depend on anything else (missing completely at
   random), so complete-case fits stay unbiased. The scoring engine then
   decides each score: a subscale short of answers is missing, HADS and the
   self-management total are prorated where the definition allows.

5. The outcome, self-management total y (0-96), with x the scores the engine
   computed from the answers as stored and [not female] = 1 for male or
   prefers not to say:
       y_b = β0 + β_age·age + β_nf·[not female] + β_dur·pain_duration_months
             + Σ β_s·baseline_s + ε_b,                      ε_b ~ N(0, σ_b²)
       y_f = γ0 + γ_y·baseline_selfmgmt_total + γ_age·age + γ_nf·[not female]
             + γ_dur·pain_duration_months + Σ γ_s·followup_s + ε_f,
                                                           ε_f ~ N(0, σ_f²)
   summing over s in pain_severity, hads_anxiety, hads_depression,
   partnership_clinician and partnership_confidence. baseline_selfmgmt_total
   is the total as scored (prorated if items were skipped). Pain duration
   (β_dur = γ_dur = 0) and education have no effect. β and γ are ``PLANTED``;
   with Female as the reference level, as in the reference preset, both
   sex[Male] and sex[Prefers not to say] estimate β_nf. Where skipping leaves
   a predictor's score missing, y uses the score of the answers before
   skipping; the analysis leaves that participant out of the model anyway.

6. Self-management items. t = y rounded and kept within 0-96 is spread over
   the 12 items: each starts at round(t/12 + N(0, OUTCOME_ITEM_NOISE²)) within
   0-8, then one point at a time is added to (or taken from) an item picked at
   random among those with room, until the items sum to t. The items are
   exchangeable, so E[item | t] = t/12 and a subscale of k items has
   expectation (k/12)·t: at baseline its coefficients are the total's times
   k/12 (``subscale_share``). At follow-up the reference preset adjusts each
   subscale for its own baseline value, so only the total's coefficients are
   planted there. Then self-management items are skipped as in step 4; with
   exchangeable items the prorated total still has expectation t.

Rounding adds noise that does not depend on the predictors, and the outcome
stays far enough inside 0-96 that clipping almost never happens, so the
estimates are unbiased: a simulation of 20,000 recovers each coefficient to
within a few standard errors.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from instruments import answers as answer_rules
from instruments import scoring
from instruments.definitions import Definition, load_file, shipped_definition_files

CHARACTERISTICS = "baseline_characteristics"
TIMEPOINTS = ("baseline", "followup")
PREDICTOR_INSTRUMENTS = ("pain_severity", "partnership", "anxiety_depression")
OUTCOME_INSTRUMENT = "self_management"
OUTCOME = "selfmgmt_total"
# Everyone is enrolled on this day unless ``simulate`` is told otherwise.
DEFAULT_ENROLMENT = dt.date(2016, 3, 1)

TRAITS = ("pain", "anxiety", "depression", "clinician", "confidence")
LATENT_CORRELATION = (
    (1.00, 0.30, 0.35, -0.10, -0.30),
    (0.30, 1.00, 0.60, -0.15, -0.30),
    (0.35, 0.60, 1.00, -0.20, -0.35),
    (-0.10, -0.15, -0.20, 1.00, 0.55),
    (-0.30, -0.30, -0.35, 0.55, 1.00),
)
LATENT_STABILITY = 0.7
# Three months on, in standard deviations: a little less pain and distress,
# a little more partnership.
FOLLOWUP_SHIFT = {
    "pain": -0.3,
    "anxiety": -0.1,
    "depression": -0.1,
    "clinician": 0.15,
    "confidence": 0.2,
}


@dataclass(frozen=True)
class ItemModel:
    trait: str
    centre: float
    loading: float
    noise: float


# Keyed by the score whose items they drive.
ITEM_MODELS = {
    "pain_severity": ItemModel("pain", centre=6.2, loading=1.3, noise=0.9),
    "partnership_clinician": ItemModel(
        "clinician", centre=3.7, loading=0.65, noise=0.7
    ),
    "partnership_confidence": ItemModel(
        "confidence", centre=3.4, loading=0.7, noise=0.7
    ),
    "hads_anxiety": ItemModel("anxiety", centre=1.2, loading=0.65, noise=0.7),
    "hads_depression": ItemModel("depression", centre=1.1, loading=0.65, noise=0.7),
}
ITEM_OFFSETS = {"pain_worst": 1.7, "pain_least": -1.9, "pain_now": 0.2}
OUTCOME_ITEM_NOISE = 1.2
SKIP_RATE = 0.01
HIGH_SKIP_RATE = 0.08
HIGH_SKIPPERS = 0.1


@dataclass(frozen=True)
class OutcomeModel:
    """One planted regression: y = intercept + Σ coefficient·x + not_female + ε.

    ``intercept`` is for a woman (the reference preset's reference level).
    """

    intercept: float
    coefficients: Mapping[str, float]
    not_female: float
    residual_sd: float

    def coefficient(self, term: str) -> float:
        """The planted value of a term as the regression names it."""
        if term == "(Intercept)":
            return self.intercept
        if term.startswith("sex["):
            return self.not_female
        if term.startswith("education["):
            return 0.0
        return self.coefficients[term]

    def mean(self, values: Mapping[str, float], *, female: bool) -> float:
        return (
            self.intercept
            + math.fsum(b * values[name] for name, b in self.coefficients.items())
            + (0.0 if female else self.not_female)
        )


PLANTED = {
    f"baseline_{OUTCOME}": OutcomeModel(
        intercept=34.0,
        coefficients={
            "age": 0.10,
            "pain_duration_months": 0.0,
            "baseline_pain_severity": -1.2,
            "baseline_hads_anxiety": -0.4,
            "baseline_hads_depression": -0.8,
            "baseline_partnership_clinician": 4.0,
            "baseline_partnership_confidence": 6.0,
        },
        not_female=-1.5,
        residual_sd=5.0,
    ),
    f"followup_{OUTCOME}": OutcomeModel(
        intercept=22.0,
        coefficients={
            f"baseline_{OUTCOME}": 0.45,
            "age": 0.05,
            "pain_duration_months": 0.0,
            "followup_pain_severity": -1.0,
            "followup_hads_anxiety": -0.3,
            "followup_hads_depression": -0.6,
            "followup_partnership_clinician": 2.5,
            "followup_partnership_confidence": 3.5,
        },
        not_female=-1.0,
        residual_sd=5.0,
    ),
}


@dataclass(frozen=True)
class SimulatedParticipant:
    """One participant's answers, in the form the services store them."""

    enrolled_on: dt.date
    date_of_birth: dt.date
    # The enrolment form as staff fill it in (its calculated age left out).
    characteristics: dict[str, Any]
    # The enrolment form's calculated age, worked out on the day of enrolment.
    age: float
    # Timepoint code, then instrument slug, then item name: the stored answer.
    answers: dict[str, dict[str, dict[str, Any]]]
    # Timepoint code, then score name: the scoring engine's value (None if missing).
    scores: dict[str, dict[str, float | None]]


def simulate(
    n: int, *, seed: int, enrolled_on: Sequence[dt.date] | None = None
) -> Iterator[SimulatedParticipant]:
    """Draw ``n`` participants from the model in this module's docstring.

    The i-th participant is enrolled on ``enrolled_on[i]`` (every one on
    ``DEFAULT_ENROLMENT`` if not given), which fixes their date of birth and
    calculated age. The same arguments always give the same participants. A
    generator, so that a benchmark can write 100,000 without holding them all.
    """
    if enrolled_on is not None and len(enrolled_on) != n:
        raise ValueError(f"{len(enrolled_on)} enrolment days for {n} participants.")
    definitions = shipped_definitions()
    rng = random.Random(seed)
    for index in range(n):
        day = enrolled_on[index] if enrolled_on is not None else DEFAULT_ENROLMENT
        yield _participant(day, definitions, rng)


@functools.cache
def shipped_definitions() -> dict[str, Definition]:
    """The shipped instrument definitions by slug, read from their files."""
    return {
        definition.slug: definition
        for definition in map(load_file, shipped_definition_files())
    }


def subscale_share(score: str) -> float:
    """A self-management subscale's share of the total's items (k/12)."""
    definition = shipped_definitions()[OUTCOME_INSTRUMENT]
    scores = {s.name: s for s in definition.scores}
    return len(scores[score].items) / len(scores[OUTCOME].items)


def _participant(
    enrolled_on: dt.date, definitions: dict[str, Definition], rng: random.Random
) -> SimulatedParticipant:
    years = min(max(round(rng.gauss(52, 13)), 22), 84)
    born = _date_of_birth(years, enrolled_on, rng)
    characteristics = _characteristics(born, years, rng)
    age = answer_rules.resolve(
        definitions[CHARACTERISTICS], characteristics, today=enrolled_on
    ).answers["age"]
    skip_rate = HIGH_SKIP_RATE if rng.random() < HIGH_SKIPPERS else SKIP_RATE
    # What the outcome models read, named as the analysis dataset names it.
    variables = {
        "age": float(age),
        "pain_duration_months": float(characteristics["pain_duration_months"]),
    }
    female = characteristics["sex"] == "1"
    answers, scores = {}, {}
    traits = _correlated(rng)
    for timepoint in TIMEPOINTS:
        if timepoint != TIMEPOINTS[0]:
            traits = _traits_later(traits, rng)
        answers[timepoint], scores[timepoint] = {}, {}
        for slug in PREDICTOR_INSTRUMENTS:
            definition = definitions[slug]
            full = _predictor_answers(definition, traits, rng)
            given = _skip(definition, full, skip_rate, rng)
            answers[timepoint][slug] = given
            for score in definition.scores:
                value = scoring.score_one(score, definition, given).value
                scores[timepoint][score.name] = value
                if value is None:
                    # Only the outcome needs a value here: the analysis leaves
                    # the participant out of any model with the missing score.
                    value = scoring.score_one(score, definition, full).value
                variables[f"{timepoint}_{score.name}"] = value
        definition = definitions[OUTCOME_INSTRUMENT]
        model = PLANTED[f"{timepoint}_{OUTCOME}"]
        target = model.mean(variables, female=female) + rng.gauss(0, model.residual_sd)
        full = _outcome_answers(definition, target, rng)
        given = _skip(definition, full, skip_rate, rng)
        answers[timepoint][OUTCOME_INSTRUMENT] = given
        for score in definition.scores:
            scores[timepoint][score.name] = scoring.score_one(
                score, definition, given
            ).value
        # Later outcomes build on the total as scored, which the analysis sees.
        total = scores[timepoint][OUTCOME]
        variables[f"{timepoint}_{OUTCOME}"] = (
            math.fsum(full.values()) if total is None else total
        )
    return SimulatedParticipant(
        enrolled_on=enrolled_on,
        date_of_birth=born,
        characteristics=characteristics,
        age=float(age),
        answers=answers,
        scores=scores,
    )


def _date_of_birth(years: int, enrolled_on: dt.date, rng: random.Random) -> dt.date:
    """A birthday that makes the participant ``years`` old on ``enrolled_on``."""
    born = dt.date(enrolled_on.year - years, rng.randint(1, 12), rng.randint(1, 28))
    if (born.month, born.day) > (enrolled_on.month, enrolled_on.day):
        born = born.replace(year=born.year - 1)
    return born


def _characteristics(born: dt.date, years: int, rng: random.Random) -> dict:
    """The enrolment form's answers, as clinic staff enter them."""
    if rng.random() < 0.8:
        answers = {"age_known_as": "1", "dob": born.isoformat()}
    else:
        answers = {"age_known_as": "2", "age_years": years}
    if years >= 66:
        employment = rng.choices(["6", "2", "5"], [7, 1, 2])[0]
    else:
        employment = rng.choices(
            ["1", "2", "3", "4", "5", "8", "9"], [30, 15, 8, 8, 25, 10, 4]
        )[0]
    treatments = [
        code
        for code, chance in (
            ("1", 0.9),
            ("2", 0.75),
            ("3", 0.2),
            ("4", 0.3),
            ("5", 0.15),
            ("6", 0.08),
        )
        if rng.random() < chance
    ]
    answers |= {
        "sex": rng.choices(["1", "2", "4"], [58, 40, 2])[0],
        "ethnicity": rng.choices(["4", "1", "2", "3", "5"], [82, 9, 4, 3, 2])[0],
        "education": rng.choices(
            ["1", "2", "3", "4", "5", "6", "7"], [12, 28, 16, 18, 18, 6, 2]
        )[0],
        "employment": employment,
        "nssec": rng.choices(
            [str(code) for code in range(1, 11)], [3, 6, 16, 12, 9, 10, 17, 15, 7, 5]
        )[0],
        "pain_duration_months": min(round(rng.lognormvariate(3.6, 0.9)) + 3, 480),
    }
    if treatments:
        answers["treatments"] = treatments
    if "6" in treatments:
        answers["treatments_other"] = rng.choice(
            ["TENS machine", "Chiropractic", "Massage", "Pilates"]
        )
    return answers


def _cholesky(matrix: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], ...]:
    size = len(matrix)
    lower = [[0.0] * size for _ in range(size)]
    for i in range(size):
        for j in range(i + 1):
            partial = math.fsum(lower[i][k] * lower[j][k] for k in range(j))
            if i == j:
                lower[i][j] = math.sqrt(matrix[i][i] - partial)
            else:
                lower[i][j] = (matrix[i][j] - partial) / lower[j][j]
    return tuple(map(tuple, lower))


LATENT_FACTOR = _cholesky(LATENT_CORRELATION)


def _correlated(rng: random.Random) -> dict[str, float]:
    """One draw from N(0, LATENT_CORRELATION), by trait."""
    draws = [rng.gauss(0, 1) for _ in TRAITS]
    return {
        trait: math.fsum(weight * draw for weight, draw in zip(row, draws, strict=True))
        for trait, row in zip(TRAITS, LATENT_FACTOR, strict=True)
    }


def _traits_later(traits: dict[str, float], rng: random.Random) -> dict[str, float]:
    fresh = _correlated(rng)
    keep = LATENT_STABILITY
    renew = math.sqrt(1 - keep**2)
    return {
        trait: keep * traits[trait] + renew * fresh[trait] + FOLLOWUP_SHIFT[trait]
        for trait in TRAITS
    }


def _predictor_answers(
    definition: Definition, traits: dict[str, float], rng: random.Random
) -> dict[str, Any]:
    answers = {}
    for score in definition.scores:
        model = ITEM_MODELS[score.name]
        for name in score.items:
            item = definition.item(name)
            low, high = (int(end) for end in item.numeric_range)
            level = (
                model.centre
                + ITEM_OFFSETS.get(name, 0.0)
                + model.loading * traits[model.trait]
                + rng.gauss(0, model.noise)
            )
            value = min(max(round(level), low), high)
            if name in score.reverse:
                # Worded the other way round: doing well means disagreeing.
                value = low + high - value
            answers[name] = value if item.type == "rating" else str(value)
    return answers


def _outcome_answers(
    definition: Definition, target: float, rng: random.Random
) -> dict[str, Any]:
    """Item answers whose sum is ``target`` rounded (see step 6 of the model)."""
    names = next(s for s in definition.scores if s.name == OUTCOME).items
    low, high = (int(end) for end in definition.item(names[0]).numeric_range)
    total = min(max(round(target), low * len(names)), high * len(names))
    share = total / len(names)
    values = [
        min(max(round(share + rng.gauss(0, OUTCOME_ITEM_NOISE)), low), high)
        for _ in names
    ]
    while (gap := total - sum(values)) != 0:
        step = 1 if gap > 0 else -1
        movable = [i for i, value in enumerate(values) if low <= value + step <= high]
        values[rng.choice(movable)] += step
    return dict(zip(names, values, strict=True))


def _skip(
    definition: Definition, answers: dict[str, Any], rate: float, rng: random.Random
) -> dict[str, Any]:
    """The answers left once optional items are skipped, each with chance ``rate``."""
    return {
        name: value
        for name, value in answers.items()
        if definition.item(name).required or rng.random() >= rate
    }
