"""The learned suggestion model: calibration, codebook evidence, context, code sets, repeats."""

from __future__ import annotations

import numpy as np
import pytest

from tipqual.codebook.model import Code, Codebook
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
