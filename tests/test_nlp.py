"""The spaCy pipeline: lemmas, the code ruler and the stakeholder ruler."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import FIXTURES
from tipqual.codebook import model as codebook_mod
from tipqual.errors import CodebookError, TipqualError
from tipqual.nlp import pipeline as nlp_mod
from tipqual.records import Segment

CODEBOOK = FIXTURES / "suggest" / "codebook.yaml"


@pytest.fixture(scope="module")
def book():
    return codebook_mod.load(CODEBOOK)


@pytest.fixture(scope="module")
def pipeline(book):
    return nlp_mod.build_pipeline(book)


def _seg(n: int, text: str) -> Segment:
    return Segment(id=f"T:{n}", source="T", n=n, speaker="R", role="respondent", start=0,
                   end=len(text), text=text)


def _codes(doc) -> list[tuple[str, str]]:
    return [(sp.text, sp.label_) for sp in doc.spans[nlp_mod.CODE_SPANS]]


def test_default_pipeline_is_blank_english_with_lookup_lemmas(pipeline):
    assert pipeline.pipe_names == ["lemmatizer", nlp_mod.LEMMA_NORMALIZER, nlp_mod.CODE_RULER,
                                   nlp_mod.STAKEHOLDER_RULER]
    assert pipeline.get_pipe("lemmatizer").mode == "lookup"
    doc = pipeline("Bribes were paid and victims feared the officials")
    assert [t.lemma_ for t in doc] == ["bribe", "be", "pay", "and", "victim", "fear", "the",
                                       "official"]


@pytest.mark.slow
def test_lemma_table_is_a_plain_dict_until_the_pipeline_is_saved(tmp_path: Path):
    import spacy

    nlp = nlp_mod.blank_pipeline()
    lemmatizer = nlp.get_pipe("lemmatizer")
    text = "Bribes were paid and victims feared the officials"
    lemmas = [t.lemma_ for t in nlp(text)]
    # Processing text never builds spaCy's hashed Table (slow to build at every start) ...
    assert type(lemmatizer.lemma_table()) is dict
    assert not lemmatizer._lookups.tables
    # ... but saving the pipeline writes the whole table, and the saved one lemmatises alike.
    nlp.to_disk(tmp_path / "pipe")
    assert lemmatizer._lookups.has_table("lemma_lookup")
    loaded = spacy.load(tmp_path / "pipe")
    assert [t.lemma_ for t in loaded(text)] == lemmas == ["bribe", "be", "pay", "and",
                                                          "victim", "fear", "the", "official"]


def test_missing_lemma_table_is_a_clear_error(monkeypatch):
    from spacy.util import registry

    monkeypatch.setattr(registry.lookups, "get", lambda lang: {})
    with pytest.raises(TipqualError, match="pip install spacy-lookups-data"):
        nlp_mod.blank_pipeline()


def test_phrase_matches_case_insensitively(pipeline):
    doc = pipeline("CORRUPTION in the department. Our Funding ended.")
    assert _codes(doc) == [("CORRUPTION", "corruption"), ("Funding", "funding")]


def test_phrase_matches_on_lemmas(pipeline):
    doc = pipeline("They demanded bribes, and the cases were delayed by donors.")
    assert _codes(doc) == [("bribes", "corruption"), ("delayed", "delays"),
                           ("donors", "funding")]


def test_multiword_phrase_matches_inflected_form(pipeline):
    doc = pipeline("There were budget cuts and a shortage of staff.")
    assert ("budget cuts", "funding") in _codes(doc)
    assert ("shortage of staff", "capacity") in _codes(doc)


def test_overlapping_codes_coexist(pipeline):
    doc = pipeline("a shortage of staff")
    spans = _codes(doc)
    assert ("shortage of staff", "capacity") in spans
    assert ("staff", "capacity") in spans
    doc = pipeline("corrupt officials destroyed our trust")
    assert _codes(doc) == [("corrupt", "corruption"), ("trust", "trust")]


def test_token_pattern_and_rule_provenance(pipeline):
    doc = pipeline("Someone leaked information to the traffickers.")
    spans = doc.spans[nlp_mod.CODE_SPANS]
    assert ("leaked information", "corruption") in _codes(doc)
    assert all(sp.id_.startswith("pattern [") for sp in spans)
    doc = pipeline("a bribe")
    assert doc.spans[nlp_mod.CODE_SPANS][0].id_ == 'phrase "bribe"'


def test_no_partial_word_matches(pipeline):
    doc = pipeline("The trustees met the policeman at the bribery desk.")
    assert _codes(doc) == []
    assert list(doc.spans[nlp_mod.STAKEHOLDER_SPANS]) == []


def _random_pattern(rng) -> list[dict]:
    """A token pattern of 1-4 tokens over a tiny vocabulary; some tokens beyond the words-only
    fast path (two predicates, a wildcard, + and *) so both matching paths are exercised."""
    words = ["a", "b", "c", "be", "is"]
    pattern = []
    for _ in range(rng.randint(1, 4)):
        attr = rng.choice(["LOWER", "LEMMA", "ORTH", "TEXT"])
        value = rng.choice(words) if rng.random() < 0.5 else {"IN": rng.sample(words, 2)}
        token: dict = {attr: value}
        roll = rng.random()
        if roll < 0.3:
            token["OP"] = "?"
        elif roll < 0.35:
            token["OP"] = rng.choice(["+", "*"])
        elif roll < 0.4:
            token["LOWER" if attr != "LOWER" else "LEMMA"] = rng.choice(words)
        elif roll < 0.43:
            token = {}
        pattern.append(token)
    return pattern


@pytest.mark.slow
def test_token_patterns_match_exactly_as_spacys_matcher(book):
    """The ruler's pre-filter and its own matching of words-only patterns find the very
    matches spaCy's Matcher finds, on many random patterns and texts."""
    import random

    from spacy.matcher import Matcher

    rng = random.Random(5)
    nlp = nlp_mod.blank_pipeline()
    ruler = nlp.add_pipe(nlp_mod.CODE_RULER)
    patterns = [_random_pattern(rng) for _ in range(150)]
    ruler.add_rules({"code": f"c{i}", "kind": "pattern", "value": p}
                    for i, p in enumerate(patterns))
    reference = Matcher(nlp.vocab)
    for i, p in enumerate(patterns):
        reference.add(f"c{i}", [p])
    texts = [" ".join(rng.choice(["a", "A", "b", "c", "was", "is", "d", "B"])
                      for _ in range(rng.randint(0, 12))) for _ in range(300)]
    assert any(p.matcher is None for p in ruler._patterns)  # the fast path is exercised
    assert any(p.matcher is not None for p in ruler._patterns)
    for doc in nlp.pipe(texts):
        want = {(doc.vocab.strings[m], s, e) for m, s, e in reference(doc)}
        got = {(sp.label_, sp.start, sp.end) for sp in doc.spans[nlp_mod.CODE_SPANS]}
        assert got == want, doc.text


