"""Code suggestions: spaCy rules and a learned model, stored for review with score and provenance.

Rules come from the codebook (phrases and token patterns, see :mod:`tipqual.nlp`); a match
scores lower when a negation or hedge ("never", "not", "maybe" …) comes shortly before it. The
learned model (:class:`CodeClassifier`, a scikit-learn style estimator) is trained on the
study's human and accepted codings, rejected suggestions counting as negatives; with no codings,
rules alone suggest. :func:`suggest` stores the suggestions with
``Project.replace_suggestions`` (coders ``tipqual-rules`` and ``tipqual-model``), never touching
what a person coded or decided, and skips segments whose text, codebook and model are unchanged
since the last run.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, NamedTuple

from tipqual import __version__
from tipqual.errors import CodingError, TipqualError

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc

    from tipqual.codebook import Codebook
    from tipqual.project import Coding, Project, Segment

RULES_CODER = "tipqual-rules"
MODEL_CODER = "tipqual-model"
SUGGESTERS = (RULES_CODER, MODEL_CODER)
STAGE = "suggest"
DEFAULT_MIN_SCORE = 0.3
DECIDED = ("human", "accepted", "rejected")
MIN_TRAINING = 10  # coded segments before the model suggests at all
MIN_EXAMPLES = 3  # positives and negatives a code needs before the model suggests it

RULE_BASE = {"phrase": 0.7, "pattern": 0.75}
NEGATION_CUES = frozenset({"no", "not", "n't", "never", "hardly", "barely", "scarcely", "none",
                           "nobody", "nothing", "neither", "nor", "without", "cannot",
                           "rarely", "seldom"})
HEDGE_CUES = frozenset({"maybe", "perhaps", "possibly", "probably", "might", "may", "could",
                        "unsure", "whether", "if", "sometimes", "allegedly", "apparently"})
CUE_FACTOR = {"negation": 0.5, "hedge": 0.75}
CUE_WINDOW = 6
_CLAUSE_BREAKS = frozenset({".", ";", "!", "?", ":", "but", "however", "although"})


@dataclass(frozen=True)
class RuleHit:
    """One rule match in a segment: the code, where, which rule, any cue before it, the score."""

    code: str
    start: int
    end: int
    text: str
    rule: str
    cue: str | None
    score: float


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


def rule_hits(doc: Doc) -> list[RuleHit]:
    """The code ruler's matches in a processed doc, each scored (lowered after a cue)."""
    from tipqual.nlp import CODE_SPANS

    hits = []
    for span in doc.spans.get(CODE_SPANS, []):
        rule = span.id_ or "rule"
        score = RULE_BASE["pattern" if rule.startswith("pattern") else "phrase"]
        cue = cue_before(doc, span.start)
        if cue is not None:
            score *= CUE_FACTOR[cue[0]]
        hits.append(RuleHit(code=span.label_, start=span.start_char, end=span.end_char,
                            text=span.text, rule=rule, cue=None if cue is None else cue[1],
                            score=round(score, 4)))
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
        # "staff" inside "shortage of staff" is the same evidence, not a second hit.
        by_code[code] = [h for h in hits if not any(
            o is not h and o.start <= h.start and h.end <= o.end and (o.end - o.start) >
            (h.end - h.start) for o in hits)]
    return {code: (combine(h.score for h in hits), hits) for code, hits in sorted(by_code.items())}


class TextItem(NamedTuple):
    """What the model sees of a segment: its text, lemmas, word clusters and rule hits."""

    text: str
    lemmas: str = ""
    clusters: str = ""
    rules: str = ""


_CLUSTERS: dict[str, int] | None = None
_CLUSTER_PREFIXES = (4, 6, 8, 10, 12, 16)


def _cluster_table() -> dict[str, int]:
    """English Brown word clusters shipped with spacy-lookups-data (empty if absent)."""
    global _CLUSTERS
    if _CLUSTERS is None:
        import gzip
        from pathlib import Path

        try:
            import spacy_lookups_data

            path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lexeme_cluster.json.gz"
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                _CLUSTERS = json.load(fh)
        except (ImportError, OSError, ValueError):
            _CLUSTERS = {}
    return _CLUSTERS


