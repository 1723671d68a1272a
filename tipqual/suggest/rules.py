"""Rule evidence for codes: the code ruler's matches, scored, lowered after negation or hedges.

A phrase match scores 0.7 and a token-pattern match 0.75; a negation cue ("never", "not" …) in
the few tokens before a match, within the same clause, halves its score, a hedge ("maybe" …)
multiplies it by 0.75. Several hits for one code combine as a noisy-or.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # pragma: no cover
    from spacy.tokens import Doc

RULE_BASE = {"phrase": 0.7, "pattern": 0.75}
NEGATION_CUES = frozenset({"no", "not", "n't", "never", "hardly", "barely", "scarcely", "none",
                           "nobody", "nothing", "neither", "nor", "without", "cannot",
                           "rarely", "seldom"})
HEDGE_CUES = frozenset({"maybe", "perhaps", "possibly", "probably", "might", "may", "could",
                        "unsure", "whether", "if", "sometimes", "allegedly", "apparently"})
CUE_FACTOR = {"negation": 0.5, "hedge": 0.75}
CUE_WINDOW = 6
_CLAUSE_BREAKS = frozenset({".", ";", "!", "?", ":", "but", "however", "although"})


class RuleHit(NamedTuple):
    """One rule match in a segment: the code, where, which rule, any cue before it, the score."""

    code: str
    start: int
    end: int
    text: str
    rule: str
    cue: str | None
    score: float

    @property
    def kind(self) -> str:
        """What kind of rule matched, in plain words: ``"phrase"`` or ``"pattern"``."""
        return rule_kind(self.rule)


def rule_kind(rule: str) -> str:
    """The kind of a rule from its name (``phrase "bribe"``, ``pattern [...]``)."""
    return "pattern" if rule.startswith("pattern") else "phrase"


def cue_before(doc: Doc, start: int, window: int = CUE_WINDOW) -> tuple[str, str] | None:
    """The nearest negation or hedge word in the ``window`` tokens before token ``start``.

    Returns ``(kind, word)`` with kind ``"negation"`` or ``"hedge"``, or None. The search stops
    at a clause break (full stop, semicolon, "but" …), so a cue in another clause does not count.
    """
    for i in range(start - 1, max(start - window, 0) - 1, -1):
        word = doc[i].lower_
        if word in _CLAUSE_BREAKS:
            return None
        if word in NEGATION_CUES or doc[i].lemma_ in NEGATION_CUES:
            return ("negation", word)
        if word in HEDGE_CUES:
            return ("hedge", word)
    return None


class _CueWords:
    """The cue and clause-break words as string hashes of one vocabulary, and the names of
    the rules and codes that span ids and labels hash (each looked up once)."""

    def __init__(self, strings: Any):
        self.strings = strings
        self.breaks = {strings.add(w) for w in _CLAUSE_BREAKS}
        self.negation = {strings.add(w) for w in NEGATION_CUES}
        self.hedge = {strings.add(w) for w in HEDGE_CUES}
        self.rules: dict[int, tuple[str, float]] = {}  # rule name hash -> (name, base score)
        self.codes: dict[int, str] = {}  # code hash -> code id

    def rule(self, key: int) -> tuple[str, float]:
        """A rule's name and base score from the hash of its name (the span id)."""
        found = self.rules.get(key)
        if found is None:
            name = self.strings[key] if key else "rule"
            found = self.rules[key] = (name, RULE_BASE[rule_kind(name)])
        return found

    def code(self, key: int) -> str:
        """A code id from its hash (the span label)."""
        found = self.codes.get(key)
        if found is None:
            found = self.codes[key] = self.strings[key]
        return found


_cue_words: dict[int, _CueWords] = {}


def _cue_before_ids(words: _CueWords, lowers: list[int], lemmas: list[int], start: int,
                    window: int = CUE_WINDOW) -> tuple[str, str] | None:
    """:func:`cue_before` on the doc's LOWER and LEMMA hashes (no Token objects made)."""
    for i in range(start - 1, max(start - window, 0) - 1, -1):
        lower = lowers[i]
        if lower in words.breaks:
            return None
        if lower in words.negation or lemmas[i] in words.negation:
            return ("negation", words.strings[lower])
        if lower in words.hedge:
            return ("hedge", words.strings[lower])
    return None


def rule_hits(doc: Doc) -> list[RuleHit]:
    """The code ruler's matches in a processed doc, each scored (lowered after a cue)."""
    from spacy.attrs import LEMMA, LOWER

    from tipqual.nlp.pipeline import CODE_SPANS

    hits: list[RuleHit] = []
    spans = doc.spans.get(CODE_SPANS, [])
    if not len(spans):
        return hits
    strings = doc.vocab.strings
    words = _cue_words.get(id(strings))
    if words is None or words.strings is not strings:
        words = _cue_words[id(strings)] = _CueWords(strings)
    lowers, lemmas = doc.to_array([LOWER, LEMMA]).T.tolist()
    for span in spans:
        rule, score = words.rule(span.id)
        cue = _cue_before_ids(words, lowers, lemmas, span.start)
        if cue is not None:
            score = round(score * CUE_FACTOR[cue[0]], 4)
        hits.append(RuleHit(words.code(span.label), span.start_char, span.end_char, span.text,
                            rule, None if cue is None else cue[1], score))
    return hits


def combine(scores: Iterable[float]) -> float:
    """Several independent hits for one code: noisy-or, so each extra hit adds less."""
    miss = 1.0
    for s in scores:
        miss *= 1.0 - s
    return round(1.0 - miss, 4)


def rule_scores(doc: Doc) -> dict[str, tuple[float, list[RuleHit]]]:
    """Per code: the combined rule score and the hits behind it."""
    by_code: dict[str, list[RuleHit]] = {}
    for hit in rule_hits(doc):
        by_code.setdefault(hit.code, []).append(hit)
    for code, hits in by_code.items():
        if len(hits) < 2:
            continue
        # "staff" inside "shortage of staff" is the same evidence, not a second hit.
        by_code[code] = [h for h in hits if not any(
            o is not h and o.start <= h.start and h.end <= o.end and (o.end - o.start) >
            (h.end - h.start) for o in hits)]
    return {code: (combine(h.score for h in hits), hits) for code, hits in sorted(by_code.items())}

