"""Reviewing suggestions: a queue ordered by uncertainty, decisions, undo, and rendering.

A reviewer sees one (segment, code) suggestion at a time, the most uncertain first (scores
nearest 0.5: each decision then teaches the model most). Accepting or rejecting records a coding
under the reviewer's name with status ``accepted`` / ``rejected`` and provenance
``review of <suggester> <score>``, committed at once; undo reverts the last decision (the store
audits both). Suggestions the reviewer has already coded or decided are not shown again.

The queue is read a page at a time (:data:`PAGE_SIZE` pairs, ranked in SQL among the stored
suggestions nearest 0.5 through an index, and the segments of that page only), so the first
screen costs about the same in a study of any size.
Every :data:`REFIT_EVERY` decisions the session refits the model on the study's human codings
and decisions so far and re-scores the suggestions fetched but not yet shown, reordering them
(with ``background``, as ``tipqual review`` runs it, after every decision, the model is fitted
on a thread of its own while the reviewer goes on, and the suggestions after the one on screen
are reordered once it is done);
these session scores rank the queue only (they are shown in "why"): the stored suggestions keep
the score and provenance ``suggest`` gave them, and a decision records that stored score.

On screen a suggestion is wrapped to the terminal's width on word boundaries, its matched words
emphasised, and "why" names each rule match in plain words with the words it matched marked
in their place in the segment (``phrase «…asked for a [bribe] at…»``; matches whose windows
overlap share one line) and the model's score. A second reviewer's queue holds the suggestions
others decided too (blind double coding): :func:`queue_split` tells them apart from those no one
has decided, which ``tipqual status`` counts as awaiting review.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from tipqual.errors import CodingError
from tipqual.records import Coding
from tipqual.suggest.rules import rule_kind

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from tipqual.codebook.model import Codebook
    from tipqual.records import Segment
    from tipqual.store.project import Project

KEYS_HELP = ("a accept   r reject   s skip   u undo the last decision   q quit   ? this help")


@dataclass(frozen=True)
class Suggestion:
    """One code proposed for one segment, by one or more suggesters."""

    segment: Segment
    code: str
    suggestions: tuple[Coding, ...]
    order: tuple[Any, ...] = ()  # the queue's sort key in the study (uncertainty first)
    refit: tuple[float, float, int] | None = None  # (score, threshold, trained on) this session

    @property
    def uncertainty(self) -> float:
        """How near the model is to undecided: the session's refitted score's distance from
        its threshold, else the stored score's distance from 0.5."""
        if self.refit is not None:
            return abs(self.refit[0] - self.refit[1])
        return float(self.order[0]) if self.order else abs(self.score - 0.5)

    @property
    def score(self) -> float:
        """The model's calibrated score when it proposed the code, else the best rule score."""
        model = [c.score for c in self.suggestions if c.coder == "tipqual-model"]
        scores = model or [c.score for c in self.suggestions]
        return float(max(s or 0.0 for s in scores))

    @property
    def suggester(self) -> str:
        """Who proposed it (``tipqual-rules``, ``tipqual-model``, or both joined by ``+``)."""
        return "+".join(sorted(c.coder for c in self.suggestions))

    def matches(self) -> list[tuple[int, int]]:
        """Character ranges in the segment text that the rules matched for this code."""
        return sorted({(m.start, m.end) for c in self.suggestions for m in _matches(c)})

    def reasons(self) -> list[str]:
        """Why it was suggested, in plain words: the model's score, and one line per rule
        match with its kind and the words it matched in the segment (in context)."""
        lines: list[str] = []
        has_rules = any("rules" in _provenance(c) for c in self.suggestions)
        for c in sorted(self.suggestions, key=lambda c: c.coder):
            prov = _provenance(c)
            score = "" if c.score is None else f" {c.score:.2f}"
            if not prov:  # not tipqual's record: say what it says
                lines.append(f"{c.coder}{score}: {_printable(c.provenance or 'no provenance')}")
                continue
            hits = [f"{kind} «{context_of(self.segment.text, ranges)}»"
                    + (f" ({note})" if note else "")
                    for kind, note, ranges in _windows(self.segment.text, _matches(c))]
            if "model" in prov:
                model = prov["model"] if isinstance(prov["model"], dict) else {}
                line = f"model score{score}"
                if model.get("trained_on"):
                    line += f" (learned from {model['trained_on']} coded segments)"
                lines.append(line)
                if has_rules:  # the rules' own lines show these matches
                    hits = []
            elif hits:
                hits[0] = f"rules{score}: {hits[0]}"
            lines += hits
        if self.refit is not None:
            lines.append(f"refitted model score {self.refit[0]:.2f} (this session, learned from "
                         f"{self.refit[2]} coded segments)")
        return lines


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """``text`` with control characters (a terminal escape, a line break) shown as ``?``."""
    return _CONTROL.sub("?", text)