def word_clusters(words: Iterable[str]) -> str:
    """Brown-cluster features of lower-cased words, as one space-separated string.

    A Brown cluster is a path in a binary tree of words; its prefixes group words at coarser
    levels, so a word never seen in training still shares features with seen words of its kind.
    """
    table = _cluster_table()
    out = []
    for word in words:
        value = table.get(word)
        if not value:
            out.append("c_unknown")
            continue
        path = format(value, "b")[::-1]
        out += [f"c{n}_{path[:n]}" for n in _CLUSTER_PREFIXES if len(path) >= n]
        out.append(f"c_{path}")
    return " ".join(out)


def items_from_docs(docs: Iterable[Doc]) -> list[TextItem]:
    """Model inputs from processed docs (text, lemmas, word clusters, rule hits with cues)."""
    items = []
    for doc in docs:
        words = [t for t in doc if not t.is_space]
        rules = sorted({h.code if h.cue is None else f"{h.code}~cue" for h in rule_hits(doc)})
        items.append(TextItem(text=doc.text, lemmas=" ".join(t.lemma_ for t in words),
                              clusters=word_clusters(t.lower_ for t in words),
                              rules=" ".join(rules)))
    return items


def _as_item(x: Any) -> TextItem:
    if isinstance(x, TextItem):
        return x
    if isinstance(x, str):
        return TextItem(text=x, lemmas=x.lower())
    return items_from_docs([x])[0]


