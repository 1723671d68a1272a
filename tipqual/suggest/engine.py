"""Code suggestions: spaCy rules and a learned model, stored for review with score and provenance.

Rules come from the codebook (phrases and token patterns, see :mod:`tipqual.nlp.pipeline`); a
match scores lower when a negation or hedge ("never", "not", "maybe" …) comes shortly before
it. The learned model (:class:`~tipqual.suggest.classifier.CodeClassifier`, a scikit-learn
style estimator) is trained on the study's human and accepted codings, rejected suggestions
counting as negatives, the codebook's own words (names, definitions, include notes, examples)
as weak examples, and each segment's context (the interviewer's question before it, the case's
attributes) as a separate group of features; with no codings, rules alone suggest. By default
the model shows a code when its calibrated score reaches the code's threshold learned by
cross-validation, and a segment gets at least the few most likely codes when cross-validation
says every coded segment carries that many (the model predicts a set of codes per segment);
a ``min_score`` replaces all of that with one threshold on the score. :func:`suggest` stores the
suggestions with ``Project.replace_suggestions`` (coders ``tipqual-rules`` and
``tipqual-model``), never touching what a person coded or decided, and skips segments whose
text, codebook and model are unchanged since the last run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from tipqual.errors import NO_CODEBOOK_ADVICE, CodingError, TipqualError
from tipqual.records import Progress
from tipqual.suggest.classifier import CodeClassifier, codebook_examples, items_from_docs
from tipqual.suggest.rules import RuleHit, rule_scores
from tipqual.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc

    from tipqual.codebook.model import Codebook
    from tipqual.records import Coding, Mention, Segment
    from tipqual.store.project import Project

RULES_CODER = "tipqual-rules"
MODEL_CODER = "tipqual-model"
SUGGESTERS = (RULES_CODER, MODEL_CODER)
STAGE = "suggest"
DEFAULT_MIN_SCORE: float | None = None  # None: RULE_MIN_SCORE for rules, learned per code
RULE_MIN_SCORE = 0.3  # the rules' threshold when no min_score is given
DECIDED = ("human", "accepted", "rejected")
MIN_TRAINING = 10  # coded segments before the model suggests at all
MIN_EXAMPLES = 3  # positives and negatives a code needs before the model suggests it
PARALLEL_MIN = 1000  # segments to process before suggest spreads the work over processes
MAX_AUTO_JOBS = 4  # processes suggest uses of its own accord, at most


def review_order(items: Iterable[Any],
                 score: Callable[[Any], float] = lambda item: item.score) -> list[Any]:
    """Active-learning order: the most uncertain first (scores nearest 0.5), stable otherwise."""
    return sorted(items, key=lambda item: abs(score(item) - 0.5))


def _sha(*parts: str) -> str:
    """SHA-256 of the parts, each UTF-8 and followed by a NUL byte (in one call to the hash)."""
    return hashlib.sha256("".join(f"{part}\0" for part in parts).encode()).hexdigest()


@dataclass
class SuggestResult:
    """What a run of :func:`suggest` did.

    Codes are suggested for respondents' segments only; every segment is read for the
    stakeholders it names. A segment whose text, decided codes, codebook and model are
    unchanged since the last run is skipped.
    """

    segments: int = 0  # every segment of the study
    processed: int = 0  # segments read in this run (respondents' and interviewers')
    skipped: int = 0  # segments not read: unchanged since the last run
    respondent: int = 0  # respondents' segments of the study
    considered: int = 0  # respondents' segments looked at for codes in this run
    unchanged: int = 0  # respondents' segments skipped as unchanged
    added: int = 0  # suggestions stored
    removed: int = 0  # earlier undecided suggestions of the segments read, removed
    mentions: int = 0  # stakeholder mentions found in the segments read
    trained_on: int = 0  # segments the model learned from (0: rules only)
    codes: dict[str, int] = field(default_factory=dict)  # suggestions stored, per code

    @property
    def interviewer(self) -> int:
        """Interviewers' segments read in this run (for their stakeholder mentions only)."""
        return self.processed - self.considered

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the counts."""
        return dict(self.__dict__)


def segment_contexts(project: Project) -> dict[str, str]:
    """Per respondent segment: what the model reads beside its text, as one string.

    The last interviewer turn before it in its source (the question it answers) and its case's
    attributes (``attr_name_value`` words).
    """
    return {seg_id: context for seg_id, role, _, context in _stream(project)
            if role == "respondent"}


def _stream(project: Project) -> Iterator[tuple[str, str, str, str]]:
    """``(id, role, text, context)`` of every segment in document order, read as a stream;
    a respondent's context as :func:`segment_contexts` gives it, "" for an interviewer."""
    cases = {c.id: " ".join("attr_" + "_".join(f"{k} {v}".lower().split())
                            for k, v in sorted(c.attributes.items()))
             for c in project.cases()}
    source, question = None, ""
    # Both in document order: the index gives each segment's source and case, the other its
    # text (neither builds whole Segment records).
    for (seg_id, src, case, *_), (_, role, text) in zip(project.segment_index(),
                                                       project.segment_texts(), strict=True):
        if src != source:
            source, question = src, ""
        if role != "respondent":
            question = text
            yield seg_id, role, text, ""
            continue
        yield seg_id, role, text, " ".join(part for part in (question, cases.get(case or "", ""))
                                           if part)