class Match(NamedTuple):
    """One rule match recorded in a suggestion's provenance."""

    start: int
    end: int
    kind: str  # "phrase" or "pattern"
    cue: str | None  # the negation or hedge word before it, if any


def _matches(coding: Coding) -> list[Match]:
    """The rule matches of a suggestion, from its provenance (``[start, end, text, kind,
    cue]`` each; records written before kinds and cues were kept per match take them from
    the coding's ``rules`` and ``cues``)."""
    prov = _provenance(coding)
    kinds = {rule_kind(r) for r in prov.get("rules", []) if isinstance(r, str)}
    kind = kinds.pop() if len(kinds) == 1 else "rule"
    cues = [str(w) for w in prov.get("cues", []) if isinstance(w, str)]
    found: dict[tuple[int, int], Match] = {}
    for m in prov.get("matches", []):
        if not isinstance(m, list):
            continue
        try:
            start, end = int(m[0]), int(m[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        if len(m) >= 5:
            hit = Match(start, end, str(m[3]), None if m[4] is None else str(m[4]))
        else:
            hit = Match(start, end, kind, ", ".join(cues) or None)
        found.setdefault((start, end), hit)
    return [found[k] for k in sorted(found)]


CONTEXT_WORDS = 5  # words shown either side of a match in "why"


def window(text: str, start: int, end: int, words: int = CONTEXT_WORDS) -> tuple[int, int]:
    """The character range of ``text[start:end]`` widened by up to ``words`` words either
    side (the whole text at either end when fewer are left)."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    words = max(words, 1)
    before = [m.start() for m in re.finditer(r"\S+", text[:start])]
    after = [m.end() for m in re.finditer(r"\S+", text[end:])]
    lo = before[-words] if len(before) > words else 0
    hi = end + after[words - 1] if len(after) > words else len(text)
    return lo, hi


def context_of(text: str, ranges: list[tuple[int, int]], words: int = CONTEXT_WORDS) -> str:
    """The words of ``text`` from ``words`` words before the first of ``ranges`` to ``words``
    words after the last, on one line, each range's words marked ``[like this]`` (ranges that
    overlap marked once); ``…`` marks text left out."""
    spans = _merged([(max(0, min(a, len(text))), max(0, min(b, len(text)))) for a, b in ranges],
                    len(text))
    if not spans:
        return " ".join(text.split())
    lo, hi = window(text, spans[0][0], spans[0][1], words)[0], \
        window(text, spans[-1][0], spans[-1][1], words)[1]
    out, at = [], lo
    for start, end in spans:
        if end > start:
            out += [text[at:start], "[", text[start:end], "]"]
            at = end
    out.append(text[at:hi])
    snippet = " ".join("".join(out).split())
    return ("…" if lo > 0 else "") + snippet + ("…" if hi < len(text) else "")


def context(text: str, start: int, end: int, words: int = CONTEXT_WORDS) -> str:
    """The matched words ``text[start:end]``, marked ``[like this]``, with up to ``words``
    words either side, on one line; ``…`` marks text left out (see :func:`context_of`)."""
    return context_of(text, [(start, end)], words)


def _windows(text: str, matches: list[Match]) -> list[tuple[str, str, list[tuple[int, int]]]]:
    """The matches as the "why" lines show them: ``(kind, cue note, ranges)``, one line per
    run of matches of one kind whose context windows overlap (two phrases a word apart make
    one line with both marked, not two lines that look alike), in text order. The note names
    the negation or hedge before a match: ``after "never"`` when the line marks one match or
    all its matches follow the same cue, else each cued word (``"fees" after "nobody"``)."""
    runs: list[tuple[str, list[Match]]] = []
    reach: dict[str, tuple[int, int]] = {}  # kind: (its last run, where that run's window ends)
    for m in sorted(matches, key=lambda m: (m.start, m.end)):
        lo, hi = window(text, m.start, m.end)
        if m.kind in reach and lo <= reach[m.kind][1]:
            at = reach[m.kind][0]
            runs[at][1].append(m)
            reach[m.kind] = (at, max(reach[m.kind][1], hi))
        else:
            runs.append((m.kind, [m]))
            reach[m.kind] = (len(runs) - 1, hi)
    lines = []
    for kind, run in runs:
        cues = [m.cue for m in run]
        if all(cues) and len(set(cues)) == 1:
            note = f'after "{cues[0]}"'
        else:
            note = "; ".join(f'"{" ".join(text[m.start:m.end].split())}" after "{m.cue}"'
                             for m in run if m.cue)
        lines.append((kind, note, [(m.start, m.end) for m in run]))
    return lines


def _provenance(coding: Coding) -> dict[str, Any]:
    try:
        data = json.loads(coding.provenance or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


PAGE_SIZE = 50  # suggestions fetched from the study at a time
REFIT_EVERY = 5  # decisions between refits of the session's model (0: never)


def _check_filters(project: Project, code: str | None, case: str | None) -> None:
    if code is not None and code not in project.code_ids():
        raise CodingError(f"unknown code {code!r}; the codebook has: "
                          f"{', '.join(project.code_ids())}")
    if case is not None and case not in {c.id for c in project.cases()}:
        raise CodingError(f"unknown case {case!r}; the study has: "
                          f"{', '.join(c.id for c in project.cases())}")


class QueuePages:
    """A reviewer's queue read from the study one page at a time, in the study's order."""

    def __init__(self, project: Project, coder: str, code: str | None = None,
                 case: str | None = None):
        _check_filters(project, code, case)
        self.project, self.coder, self.code, self.case = project, coder, code, case
        self.after: tuple[Any, ...] | None = None
        self.done = False

    def count(self) -> int:
        """The pairs of the whole queue (counted in SQL)."""
        return self.project.suggestion_count(self.coder, code=self.code, case=self.case)

    def next_page(self, limit: int = PAGE_SIZE) -> list[Suggestion]:
        """The next ``limit`` suggestions (empty at the end); reads only their segments."""
        from tipqual.suggest.engine import MODEL_CODER

        if self.done:
            return []
        groups = self.project.suggestion_page(self.coder, code=self.code, case=self.case,
                                              after=self.after, limit=limit,
                                              prefer=MODEL_CODER)
        if len(groups) < limit:
            self.done = True
        if not groups:
            return []
        self.after = groups[-1].after
        segments = {s.id: s for s in self.project.segments(ids={g.segment for g in groups})}
        return [Suggestion(segments[g.segment], g.code, tuple(g.codings), order=g.after)
                for g in groups if g.segment in segments]


def review_queue(project: Project, coder: str, code: str | None = None,
                 case: str | None = None) -> list[Suggestion]:
    """The whole queue of open suggestions for ``coder`` to decide, most uncertain first
    (:class:`ReviewSession` reads it a page at a time instead).

    Args:
        project: the study.
        coder: the reviewer; suggestions they already coded or decided are left out.
        code: only this code (None: all).
        case: only segments of this case (None: all).
    """
    pages = QueuePages(project, coder, code, case)
    items: list[Suggestion] = []
    while page := pages.next_page():
        items += page
    return items


@dataclass(frozen=True)
class QueueSplit:
    """A reviewer's queue told apart: ``total`` pairs, of which ``undecided`` no person has
    decided (the suggestions ``status`` counts as awaiting review) and the rest already
    decided by other reviewers: ``decided_by`` each of them, how many (a pair several others
    decided counts under each). In blind double coding a second reviewer sees those again,
    without the first reviewer's decisions, so that their agreement can be measured."""

    total: int
    undecided: int
    decided_by: dict[str, int]

    @property
    def decided(self) -> int:
        """Pairs of the queue that someone else has decided already."""
        return self.total - self.undecided

    def describe(self) -> str:
        """The split in words: "1 awaiting review, 3 already decided by ana" ("" when no one
        else has decided any, as the total then says it all)."""
        if not self.decided:
            return ""
        if len(self.decided_by) == 1:
            who = next(iter(self.decided_by))
        else:
            who = "others (" + ", ".join(f"{name} {n}" for name, n in self.decided_by.items()) \
                + ")"
        return f"{self.undecided} awaiting review, {self.decided} already decided by {who}"


def _span(c: Coding) -> tuple[int, int]:
    return (-1 if c.span_start is None else c.span_start, -1 if c.span_end is None else c.span_end)


def queue_split(project: Project, coder: str, code: str | None = None,
                case: str | None = None) -> QueueSplit:
    """How many pairs of ``coder``'s queue no one has decided, and how many each other
    reviewer has (see :class:`QueueSplit`). A pair is decided when every suggestion on it has
    a decision on its span, as ``tipqual status`` counts them (a decision on part of the
    segment leaves the whole-segment suggestion awaiting review). Reads the other people's
    decisions only when someone else has decided anything, and then only those decisions and
    the suggestions and codings of their segments."""
    _check_filters(project, code, case)
    total = project.suggestion_count(coder, code=code, case=case)
    others = [name for name in project.coders(statuses=("accepted", "rejected"))
              if name != coder]
    if not total or not others:
        return QueueSplit(total, total, {})
    decisions: dict[tuple[str, str], dict[tuple[int, int], set[str]]] = {}
    for c in project.codings(statuses=("accepted", "rejected"), coders=others,
                             codes=None if code is None else [code]):
        decisions.setdefault((c.segment, c.code), {}).setdefault(_span(c), set()).add(c.coder)
    segments = {segment for segment, _code in decisions}
    if case is not None and segments:
        segments = {entry[0] for entry in project.segment_index(segments) if entry[2] == case}
    spans: dict[tuple[str, str], set[tuple[int, int]]] = {}
    mine: set[tuple[str, str]] = set()
    if segments:
        for c in project.codings(statuses=("suggested",), segments=segments):
            spans.setdefault((c.segment, c.code), set()).add(_span(c))
        mine = {(c.segment, c.code) for c in project.codings(coders=[coder], segments=segments)}
    by: dict[str, int] = {}
    decided = 0
    for pair, taken in decisions.items():
        wanted = spans.get(pair)
        if pair[0] not in segments or not wanted or pair in mine or not wanted <= set(taken):
            continue
        decided += 1
        for name in sorted(set().union(*(taken[span] for span in wanted))):
            by[name] = by.get(name, 0) + 1
    return QueueSplit(total, total - decided, dict(sorted(by.items())))


class SessionModel:
    """The suggestion model refitted during a review on the study's human codings and
    decisions (those of this session included), to re-score what comes next.

    Features of a segment are worked out once per session; a refit needs at least
    :data:`~tipqual.suggest.engine.MIN_TRAINING` coded segments, and a code is re-scored only
    when it has :data:`~tipqual.suggest.engine.MIN_EXAMPLES` positives and negatives.
    """

    def __init__(self, project: Project):
        self.project = project
        self.codebook = project.codebook()
        self.nlp: Any = None
        self.features: dict[str, Any] = {}
        self.clf: Any = None
        self.columns: dict[str, tuple[int, float]] = {}  # usable code: (column, threshold)
        self.trained_on = 0
        self._refit_nlp: Any = None  # the background refits' pipeline (see background_job)

    def _items(self, segments: list[Segment]) -> list[Any]:
        todo = [s for s in segments if s.id not in self.features]
        if todo:
            if self.nlp is None:
                from tipqual.nlp.pipeline import build_pipeline

                self.nlp = build_pipeline(self.codebook)
            self.features.update(_featurized(self.nlp, todo))
        return [self.features[s.id] for s in segments]

    def fit(self) -> bool:
        """Refit on the study's codings now; False (and no model) when too few."""
        return self.adopt(train(self.examples()))

    def coded(self) -> tuple[list[Segment], list[set[str]]] | None:
        """The study's coded segments and their codes, read now (on the thread that owns the
        study); None when too few to learn from."""
        from tipqual.suggest.engine import MIN_TRAINING, training_set

        if self.codebook is None:
            return None
        segments, labels = training_set(self.project, self.codebook)
        if len(segments) < MIN_TRAINING or not any(labels):
            return None
        return segments, labels

    def examples(self) -> tuple[list[Any], list[set[str]]] | None:
        """What a refit learns from: the study's coded segments as model inputs and their
        codes (see :meth:`coded`); None when too few."""
        read = self.coded()
        return None if read is None else (self._items(read[0]), read[1])

    def background_job(self) -> Callable[[], tuple[Any, dict[str, Any]]]:
        """A refit to run on a thread of its own: the study is read now, on this thread; the
        thread works out the features of segments not seen before (with a pipeline of the
        refit threads' own, as one runs at a time; the reviewer's thread keeps ``nlp``) and
        fits the model. It returns what :func:`train` gives and the new features, which
        :meth:`take` adds to the session's."""
        read = self.coded()
        known = dict(self.features)

        def job() -> tuple[Any, dict[str, Any]]:
            if read is None:
                return train(None), {}
            segments, labels = read
            todo = [s for s in segments if s.id not in known]
            new: dict[str, Any] = {}
            if todo:
                if self._refit_nlp is None:
                    from tipqual.nlp.pipeline import build_pipeline

                    self._refit_nlp = build_pipeline(self.codebook)
                new = _featurized(self._refit_nlp, todo)
            items = [known[s.id] if s.id in known else new[s.id] for s in segments]
            return train((items, labels)), new

        return job

    def take(self, done: tuple[Any, dict[str, Any]]) -> bool:
        """Adopt what a :meth:`background_job` gave (on the reviewer's thread)."""
        fitted, new = done
        for seg_id, item in new.items():
            self.features.setdefault(seg_id, item)
        return self.adopt(fitted)

    def adopt(self, fitted: tuple[Any, list[set[str]]] | None) -> bool:
        """Take a model :func:`train` fitted (None: no model); False when there is none."""
        from tipqual.suggest.engine import MIN_EXAMPLES

        self.clf, self.columns, self.trained_on = None, {}, 0
        if fitted is None:
            return False
        clf, labels = fitted
        thresholds = getattr(clf, "thresholds_", None)
        n = len(labels)
        for i, (code, pos) in enumerate(zip(clf.classes_, clf.n_positive_, strict=True)):
            if pos >= MIN_EXAMPLES and n - pos >= MIN_EXAMPLES:
                t = 0.5 if thresholds is None else float(thresholds[i])
                self.columns[str(code)] = (i, t)
        self.clf, self.trained_on = clf, n
        return True

    def rescore(self, items: list[Suggestion]) -> list[Suggestion]:
        """``items`` with the refitted model's scores (codes it can score), most uncertain
        first; ties keep the study's order."""
        from dataclasses import replace

        todo = [i for i in items if i.code in self.columns]
        out = {id(i): i for i in items}
        if self.clf is not None and todo:
            matrix = self.clf.predict_proba(self._items([i.segment for i in todo]))
            for item, row in zip(todo, matrix, strict=True):
                col, threshold = self.columns[item.code]
                out[id(item)] = replace(item, refit=(round(float(row[col]), 4), threshold,
                                                     self.trained_on))
        return sorted((out[id(i)] for i in items), key=lambda i: (i.uncertainty, i.order[1:]))


def _featurized(nlp: Any, segments: list[Segment]) -> dict[str, Any]:
    """Model inputs of ``segments`` by segment id, through ``nlp``."""
    from tipqual.suggest.classifier import items_from_docs

    docs = nlp.pipe([s.text for s in segments])
    return dict(zip((s.id for s in segments), items_from_docs(docs), strict=True))


def train(examples: tuple[list[Any], list[set[str]]] | None) -> tuple[Any, list[set[str]]] | None:
    """Fit the session's model on ``examples`` (see :meth:`SessionModel.examples`): no study,
    no spaCy, so it may run on a thread of its own."""
    from tipqual.suggest.classifier import CodeClassifier

    if examples is None:
        return None
    items, labels = examples
    return CodeClassifier(random_state=0).fit(items, labels), labels


class _Refit:
    """A refit running on a thread of its own while the reviewer goes on (see ``background``
    of :class:`ReviewSession`); its model is taken at the first screen after it is done."""

    def __init__(self, job: Callable[[], tuple[Any, dict[str, Any]]]):
        import threading

        self.result: tuple[Any, dict[str, Any]] = (None, {})
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(job,),
                                        name="tipqual-refit", daemon=True)
        self._thread.start()

    def _run(self, job: Callable[[], tuple[Any, dict[str, Any]]]) -> None:
        try:
            self.result = job()
        except BaseException as exc:  # handed to the session's thread, which raises it
            self.error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.done()