def test_invalid_pattern_is_a_codebook_error(book):
    nlp = nlp_mod.blank_pipeline()
    ruler = nlp.add_pipe(nlp_mod.CODE_RULER)
    with pytest.raises(CodebookError, match="invalid token pattern"):
        ruler.add_rules([{"code": "x", "kind": "pattern", "value": [{"NOPE": "a"}]}])


def test_rulers_round_trip_through_disk(pipeline, tmp_path: Path):
    pipeline.to_disk(tmp_path / "pipe")
    nlp = nlp_mod.blank_pipeline()
    nlp.add_pipe(nlp_mod.CODE_RULER)
    nlp.add_pipe(nlp_mod.STAKEHOLDER_RULER)
    nlp.get_pipe(nlp_mod.CODE_RULER).from_disk(tmp_path / "pipe" / nlp_mod.CODE_RULER)
    nlp.get_pipe(nlp_mod.STAKEHOLDER_RULER).from_disk(
        tmp_path / "pipe" / nlp_mod.STAKEHOLDER_RULER)
    text = "The Hawks took bribes; donors left."
    a, b = pipeline(text), nlp(text)
    assert _codes(a) == _codes(b) == [("bribes", "corruption"), ("donors", "funding")]
    assert ([(s.text, s.label_) for s in b.spans["stakeholders"]]
            == [("The Hawks", "DPCI")])


def test_unknown_model_is_a_clear_error(book):
    with pytest.raises(TipqualError, match="no installed spaCy pipeline named 'xx_nope_model'"):
        nlp_mod.build_pipeline(book, model="xx_nope_model")


def test_find_mentions_resolves_aliases(book):
    segs = [_seg(1, "We work with the Hawks and the Department of Social Development."),
            _seg(2, "The National Prosecuting Authority, or the National Prosecution "
                    "Authority as some say, and the NPA prosecutors."),
            _seg(3, "Nobody here.")]
    got = [(m.segment, m.stakeholder, m.text) for m in nlp_mod.find_mentions(segs, book)]
    assert got == [("T:1", "DPCI", "the Hawks"),
                   ("T:1", "DSD", "Department of Social Development"),
                   ("T:2", "NPA", "National Prosecuting Authority"),
                   ("T:2", "NPA", "National Prosecution Authority"),
                   ("T:2", "NPA", "NPA"),
                   ("T:2", "NPA", "prosecutors")]