def _platt(margins: Any, y: Any) -> tuple[float, float]:
    """Platt's sigmoid fit of P(y=1 | margin), with his smoothed targets (robust when few)."""
    import numpy as np
    from scipy.optimize import minimize

    pos = float(y.sum())
    neg = float(len(y) - pos)
    target = np.where(y == 1, (pos + 1) / (pos + 2), 1 / (neg + 2))

    def loss(ab: Any) -> tuple[float, Any]:
        z = ab[0] * margins + ab[1]
        p = 1 / (1 + np.exp(np.clip(z, -30, 30)))
        eps = 1e-12
        value = -np.sum(target * np.log(p + eps) + (1 - target) * np.log(1 - p + eps))
        grad_z = target - p  # d loss / d z
        return value, np.array([np.sum(grad_z * margins), np.sum(grad_z)])

    start = np.array([0.0, float(np.log((neg + 1) / (pos + 1)))])
    res = minimize(loss, start, jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


class CodeClassifier:
    """One-vs-rest code classifier over text features and rule hits (scikit-learn conventions).

    Each code gets a class-balanced linear SVM over TF-IDF word and character n-grams, lemmas,
    Brown word clusters and the codebook rules that fired; its margin is turned into a
    probability by Platt scaling fitted on cross-validated margins (on the training margins,
    with Platt's smoothed targets, when a code has fewer examples than folds).

    Args:
        C: inverse regularisation strength of the SVMs.
        word_ngrams, char_ngrams: n-gram ranges of the word and character TF-IDF features.
        use_lemmas, use_clusters, use_rules: which further feature groups to use.
        cv: folds for calibration.
        random_state: seed for the folds and the solver.
    """

    def __init__(self, C: float = 0.3, word_ngrams: tuple[int, int] = (1, 2),
                 char_ngrams: tuple[int, int] = (2, 5), use_lemmas: bool = True,
                 use_clusters: bool = True, use_rules: bool = True, cv: int = 3,
                 random_state: int | None = 0):
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.use_lemmas = use_lemmas
        self.use_clusters = use_clusters
        self.use_rules = use_rules
        self.cv = cv
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (as scikit-learn's ``get_params``)."""
        return {k: getattr(self, k) for k in ("C", "word_ngrams", "char_ngrams", "use_lemmas",
                                              "use_clusters", "use_rules", "cv",
                                              "random_state")}

    def set_params(self, **params: Any) -> CodeClassifier:
        """Change constructor arguments (as scikit-learn's ``set_params``)."""
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"unknown parameter {key!r} of CodeClassifier")
            setattr(self, key, value)
        return self

    def _new_vectorizers(self) -> list[tuple[str, Any]]:
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        fields: list[tuple[str, Any]] = [
            ("text", TfidfVectorizer(ngram_range=self.word_ngrams, sublinear_tf=True)),
            ("text", TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams,
                                     sublinear_tf=True))]
        if self.use_lemmas:
            fields.append(("lemmas", TfidfVectorizer(sublinear_tf=True)))
        if self.use_clusters:
            fields.append(("clusters", TfidfVectorizer(token_pattern=r"\S+",
                                                       sublinear_tf=True)))
        if self.use_rules:
            fields.append(("rules", CountVectorizer(token_pattern=r"\S+", lowercase=False,
                                                    binary=True)))
        return fields

    def _features(self, items: list[TextItem], fit: bool = False) -> Any:
        import scipy.sparse as sp

        if fit:
            self.vectorizers_ = []
            for name, vec in self._new_vectorizers():
                try:
                    vec.fit([getattr(it, name) for it in items])
                except ValueError:  # an empty vocabulary: this feature group says nothing
                    continue
                self.vectorizers_.append((name, vec))
        blocks = [vec.transform([getattr(it, name) for it in items])
                  for name, vec in self.vectorizers_]
        return sp.hstack(blocks).tocsr()

    def fit(self, X: Iterable[Any], y: Iterable[Iterable[str]]) -> CodeClassifier:
        """Learn from items (``TextItem``, texts or docs) and their sets of codes."""
        import numpy as np

        items = [_as_item(x) for x in X]
        labels = [set(codes) for codes in y]
        if len(items) != len(labels):
            raise TipqualError(f"{len(items)} examples but {len(labels)} label sets")
        classes = sorted(set().union(*labels)) if labels else []
        if not classes:
            raise TipqualError("nothing to learn from: no example carries a code")
        self.classes_ = np.array(classes)
        matrix = self._features(items, fit=True)
        self.estimators_, self.calibrators_, self.n_positive_ = [], [], []
        for code in classes:
            yk = np.array([code in lab for lab in labels], dtype=int)
            est, margins = self._fit_code(matrix, yk)
            self.estimators_.append(est)
            pos, neg = int(yk.sum()), int(len(yk) - yk.sum())
            # With nothing to separate, Laplace's rule of succession is the probability.
            self.calibrators_.append(_platt(margins, yk) if est is not None
                                     else (0.0, float(np.log((neg + 1) / (pos + 1)))))
            self.n_positive_.append(pos)
        self.n_examples_ = len(items)
        return self

    def _fit_code(self, matrix: Any, yk: Any) -> tuple[Any, Any]:
        import numpy as np
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.svm import LinearSVC

        if yk.min() == yk.max():  # every example has the code: nothing to separate
            return None, np.zeros(len(yk))
        base = LinearSVC(C=self.C, class_weight="balanced", random_state=self.random_state,
                         max_iter=5000)
        est = clone(base).fit(matrix, yk)
        if min(yk.sum(), len(yk) - yk.sum()) >= self.cv >= 2:
            folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
            margins = cross_val_predict(clone(base), matrix, yk, cv=folds,
                                        method="decision_function")
        else:
            margins = est.decision_function(matrix)
        return est, margins

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimators_"):
            raise TipqualError("this CodeClassifier is not fitted yet; call fit(X, y) with "
                               "coded examples before predicting")

    def decision_function(self, X: Iterable[Any]) -> Any:
        """Per item and code (columns ``classes_``): the balanced SVM margin."""
        import numpy as np

        self._check_fitted()
        matrix = self._features([_as_item(x) for x in X])
        cols = [est.decision_function(matrix) if est is not None
                else np.zeros(matrix.shape[0]) for est in self.estimators_]
        return np.column_stack(cols) if cols else np.zeros((matrix.shape[0], 0))

    def predict_proba(self, X: Iterable[Any]) -> Any:
        """Per item and code (columns ``classes_``): the calibrated probability, in [0, 1]."""
        import numpy as np

        margins = self.decision_function(X)
        a = np.array([c[0] for c in self.calibrators_])
        b = np.array([c[1] for c in self.calibrators_])
        return 1 / (1 + np.exp(np.clip(margins * a + b, -30, 30)))

    def predict(self, X: Iterable[Any]) -> list[tuple[str, ...]]:
        """Per item: the codes with probability of at least 0.5."""
        return [tuple(str(c) for c, p in zip(self.classes_, row) if p >= 0.5)
                for row in self.predict_proba(X)]

    def predict_best(self, X: Iterable[Any]) -> list[str]:
        """Per item: the single most likely code (largest balanced margin)."""
        margins = self.decision_function(X)
        return [str(self.classes_[i]) for i in margins.argmax(axis=1)]