@dataclass
class Decision:
    """A decision taken in a session: the coding written and what it replaced (for undo)."""

    index: int
    coding: Coding
    previous: Coding | None


@dataclass
class ReviewSession:
    """A reviewer working through the queue; every decision is saved as it is made.

    ``items`` holds the suggestions read so far: those before ``position`` were shown, the
    rest are the fetched page still to come (reordered by each refit). ``total`` is the
    size of the whole queue when the session began.
    """

    project: Project
    coder: str
    code: str | None = None
    case: str | None = None
    page_size: int | None = None  # None: PAGE_SIZE
    refit_every: int | None = None  # None: REFIT_EVERY; 0: never refit
    background: bool = False  # refit on a thread of its own; the reviewer never waits for it
    items: list[Suggestion] = field(default_factory=list)
    position: int = 0
    history: list[Decision] = field(default_factory=list)
    skips: set[int] = field(default_factory=set)  # positions skipped and still undecided
    total: int = 0
    refits: int = 0  # how often the model was refitted in this session

    def __post_init__(self) -> None:
        from tipqual.coding.csvio import check_coder_name

        try:
            check_coder_name(self.coder)
        except CodingError as exc:
            raise CodingError(f"give your own name as reviewer (--coder): {exc.message}") from None
        self.page_size = PAGE_SIZE if self.page_size is None else max(self.page_size, 1)
        self.refit_every = REFIT_EVERY if self.refit_every is None else self.refit_every
        self._pages = QueuePages(self.project, self.coder, self.code, self.case)
        self.total = self._pages.count()
        self._model: SessionModel | None = None
        self._since_refit = 0
        self._running: _Refit | None = None  # a background refit not yet taken
        self._wanted = False  # decisions made since the running refit read the study
        self._fill()

    def _fill(self) -> None:
        """Fetch the next page when everything fetched has been shown."""
        if self.position < len(self.items) or self._pages.done:
            return
        page = self._pages.next_page(self.page_size or PAGE_SIZE)
        if self._model is not None and self._model.clf is not None:
            page = self._model.rescore(page)
        self.items += page

    def _refit(self) -> None:
        """Refit the model on the codings so far and reorder the suggestions still to come.

        In the background the study is read now and the model fitted on a thread of its own;
        a refit asked for while one runs starts when that one is taken, on what the study
        holds then."""
        self._since_refit = 0
        if self._model is None:
            self._model = SessionModel(self.project)
        if not self.background:
            if self._model.fit():
                self._reorder(self.position)
            return
        if self._running is not None:
            self._wanted = True
            return
        self._running = _Refit(self._model.background_job())

    def _reorder(self, start: int) -> None:
        assert self._model is not None
        self.refits += 1
        self.items[start:] = self._model.rescore(self.items[start:])

    def _take_refit(self) -> None:
        """Adopt a finished background refit (and start the one asked for meanwhile)."""
        running = self._running
        if running is None or not running.done():
            return
        self._running = None
        if running.error is not None:
            raise running.error
        assert self._model is not None
        if self._model.take(running.result):
            # the suggestion now on screen stays: a key pressed decides what the reviewer saw
            self._reorder(min(self.position + 1, len(self.items)))
        if self._wanted:
            self._wanted = False
            self._refit()

    def wait_for_refit(self, timeout: float | None = None) -> bool:
        """Wait for a background refit to finish and take it; False if it is still running
        after ``timeout`` seconds."""
        while self._running is not None:
            if not self._running.wait(timeout):
                return False
            self._take_refit()
        return True

    def current(self) -> Suggestion | None:
        """The suggestion to decide now, or None when the queue is done."""
        self._take_refit()
        self._fill()
        return self.items[self.position] if self.position < len(self.items) else None

    def accept(self) -> Decision:
        """Code the segment with the suggested code, under the reviewer's name."""
        return self._decide("accepted")

    def reject(self) -> Decision:
        """Record that the reviewer turned the suggestion down."""
        return self._decide("rejected")

    def _decide(self, status: str) -> Decision:
        item = self.current()
        if item is None:
            raise CodingError("nothing left to review")
        coding = Coding(segment=item.segment.id, code=item.code, coder=self.coder,
                        status=status, score=round(item.score, 4),
                        provenance=f"review of {item.suggester} {item.score:.2f}")
        with self.project.atomic():
            previous = self.project.find_coding(item.segment.id, item.code, self.coder)
            self.project.put_coding(coding)
        decision = Decision(self.position, coding, previous)
        self.history.append(decision)
        self.skips.discard(self.position)
        self.position += 1
        self._since_refit += 1
        if self.refit_every and self._since_refit >= self.refit_every:
            self._refit()
        return decision

    def skip(self) -> None:
        """Leave this suggestion undecided and move on."""
        if self.current() is not None:
            self.skips.add(self.position)
            self.position += 1

    @property
    def skipped(self) -> int:
        """Suggestions of the queue skipped in this session (and not decided since)."""
        return len(self.skips)

    @property
    def left(self) -> int:
        """Suggestions of the queue still undecided: the ones ahead and the ones skipped."""
        return self.total - len(self.history)

    def undo(self) -> Decision | None:
        """Revert the last decision (the suggestion is shown again); None if there is none."""
        if not self.history:
            return None
        decision = self.history.pop()
        with self.project.atomic():
            if decision.previous is None:
                self.project.delete_coding(decision.coding)
            else:
                self.project.put_coding(decision.previous)
        self.position = decision.index
        self._since_refit = max(self._since_refit - 1, 0)
        return decision

    def summary(self) -> dict[str, int]:
        """Counts of this session's decisions and what is left."""
        accepted = sum(d.coding.status == "accepted" for d in self.history)
        return {"accepted": accepted, "rejected": len(self.history) - accepted,
                "skipped": self.skipped, "left": self.left}

    def handle(self, key: str) -> str:
        """Apply one key (a r s u q ?); returns a short message, ``"quit"`` to stop."""
        key = key.strip().lower()[:1]
        if key in ("a", "r", "s") and self.current() is None:
            if self.left:
                return (f"end of the queue; {self.left} skipped, still undecided "
                        "(u undo, q quit)")
            return "nothing left to review (u undo, q quit)"
        if key == "a":
            d = self.accept()
            return f"accepted {d.coding.code} for {d.coding.segment}"
        if key == "r":
            d = self.reject()
            return f"rejected {d.coding.code} for {d.coding.segment}"
        if key == "s":
            self.skip()
            return "skipped"
        if key == "u":
            undone = self.undo()
            return "nothing to undo" if undone is None else (
                f"undid {undone.coding.status} {undone.coding.code} for {undone.coding.segment}")
        if key == "q":
            return "quit"
        return KEYS_HELP


