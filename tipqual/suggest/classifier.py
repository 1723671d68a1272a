"""The learned suggestion model: a one-vs-rest code classifier with scikit-learn conventions.

Features are word and character TF-IDF of the text, the rule hits of
:mod:`tipqual.suggest.rules`, the segment's context (the interviewer's question before it, the
source's and case's attributes: a separate block, so the same word in the question and in the
answer are different evidence), if asked lemma n-grams and Brown word clusters (shipped with
spacy-lookups-data) and, when the pipeline has a table of word vectors (``--model`` naming a
trained pipeline with vectors), the segment's mean word vector. The codebook is evidence
too: each code's name, definition, include notes and examples are weak training examples of it
(``prior`` in :meth:`CodeClassifier.fit`), so a code no one has coded yet can still be
suggested.

Each code gets a balanced linear SVM; with ``blend`` its margin is summed with the scores of an
NB-SVM (the same SVM over features scaled by the code's log-count ratio) and of a complement
naive Bayes over all codes, each divided by its spread on the training items. That score is
turned into a probability by Platt scaling fitted on out-of-fold margins: the coded items are
cut into folds (whole groups, such as the segments of one source, stay together), and each
item's margins come from models trained without its fold (the codebook's examples are always
in the training folds and never scored). Every
code's sigmoid carries its own base rate as an offset and is pulled towards the sigmoid pooled
over all codes (``calibration_prior`` examples' worth), so a code with a handful of positives
does not fit them exactly; a code no one has coded yet takes the pooled sigmoid at its own
base rate (the Laplace estimate from none of the coded items). From the same out-of-fold
probabilities :meth:`CodeClassifier.fit` learns
which codes :meth:`CodeClassifier.predict` shows: a threshold per code (one shared threshold
for codes with fewer than :data:`OWN_THRESHOLD_MIN` positives, or for all codes) and a minimum
number of codes per item (its most likely ones), whichever gives the best micro-F1. On a study
where every coded segment carries two or three codes the model so predicts a set of about that
size; where many carry none, thresholds alone decide.

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
    """What the model sees of a segment: its text, lemmas, word clusters, rule hits, context
    and, when the pipeline has word vectors, the segment's mean vector (empty otherwise)."""

    text: str
    lemmas: str = ""
    clusters: str = ""
    rules: str = ""
    context: str = ""
    vector: tuple[float, ...] = ()


_CLUSTERS: dict[str, int] | None = None
_CLUSTER_PREFIXES = (4, 6, 8, 10, 12, 16)
_WORD = re.compile(r"[\w'-]+")
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))
CALIBRATION_PRIOR = 5.0  # examples' worth of pull towards the pooled sigmoid
OWN_THRESHOLD_MIN = 5  # positives a code needs for a threshold of its own
MAX_MIN_CODES = 3  # the largest minimum set size fit may choose
BLEND_MEMBERS = ("svm", "nbsvm", "cnb")
CNB_ALPHA = 0.1  # complement naive Bayes smoothing
NB_ALPHA = 1.0  # log-count ratio smoothing (Wang and Manning's alpha)


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
                              rules=" ".join(rules), context=context,
                              vector=doc_vector(doc)))
    return items


def doc_vector(doc: Doc) -> tuple[float, ...]:
    """The mean of the doc's word vectors when its pipeline has a table of them (a trained
    pipeline named with ``--model``, such as one of spaCy's ``md`` or ``lg`` packages); empty
    otherwise, as for blank English (context tensors of small pipelines are not used)."""
    vectors = doc.vocab.vectors
    if not vectors.shape[0] or not vectors.shape[1]:
        return ()
    import numpy as np

    rows: list[Any] = [np.asarray(t.vector, dtype=np.float64) for t in doc
                       if not t.is_space and t.has_vector]
    if not rows:
        return tuple(0.0 for _ in range(vectors.shape[1]))
    mean: Any = np.vstack(rows).mean(axis=0)
    return tuple(float(v) for v in mean)


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


