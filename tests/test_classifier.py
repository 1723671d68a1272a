"""The learned suggestion model: calibration, codebook evidence, context, code sets, repeats."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.suggest.vectors import VECTOR_WORDS, vector_pipeline
from tipqual.codebook.model import Code, Codebook
from tipqual.errors import TipqualError
from tipqual.suggest.classifier import (
    CodeClassifier,
    TextItem,
    best_threshold,
    codebook_examples,
)

FILLER = ("the", "a", "we", "they", "said", "went", "there", "again", "then", "also", "it",
          "was", "and", "so", "well")
GROUPS = {"alpha": 0.1, "bravo": 0.35, "charlie": 0.65, "delta": 0.9}


def _synthetic(n: int, seed: int) -> tuple[list[str], list[set[str]], list[float]]:
    """Texts whose group word fixes the known probability of code "x"."""
    rng = np.random.RandomState(seed)
    texts, labels, truth = [], [], []
    names = sorted(GROUPS)
    for _ in range(n):
        group = names[rng.randint(len(names))]
        words = [group] + [FILLER[i] for i in rng.randint(len(FILLER), size=4)]
        rng.shuffle(words)
        p = GROUPS[group]
        texts.append(" ".join(words))
        labels.append({"x"} if rng.rand() < p else {"y"})
        truth.append(p)
    return texts, labels, truth


def _ece(scores: np.ndarray, hits: np.ndarray, bins: int = 10) -> float:
    edges = np.minimum((scores * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        inside = edges == b
        if inside.any():
            gap += inside.sum() * abs(scores[inside].mean() - hits[inside].mean())
    return float(gap / len(scores))


@pytest.mark.slow
def test_scores_match_known_probabilities_on_held_out_data():
    """A synthetic task with known probabilities: calibrated scores come out near them."""
    texts, labels, _ = _synthetic(1200, seed=1)
    model = CodeClassifier(use_clusters=False, random_state=0).fit(texts, labels)
    test, test_labels, truth = _synthetic(1200, seed=2)
    col = list(model.classes_).index("x")
    scores = model.predict_proba(test)[:, col]
    for group, p in GROUPS.items():
        mean = scores[[i for i, t in enumerate(test) if group in t.split()]].mean()
        assert abs(mean - p) < 0.1, (group, mean, p)
    hits = np.array(["x" in lab for lab in test_labels], dtype=float)
    assert _ece(scores, hits) <= 0.1
    assert np.corrcoef(scores, truth)[0, 1] > 0.9


@pytest.mark.slow
def test_code_with_no_coded_segment_is_learned_from_the_codebook():
    book = Codebook(name="t", version="1", codes=[
        Code(id="funding", name="funding", definition="Money, grants and budgets."),
        Code(id="housing", name="housing",
             definition="Shelter, accommodation or a safe house for survivors.",
             examples=["we found her a bed in a shelter", "there is no safe house nearby"]),
    ])
    texts = [f"the grant money ran out in {m}" for m in ("may", "june", "july", "august")]
    texts += [f"our budget was cut in {m}" for m in ("march", "april", "june", "july")]
    texts += ["we talked about the weather", "the meeting was long", "nothing else to say",
              "they arrived late", "the office moved"]
    labels = [{"funding"}] * 8 + [set()] * 5
    model = CodeClassifier(random_state=0).fit(texts, labels, prior=codebook_examples(book))
    assert "housing" in model.classes_
    assert model.n_positive_[list(model.classes_).index("housing")] == 0
    got = dict(zip(model.classes_, model.predict_proba(["she needed a shelter to stay in"])[0],
                   strict=False))
    assert got["housing"] > got["funding"]
    assert "housing" in model.predict(["she needed a shelter to stay in, a safe house"])[0]
    without = CodeClassifier(random_state=0).fit(texts, labels)
    assert "housing" not in without.classes_


def test_a_code_no_one_has_coded_keeps_its_own_base_rate():
    """None of the coded items carries it: its sigmoid is the pooled one at the Laplace
    estimate of its base rate, not at a typical code's (which made such codes over-confident
    on benchmarks/suggest_wide)."""
    import math

    book = Codebook(name="t", version="1", codes=[
        Code(id="housing", name="housing", definition="Shelter or a safe house.")])
    texts, labels, _ = _synthetic(120, seed=3)
    model = CodeClassifier(random_state=0).fit(texts, labels, prior=codebook_examples(book))
    k = list(model.classes_).index("housing")
    assert model.n_positive_[k] == 0
    a, b = model.calibrators_[k]
    assert a == model.pooled_[0]
    assert b == pytest.approx(model.pooled_[1] + math.log(len(texts) + 1))


def _asked(question: str, text: str) -> TextItem:
    return TextItem(text=text, lemmas=text, context=question)


def test_the_question_before_an_answer_changes_the_prediction():
    rng = np.random.RandomState(0)
    answers = ["yes a lot", "quite often", "not really", "sometimes", "all the time", "yes"]
    items, labels = [], []
    for _ in range(60):
        answer = answers[rng.randint(len(answers))]
        if rng.rand() < 0.5:
            items.append(_asked("How is your work funded?", answer))
            labels.append({"funding"})
        else:
            items.append(_asked("Do you trust the police?", answer))
            labels.append({"trust"})
    model = CodeClassifier(random_state=0).fit(items, labels)
    funded = model.predict_best([_asked("How is your work funded?", "quite often")])
    trusted = model.predict_best([_asked("Do you trust the police?", "quite often")])
    assert (funded, trusted) == (["funding"], ["trust"])
    blind = CodeClassifier(use_context=False, random_state=0).fit(items, labels)
    assert blind.predict_best([_asked("How is your work funded?", "quite often")]) == \
        blind.predict_best([_asked("Do you trust the police?", "quite often")])


def test_predict_returns_a_set_of_codes_per_segment():
    rng = np.random.RandomState(3)
    pool = {"money": "funding", "police": "trust", "late": "delays"}
    texts, labels = [], []
    for _ in range(150):
        words = [w for w in pool if rng.rand() < 0.4] or ["nothing"]
        texts.append(" ".join(words + ["was", "said"]))
        labels.append({pool[w] for w in words if w in pool})
    model = CodeClassifier(random_state=0).fit(texts, labels)
    got = model.predict(["money late was said", "police was said", "nothing was said"])
    assert set(got[0]) == {"funding", "delays"}
    assert set(got[1]) == {"trust"}
    assert got[2] == ()
    assert len(model.thresholds_) == len(model.classes_)
    assert all(0 < t < 1 for t in model.thresholds_)


def test_best_threshold_maximises_f1():
    probs = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1])
    y = np.array([1, 1, 1, 0, 1, 0, 0])
    assert 0.2 < best_threshold(probs, y) <= 0.3  # shows the four positives, one negative
    assert best_threshold(np.array([0.9, 0.2]), np.array([1, 0])) == pytest.approx(0.25)


def test_fitting_twice_gives_the_same_scores():
    texts, labels, _ = _synthetic(300, seed=5)
    one = CodeClassifier(random_state=0).fit(texts, labels)
    two = CodeClassifier(random_state=0).fit(texts, labels)
    assert one.predict_proba(texts).tobytes() == two.predict_proba(texts).tobytes()
    assert one.thresholds_.tobytes() == two.thresholds_.tobytes()


def _two_of_five(n: int, seed: int) -> tuple[list[str], list[set[str]]]:
    """Every item carries two of five codes and names both, but also names another code now
    and then; half the items are drowned in filler words, so their scores are faint."""
    rng = np.random.RandomState(seed)
    words = ["wages", "housing", "safety", "transport", "schools"]
    texts, labels = [], []
    for _ in range(n):
        codes = {str(c) for c in rng.choice(words, size=2, replace=False)}
        said = [w for w in words if w in codes or rng.rand() < 0.2]
        filler = [FILLER[i] for i in rng.randint(len(FILLER), size=rng.choice([1, 40]))]
        texts.append(" ".join(said + filler))
        labels.append(codes)
    return texts, labels


def _f1(truth: list[set[str]], got: list[tuple[str, ...]]) -> float:
    hit = sum(len(t & set(g)) for t, g in zip(truth, got, strict=True))
    return 2 * hit / (sum(map(len, truth)) + sum(map(len, got)))


@pytest.mark.slow
def test_the_set_size_is_learned_when_every_segment_carries_several_codes():
    texts, labels = _two_of_five(300, seed=4)
    # the SVM alone needs the learned minimum: its thresholds leave some sets short
    model = CodeClassifier(blend="svm", random_state=0).fit(texts, labels)
    assert model.min_codes_ == 2
    test, truth = _two_of_five(300, seed=5)
    sets = model.predict(test)
    assert all(len(s) >= 2 for s in sets)
    assert _f1(truth, sets) > 0.85
    default = CodeClassifier(random_state=0).fit(texts, labels).predict(test)
    assert sum(len(s) >= 2 for s in default) >= 0.95 * len(test)
    assert _f1(truth, default) > 0.85
    thresholds_only = CodeClassifier(blend="svm", max_min_codes=0,
                                     random_state=0).fit(texts, labels)
    assert thresholds_only.min_codes_ == 0
    assert any(len(s) < 2 for s in thresholds_only.predict(test))
    # Where most coded segments carry no code (and name none), nothing is forced on one.
    keep = [i % 4 == 0 for i in range(len(texts))]
    plain = [t if k else " ".join(FILLER[(i + j) % len(FILLER)] for j in range(6))
             for i, (t, k) in enumerate(zip(texts, keep, strict=True))]
    sparse = [lab if k else set() for lab, k in zip(labels, keep, strict=True)]
    assert CodeClassifier(random_state=0).fit(plain, sparse).min_codes_ == 0
    fitted = CodeClassifier(blend="svm", random_state=0).fit(plain, sparse)
    assert fitted.min_codes_ == 0
    assert fitted.predict(["the well was said again"]) == [()]


def test_groups_stay_in_one_fold():
    texts, labels = _two_of_five(60, seed=6)
    groups = [i // 5 for i in range(60)]
    model = CodeClassifier(random_state=0)
    fold = model._folds(labels, groups)
    assert all(len({fold[i] for i in range(60) if groups[i] == g}) == 1 for g in set(groups))
    assert set(fold) == {0, 1, 2}
    with pytest.raises(TipqualError, match="60 examples but 2 groups"):
        model.fit(texts, labels, groups=[0, 1])


def test_a_pipelines_word_vectors_carry_codes_to_words_never_coded(tmp_path):
    """Words never seen in training ("cash", "judge") get their code from their vectors."""
    from tipqual.nlp.pipeline import build_pipeline
    from tipqual.suggest.classifier import items_from_docs

    book = Codebook(name="t", version="1", codes=[Code(id="funding", name="funding")])
    nlp = build_pipeline(book, vector_pipeline(tmp_path / "vectors"))
    texts, labels = [], []
    for code, words in VECTOR_WORDS.items():
        for word in words[:4]:
            for tail in ("today", "again", "then"):
                texts.append(f"we talked about the {word} {tail}")
                labels.append({code})
    items = items_from_docs(nlp.pipe(texts))
    assert items[0].vector == pytest.approx((1.0, 0.0, 0.1, 0.0))
    unseen = items_from_docs(nlp.pipe([f"we talked about the {w}"
                                       for w in ("cash", "judge", "salary", "jail")]))
    want = ["funding", "justice", "funding", "justice"]
    with_vectors = CodeClassifier(random_state=0).fit(items, labels)
    assert with_vectors.vector_size_ == 4
    assert with_vectors.predict_best(unseen) == want
    probs = with_vectors.predict_proba(unseen)
    cols = [list(with_vectors.classes_).index(c) for c in want]
    assert all(probs[i, c] > 0.8 for i, c in enumerate(cols))
    without = CodeClassifier(use_vectors=False, random_state=0).fit(items, labels)
    assert without.vector_size_ == 0
    assert without.predict_best(unseen) != want
    # Blank English has no vectors: its items carry none.
    blank = build_pipeline(book)
    assert items_from_docs(blank.pipe(["the grant"]))[0].vector == ()


@pytest.mark.slow
@pytest.mark.parametrize("blend", ["svm+cnb", "svm+nbsvm", "svm+cnb+nbsvm"])
def test_a_blend_is_calibrated_and_repeatable(blend):
    """Summing complement naive Bayes or NB-SVM scores with the SVM's keeps the scores
    calibrated on held-out data and the fit deterministic."""
    texts, labels, _ = _synthetic(800, seed=1)
    model = CodeClassifier(use_clusters=False, blend=blend, random_state=0).fit(texts, labels)
    test, test_labels, truth = _synthetic(800, seed=2)
    scores = model.predict_proba(test)[:, list(model.classes_).index("x")]
    hits = np.array(["x" in lab for lab in test_labels], dtype=float)
    assert _ece(scores, hits) <= 0.1
    assert np.corrcoef(scores, truth)[0, 1] > 0.9
    again = CodeClassifier(use_clusters=False, blend=blend, random_state=0).fit(texts, labels)
    assert again.predict_proba(test).tobytes() == model.predict_proba(test).tobytes()


def test_a_blend_reads_negative_vectors_and_codebook_only_codes():
    """Naive Bayes sees only the text columns (word vectors may be negative), and a code
    that only the codebook names is still learned."""
    rng = np.random.RandomState(0)
    items = [TextItem(text=f"{word} {FILLER[i % len(FILLER)]}",
                      vector=tuple(float(v) for v in rng.randn(4) - 1.0))
             for i, word in enumerate(["wages", "housing"] * 20)]
    labels = [{"pay"} if it.text.startswith("wages") else {"home"} for it in items]
    model = CodeClassifier(use_clusters=False, blend="svm+cnb", random_state=0).fit(
        items, labels, prior=[("safety", "safety danger crime")])
    assert model.predict_best(["wages again", "danger and crime"]) == ["pay", "safety"]


def test_an_unknown_blend_is_refused():
    with pytest.raises(TipqualError, match="unknown blend"):
        CodeClassifier(blend="cnb").fit(["a b", "c d"], [{"x"}, {"y"}])


def test_a_feature_that_is_not_finite_is_refused_once():
    items = [TextItem(text=f"{w} words", vector=(1.0, float("nan") if i == 3 else 0.5))
             for i, w in enumerate(["wages", "housing"] * 5)]
    labels = [{"pay"} if it.text.startswith("wages") else {"home"} for it in items]
    with pytest.raises(TipqualError, match="not a finite number"):
        CodeClassifier(random_state=0).fit(items, labels)