def _keyed(project: Project, run_key: str, decided: dict[str, set[str]]
           ) -> Iterator[tuple[str, str, str, str, str]]:
    """``(id, role, text, context, key)`` of every segment in document order: ``key`` names
    what suggesting it depends on (the run, its role, text, decided codes and context)."""
    for seg_id, role, text, context in _stream(project):
        codes = decided.get(seg_id)
        yield seg_id, role, text, context, _sha(
            run_key, role, text, json.dumps(sorted(codes)) if codes else "[]", context)


def training_set(project: Project, codebook: Codebook) -> tuple[list[Segment], list[set[str]]]:
    """Segments a person has coded or decided on, with the codes they applied (positives).

    Human and accepted codings are positives; a rejected suggestion makes its segment a
    labelled example without that code (a negative). Codes not in ``codebook`` are ignored.
    """
    known = set(codebook.ids)
    labels: dict[str, set[str]] = {}
    for c in project.codings(statuses=DECIDED):
        wanted = labels.setdefault(c.segment, set())
        if c.status in ("human", "accepted") and c.code in known:
            wanted.add(c.code)
    segments = list(project.segments(ids=labels)) if labels else []
    return segments, [labels[s.id] for s in segments]


def model_state(segments: list[Segment], labels: list[set[str]], random_state: int = 0,
                contexts: dict[str, str] | None = None,
                codebook: Codebook | None = None) -> tuple[str, int]:
    """The hash naming the model these examples train, and how many it trains on (0: rules only).

    Worked out without training, so that a run with nothing to redo costs no model fit.
    """
    if len(segments) < MIN_TRAINING or not any(labels):
        return _sha("rules-only"), 0
    ctx = contexts or {}
    fingerprint = json.dumps([(s.id, _sha(s.text), _sha(ctx.get(s.id, "")), sorted(y))
                              for s, y in zip(segments, labels, strict=False)])
    if codebook is not None:
        fingerprint += json.dumps(codebook_examples(codebook))
    params = CodeClassifier(random_state=random_state).get_params()
    return _sha(fingerprint, json.dumps(params, sort_keys=True, default=str)), len(segments)


def train_model(project: Project, codebook: Codebook, nlp: Language, *,
                random_state: int = 0) -> tuple[CodeClassifier | None, str, int]:
    """Fit the classifier on the study's decisions; returns (model or None, state hash, n)."""
    segments, labels = training_set(project, codebook)
    contexts = segment_contexts(project)
    state, n = model_state(segments, labels, random_state, contexts, codebook)
    model = _fit(segments, labels, nlp, codebook, contexts, random_state) if n else None
    return model, state, n


