"""Codings carried across a corrected transcript: the old segments aligned with the new ones.

A transcript imported again with ``--replace`` is cut into segments afresh, numbered
``SOURCE:1``, ``SOURCE:2`` … in document order, so a paragraph inserted near the top renumbers
everything after it and a typo fix changes a segment's text. :func:`plan_replace` works out,
without touching any study, where every coding of the old segments belongs in the new ones:

- the two lists of segment texts are aligned with :class:`difflib.SequenceMatcher`; segments in
  its equal blocks are the same paragraph (moved, when the number changed);
- inside a block it reports as replaced, old and new segments are paired in document order by
  their similarity (difflib's ratio over the characters, see :func:`similarity`), keeping the
  pairing with the greatest total similarity among those whose every pair reaches
  :data:`SIMILARITY_THRESHOLD` or only had words added (:func:`pair_score`): such a pair is
  one paragraph edited;
- an old segment left unpaired whose exact text appears unpaired elsewhere was moved further
  away (a paragraph cut and pasted);
- a paragraph split in pieces (the unpaired new segments beside its partner stand word for
  word in it, and together they hold its words) puts its whole-segment codings on every piece
  (``split`` copies); paragraphs merged into one (the same, the other way round) keep their
  codings on their own words, as spans of the merged segment;
- a coding whose segment or span found no partner still follows its words when they stand
  unchanged in another new segment and cannot be mistaken: they occur exactly once in the old
  segments and once in the new ones, and hold at least :data:`MIN_FOUND_WORDS` words (any
  length among the pieces of a split or the parts of a merge);
- every other old segment was deleted or rewritten beyond recognition: its codings are
  orphaned (kept aside, recoverable), its unreviewed suggestions dropped (``suggest`` makes new
  ones).

Codings of a paragraph that kept its text move with it (``move``); codings of an edited
paragraph are re-anchored (``reanchor``), a span coding (offsets relative to the segment's
text, as everywhere in tipqual) following the characters it covered through the character
opcodes between the old and the new text. A span whose words were deleted, or rewritten
below the threshold, is orphaned. Suggestions on an edited segment are dropped rather than
re-anchored: their scores were computed for the old words.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from os.path import commonprefix
from typing import Any

from tipqual.records import Coding, Segment

# Two segments at least this similar (difflib's ratio: twice the characters in matching runs
# over the characters of both) are one paragraph edited; below it, one was rewritten. 0.6 is
# difflib's own cut-off for a close match (``get_close_matches``): a typo fixed, a phrase added
# or a sentence of a long paragraph reworded stays well above it, while a paragraph whose words
# were mostly replaced falls below. The same cut-off decides whether a span's words survived.
SIMILARITY_THRESHOLD = 0.6

# Between the common start and end of two texts, stretches up to this many characters (both
# together) are matched character by character (a few milliseconds); longer ones word by word.
CHAR_MATCH_LIMIT = 600
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
# A segment that only had words added (see :func:`pair_score`) is the same paragraph while it is
# at most GROWTH_LIMIT times as long as it was plus GROWTH_SLACK characters (a short answer may
# gain a clause: "Money." -> "Money, always money."); beyond that, the old words are a small
# part of it.
GROWTH_LIMIT = 3
GROWTH_SLACK = 40

# The ways a coding fares, in the order plans list them.
OUTCOMES = ("kept", "moved", "reanchored", "orphaned", "dropped")


@dataclass(frozen=True)
class Pair:
    """An old segment and the new one it became (indexes into the two lists)."""

    old: int
    new: int
    similarity: float  # 1.0 for the same text


@dataclass(frozen=True)
class CodingMove:
    """A coding carried from its old segment to the new one (``move`` or ``reanchor``)."""

    old: Coding
    new: Coding
    action: str


@dataclass(frozen=True)
class Orphan:
    """A coding whose words are gone: its segment deleted or rewritten, or its span's words."""

    coding: Coding
    segment_text: str  # the old segment's text
    reason: str