def test_find_mentions_offsets_point_into_segment_text(book, pipeline):
    text = "Then the police station called a social worker."
    mentions = list(nlp_mod.find_mentions([_seg(1, text)], book, nlp=pipeline, batch_size=1))
    assert [(m.stakeholder, text[m.start:m.end]) for m in mentions] == [
        ("SAPS", "the police"), ("DSD", "social worker")]
    assert all(text[m.start:m.end] == m.text for m in mentions)


# --- long texts (hardening point 4) ------------------------------------------------------------

def _long_paragraph(chars: int, end: str = ".") -> str:
    """One paragraph of more than ``chars`` characters: short sentences, no blank line."""
    sentence = "The officer at the border post waited for the papers with us" + end + " "
    return (sentence * (chars // len(sentence) + 1)).rstrip()


def test_blank_pipeline_reads_a_text_longer_than_spacys_default_limit(pipeline):
    text = _long_paragraph(1_100_000) + " Then the SAPS asked for a bribe."
    assert len(text) > 1_000_000
    doc = pipeline(text)  # spaCy's default max_length raised E088 here
    assert _codes(doc)[-1] == ("bribe", "corruption")
    assert doc.spans[nlp_mod.STAKEHOLDER_SPANS][-1].text == "SAPS"
    assert len(pipeline.make_doc(text)) == len(doc)


def test_find_mentions_in_a_segment_over_a_million_characters(book):
    text = _long_paragraph(1_050_000) + " The SAPS came."
    mentions = list(nlp_mod.find_mentions([_seg(1, text)], book))
    assert [(m.stakeholder, text[m.start:m.end]) for m in mentions] == [("SAPS", "SAPS")]


def _check_chunks(text: str, chunks: list[tuple[int, int]], limit: int) -> None:
    assert chunks and all(0 < b - a <= limit for a, b in chunks)
    assert all(text[a:b] == text[a:b].strip() for a, b in chunks)
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(chunks, chunks[1:], strict=False))
    # nothing but white space is left out between the chunks
    covered = "".join(text[a:b] for a, b in chunks)
    assert "".join(covered.split()) == "".join(text.split())


def test_sentence_chunks_of_a_paragraph_over_a_million_characters():
    text = _long_paragraph(1_200_000)
    [chunks] = list(nlp_mod.sentence_chunks([text], 4000))
    _check_chunks(text, chunks, 4000)
    assert all(text[b - 1] == "." for _, b in chunks)  # whole sentences
    assert len(chunks) == pytest.approx(len(text) / 4000, rel=0.05)


@pytest.mark.slow
def test_sentence_longer_than_the_limit_is_cut_between_words():
    words = " ".join(f"word{i}" for i in range(250_000))  # 2.6 M characters, no full stop
    [chunks] = list(nlp_mod.sentence_chunks([words], 4000))
    _check_chunks(words, chunks, 4000)
    assert all(words[a - 1] == " " for a, _ in chunks[1:])  # no word is split
    assert all(b - a > 3900 for a, b in chunks[:-1])


@pytest.mark.slow
def test_text_without_spaces_is_cut_after_its_full_stops_or_at_the_limit():
    chinese = "警察需要很长时间才来帮助受害者。" * 70_000  # 1.1 M characters, no space at all
    [chunks] = list(nlp_mod.sentence_chunks([chinese], 4000))
    _check_chunks(chinese, chunks, 4000)
    assert all(chinese[b - 1] == "。" for _, b in chunks)
    solid = "x" * 9000
    assert list(nlp_mod.sentence_chunks([solid], 4000)) == [[(0, 4000), (4000, 8000),
                                                              (8000, 9000)]]


def test_sentence_chunks_in_pieces_match_the_whole_text():
    text = " ".join(f"Sentence {i} says (what it must). Then {i}!" for i in range(3000))
    whole = list(nlp_mod.sentence_chunks([text, "", "Short one."], 500,
                                         piece_chars=len(text) + 1))
    assert list(nlp_mod.sentence_chunks([text, "", "Short one."], 500, piece_chars=997)) == whole
    assert whole[1:] == [[], [(0, 10)]]


def test_text_pieces_cover_the_text_and_end_at_sentence_ends():
    text = _long_paragraph(250_000)
    pieces = nlp_mod.text_pieces(text, 100_000)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
    assert all(b1 == a2 for (_, b1), (a2, _) in zip(pieces, pieces[1:], strict=False))
    assert all(b - a <= 100_000 for a, b in pieces)
    assert all(text[b - 2:b] == ". " for _, b in pieces[:-1])
    assert nlp_mod.text_pieces("") == [(0, 0)]