def _fit(segments: list[Segment], labels: list[set[str]], nlp: Language, codebook: Codebook,
         contexts: dict[str, str], random_state: int = 0) -> CodeClassifier:
    model = CodeClassifier(random_state=random_state)
    weak = codebook_examples(codebook)
    prior = list(zip([code for code, _ in weak], items_from_docs(nlp.pipe(t for _, t in weak)),
                     strict=False))
    items = items_from_docs(nlp.pipe(s.text for s in segments),
                            [contexts.get(s.id, "") for s in segments])
    return model.fit(items, labels, prior=prior, groups=[s.source for s in segments])


def _usable_codes(clf: CodeClassifier) -> set[str]:
    """Codes the model may suggest: enough negatives, and enough positives among the coded
    segments or evidence in the codebook (its definition or examples)."""
    n = clf.n_examples_
    weak = getattr(clf, "n_prior_", [0] * len(clf.classes_))
    return {str(c) for c, pos, w in zip(clf.classes_, clf.n_positive_, weak, strict=False)
            if (pos >= MIN_EXAMPLES or w > 0) and n - pos >= MIN_EXAMPLES}


def _codebook_ref(codebook: Codebook) -> dict[str, str]:
    return {"name": codebook.name, "version": codebook.version,
            "sha256": codebook.sha256[:12]}


# One encoder for every provenance record: json.dumps with options builds a new one per call.
_PROVENANCE_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def _provenance(data: dict[str, Any]) -> str:
    return _PROVENANCE_JSON.encode(data)


def _matches(hits: Iterable[RuleHit]) -> list[list[Any]]:
    """The rule matches a provenance records: ``[start, end, text, kind, cue]`` each, the
    offsets into the segment text, ``kind`` "phrase" or "pattern", ``cue`` the negation or
    hedge word before the match (or None)."""
    return [[h.start, h.end, h.text, h.kind, h.cue] for h in hits]


def segment_suggestions(segment_id: str, doc: Doc, probs: dict[str, float] | None,
                        decided: Iterable[str], context: dict[str, Any],
                        min_score: float | None,
                        thresholds: dict[str, float] | None = None,
                        chosen: Iterable[str] | None = None) -> list[Coding]:
    """The rule and model suggestions for one processed segment (undecided codes only).

    ``min_score`` None: rules need :data:`RULE_MIN_SCORE`; the model shows the codes of its
    set for the segment (``chosen``, see :meth:`CodeClassifier.select`) or, without one, each
    code reaching its threshold (``thresholds``, 0.5 for a code without one).
    """
    from tipqual.records import Coding

    out = []
    rules = rule_scores(doc)
    rule_min = RULE_MIN_SCORE if min_score is None else min_score
    for code, (score, hits) in rules.items():
        if code in decided or score < rule_min:
            continue
        prov = {"suggester": RULES_CODER, "rules": sorted({h.rule for h in hits}),
                "matches": _matches(hits),
                "cues": sorted({h.cue for h in hits if h.cue}),
                "codebook": context["codebook"]}
        out.append(Coding(segment=segment_id, code=code, coder=RULES_CODER, status="suggested",
                          score=score, provenance=_provenance(prov)))
    picked = set(chosen) if chosen is not None and min_score is None else None
    for code, p in sorted((probs or {}).items()):
        if picked is not None:
            shown = code in picked
        else:
            shown = p >= ((thresholds or {}).get(code, 0.5) if min_score is None else min_score)
        if code in decided or not shown:
            continue
        hits = rules.get(code, (0.0, []))[1]
        prov = {"suggester": MODEL_CODER, "model": context["model"],
                "matches": _matches(hits),
                "codebook": context["codebook"]}
        out.append(Coding(segment=segment_id, code=code, coder=MODEL_CODER, status="suggested",
                          score=round(float(p), 4), provenance=_provenance(prov)))
    return out


def _decided_codes(project: Project) -> dict[str, set[str]]:
    decided: dict[str, set[str]] = {}
    for c in project.codings(statuses=DECIDED):
        decided.setdefault(c.segment, set()).add(c.code)
    return decided