def _platt(margins: Any, y: Any, offset: Any = 0.0,
           prior: tuple[float, float] | None = None,
           strength: float = 0.0) -> tuple[float, float]:
    """Platt's sigmoid fit of P(y=1 | margin): ``1 / (1 + exp(a * margin + b + offset))``,
    with his smoothed targets (robust when few).

    ``prior`` and ``strength``: a Gaussian pull of ``(a, b)`` towards ``prior`` (the pooled
    fit), worth about ``strength`` examples, so that a code with few positives keeps near
    the sigmoid of the others instead of fitting its handful exactly.
    """
    import numpy as np
    from scipy.optimize import minimize

    pos = float(y.sum())
    neg = float(len(y) - pos)
    target = np.where(y == 1, (pos + 1) / (pos + 2), 1 / (neg + 2))
    centre = np.zeros(2) if prior is None else np.array(prior, dtype=float)
    pull = float(strength) if prior is not None else 0.0

    def loss(ab: Any) -> tuple[float, Any]:
        z = ab[0] * margins + ab[1] + offset
        p = 1 / (1 + np.exp(np.clip(z, -30, 30)))
        eps = 1e-12
        value = -np.sum(target * np.log(p + eps) + (1 - target) * np.log(1 - p + eps))
        grad_z = target - p  # d loss / d z
        diff = ab - centre
        value += 0.5 * pull * float(diff @ diff)
        return value, np.array([np.sum(grad_z * margins), np.sum(grad_z)]) + pull * diff

    start = centre.copy() if prior is not None else np.array(
        [0.0, float(np.log((neg + 1) / (pos + 1)))])
    res = minimize(loss, start, jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def _sigmoid(margins: Any, ab: tuple[float, float], offset: Any = 0.0) -> Any:
    import numpy as np

    return 1 / (1 + np.exp(np.clip(margins * ab[0] + ab[1] + offset, -30, 30)))


def _base_odds(pos: int, n: int) -> float:
    """Log odds against a code from its counts (Laplace-smoothed): the calibration's offset."""
    import math

    return math.log((n - pos + 1) / (pos + 1))


def best_threshold(probs: Any, y: Any, forced: Any = None) -> float:
    """The probability threshold (on :data:`THRESHOLD_GRID`) with the best F1 for one code.

    ``forced``: items where the code is shown whatever its probability (the set's top codes).
    """
    import numpy as np

    best, best_f1 = 0.5, -1.0
    pos = int(y.sum())
    always = np.zeros(len(probs), dtype=bool) if forced is None else forced
    for t in THRESHOLD_GRID:
        shown = (probs >= t) | always
        hit = int((shown & (y == 1)).sum())
        f1 = 2 * hit / (int(shown.sum()) + pos) if pos else 0.0
        if f1 > best_f1 + 1e-9:
            best, best_f1 = t, f1
    return best


def top_mask(probs: Any, k: int) -> Any:
    """Per row, the ``k`` largest probabilities (ties to the earlier column), as a mask."""
    import numpy as np

    mask = np.zeros(probs.shape, dtype=bool)
    if k <= 0 or not probs.size:
        return mask
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def micro_f1(shown: Any, truth: Any) -> float:
    """Micro-averaged F1 of a shown-codes mask against a truth mask (items x codes)."""
    hit = int((shown & (truth == 1)).sum())
    total = int(shown.sum()) + int(truth.sum())
    return 2 * hit / total if total else 0.0


def _log_count_ratio(rows: Any, y: Any) -> Any:
    """Wang and Manning's NB log-count ratio of each feature for one code: how much more often
    it occurs (binarised, smoothed by :data:`NB_ALPHA`) in the code's items than in the rest;
    None when ``y`` has one class only."""
    import numpy as np

    if not len(y) or y.min() == y.max():
        return None
    present = (rows > 0).astype(np.float64)
    p = NB_ALPHA + np.asarray(present[y == 1].sum(axis=0)).ravel()
    q = NB_ALPHA + np.asarray(present[y == 0].sum(axis=0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum()))


def _spread(scores: Any, estimators: list[Any]) -> float:
    """The standard deviation of a member's scores over the codes it learned (1 if none)."""
    import numpy as np

    cols = [k for k, est in enumerate(estimators) if est is not None]
    value = float(np.std(scores[:, cols])) if cols and scores.size else 0.0
    return value if value > 1e-12 else 1.0


class _Members:
    """The fitted models of a blend (see ``blend`` of :class:`CodeClassifier`): per code an
    SVM and, if asked, an NB-SVM and a complement naive Bayes over all codes; each model's
    scores are divided by their spread on its training items, then summed."""

    def __init__(self, svms: list[Any], text_cols: int):
        self.svms = svms
        self.text_cols = text_cols
        self.svm_scale = 1.0
        self.ratios: list[Any] = []
        self.nbsvms: list[Any] = []
        self.nbsvm_scale = 1.0
        self.cnb: Any = None
        self.cnb_scale = 1.0

    def scaled(self, matrix: Any, k: int) -> Any:
        """The feature matrix with its text columns scaled by code ``k``'s log-count ratio."""
        import numpy as np
        import scipy.sparse as sp

        ratio = np.concatenate([self.ratios[k], np.ones(matrix.shape[1] - self.text_cols)])
        return (matrix @ sp.diags(ratio)).tocsr()

    def svm_margins(self, matrix: Any) -> Any:
        return _columns([est.decision_function(matrix) if est is not None else None
                         for est in self.svms], matrix.shape[0])

    def nbsvm_margins(self, matrix: Any) -> Any:
        return _columns([est.decision_function(self.scaled(matrix, k)) if est is not None
                         else None for k, est in enumerate(self.nbsvms)], matrix.shape[0])

    def cnb_scores(self, matrix: Any) -> Any:
        """Complement naive Bayes log probabilities, centred per item; a code it never saw
        gets the item's lowest. Items coded with no code (all their suggestions rejected)
        train a class of their own, so a rejection is evidence here too."""
        import numpy as np

        logp = self.cnb.predict_log_proba(matrix[:, :self.text_cols])
        codes = self.cnb.classes_ < len(self.svms)
        out = np.repeat(logp.min(axis=1, keepdims=True), len(self.svms), axis=1)
        out[:, self.cnb.classes_[codes]] = logp[:, codes]
        return out - out.mean(axis=1, keepdims=True)

    def margins(self, matrix: Any) -> Any:
        """Per item and code: the blend's summed scores (0 for a code with no SVM)."""
        import numpy as np

        total = self.svm_margins(matrix) / self.svm_scale
        if self.nbsvms:
            total += self.nbsvm_margins(matrix) / self.nbsvm_scale
        if self.cnb is not None:
            total += self.cnb_scores(matrix) / self.cnb_scale
        learned = np.array([est is not None for est in self.svms], dtype=bool)
        return np.where(learned, total, 0.0) if len(self.svms) else total


def _columns(cols: list[Any], n: int) -> Any:
    import numpy as np

    filled = [c if c is not None else np.zeros(n) for c in cols]
    return np.column_stack(filled) if filled else np.zeros((n, 0))


class CodeClassifier:
    """One-vs-rest code classifier over text, context and rule features (scikit-learn style).

    Each code gets a class-balanced linear SVM over TF-IDF word and character n-grams, the
    codebook rules that fired, the segment's context and, if asked, lemma n-grams, Brown word
    clusters and the pipeline's word vectors; its margin is turned into a probability by Platt
    scaling fitted on out-of-fold margins (see the module's description). The codebook's own
    words can be given to :meth:`fit` as weak examples (``prior``).

    Args:
        C: inverse regularisation strength of the SVMs.
        word_ngrams, char_ngrams: n-gram ranges of the word and character TF-IDF features.
        use_lemmas, use_clusters, use_rules, use_context, use_vectors: which further feature
            groups to use (vectors only when the items carry them, see :class:`TextItem`).
        prior_weight: the weight of one codebook example relative to one coded segment.
        class_weight: ``"balanced"`` (each code's positives weigh as much as its negatives) or
            None.
        cv: folds for calibration, thresholds and the set size.
        calibration_prior: how many examples' worth a code's sigmoid is pulled towards the
            sigmoid pooled over all codes (0: each code on its own).
        max_min_codes: the largest minimum set size :meth:`fit` may choose (0: thresholds
            alone decide).
        blend: the models whose per-code scores are summed, ``"svm"`` alone or with
            ``"+nbsvm"`` (SVMs over features scaled by each code's log-count ratio, Wang and
            Manning's NB-SVM) and ``"+cnb"`` (complement naive Bayes over the codes), each
            score divided by its spread on the training items (see :class:`_Members`).
            ``"auto"`` (the default): ``"svm+cnb"``, which cross-validation inside the training
            halves chose on all ten splits of the benchmark protocol, or ``"svm"`` when the
            items carry word vectors.
        random_state: seed for the folds and the solver.
    """

    _PARAMS = ("C", "word_ngrams", "char_ngrams", "use_lemmas", "use_clusters", "use_rules",
               "use_context", "use_vectors", "prior_weight", "class_weight", "cv",
               "calibration_prior", "max_min_codes", "blend", "random_state")

    def __init__(self, C: float = 0.1, word_ngrams: tuple[int, int] = (1, 2),
                 char_ngrams: tuple[int, int] = (2, 5), use_lemmas: bool = False,
                 use_clusters: bool = True, use_rules: bool = True, use_context: bool = True,
                 use_vectors: bool = True, prior_weight: float = 1.0,
                 class_weight: str | None = "balanced", cv: int = 3,
                 calibration_prior: float = CALIBRATION_PRIOR,
                 max_min_codes: int = MAX_MIN_CODES, blend: str = "auto",
                 random_state: int | None = 0):
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.use_lemmas = use_lemmas
        self.use_clusters = use_clusters
        self.use_rules = use_rules
        self.use_context = use_context
        self.use_vectors = use_vectors
        self.prior_weight = prior_weight
        self.class_weight = class_weight
        self.cv = cv
        self.calibration_prior = calibration_prior
        self.max_min_codes = max_min_codes
        self.blend = blend
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

    def _vectors(self, items: list[TextItem]) -> Any:
        """The items' vectors, each scaled to unit length (zeros where an item has none)."""
        import numpy as np
        import scipy.sparse as sp

        dense = np.zeros((len(items), self.vector_size_))
        for row, item in enumerate(items):
            if len(item.vector) == self.vector_size_:
                dense[row] = item.vector
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        return sp.csr_matrix(dense / np.where(norms > 0, norms, 1.0))

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
            sizes = {len(it.vector) for it in items if it.vector} if self.use_vectors else set()
            self.vector_size_ = max(sizes) if sizes else 0
        blocks = [vec.transform([getattr(it, name) for it in items])
                  for name, vec in self.vectorizers_]
        if self.vector_size_:
            blocks.append(self._vectors(items))
        if not blocks:
            return sp.csr_matrix((len(items), 0))
        return sp.hstack(blocks).tocsr()

    def _folds(self, labels: list[set[str]], groups: list[Any] | None) -> Any:
        """The fold of each item: whole groups together when ``groups`` are given (and there
        are enough of them), otherwise items with the same code set spread evenly."""
        import numpy as np

        rng = np.random.RandomState(self.random_state)
        fold = np.zeros(len(labels), dtype=int)
        if groups is not None and len(set(map(str, groups))) >= self.cv:
            names = sorted(set(map(str, groups)))
            place = {names[i]: pos % self.cv for pos, i in enumerate(rng.permutation(len(names)))}
            return np.array([place[str(g)] for g in groups], dtype=int)
        keys = ["\x1f".join(sorted(lab)) for lab in labels]
        position = 0
        for key in sorted(set(keys)):
            members = np.array([i for i, k in enumerate(keys) if k == key])
            for i in members[rng.permutation(len(members))]:
                fold[i] = position % self.cv
                position += 1
        return fold

    def fit(self, X: Iterable[Any], y: Iterable[Iterable[str]],
            prior: Iterable[tuple[str, Any]] | None = None,
            groups: Iterable[Any] | None = None) -> CodeClassifier:
        """Learn from items (``TextItem``, texts or docs) and their sets of codes.

        ``prior``: weak examples, ``(code, item)`` each (see :func:`codebook_examples`); a code
        that only they name is learned from them and its negatives among the coded items.
        ``groups``: one label per item (a source, a respondent); items of one group stay in
        one fold when the model cross-validates itself, as new material arrives whole.
        """
        import numpy as np
        import scipy.sparse as sp

        items = [_as_item(x) for x in X]
        labels = [set(codes) for codes in y]
        if len(items) != len(labels):
            raise TipqualError(f"{len(items)} examples but {len(labels)} label sets")
        group_list = list(groups) if groups is not None else None
        if group_list is not None and len(group_list) != len(items):
            raise TipqualError(f"{len(items)} examples but {len(group_list)} groups")
        weak = [(str(code), _as_item(x)) for code, x in (prior or [])]
        classes = sorted(set().union(*labels, {code for code, _ in weak}))
        if not any(labels) and not weak:
            raise TipqualError("nothing to learn from: no example carries a code")
        self.classes_ = np.array(classes)
        matrix = self._features(items + [it for _, it in weak], fit=True)
        if matrix.nnz and not np.isfinite(matrix.data).all():
            raise TipqualError("a feature is not a finite number (a word vector of the "
                               "--model pipeline?); check the pipeline's vectors")
        n = len(items)
        real, extra = matrix[:n], matrix[n:]
        both = sp.vstack([real, extra]).tocsr() if extra.shape[0] else real
        truth = np.array([[code in lab for code in classes] for lab in labels],
                         dtype=int).reshape(n, len(classes))
        weak_codes = np.array([code for code, _ in weak])
        weak_truth = np.array([weak_codes == code for code in classes],
                              dtype=int).reshape(len(classes), len(weak)).T
        weights = np.concatenate([np.ones(n), np.full(len(weak), float(self.prior_weight))])
        self._check_blend()
        self.members_ = self._fit_members(both, np.vstack([truth, weak_truth]), weights)
        self.estimators_ = self.members_.svms
        self.n_positive_ = [int(v) for v in truth.sum(axis=0)]
        self.n_prior_ = [int(v) for v in weak_truth.sum(axis=0)]
        self.n_examples_ = n
        self.cross_validated_ = n >= self.cv >= 2
        if self.cross_validated_:
            margins = self._out_of_fold(real, extra, truth, weak_truth, weights,
                                        self._folds(labels, group_list))
        else:  # too few to hold any out: the fitted margins, optimistic as they are
            margins = self._margins(real)
        self._calibrate(margins, truth)
        return self

    def _svm(self, rows: Any, y: Any, w: Any) -> Any:
        """A class-balanced linear SVM for one code, or None when ``y`` has one class only.

        The codes are fitted one after another, on purpose: liblinear draws its coordinate
        order from one random state for the whole process, so SVMs fitted on several threads
        at once take each other's draws and their scores change from run to run (measured:
        3 different results in 4 fits on two threads)."""
        from sklearn.svm import LinearSVC

        if not len(y) or y.min() == y.max():
            return None
        return LinearSVC(C=self.C, class_weight=self.class_weight,
                         random_state=self.random_state, max_iter=5000).fit(
                             rows, y, sample_weight=w)

    def _out_of_fold(self, real: Any, extra: Any, truth: Any, weak_truth: Any, weights: Any,
                     fold: Any) -> Any:
        """Every item's margins from SVMs trained without its fold (the codebook's examples
        always train); a code with one class left in the training folds gives -1 or +1."""
        import numpy as np
        import scipy.sparse as sp

        n = real.shape[0]
        margins = np.zeros(truth.shape)
        for f in range(self.cv):
            held = np.flatnonzero(fold == f)
            kept = np.flatnonzero(fold != f)
            if not len(held):
                continue
            rows = sp.vstack([real[kept], extra]).tocsr() if extra.shape[0] else real[kept]
            w = np.concatenate([weights[kept], weights[n:]])
            y = np.vstack([truth[kept], weak_truth])
            members = self._fit_members(rows, y, w)
            scores = members.margins(real[held])
            for k, est in enumerate(members.svms):
                if est is None:
                    scores[:, k] = 1.0 if len(y) and y[:, k].min() == 1 else -1.0
            margins[held] = scores
        return margins

    def _blend_parts(self) -> list[str]:
        """The blend's members: ``auto`` is the SVM with complement naive Bayes, or the SVM
        alone when the items carry word vectors (naive Bayes reads counts, not vectors, and
        would drown the vectors' evidence)."""
        if self.blend == "auto":
            return ["svm"] if getattr(self, "vector_size_", 0) else ["svm", "cnb"]
        return self.blend.split("+")

    def _check_blend(self) -> None:
        if self.blend == "auto":
            return
        parts = tuple(self.blend.split("+")) if self.blend else ()
        if not parts or parts[0] != "svm" or set(parts) - set(BLEND_MEMBERS) \
                or len(set(parts)) != len(parts):
            raise TipqualError(f"unknown blend {self.blend!r}; use 'auto', or 'svm' followed "
                               "by any of '+nbsvm', '+cnb' (for example 'svm+cnb')")

    def _fit_members(self, rows: Any, y: Any, w: Any) -> _Members:
        """The blend's models for one training set (rows x codes truth ``y``, weights ``w``)."""
        import numpy as np

        parts = self._blend_parts()
        text_cols = rows.shape[1] - self.vector_size_
        svms = [self._svm(rows, y[:, k], w) for k in range(y.shape[1])]
        members = _Members(svms, text_cols)
        if len(parts) > 1:  # alone, the SVM keeps its margins as they are
            members.svm_scale = _spread(members.svm_margins(rows), svms)
        if "nbsvm" in parts:
            members.ratios = [_log_count_ratio(rows[:, :text_cols], y[:, k])
                              if est is not None else None for k, est in enumerate(svms)]
            members.nbsvms = [self._svm(members.scaled(rows, k), y[:, k], w)
                              if members.ratios[k] is not None else None
                              for k in range(y.shape[1])]
            members.nbsvm_scale = _spread(members.nbsvm_margins(rows), members.nbsvms)
        if "cnb" in parts:
            from sklearn.naive_bayes import ComplementNB

            item, code = np.nonzero(y)
            empty = np.flatnonzero(y.sum(axis=1) == 0)  # items with no code: a class of their own
            item = np.concatenate([item, empty])
            code = np.concatenate([code, np.full(len(empty), y.shape[1])])
            if len(set(code.tolist())) >= 2:
                members.cnb = ComplementNB(alpha=CNB_ALPHA).fit(
                    rows[item, :text_cols], code, sample_weight=w[item])
                members.cnb_scale = _spread(members.cnb_scores(rows), svms)
        return members

    def _calibrate(self, margins: Any, truth: Any) -> None:
        """Per code a Platt sigmoid pulled towards the pooled one, then per-code thresholds and
        the minimum set size, all from the out-of-fold margins (see the module's description)."""
        import numpy as np

        n, n_codes = truth.shape
        pos = truth.sum(axis=0)
        learned = [k for k in range(n_codes) if self.estimators_[k] is not None]
        seen = [k for k in learned if pos[k] > 0]
        offsets = np.array([_base_odds(int(p), n) for p in pos])
        # A code no one has coded yet keeps its own base rate, the Laplace estimate from none
        # of the n coded items (taken as common as a typical code, such codes scored about
        # 0.7 and were right about 0.4 of the time on benchmarks/suggest_wide).
        pooled = (-1.0, 0.0)
        if seen:
            pooled = _platt(margins[:, seen].T.ravel(), truth[:, seen].T.ravel(),
                            offset=np.repeat(offsets[seen], n))
        self.pooled_ = pooled
        self.calibrators_ = []
        for k in range(n_codes):
            if self.estimators_[k] is None:  # nothing to separate: Laplace's rule of succession
                ab = (0.0, _base_odds(int(pos[k]), n))
            elif pos[k] > 0:
                a, b = _platt(margins[:, k], truth[:, k], offset=offsets[k], prior=pooled,
                              strength=self.calibration_prior)
                ab = (a, b + float(offsets[k]))
            else:
                ab = (pooled[0], pooled[1] + float(offsets[k]))
            self.calibrators_.append(ab)
        probs = self._probabilities(margins)
        self._choose_sets(probs, truth, learned)

    def _choose_sets(self, probs: Any, truth: Any, learned: list[int]) -> None:
        """Per-code thresholds (a shared one for codes with few positives) and the minimum
        number of codes per item, whichever gives the best out-of-fold micro-F1."""
        import numpy as np

        pos = truth.sum(axis=0)
        flat_p = probs[:, learned].ravel() if learned else np.zeros(0)
        flat_y = truth[:, learned].ravel() if learned else np.zeros(0, dtype=int)
        best: tuple[float, int, Any] | None = None
        for k in range(max(0, int(self.max_min_codes)) + 1):
            forced = top_mask(probs, k)
            flat_f = forced[:, learned].ravel() if learned else None
            shared = best_threshold(flat_p, flat_y, flat_f) if len(flat_p) else 0.5
            thresholds = np.array([
                best_threshold(probs[:, c], truth[:, c], forced[:, c])
                if pos[c] >= OWN_THRESHOLD_MIN else shared for c in range(truth.shape[1])])
            for candidate in (thresholds, np.full(truth.shape[1], shared)):
                f1 = micro_f1((probs >= candidate) | forced, truth)
                if best is None or f1 > best[0] + 1e-9:
                    best = (f1, k, candidate)
        assert best is not None
        self.cv_f1_, self.min_codes_, self.thresholds_ = best[0], best[1], best[2]

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimators_"):
            raise TipqualError("this CodeClassifier is not fitted yet; call fit(X, y) with "
                               "coded examples before predicting")

    def _margins(self, matrix: Any) -> Any:
        return self.members_.margins(matrix)

    def _probabilities(self, margins: Any) -> Any:
        import numpy as np

        a = np.array([c[0] for c in self.calibrators_])
        b = np.array([c[1] for c in self.calibrators_])
        return 1 / (1 + np.exp(np.clip(margins * a + b, -30, 30)))

    def decision_function(self, X: Iterable[Any]) -> Any:
        """Per item and code (columns ``classes_``): the balanced SVM margin."""
        self._check_fitted()
        return self._margins(self._features([_as_item(x) for x in X]))

    def predict_proba(self, X: Iterable[Any]) -> Any:
        """Per item and code (columns ``classes_``): the calibrated probability, in [0, 1]."""
        return self._probabilities(self.decision_function(X))

    def select(self, probs: Any) -> Any:
        """The codes shown for a matrix of probabilities (rows items, columns ``classes_``), as
        a mask: each code reaching its threshold, and each item's ``min_codes_`` most likely."""
        return (probs >= self.thresholds_) | top_mask(probs, self.min_codes_)

    def predict(self, X: Iterable[Any]) -> list[tuple[str, ...]]:
        """Per item: the set of codes (sorted) :meth:`select` shows, from the thresholds and
        the minimum set size learned by cross-validation."""
        shown = self.select(self.predict_proba(X))
        return [tuple(str(c) for c, on in zip(self.classes_, row, strict=False) if on)
                for row in shown]

    def predict_best(self, X: Iterable[Any]) -> list[str]:
        """Per item: the single most likely code (largest balanced margin)."""
        margins = self.decision_function(X)
        return [str(self.classes_[i]) for i in margins.argmax(axis=1)]
