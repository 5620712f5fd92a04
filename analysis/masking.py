"""Masking names in interview transcripts, by one rule that knows no one's name.

The rule never looks up who the participant is. Whatever it masks follows from
the text and the names the uploader lists, so the masked text cannot tell the
uploader (or any later reader) which words were the participant's name.

It replaces by ``[name]``:

- every name the uploader lists, as a whole word in any case;
- every word written with a capital inside a sentence, except the few words
  capitalised without being names (``I``, titles, days, months, family words);
- the first word of a sentence, line or speaker's turn when it is not an
  ordinary English word, or when the text capitalises it inside a sentence
  elsewhere;
- a word in capitals longer than an abbreviation (``ANNA:``) on the same terms.

It does not promise to find a name written in lower case, nor one that is also
an ordinary word and only ever starts a sentence ("Rose said..."): the uploader
reads the result and lists what it missed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from english_words import get_english_words_set

PLACEHOLDER = "[name]"

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
# "Margaret's" is masked as "[name]'s"; "Didn't" is judged as "did".
_CLITIC = re.compile(r"(?:['’](?:s|re|ve|ll|d|m)|n['’]t)$", re.IGNORECASE)
_SENTENCE_END = set(".!?:;…")
_SPACES = re.compile(r"[ \t]+")


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


# Words written with a capital that are not names.
_NOT_NAMES = _words(
    "i mr mrs ms miss mx dr prof professor doctor nurse sister sir madam "
    "monday tuesday wednesday thursday friday saturday sunday "
    "january february march april may june july august september october "
    "november december "
    "mum mam mom mummy dad daddy nan nana nanna gran granny grandma grandad "
    "grandpa god christmas easter ok okay"
)
_TITLES = _words("mr mrs ms miss mx dr prof st")
# Ordinary words of speech the dictionary (Webster's, 1934) lacks.
_SPEECH = _words(
    "ok okay erm er mm mmm hmm uh uhm yep nope gonna wanna gotta physio email "
    "online internet covid"
)
# Abbreviations in capitals (GP, NHS, MRI) are kept; longer words in capitals
# are judged as words.
_ABBREVIATION_LENGTH = 3


@cache
def _ordinary_words() -> frozenset[str]:
    words = get_english_words_set(["web2"], lower=False)
    return frozenset({word for word in words if word.islower()} | _SPEECH)


def _is_ordinary(word: str) -> bool:
    lowered = word.lower().replace("’", "'")
    stem = _CLITIC.sub("", lowered)
    ordinary = _ordinary_words()
    parts = stem.split("-")
    return (
        lowered.replace("'", "") in ordinary
        or stem in _NOT_NAMES
        or all(part in ordinary for part in parts)
    )


def mask_names(text: str, names: Iterable[str] = ()) -> tuple[str, list[str]]:
    """The text with names replaced by ``[name]``, and which of ``names`` it held.

    ``names`` are the names the uploader lists; the rest is found by the rule
    in this module's docstring.
    """
    text, found = mask_listed(text, names)
    return mask_capitalised(text), found


def mask_listed(text: str, names: Iterable[str]) -> tuple[str, list[str]]:
    """Replace each of ``names`` as a whole word, in any case, by ``[name]``.

    Longer names win over shorter ones they contain ("Mary Ann" before
    "Mary"); spaces inside a name match any run of white space. Returns the
    masked text and the names that were found, in the order given.
    """
    wanted = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    if not wanted:
        return text, []
    patterns = {
        name: r"\s+".join(re.escape(part) for part in name.split()) for name in wanted
    }
    ordered = sorted(wanted, key=len, reverse=True)
    combined = re.compile(
        r"(?<!\w)(?:" + "|".join(patterns[name] for name in ordered) + r")(?!\w)",
        re.IGNORECASE,
    )
    found: set[str] = set()

    def replace(match: re.Match) -> str:
        for name in ordered:
            if re.fullmatch(patterns[name], match.group(0), re.IGNORECASE):
                found.add(name)
                break
        return PLACEHOLDER

    masked = combined.sub(replace, text)
    return masked, [name for name in wanted if name in found]


def mask_capitalised(text: str) -> str:
    """Replace the capitalised words that the rule takes for names by ``[name]``;
    a run of them ("Anna Lee") becomes one ``[name]``."""
    words = [
        (match.start(), match.start() + len(_CLITIC.sub("", match.group())), word)
        for match in _WORD.finditer(text)
        if (word := _CLITIC.sub("", match.group()))
    ]
    starts = _sentence_starts(text, words)
    inside = {
        word.lower()
        for (_, _, word), first in zip(words, starts, strict=True)
        if not first and _capitalised(word) and word.lower() not in _NOT_NAMES
    }
    spans = [
        (start, end)
        for (start, end, word), first in zip(words, starts, strict=True)
        if _is_name(word, first=first, names_inside=inside)
    ]
    return _replace(text, spans)


def _capitalised(word: str) -> bool:
    return word[0].isupper() and not word.isupper()


def _is_name(word: str, *, first: bool, names_inside: set[str]) -> bool:
    if not word[0].isupper() or len(word) == 1:
        return False
    if word.lower() in names_inside:
        return True
    if word.isupper() and len(word) <= _ABBREVIATION_LENGTH:
        return False
    if first or word.isupper():
        return not _is_ordinary(word)
    return word.lower() not in _NOT_NAMES


def _sentence_starts(text: str, words: list[tuple[int, int, str]]) -> list[bool]:
    starts = []
    previous_end, previous_word = 0, ""
    for start, end, word in words:
        gap = text[previous_end:start]
        if not previous_word or "\n" in gap:
            first = True
        elif "." in gap and (
            previous_word.lower() in _TITLES or len(previous_word) == 1
        ):
            # "Dr. Patel" and "J. Smith": the full stop ends no sentence.
            first = False
        else:
            first = any(mark in _SENTENCE_END for mark in gap)
        starts.append(first)
        previous_end, previous_word = end, word
    return starts


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    merged: list[list[int]] = []
    for start, end in spans:
        # Words of one name are separated by spaces only ("Anna Lee").
        if merged and _SPACES.fullmatch(text[merged[-1][1] : start]):
            merged[-1][1] = end
        else:
            merged.append([start, end])
    pieces, position = [], 0
    for start, end in merged:
        pieces += [text[position:start], PLACEHOLDER]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
