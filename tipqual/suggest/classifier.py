"""The learned suggestion model: a one-vs-rest code classifier with scikit-learn conventions.

Features are word and character TF-IDF and the rule hits of :mod:`tipqual.suggest.rules`, optionally
lemmas and Brown word clusters (shipped with spacy-lookups-data); each code gets a balanced
linear SVM whose margins are calibrated to probabilities with Platt scaling on cross-validated
margins.

The defaults were chosen by cross-validation inside the training half of the identities
benchmark only (``benchmarks/suggest_select.py``): lemmas and word clusters off (5-fold kappa
0.690 against 0.655 with both on, and better too when trained on 40-160 answers), C 0.3, word
1-2-grams, character 2-5-grams and balanced class weights (the alternatives were within noise
or worse).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from tipqual.errors import TipqualError
from tipqual.suggest.rules import rule_hits

if TYPE_CHECKING:  # pragma: no cover
    from spacy.tokens import Doc

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

    Each code gets a class-balanced linear SVM over TF-IDF word and character n-grams, the
    codebook rules that fired and, if asked, lemmas and Brown word clusters; its margin is
    turned into a probability by Platt scaling fitted on cross-validated margins (on the
    training margins, with Platt's smoothed targets, when a code has fewer examples than folds).

    Args:
        C: inverse regularisation strength of the SVMs.
        word_ngrams, char_ngrams: n-gram ranges of the word and character TF-IDF features.
        use_lemmas, use_clusters, use_rules: which further feature groups to use.
        class_weight: ``"balanced"`` (each code's positives weigh as much as its negatives) or
            None.
        cv: folds for calibration.
        random_state: seed for the folds and the solver.
    """

    def __init__(self, C: float = 0.3, word_ngrams: tuple[int, int] = (1, 2),
                 char_ngrams: tuple[int, int] = (2, 5), use_lemmas: bool = False,
                 use_clusters: bool = False, use_rules: bool = True,
                 class_weight: str | None = "balanced", cv: int = 3,
                 random_state: int | None = 0):
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.use_lemmas = use_lemmas
        self.use_clusters = use_clusters
        self.use_rules = use_rules
        self.class_weight = class_weight
        self.cv = cv
        self.random_state = random_state

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (as scikit-learn's ``get_params``)."""
        return {k: getattr(self, k) for k in ("C", "word_ngrams", "char_ngrams", "use_lemmas",
                                              "use_clusters", "use_rules", "class_weight",
                                              "cv", "random_state")}

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
        base = LinearSVC(C=self.C, class_weight=self.class_weight,
                         random_state=self.random_state, max_iter=5000)
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
        return [tuple(str(c) for c, p in zip(self.classes_, row, strict=False) if p >= 0.5)
                for row in self.predict_proba(X)]

    def predict_best(self, X: Iterable[Any]) -> list[str]:
        """Per item: the single most likely code (largest balanced margin)."""
        margins = self.decision_function(X)
        return [str(self.classes_[i]) for i in margins.argmax(axis=1)]