@dataclass
class ReanchorPlan:
    """Where every coding of a replaced source goes. Pure data: see :func:`plan_replace`."""

    source: str
    threshold: float
    pairs: list[tuple[str, str, float]] = field(default_factory=list)  # (old id, new id, sim)
    removed_segments: list[str] = field(default_factory=list)  # old ids paired with nothing
    added_segments: list[str] = field(default_factory=list)  # new ids paired with nothing
    kept: list[Coding] = field(default_factory=list)  # same id, same text: nothing to do
    moves: list[CodingMove] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    dropped: list[Coding] = field(default_factory=list)  # suggestions on changed segments
    # a paragraph split in pieces: each whole-segment coding of it (moved to the piece its
    # segment was paired with) also goes on every other piece (action ``split``); not an
    # outcome of its own (the coding is counted once, under its move)
    copies: list[CodingMove] = field(default_factory=list)

    @property
    def carry(self) -> dict[str, str]:
        """Old id -> new id of the segments whose text did not change (what was computed from
        the text alone, stakeholder mentions and stage keys, goes with them)."""
        return {old: new for old, new, sim in self.pairs if sim == 1.0}

    def outcome_of(self, coding: Coding) -> str:
        """Which of :data:`OUTCOMES` a coding of the old segments meets."""
        for name, items in self._by_outcome():
            if any(c.key == coding.key for c in items):
                return name
        raise KeyError(coding.key)

    def _by_outcome(self) -> list[tuple[str, list[Coding]]]:
        return [("kept", self.kept),
                ("moved", [m.old for m in self.moves if m.action == "move"]),
                ("reanchored", [m.old for m in self.moves if m.action == "reanchor"]),
                ("orphaned", [o.coding for o in self.orphans]),
                ("dropped", self.dropped)]

    def counts(self) -> dict[str, int]:
        """How many codings meet each outcome."""
        return {name: len(items) for name, items in self._by_outcome()}

    def by_coder(self) -> dict[str, dict[str, int]]:
        """Per coder (sorted), how many of their codings meet each outcome."""
        found: dict[str, Counter[str]] = {}
        for name, items in self._by_outcome():
            for c in items:
                found.setdefault(c.coder, Counter())[name] += 1
        return {coder: {name: found[coder][name] for name in OUTCOMES}
                for coder in sorted(found)}

    def to_dict(self, excerpt: int = 60) -> dict[str, Any]:
        """The plan as JSON data (what ``import --json`` prints and the step records)."""
        return {
            "source": self.source,
            "threshold": self.threshold,
            "counts": self.counts(),
            "coders": self.by_coder(),
            "segments": {"same": sum(1 for o, n, s in self.pairs if s == 1.0 and o == n),
                         "moved": sum(1 for o, n, s in self.pairs if s == 1.0 and o != n),
                         "edited": sum(1 for _, _, s in self.pairs if s < 1.0),
                         "removed": len(self.removed_segments),
                         "added": len(self.added_segments)},
            "moves": [{"action": m.action, "code": m.old.code, "coder": m.old.coder,
                       "status": m.old.status, "from": m.old.segment, "to": m.new.segment,
                       "span_from": _span(m.old), "span_to": _span(m.new)}
                      for m in [*self.moves, *self.copies]],
            "orphans": [{"segment": o.coding.segment, "code": o.coding.code,
                         "coder": o.coding.coder, "status": o.coding.status,
                         "span": _span(o.coding), "reason": o.reason,
                         "text": excerpt_of(covered_text(o.coding, o.segment_text), excerpt)}
                        for o in self.orphans],
            "dropped_suggestions": len(self.dropped),
            "split_copies": len(self.copies),
        }

    def carried(self) -> list[CodingMove]:
        """Every coding put on a new segment or span: the moves, then the split copies."""
        return [*self.moves, *self.copies]


def _span(c: Coding) -> list[int] | None:
    return None if c.span_start is None or c.span_end is None else [c.span_start, c.span_end]


def covered_text(coding: Coding, segment_text: str) -> str:
    """The words a coding covers: its span of the segment's text, else the whole text."""
    if coding.span_start is not None and coding.span_end is not None:
        return segment_text[coding.span_start:coding.span_end]
    return segment_text