def suggest(project: Project, model: str | None = None, jobs: int | None = None,
            min_score: float | None = DEFAULT_MIN_SCORE, progress: Progress | None = None,
            batch_size: int = 64) -> SuggestResult:
    """Propose codes for the study's segments and store them for review.

    Args:
        project: the open study (its current codebook supplies codes and stakeholders).
        model: an installed trained spaCy pipeline to use; None for the blank English one.
        jobs: processes for the language processing, this one included (``jobs - 1``
            workers are started); None chooses: one per available core (at most
            :data:`MAX_AUTO_JOBS`) when at least :data:`PARALLEL_MIN` segments need
            processing, else 1. The stored result is the same whatever the number.
        min_score: suggestions scoring below this are not stored; None (the default): rule
            suggestions need :data:`RULE_MIN_SCORE`, the model's need each code's threshold
            learned by cross-validation.
        progress: a progress display (see :data:`tipqual.records.Progress`), or None.
        batch_size: segments per ``nlp.pipe`` batch, per worker task and per store write.

    Returns:
        A :class:`SuggestResult` with counts of what was processed, skipped and stored.
    """
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise TipqualError(f"--min-score must be between 0 and 1, not {min_score}")
    if jobs is not None and jobs < 1:
        raise TipqualError(f"--jobs must be at least 1, not {jobs}")
    codebook = project.codebook()
    if codebook is None:
        raise CodingError(f"the study has no codebook; {NO_CODEBOOK_ADVICE}", path=project.path)
    # The keys come first: when no segment changed, neither spaCy nor the model is needed.
    examples, labels = training_set(project, codebook)
    wanted = {s.id for s in examples}  # the model reads the contexts of its examples only
    contexts = {seg_id: context for seg_id, role, _, context in _stream(project)
                if role == "respondent" and seg_id in wanted}
    state, trained_on = model_state(examples, labels, 0, contexts, codebook)
    run_key = _sha(codebook.sha256, state, model or "", repr(min_score), __version__)
    decided = _decided_codes(project)
    old_keys = project.stage_keys(STAGE)
    result = SuggestResult(trained_on=trained_on)
    todo = 0  # counted here, read again as a stream when processed (no key is kept)
    for seg_id, role, _, _, key in _keyed(project, run_key, decided):
        result.segments += 1
        respondent = role == "respondent"
        result.respondent += int(respondent)
        if old_keys.get(seg_id) != key:
            todo += 1
            result.considered += int(respondent)
    result.skipped = result.segments - todo
    result.unchanged = result.respondent - result.considered
    if not todo:
        return result
    if jobs is None:
        jobs = auto_jobs(todo)
    from tipqual.suggest import workers
    nlp, clf = None, None
    shared = jobs == 1 or workers.inherits()  # the workers can use this process's pipeline
    if trained_on or shared:
        from tipqual.nlp.pipeline import build_pipeline

        nlp = build_pipeline(codebook, model)  # built once here, shared by forked workers
        if trained_on:
            clf = _fit(examples, labels, nlp, codebook, contexts)
    context = {"codebook": _codebook_ref(codebook),
               "model": {"name": "tipqual.suggest.classifier.CodeClassifier",
                         "version": __version__,
                         "state": state[:12], "trained_on": trained_on,
                         "pipeline": model or "blank-en"}}
    setup = (codebook, model, clf, context, min_score, nlp if shared else None)
    with project.atomic():
        changed = ((seg_id, role, text, context, key) for seg_id, role, text, context, key
                   in _keyed(project, run_key, decided) if old_keys.get(seg_id) != key)
        _process(project, setup, changed, todo, decided, jobs, batch_size, progress, result)
    return result


def auto_jobs(todo: int) -> int:
    """The processes (this one included) ``suggest`` uses by default for ``todo`` segments."""
    from tipqual.suggest.workers import available_cores

    return min(available_cores(), MAX_AUTO_JOBS) if todo >= PARALLEL_MIN else 1


# A batch of segments for the language processing: (id, role, text, decided codes, context).
Batch = list[tuple[str, str, str, tuple[str, ...], str]]