# ANSI select graphic rendition: bold and underline on, then everything off.
_BOLD_UNDERLINE = "\x1b[1m\x1b[4m"
_RESET = "\x1b[0m"


def _merged(ranges: list[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Ranges sorted and merged where they overlap; those reaching past ``length`` dropped."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged if start >= 0 and end <= length]


def highlight(text: str, ranges: list[tuple[int, int]], styled: bool) -> str:
    """The text with the given character ranges emphasised (bold+underline, or ``[[...]]``)."""
    out, pos = [], 0
    for start, end in _merged(ranges, len(text)):
        out.append(text[pos:start])
        word = text[start:end]
        out.append(f"{_BOLD_UNDERLINE}{word}{_RESET}" if styled else f"[[{word}]]")
        pos = end
    out.append(text[pos:])
    return "".join(out)


MIN_WIDTH = 30  # narrower terminals get lines this long all the same


def screen_width(width: int | None = None) -> int:
    """The width to wrap to: ``width``, else the terminal's (80 when there is none)."""
    return max(width or shutil.get_terminal_size((80, 24)).columns, MIN_WIDTH)


def _wrapper(width: int, indent: str = "", subsequent: str = "") -> textwrap.TextWrapper:
    # Break at spaces only (a hyphenated word stays whole unless it is longer than a line).
    return textwrap.TextWrapper(width=width, initial_indent=indent,
                                subsequent_indent=subsequent, break_on_hyphens=False,
                                expand_tabs=False, replace_whitespace=True)


_SPACES = str.maketrans("\t\n\v\f\r", "     ")


def wrap_highlighted(text: str, ranges: list[tuple[int, int]], styled: bool,
                     width: int) -> list[str]:
    """``text`` as lines of at most ``width`` characters, broken between words, with the
    ranges emphasised (see :func:`highlight`; the markers ``[[ ]]`` count in the width, the
    terminal's emphasis does not). The text's own line breaks are kept."""
    shown = text if styled else highlight(text, ranges, False)
    marked = [False] * len(shown)
    if styled:
        for start, end in _merged(ranges, len(text)):
            marked[start:end] = [True] * (end - start)
    wrapper = _wrapper(width)
    lines: list[str] = []
    base = 0
    for hard in shown.split("\n"):
        flat, cursor = hard.translate(_SPACES), 0
        pieces = wrapper.wrap(hard) or [""]
        for piece in pieces:
            # textwrap only drops the spaces it breaks at: each line is a run of the text.
            at = flat.find(piece, cursor) if piece else cursor
            cursor = at + len(piece)
            lines.append(_emphasise(shown[base + at:base + cursor],
                                    marked[base + at:base + cursor]))
        base += len(hard) + 1
    return lines


def _emphasise(text: str, marked: list[bool]) -> str:
    """``text`` with its marked characters in terminal bold+underline."""
    out, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and marked[j] == marked[i]:
            j += 1
        out.append(f"{_BOLD_UNDERLINE}{text[i:j]}{_RESET}" if marked[i] else text[i:j])
        i = j
    return "".join(out)


def _field(label: str, value: str, width: int) -> list[str]:
    """A labelled line (``label`` in a column of 10), wrapped under itself."""
    return _wrapper(width, f"{label:<9} ", " " * 10).wrap(value) or [label]


def render(item: Suggestion, codebook: Codebook, styled: bool = False, number: int = 0,
           total: int = 0, width: int | None = None, left: int | None = None) -> str:
    """One suggestion as the reviewer sees it: text, code, criteria, score and why.

    Lines are wrapped between words to ``width`` (default: the terminal's width); ``styled``
    emphasises the matched words with terminal bold+underline instead of ``[[ ]]``.
    ``number``/``total`` (and ``left``, the suggestions still undecided) head the screen.
    """
    width = screen_width(width)
    code = codebook.code(item.code)
    seg = item.segment
    head = ""
    if total:
        head = f"[{number}/{total}" + ("" if left is None else f", {left} left") + "] "
    lines = _wrapper(width, "", "    ").wrap(
        f"{head}{seg.id}  case {seg.case or '-'}  speaker {seg.speaker or '-'}")
    lines += ["", *wrap_highlighted(seg.text, item.matches(), styled, width), ""]
    lines += _field("code", f"{code.id}: {code.name}  (score {item.score:.2f})", width)
    if code.definition:
        lines += _field("means", " ".join(code.definition.split()), width)
    for label, values in (("include", code.include), ("exclude", code.exclude)):
        for value in values:
            lines += _field(label, value, width)
    for i, reason in enumerate(item.reasons()):
        lines += _field("why" if i == 0 else "", reason, width)
    return "\n".join(lines)