def excerpt_of(text: str, width: int = 60) -> str:
    """The start of a text on one line, cut between words with an ellipsis when longer."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[:width - 1]
    if " " in cut[width // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + "…"


# --- aligning the segments --------------------------------------------------------------------

def _common_ends(a: str, b: str) -> tuple[int, int]:
    """The lengths of the common prefix and (not overlapping it) suffix of two texts."""
    p = len(commonprefix((a, b)))
    limit = min(len(a), len(b)) - p
    s = 0
    while s < limit and a[-1 - s] == b[-1 - s]:
        s += 1
    return p, s


def _token_starts(tokens: Sequence[str]) -> list[int]:
    starts = [0]
    for t in tokens:
        starts.append(starts[-1] + len(t))
    return starts


def char_opcodes(a: str, b: str) -> list[tuple[str, int, int, int, int]]:
    """difflib opcodes turning ``a`` into ``b``, in character offsets.

    The common start and end are matched first (a correction usually touches a few words of
    a paragraph); what lies between is matched character by character when it is short
    (:data:`CHAR_MATCH_LIMIT`), else word by word — character matching grows with the square
    of the length, and in a long stretch a word is a small part of it.
    """
    p, s = _common_ends(a, b)
    ma, mb = a[p:len(a) - s], b[p:len(b) - s]
    middle: list[tuple[str, int, int, int, int]] = []
    if ma or mb:
        if len(ma) + len(mb) <= CHAR_MATCH_LIMIT:
            middle = [(tag, i1, i2, j1, j2) for tag, i1, i2, j1, j2
                      in SequenceMatcher(None, ma, mb, autojunk=False).get_opcodes()]
        else:
            ta, tb = _TOKEN.findall(ma), _TOKEN.findall(mb)
            oa, ob = _token_starts(ta), _token_starts(tb)
            middle = [(tag, oa[i1], oa[i2], ob[j1], ob[j2]) for tag, i1, i2, j1, j2
                      in SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes()]
    ops = [("equal", 0, p, 0, p)] if p else []
    ops += [(tag, i1 + p, i2 + p, j1 + p, j2 + p) for tag, i1, i2, j1, j2 in middle]
    if s:
        ops.append(("equal", len(a) - s, len(a), len(b) - s, len(b)))
    return ops


def similarity(a: str, b: str, threshold: float = SIMILARITY_THRESHOLD) -> float:
    """How alike two texts are: twice the characters :func:`char_opcodes` finds unchanged over
    the characters of both (difflib's ratio), 1.0 for the same text.

    0.0 when the lengths alone rule out reaching ``threshold`` (difflib's real_quick_ratio).
    """
    if a == b:
        return 1.0
    total = len(a) + len(b)
    if 2 * min(len(a), len(b)) < threshold * total:
        return 0.0
    same = sum(i2 - i1 for tag, i1, i2, _, _ in char_opcodes(a, b) if tag == "equal")
    return 2 * same / total


def _grown(a: str, b: str) -> bool:
    """Whether one text is the other with words added and nothing taken away: every word and
    mark of the shorter survives, in order, and the longer is at most :data:`GROWTH_LIMIT`
    times its length plus :data:`GROWTH_SLACK`. A short answer a correction extended
    ("Money." -> "Money and time.") is the same paragraph although its ratio falls below the
    threshold."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if not short.strip() or len(long_) > GROWTH_LIMIT * len(short) + GROWTH_SLACK:
        return False
    ts, tl = _TOKEN.findall(short), _TOKEN.findall(long_)
    kept = sum(i2 - i1 for tag, i1, i2, _, _ in
               SequenceMatcher(None, ts, tl, autojunk=False).get_opcodes() if tag == "equal")
    return kept == len(ts)


def pair_score(a: str, b: str, threshold: float = SIMILARITY_THRESHOLD) -> float:
    """How strongly two segments are one paragraph edited: their :func:`similarity`, raised
    to ``threshold`` when one only :func:`_grown` from the other (so the pairing accepts it,
    ranked below every closer pair)."""
    s = similarity(a, b, threshold)
    return threshold if s < threshold and _grown(a, b) else s


def _pair_block(old: Sequence[str], new: Sequence[str], i0: int, j0: int,
                threshold: float) -> list[Pair]:
    """Order-keeping pairs of a replaced block with the greatest total similarity.

    A dynamic programme over the block (``best[i][j]``: the best total for the first ``i``
    old and ``j`` new segments); only pairs reaching ``threshold`` may be chosen. Ties keep
    the earlier pairing, so the result does not depend on anything but the texts.
    """
    k, n = len(old), len(new)
    sims = [[pair_score(old[i], new[j], threshold) for j in range(n)] for i in range(k)]
    best = [[0.0] * (n + 1) for _ in range(k + 1)]
    for i in range(1, k + 1):
        for j in range(1, n + 1):
            s = sims[i - 1][j - 1]
            paired = best[i - 1][j - 1] + s if s >= threshold else -1.0
            best[i][j] = max(best[i - 1][j], best[i][j - 1], paired)
    pairs: list[Pair] = []
    i, j = k, n
    while i and j:
        s = sims[i - 1][j - 1]
        if s >= threshold and best[i][j] == best[i - 1][j - 1] + s:
            pairs.append(Pair(i0 + i - 1, j0 + j - 1, s))
            i, j = i - 1, j - 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def align(old: Sequence[str], new: Sequence[str],
          threshold: float = SIMILARITY_THRESHOLD) -> list[Pair]:
    """Pair old segment texts with new ones (see the module's docstring), sorted by old index.

    Every old and every new segment is in at most one pair.
    """
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    pairs: list[Pair] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs.extend(Pair(i1 + d, j1 + d, 1.0) for d in range(i2 - i1))
        elif tag == "replace":
            pairs.extend(_pair_block(old[i1:i2], new[j1:j2], i1, j1, threshold))
    # a paragraph cut and pasted elsewhere: the same text, unpaired on both sides
    used_old = {p.old for p in pairs}
    used_new = {p.new for p in pairs}
    free_new: dict[str, list[int]] = {}
    for j, text in enumerate(new):
        if j not in used_new:
            free_new.setdefault(text, []).append(j)
    for i, text in enumerate(old):
        if i not in used_old and free_new.get(text):
            pairs.append(Pair(i, free_new[text].pop(0), 1.0))
    return sorted(pairs, key=lambda p: p.old)


def map_span(old_text: str, new_text: str, start: int, end: int,
             threshold: float = SIMILARITY_THRESHOLD) -> tuple[int, int] | None:
    """Where the characters ``old_text[start:end]`` are in ``new_text``, or None if gone.

    Offsets go through the character opcodes of the two texts: inside an unchanged run they
    shift with it; a boundary inside a replaced run widens to that run's replacement, one
    inside a deleted run closes up on what follows (a start) or precedes (an end). Text
    inserted right at a boundary stays outside the span. Edge whitespace the old span did not
    have is trimmed. None when nothing is left or what is left is below ``threshold``
    similar to the old words.
    """
    ops = char_opcodes(old_text, new_text)
    new_start = new_end = None
    for tag, i1, i2, j1, j2 in ops:
        if new_start is None and i1 <= start < i2:
            new_start = j1 + (start - i1) if tag == "equal" else j1
        if new_end is None and i1 < end <= i2:
            new_end = j1 + (end - i1) if tag == "equal" else (j2 if tag == "replace" else j1)
    if new_start is None or new_end is None:
        return None
    old_words = old_text[start:end]
    if old_words == old_words.lstrip():
        while new_start < new_end and new_text[new_start].isspace():
            new_start += 1
    if old_words == old_words.rstrip():
        while new_end > new_start and new_text[new_end - 1].isspace():
            new_end -= 1
    if new_end <= new_start or similarity(old_words, new_text[new_start:new_end],
                                          threshold) < threshold:
        return None
    return new_start, new_end


def find_span(old_words: str, new_text: str) -> tuple[int, int] | None:
    """Where ``old_words`` stand in ``new_text`` when they appear there exactly once."""
    at = new_text.find(old_words) if old_words else -1
    if at < 0 or new_text.find(old_words, at + 1) >= 0:
        return None
    return at, at + len(old_words)


# --- the plan ---------------------------------------------------------------------------------

def plan_replace(source: str, old_segments: Sequence[Segment], codings: Iterable[Coding],
                 new_segments: Sequence[Segment],
                 threshold: float = SIMILARITY_THRESHOLD) -> ReanchorPlan:
    """Where each of ``codings`` (on ``old_segments``) goes once ``new_segments`` replace them.

    Touches no study. Every coding given ends in exactly one of the plan's lists: ``kept``
    (its segment kept its id and text), ``moves`` (``move``: same text, new id; ``reanchor``:
    edited text, its span mapped), ``orphans`` (its words are gone; also a coding that would
    land on the key of another), or ``dropped`` (an unreviewed suggestion on a changed
    segment).
    """
    plan = ReanchorPlan(source=source, threshold=threshold)
    pairs = align([s.text for s in old_segments], [s.text for s in new_segments], threshold)
    target = {p.old: p for p in pairs}
    plan.pairs = [(old_segments[p.old].id, new_segments[p.new].id, p.similarity) for p in pairs]
    plan.removed_segments = [s.id for i, s in enumerate(old_segments) if i not in target]
    paired_new = {p.new for p in pairs}
    plan.added_segments = [s.id for j, s in enumerate(new_segments) if j not in paired_new]
    index = {s.id: i for i, s in enumerate(old_segments)}
    by_segment: dict[str, list[Coding]] = {}
    for c in codings:
        if c.segment not in index:
            raise ValueError(f"coding on {c.segment!r}, which is not one of the old segments")
        by_segment.setdefault(c.segment, []).append(c)
    old_texts = [s.text for s in old_segments]
    new_texts = [s.text for s in new_segments]
    pieces = _split_pieces(pairs, old_texts, new_texts)
    merged = _merged_into(pairs, old_texts, new_texts)
    taken: set[tuple[str, str, str, int, int]] = set()
    lost: list[Orphan] = []  # orphans for now: :func:`_found_elsewhere` may place them yet
    for seg_id in sorted(by_segment, key=index.__getitem__):
        old = old_segments[index[seg_id]]
        pair = target.get(index[seg_id])
        found = sorted(by_segment[seg_id], key=lambda c: c.key)
        if pair is None:
            gone = "its segment was deleted or rewritten"
            for c in found:
                if c.status == "suggested":
                    plan.dropped.append(c)
                else:
                    lost.append(Orphan(c, old.text, gone))
            continue
        new = new_segments[pair.new]
        same_text = pair.similarity == 1.0
        if same_text and new.id == old.id:
            plan.kept.extend(found)
            taken.update(c.key for c in found)
            continue
        for c in found:
            if not same_text and c.status == "suggested":
                plan.dropped.append(c)
                continue
            span: tuple[int, int] | None = None
            if c.span_start is not None and c.span_end is not None:
                span = ((c.span_start, c.span_end) if same_text else
                        map_span(old.text, new.text, c.span_start, c.span_end, threshold))
                if span is None:
                    lost.append(Orphan(c, old.text, "the words its span covered were deleted "
                                                    "or rewritten"))
                    continue
            elif index[seg_id] in merged:  # merged with its neighbours: on its own words
                span = find_span(old.text.strip(), new.text)
            moved = replace(c, segment=new.id, span_start=span[0] if span else None,
                            span_end=span[1] if span else None)
            if moved.key in taken:
                plan.orphans.append(Orphan(c, old.text, "another coding already has its code "
                                                        "on the same words"))
                continue
            taken.add(moved.key)
            plan.moves.append(CodingMove(c, moved, "move" if same_text else "reanchor"))
    # A paragraph split in two, two merged into one, or one moved and edited: the coding's
    # words may stand, unchanged, in another new segment. They are followed there only when
    # that cannot be a guess: the words occur exactly once in the old segments and exactly
    # once in the new ones, and are not too short to tell apart.
    for orphan in lost:
        c = orphan.coding
        words = covered_text(c, orphan.segment_text)
        at: tuple[int, int, int] | None = None
        i = index[c.segment]
        if i in pieces:  # a span of a paragraph split in pieces: among the pieces, any length
            group = sorted([target[i].new, *pieces[i]])
            hit = _found_elsewhere(words, [old_texts[i]], [new_texts[j] for j in group], 1)
            at = None if hit is None else (group[hit[0]], hit[1], hit[2])
        elif i in merged:  # a paragraph merged into a neighbour: in that one, any length
            hit = _found_elsewhere(words, [old_texts[i]], [new_texts[merged[i]]], 1)
            at = None if hit is None else (merged[i], hit[1], hit[2])
        if at is None:
            at = _found_elsewhere(words, old_texts, new_texts)
        if at is None:
            plan.orphans.append(orphan)
            continue
        j, start, end = at
        new = new_segments[j]
        whole = c.span_start is None and start == 0 and end == len(new.text)
        moved = replace(c, segment=new.id, span_start=None if whole else start,
                        span_end=None if whole else end)
        if moved.key in taken:
            plan.orphans.append(Orphan(c, orphan.segment_text, "another coding already has "
                                                               "its code on the same words"))
            continue
        taken.add(moved.key)
        plan.moves.append(CodingMove(c, moved, "reanchor"))
    plan.moves.sort(key=lambda m: (index[m.old.segment], m.old.key))
    for m in plan.moves:
        if m.old.span_start is not None or m.old.status == "suggested":
            continue
        pair = target.get(index[m.old.segment])
        if pair is None or m.new.segment != new_segments[pair.new].id:
            continue
        for j in pieces.get(pair.old, ()):
            copy = replace(m.new, segment=new_segments[j].id, span_start=None, span_end=None)
            if copy.key not in taken:
                taken.add(copy.key)
                plan.copies.append(CodingMove(m.old, copy, "split"))
    plan.orphans.sort(key=lambda o: (index[o.coding.segment], o.coding.key))
    return plan


_WORD = re.compile(r"\w+")


def _adjacent_run(whole: str, pieces: Sequence[str], at: int, taken: set[int],
                  whole_side: Sequence[str]) -> list[int] | None:
    """The indices of ``pieces`` around ``at`` that together are ``whole`` cut up: ``at`` and
    its untaken neighbours, each standing word for word in ``whole`` (and in no other text of
    ``whole_side``), which hold all of its words and none more; None when there are no such
    neighbours."""
    def fits(k: int) -> bool:
        t = pieces[k].strip()
        return (k not in taken and bool(t) and t in whole
                and sum(text.count(t) for text in whole_side) == 1)

    first = at
    while first > 0 and fits(first - 1):
        first -= 1
    last = at
    while last + 1 < len(pieces) and fits(last + 1):
        last += 1
    run = list(range(first, last + 1))
    joined = " ".join(pieces[k] for k in run)
    return run if len(run) > 1 and _WORD.findall(joined) == _WORD.findall(whole) else None


def _split_pieces(pairs: Sequence[Pair], old: Sequence[str], new: Sequence[str]
                  ) -> dict[int, list[int]]:
    """Old index -> the unpaired new segments that are the rest of it, split off.

    An old segment paired with an edited new one (similarity below 1) was split when the new
    segments right before or after its partner, paired with nothing, each stand word for word
    in the old text (and in no other old segment), and together with the partner hold all of
    the old text's words (none added)."""
    paired_new = {p.new for p in pairs}
    found: dict[int, list[int]] = {}
    for p in pairs:
        run = None if p.similarity == 1.0 else _adjacent_run(old[p.old], new, p.new,
                                                              paired_new, old)
        if run is not None:
            found[p.old] = [k for k in run if k != p.new]
    return found


def _merged_into(pairs: Sequence[Pair], old: Sequence[str], new: Sequence[str]
                 ) -> dict[int, int]:
    """Old index -> new index of the old segments merged into one new segment.

    A new segment paired with an edited old one (similarity below 1) is a merge when the old
    segments right before or after that one, paired with nothing, each stand word for word in
    the new text, and together with it hold all of its words (none added)."""
    paired_old = {p.old for p in pairs}
    found: dict[int, int] = {}
    for p in pairs:
        if p.similarity == 1.0 or old[p.old].strip() not in new[p.new]:
            continue
        run = _adjacent_run(new[p.new], old, p.old, paired_old, new)
        if run is not None:
            found.update({k: p.new for k in run})
    return found


# Words followed to another segment (see :func:`plan_replace`) must hold at least this many
# word characters' tokens: "Yes." or "No, never." occurs once by chance.
MIN_FOUND_WORDS = 4


def _occurrences(words: str, texts: Sequence[str], limit: int = 2) -> list[tuple[int, int]]:
    """(text index, offset) of the first ``limit`` occurrences of ``words`` in ``texts``."""
    found: list[tuple[int, int]] = []
    for j, text in enumerate(texts):
        at = text.find(words)
        while at >= 0:
            found.append((j, at))
            if len(found) >= limit:
                return found
            at = text.find(words, at + 1)
    return found


def _found_elsewhere(words: str, old_texts: Sequence[str], new_texts: Sequence[str],
                     min_words: int = MIN_FOUND_WORDS) -> tuple[int, int, int] | None:
    """Where a coding's words stand in the new segments, (index, start, end), when they stand
    there exactly once, stood exactly once in the old ones, and hold at least ``min_words``
    words; else None."""
    words = words.strip()
    if len(_WORD.findall(words)) < min_words:
        return None
    if len(_occurrences(words, old_texts)) != 1:
        return None
    found = _occurrences(words, new_texts)
    if len(found) != 1:
        return None
    j, at = found[0]
    return j, at, at + len(words)
