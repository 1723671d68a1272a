"""The learned suggestion model: a one-vs-rest code classifier with scikit-learn conventions.

Features are word and character TF-IDF of the text, the rule hits of
:mod:`tipqual.suggest.rules`, the segment's context (the interviewer's question before it, the
source's and case's attributes: a separate block, so the same word in the question and in the
answer are different evidence) and, if asked, lemma n-grams and Brown word clusters (shipped
with spacy-lookups-data). The codebook is evidence too: each code's name, definition, include
notes and examples are weak training examples of it (``prior`` in :meth:`CodeClassifier.fit`),
so a code no one has coded yet can still be suggested.

Each code gets a balanced linear SVM; its margin is turned into a probability by Platt scaling
fitted on cross-validated margins of the real examples (the codebook's examples are always in
the training folds and never scored). A code with too few coded examples for its own
cross-validation takes the sigmoid fitted on the pooled cross-validated margins of the others.
Per code, the threshold that maximises F1 on the cross-validated probabilities decides what
:meth:`CodeClassifier.predict` returns (a set of codes per item).

The defaults were chosen by cross-validation inside training halves only
(``benchmarks/suggest_protocol.py`` and ``benchmarks/suggest_select.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from tipqual.errors import TipqualError
from tipqual.suggest.rules import rule_hits

if TYPE_CHECKING:  # pragma: no cover
    from spacy.tokens import Doc

    from tipqual.codebook.model import Codebook


class TextItem(NamedTuple):
    """What the model sees of a segment: its text, lemmas, word clusters, rule hits, context."""

    text: str
    lemmas: str = ""
    clusters: str = ""
    rules: str = ""
    context: str = ""


_CLUSTERS: dict[str, int] | None = None
_CLUSTER_PREFIXES = (4, 6, 8, 10, 12, 16)
_WORD = re.compile(r"[\w'-]+")
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


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


def items_from_docs(docs: Iterable[Doc],
                    contexts: Iterable[str] | None = None) -> list[TextItem]:
    """Model inputs from processed docs (text, lemmas, word clusters, rule hits with cues).

    ``contexts``, one string per doc, is what surrounds each segment (see :class:`TextItem`).
    """
    items = []
    context_iter = iter(contexts) if contexts is not None else None
    for doc in docs:
        words = [t for t in doc if not t.is_space]
        rules = sorted({h.code if h.cue is None else f"{h.code}~cue" for h in rule_hits(doc)})
        context = next(context_iter, "") if context_iter is not None else ""
        items.append(TextItem(text=doc.text, lemmas=" ".join(t.lemma_ for t in words),
                              clusters=word_clusters(t.lower_ for t in words),
                              rules=" ".join(rules), context=context))
    return items


# Words that carry no code of their own in a definition (English function words).
_FUNCTION_WORDS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "by", "with", "as", "from", "into",
    "about", "or", "and", "nor", "but", "is", "are", "be", "being", "been", "was", "were", "it",
    "its", "that", "this", "these", "those", "which", "who", "whom", "whose", "what", "how",
    "when", "where", "their", "them", "they", "his", "her", "one", "another", "other", "any",
    "some", "such", "e.g", "eg", "i.e", "ie", "etc", "person", "person's", "someone",
    "someone's", "people", "people's", "participant", "participants", "code", "codes"})
_TERM_BREAKS = re.compile(r"[,:;.()!?/]|\b(?:or|and|nor|such as|including|like)\b", re.I)
MAX_TERM_WORDS = 4


def definition_terms(text: str) -> list[str]:
    """The short terms a definition lists: its pieces between commas, colons, "or", "and" …,
    without function words, each of at most :data:`MAX_TERM_WORDS` words.

    A definition such as "a role in a family: parent, child, sibling" names its members; as
    examples they look like the short passages they stand for, where the whole sentence
    would dilute each word.
    """
    out: list[str] = []
    for piece in _TERM_BREAKS.split(text):
        words = [w for w in piece.split() if w.lower().strip("'\"") not in _FUNCTION_WORDS]
        term = " ".join(words).strip(" '\"-")
        if term and len(words) <= MAX_TERM_WORDS and term.lower() not in (t.lower() for t in out):
            out.append(term)
    return out


def codebook_examples(codebook: Codebook) -> list[tuple[str, str]]:
    """The codebook as weak examples: ``(code, text)`` for each codable code's name with its
    definition, the terms of its name and definition (:func:`definition_terms`), each include
    note and each example."""
    out = []
    for code in codebook.codes:
        if not code.codable:
            continue
        head = f"{code.name}. {code.definition}".strip() if code.definition else code.name
        terms = definition_terms(code.name) + definition_terms(code.definition)
        texts = [head, *terms, *code.include, *code.examples]
        seen: set[str] = set()
        for text in texts:
            key = text.strip().lower()
            if key and key not in seen:
                seen.add(key)
                out.append((code.id, text.strip()))
    return out


def _as_item(x: Any) -> TextItem:
    if isinstance(x, TextItem):
        return x
    if isinstance(x, str):
        words = _WORD.findall(x.lower())
        return TextItem(text=x, lemmas=" ".join(words), clusters=word_clusters(words))
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


def _sigmoid(margins: Any, ab: tuple[float, float]) -> Any:
    import numpy as np

    return 1 / (1 + np.exp(np.clip(margins * ab[0] + ab[1], -30, 30)))


def best_threshold(probs: Any, y: Any) -> float:
    """The probability threshold (on :data:`THRESHOLD_GRID`) with the best F1 for one code."""
    best, best_f1 = 0.5, -1.0
    pos = int(y.sum())
    for t in THRESHOLD_GRID:
        shown = probs >= t
        hit = int((shown & (y == 1)).sum())
        f1 = 2 * hit / (int(shown.sum()) + pos) if pos else 0.0
        if f1 > best_f1 + 1e-9:
            best, best_f1 = t, f1
    return best


class CodeClassifier:
    """One-vs-rest code classifier over text, context and rule features (scikit-learn style).

    Each code gets a class-balanced linear SVM over TF-IDF word and character n-grams, the
    codebook rules that fired, the segment's context and, if asked, lemma n-grams and Brown word
    clusters; its margin is turned into a probability by Platt scaling fitted on cross-validated
    margins (see the module's description). The codebook's own words can be given to
    :meth:`fit` as weak examples (``prior``).

    Args:
        C: inverse regularisation strength of the SVMs.
        word_ngrams, char_ngrams: n-gram ranges of the word and character TF-IDF features.
        use_lemmas, use_clusters, use_rules, use_context: which further feature groups to use.
        prior_weight: the weight of one codebook example relative to one coded segment.
        class_weight: ``"balanced"`` (each code's positives weigh as much as its negatives) or
            None.
        cv: folds for calibration and thresholds.
        random_state: seed for the folds and the solver.
    """

    _PARAMS = ("C", "word_ngrams", "char_ngrams", "use_lemmas", "use_clusters", "use_rules",
               "use_context", "prior_weight", "class_weight", "cv", "random_state")

    def __init__(self, C: float = 0.1, word_ngrams: tuple[int, int] = (1, 2),
                 char_ngrams: tuple[int, int] = (2, 5), use_lemmas: bool = False,
                 use_clusters: bool = True, use_rules: bool = True, use_context: bool = True,
                 prior_weight: float = 1.0, class_weight: str | None = "balanced", cv: int = 3,
                 random_state: int | None = 0):
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.use_lemmas = use_lemmas
        self.use_clusters = use_clusters
        self.use_rules = use_rules
        self.use_context = use_context
        self.prior_weight = prior_weight
        self.class_weight = class_weight
        self.cv = cv
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (as scikit-learn's ``get_params``)."""
        return {k: getattr(self, k) for k in self._PARAMS}

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
            fields.append(("lemmas", TfidfVectorizer(ngram_range=self.word_ngrams,
                                                     sublinear_tf=True)))
        if self.use_clusters:
            fields.append(("clusters", TfidfVectorizer(token_pattern=r"\S+",
                                                       sublinear_tf=True)))
        if self.use_rules:
            fields.append(("rules", CountVectorizer(token_pattern=r"\S+", lowercase=False,
                                                    binary=True)))
        if self.use_context:
            fields.append(("context", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)))
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
        if not self.vectorizers_:
            return sp.csr_matrix((len(items), 0))
        blocks = [vec.transform([getattr(it, name) for it in items])
                  for name, vec in self.vectorizers_]
        return sp.hstack(blocks).tocsr()

    def fit(self, X: Iterable[Any], y: Iterable[Iterable[str]],
            prior: Iterable[tuple[str, Any]] | None = None) -> CodeClassifier:
        """Learn from items (``TextItem``, texts or docs) and their sets of codes.

        ``prior``: weak examples, ``(code, item)`` each (see :func:`codebook_examples`); a code
        that only they name is learned from them and its negatives among the coded items.
        """
        import numpy as np

        items = [_as_item(x) for x in X]
        labels = [set(codes) for codes in y]
        if len(items) != len(labels):
            raise TipqualError(f"{len(items)} examples but {len(labels)} label sets")
        weak = [(str(code), _as_item(x)) for code, x in (prior or [])]
        classes = sorted(set().union(*labels, {code for code, _ in weak}))
        if not any(labels) and not weak:
            raise TipqualError("nothing to learn from: no example carries a code")
        self.classes_ = np.array(classes)
        matrix = self._features(items + [it for _, it in weak], fit=True)
        n = len(items)
        real, extra = matrix[:n], matrix[n:]
        weak_codes = np.array([code for code, _ in weak])
        self.estimators_, self.n_positive_, self.n_prior_ = [], [], []
        cv_out: list[tuple[Any, Any] | None] = []
        for code in classes:
            yk = np.array([code in lab for lab in labels], dtype=int)
            yw = (weak_codes == code).astype(int) if weak else np.zeros(0, dtype=int)
            est, margins = self._fit_code(real, yk, extra, yw)
            self.estimators_.append(est)
            self.n_positive_.append(int(yk.sum()))
            self.n_prior_.append(int(yw.sum()))
            cv_out.append(margins)
        self._calibrate(cv_out, labels)
        self.n_examples_ = n
        return self

    def _calibrate(self, cv_out: list[tuple[Any, Any] | None], labels: list[set[str]]) -> None:
        """Per code: a Platt sigmoid and an F1-best threshold, from cross-validated margins
        (pooled over the codes for those with too few examples of their own)."""
        import numpy as np

        own = [(m[0], np.array([code in lab for lab in labels], dtype=int))
               for code, m in zip(self.classes_, cv_out, strict=False) if m is not None and m[1]]
        pooled: tuple[float, float] | None = None
        pooled_threshold = 0.5
        if own:
            margins = np.concatenate([m for m, _ in own])
            truth = np.concatenate([t for _, t in own])
            pooled = _platt(margins, truth)
            pooled_threshold = best_threshold(_sigmoid(margins, pooled), truth)
        self.calibrators_, thresholds = [], []
        for code, est, out in zip(self.classes_, self.estimators_, cv_out, strict=False):
            yk = np.array([code in lab for lab in labels], dtype=int)
            pos, neg = int(yk.sum()), int(len(yk) - yk.sum())
            if est is None:  # nothing to separate: Laplace's rule of succession
                ab = (0.0, float(np.log((neg + 1) / (pos + 1))))
            elif out is not None and out[1]:
                ab = _platt(out[0], yk)
            elif pooled is not None:
                ab = pooled
            else:
                ab = _platt(out[0], yk) if out is not None and len(out[0]) else (-1.0, 0.0)
            self.calibrators_.append(ab)
            if out is not None and out[1] and pos:
                thresholds.append(best_threshold(_sigmoid(out[0], ab), yk))
            else:
                thresholds.append(pooled_threshold if ab == pooled else 0.5)
        self.thresholds_ = np.array(thresholds)

    def _fit_code(self, real: Any, yk: Any, extra: Any,
                  yw: Any) -> tuple[Any, tuple[Any, bool] | None]:
        """One code's SVM and its margins on the real examples: ``(margins, cross_validated)``."""
        import numpy as np
        import scipy.sparse as sp
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import LinearSVC

        y_all = np.concatenate([yk, yw])
        if y_all.min() == y_all.max():  # one class only: nothing to separate
            return None, None
        w_all = np.concatenate([np.ones(len(yk)), np.full(len(yw), float(self.prior_weight))])

        def svm(rows: Any, y: Any, w: Any) -> Any:
            return LinearSVC(C=self.C, class_weight=self.class_weight,
                             random_state=self.random_state, max_iter=5000).fit(
                                 rows, y, sample_weight=w)

        matrix = sp.vstack([real, extra]).tocsr() if extra.shape[0] else real
        est = svm(matrix, y_all, w_all)
        if not len(yk):
            return est, None
        if min(yk.sum(), len(yk) - yk.sum()) >= self.cv >= 2:
            margins = np.zeros(len(yk))
            folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
            for fit_idx, held_idx in folds.split(np.zeros(len(yk)), yk):
                rows = np.concatenate([fit_idx, np.arange(len(yk), len(y_all))])
                y_fit = y_all[rows]
                if y_fit.min() == y_fit.max():
                    margins[held_idx] = 0.0
                    continue
                margins[held_idx] = svm(matrix[rows], y_fit, w_all[rows]).decision_function(
                    real[held_idx])
            return est, (margins, True)
        return est, (est.decision_function(real), False)

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
        """Per item: the set of codes (sorted) whose probability reaches the code's threshold
        (``thresholds_``, learned by cross-validation)."""
        return [tuple(str(c) for c, p, t in zip(self.classes_, row, self.thresholds_,
                                                 strict=False) if p >= t)
                for row in self.predict_proba(X)]

    def predict_best(self, X: Iterable[Any]) -> list[str]:
        """Per item: the single most likely code (largest balanced margin)."""
        margins = self.decision_function(X)
        return [str(self.classes_[i]) for i in margins.argmax(axis=1)]