def review_order(items: Iterable[Any],
                 score: Callable[[Any], float] = lambda item: item.score) -> list[Any]:
    """Active-learning order: the most uncertain first (scores nearest 0.5), stable otherwise."""
    return sorted(items, key=lambda item: abs(score(item) - 0.5))


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


@dataclass
class SuggestResult:
    """What a run of :func:`suggest` did."""

    segments: int = 0
    processed: int = 0
    skipped: int = 0
    added: int = 0
    removed: int = 0
    mentions: int = 0
    trained_on: int = 0
    codes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the counts."""
        return dict(self.__dict__)


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


def train_model(project: Project, codebook: Codebook, nlp: Language, *,
                random_state: int = 0) -> tuple[CodeClassifier | None, str, int]:
    """Fit the classifier on the study's decisions; returns (model or None, state hash, n)."""
    segments, labels = training_set(project, codebook)
    fingerprint = json.dumps([(s.id, _sha(s.text), sorted(y)) for s, y in zip(segments, labels)])
    if len(segments) < MIN_TRAINING or not any(labels):
        return None, _sha("rules-only"), 0
    model = CodeClassifier(random_state=random_state)
    items = items_from_docs(nlp.pipe(s.text for s in segments))
    model.fit(items, labels)
    state = _sha(fingerprint, json.dumps(model.get_params(), sort_keys=True, default=str))
    return model, state, len(segments)


def _usable_codes(clf: CodeClassifier) -> set[str]:
    """Codes with enough positive and negative examples for the model to suggest them."""
    n = clf.n_examples_
    return {str(c) for c, pos in zip(clf.classes_, clf.n_positive_)
            if pos >= MIN_EXAMPLES and n - pos >= MIN_EXAMPLES}


def _codebook_ref(codebook: Codebook) -> dict[str, str]:
    return {"name": codebook.name, "version": codebook.version,
            "sha256": codebook.sha256[:12]}