class BatchSuggester:
    """The per-segment work of :func:`suggest`: from a batch of segment texts to suggestions
    and stakeholder mentions, touching no study (so it can run in a worker process).

    Only respondents' segments get code suggestions, so only they go through the whole
    pipeline; the others need their stakeholder mentions only (tokenizer and stakeholder
    ruler).
    """

    def __init__(self, codebook: Codebook, model: str | None, clf: CodeClassifier | None,
                 context: dict[str, Any], min_score: float | None,
                 nlp: Language | None = None):
        from tipqual.nlp.pipeline import STAKEHOLDER_RULER, build_pipeline

        self.nlp = nlp if nlp is not None else build_pipeline(codebook, model)
        self.stakeholders = self.nlp.get_pipe(STAKEHOLDER_RULER)
        self.clf = clf
        self.usable = _usable_codes(clf) if clf is not None else set()
        self.thresholds = ({str(c): float(t) for c, t in zip(clf.classes_, clf.thresholds_,
                                                              strict=False)}
                           if clf is not None else {})
        self.context = context
        self.min_score = min_score

    def __call__(self, batch: Batch) -> tuple[list[str], list[Coding], list[Mention]]:
        """The batch's segment ids, its suggestions and its mentions, in segment order."""
        from tipqual.nlp.pipeline import doc_mentions

        respondents = [item for item in batch if item[1] == "respondent"]
        docs = dict(zip((item[0] for item in respondents),
                        self.nlp.pipe([item[2] for item in respondents],
                                      batch_size=max(len(respondents), 1)), strict=False))
        probs: dict[str, dict[str, float]] = {}
        chosen: dict[str, set[str]] = {}
        if self.clf is not None and docs:
            matrix = self.clf.predict_proba(items_from_docs(
                docs.values(), [item[4] for item in respondents]))
            shown = self.clf.select(matrix)
            probs = {seg_id: {c: p for c, p in zip(self.clf.classes_, row, strict=False)
                              if c in self.usable}
                     for seg_id, row in zip(docs, matrix, strict=False)}
            chosen = {seg_id: {str(c) for c, on in zip(self.clf.classes_, row, strict=False)
                               if on}
                      for seg_id, row in zip(docs, shown, strict=False)}
        codings: list[Coding] = []
        mentions: list[Mention] = []
        for seg_id, _, text, decided, _ in batch:
            doc = docs.get(seg_id)
            if doc is None:
                doc = self.stakeholders(self.nlp.make_doc(text))
            else:
                codings += segment_suggestions(seg_id, doc, probs.get(seg_id), decided,
                                               self.context, self.min_score, self.thresholds,
                                               chosen.get(seg_id))
            mentions += doc_mentions(seg_id, doc)
        return [item[0] for item in batch], codings, mentions


def _process(project: Project, setup: tuple[Any, ...],
             changed: Iterator[tuple[str, str, str, str, str]], total: int,
             decided: dict[str, set[str]], jobs: int, batch_size: int,
             progress: Progress | None, result: SuggestResult) -> None:
    """Run the language processing over the ``total`` segments to redo (``changed``: id, role,
    text, context and key of each, streamed) in ``jobs`` processes, and store each batch's
    suggestions, mentions and stage keys, in segment order."""
    from tipqual.suggest.workers import ordered_map

    keys: dict[str, str] = {}  # of the batches handed out and not yet stored

    def batches() -> Iterator[Batch]:
        while items := list(islice(changed, batch_size)):
            keys.update((item[0], item[4]) for item in items)
            yield [(seg_id, role, text, tuple(sorted(decided.get(seg_id, ()))), context)
                   for seg_id, role, text, context, _ in items]

    with nullcontext(None) if progress is None else progress(total, "Suggesting") as bar:
        for ids, codings, mentions in ordered_map(BatchSuggester, setup, batches(), jobs):
            counts = project.replace_suggestions(SUGGESTERS, ids, codings)
            project.replace_mentions(ids, mentions)
            project.set_stage_keys(STAGE, {i: keys.pop(i) for i in ids})
            result.processed += len(ids)
            result.added += counts["added"]
            result.removed += counts["removed"]
            result.mentions += len(mentions)
            for c in codings:
                result.codes[c.code] = result.codes.get(c.code, 0) + 1
            if bar is not None:
                bar.update(len(ids))
    result.codes = dict(sorted(result.codes.items()))