def _provenance(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def segment_suggestions(segment: Segment, doc: Doc, probs: dict[str, float] | None,
                        decided: set[str], context: dict[str, Any],
                        min_score: float) -> list[Coding]:
    """The rule and model suggestions for one processed segment (undecided codes only)."""
    from tipqual.project import Coding

    out = []
    rules = rule_scores(doc)
    for code, (score, hits) in rules.items():
        if code in decided or score < min_score:
            continue
        prov = {"suggester": RULES_CODER, "rules": sorted({h.rule for h in hits}),
                "matches": [[h.start, h.end, h.text] for h in hits],
                "cues": sorted({h.cue for h in hits if h.cue}),
                "codebook": context["codebook"]}
        out.append(Coding(segment=segment.id, code=code, coder=RULES_CODER, status="suggested",
                          score=score, provenance=_provenance(prov)))
    for code, p in sorted((probs or {}).items()):
        if code in decided or p < min_score:
            continue
        hits = rules.get(code, (0.0, []))[1]
        prov = {"suggester": MODEL_CODER, "model": context["model"],
                "matches": [[h.start, h.end, h.text] for h in hits],
                "codebook": context["codebook"]}
        out.append(Coding(segment=segment.id, code=code, coder=MODEL_CODER, status="suggested",
                          score=round(float(p), 4), provenance=_provenance(prov)))
    return out


def _decided_codes(project: Project) -> dict[str, set[str]]:
    decided: dict[str, set[str]] = {}
    for c in project.codings(statuses=DECIDED):
        decided.setdefault(c.segment, set()).add(c.code)
    return decided


def suggest(project: Project, model: str | None = None, jobs: int = 1,
            min_score: float = DEFAULT_MIN_SCORE, progress: bool = False,
            batch_size: int = 64) -> SuggestResult:
    """Propose codes for the study's segments and store them for review.

    Args:
        project: the open study (its current codebook supplies codes and stakeholders).
        model: an installed trained spaCy pipeline to use; None for the blank English one.
        jobs: processes for ``nlp.pipe`` (``n_process``).
        min_score: suggestions scoring below this are not stored.
        progress: show a progress bar (on a terminal).
        batch_size: segments per ``nlp.pipe`` batch and per store write.

    Returns:
        A :class:`SuggestResult` with counts of what was processed, skipped and stored.
    """
    from tipqual.nlp import build_pipeline

    if not 0.0 <= min_score <= 1.0:
        raise TipqualError(f"--min-score must be between 0 and 1, not {min_score}")
    if jobs < 1:
        raise TipqualError(f"--jobs must be at least 1, not {jobs}")
    codebook = project.codebook()
    if codebook is None:
        raise CodingError("the study has no codebook; create it with 'tipqual init PROJECT "
                          "--codebook FILE.yaml'", path=project.path)
    nlp = build_pipeline(codebook, model)
    clf, model_state, trained_on = train_model(project, codebook, nlp)
    context = {"codebook": _codebook_ref(codebook),
               "model": {"name": "tipqual.suggest.CodeClassifier", "version": __version__,
                         "state": model_state[:12], "trained_on": trained_on,
                         "pipeline": model or "blank-en"}}
    run_key = _sha(codebook.sha256, model_state, model or "", repr(min_score), __version__)
    decided = _decided_codes(project)
    old_keys = project.stage_keys(STAGE)
    result = SuggestResult(trained_on=trained_on)
    keys: dict[str, str] = {}
    for seg in project.segments():
        result.segments += 1
        key = _sha(run_key, seg.role, seg.text, json.dumps(sorted(decided.get(seg.id, ()))))
        if old_keys.get(seg.id) != key:
            keys[seg.id] = key
    result.skipped = result.segments - len(keys)
    if not keys:
        return result
    with project.atomic():
        _process(project, nlp, clf, keys, decided, context, min_score, jobs, batch_size,
                 progress, result)
    return result


def _process(project: Project, nlp: Language, clf: CodeClassifier | None, keys: dict[str, str],
             decided: dict[str, set[str]], context: dict[str, Any], min_score: float,
             jobs: int, batch_size: int, progress: bool, result: SuggestResult) -> None:
    """Run the pipeline over the segments to redo and store suggestions and mentions."""
    import click

    from tipqual.nlp import doc_mentions

    pairs = nlp.pipe(((s.text, s) for s in project.segments(ids=list(keys))), as_tuples=True,
                     batch_size=batch_size, n_process=jobs)
    with click.progressbar(length=len(keys), label="Suggesting", file=sys.stderr,
                           hidden=not progress) as bar:
        while chunk := list(islice(pairs, batch_size)):
            respondent = [(d, s) for d, s in chunk if s.role == "respondent"]
            probs: list[dict[str, float] | None] = [None] * len(respondent)
            if clf is not None and respondent:
                matrix = clf.predict_proba(items_from_docs(d for d, _ in respondent))
                usable = _usable_codes(clf)
                probs = [{c: p for c, p in zip(clf.classes_, row) if c in usable}
                         for row in matrix]
            codings = []
            for (doc, seg), p in zip(respondent, probs):
                codings += segment_suggestions(seg, doc, p, decided.get(seg.id, set()), context,
                                               min_score)
            ids = [s.id for _, s in chunk]
            counts = project.replace_suggestions(SUGGESTERS, ids, codings)
            mentions = [m for doc, seg in chunk for m in doc_mentions(seg.id, doc)]
            project.replace_mentions(ids, mentions)
            project.set_stage_keys(STAGE, {i: keys[i] for i in ids})
            result.processed += len(chunk)
            result.added += counts["added"]
            result.removed += counts["removed"]
            result.mentions += len(mentions)
            for c in codings:
                result.codes[c.code] = result.codes.get(c.code, 0) + 1
            bar.update(len(chunk))
    result.codes = dict(sorted(result.codes.items()))
