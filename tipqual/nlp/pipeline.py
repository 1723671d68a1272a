"""Building the spaCy pipeline: tokenizer, lemmas and tipqual's rule components.

The default pipeline is ``spacy.blank("en")`` with the lookup lemmatizer of
``spacy-lookups-data`` (nothing is downloaded). ``model=NAME`` loads an installed trained
pipeline instead (for its named entities) and adds the same components. Two rule components
write overlapping spans onto each ``Doc``:

- ``tipqual_code_ruler_v1``: each code's ``phrases`` (matched on lower-cased words and on
  lemmas) and ``patterns`` (spaCy Matcher token patterns) into ``doc.spans["tipqual"]``, the
  span label being the code id and the span id naming the rule that matched;
- ``tipqual_stakeholder_ruler_v1``: the registry's aliases (lower-cased, whole tokens, the
  longest match wins) into ``doc.spans["stakeholders"]``, labelled with the stakeholder id.

(spaCy forbids dots in factory names, so the version is the ``_v1`` suffix.)
Both keep their rules in plain JSON and serialise them with ``to_disk``/``from_disk``.

Long texts: every component of the blank pipeline (tokenizer, lookup lemmas, the rulers) takes
memory in proportion to the text (about 70 bytes a character), so its ``max_length`` is raised
to what a spaCy ``Doc`` can hold; spaCy's default of 1,000,000 characters guards the parser and
named-entity models of trained pipelines, which keep it. :func:`sentence_chunks` (import's
splitting of long paragraphs) reads a text of any length in pieces of :data:`PIECE_CHARS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from tipqual.errors import CodebookError, TipqualError

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc
    from thinc.types import Ints2d

    from tipqual.codebook.model import Codebook
    from tipqual.records import Mention, Segment

CODE_SPANS = "tipqual"
STAKEHOLDER_SPANS = "stakeholders"
CODE_RULER = "tipqual_code_ruler_v1"
STAKEHOLDER_RULER = "tipqual_stakeholder_ruler_v1"
LEMMA_NORMALIZER = "tipqual_lemma_normalizer_v1"
LOOKUP_LEMMATIZER = "tipqual_lookup_lemmatizer_v1"
DEFAULT_BATCH_SIZE = 64
# A spaCy Doc keeps each token's character offset in a C int: the most characters it can hold.
BLANK_MAX_LENGTH = 2**31 - 1
PIECE_CHARS = 100_000  # the longest piece of text one sentencizer Doc is made of

_registered = False


def _register() -> None:
    """Register tipqual's factories with spaCy once (spaCy itself is imported lazily)."""
    global _registered
    if _registered:
        return
    from spacy.language import Language

    Language.factory(LEMMA_NORMALIZER)(_make_lemma_normalizer)
    Language.factory(LOOKUP_LEMMATIZER, assigns=["token.lemma"],
                     default_config={"model": None, "mode": "lookup", "overwrite": False})(
        _make_lookup_lemmatizer)
    Language.factory(CODE_RULER, default_config={"spans_key": CODE_SPANS})(_make_code_ruler)
    Language.factory(STAKEHOLDER_RULER,
                     default_config={"spans_key": STAKEHOLDER_SPANS})(_make_stakeholder_ruler)
    _registered = True


def _make_lemma_normalizer(nlp: Language, name: str) -> LemmaNormalizer:
    return LemmaNormalizer(nlp, name)


def _make_lookup_lemmatizer(nlp: Language, model: Any, name: str, mode: str,
                            overwrite: bool) -> Any:
    return _lookup_lemmatizer_class()(nlp.vocab, model, name, mode=mode, overwrite=overwrite)


_LOOKUP_CLASS: Any = None


def _lookup_lemmatizer_class() -> Any:
    """spaCy's Lemmatizer whose lookup mode works on word hashes, once per distinct word.

    spaCy's own lookup mode reads and writes each token's strings in Python, which cost about
    as much as tokenising; the lemmas are the same (the table's entry for the exact word).
    The table is read as a plain dict: building spaCy's ``Table``, which hashes each of its
    41,582 words, took 0.15 s at every start of a command, reading the words 0.02 s. The
    ``Table`` is made only when something asks for ``lookups`` (saving the pipeline, say).
    """
    global _LOOKUP_CLASS
    if _LOOKUP_CLASS is not None:
        return _LOOKUP_CLASS
    from spacy.pipeline import Lemmatizer

    class LookupLemmatizer(Lemmatizer):
        """The lookup lemmatizer of spacy-lookups-data, applied a whole doc at a time."""

        _words: dict[str, str] | None = None  # the lemma table, until ``lookups`` is asked for

        @property
        def lookups(self) -> Any:
            if self._words is not None:
                self._lookups.add_table("lemma_lookup", self._words)
                self._words = None
            return self._lookups

        @lookups.setter
        def lookups(self, value: Any) -> None:
            self._lookups, self._words = value, None

        def initialize(self, get_examples: Any = None, *, nlp: Any = None,
                       lookups: Any = None) -> None:
            if self.mode != "lookup" or lookups is not None:
                super().initialize(get_examples, nlp=nlp, lookups=lookups)
                return
            from spacy.errors import Errors
            from spacy.lookups import Lookups
            from spacy.util import load_language_data, registry

            tables = registry.lookups.get(self.vocab.lang) if (
                self.vocab.lang in registry.lookups) else {}
            if "lemma_lookup" not in tables:
                raise ValueError(Errors.E955.format(table="lemma_lookup", lang=self.vocab.lang))
            self.lookups = Lookups()
            words = load_language_data(tables["lemma_lookup"])
            if not isinstance(words, dict):
                raise ValueError(Errors.E955.format(table="lemma_lookup", lang=self.vocab.lang))
            self._words = words
            self._validated = True

        def lemma_table(self) -> Any:
            """The word -> lemma table (a dict, or spaCy's Table once ``lookups`` was used)."""
            if self._words is not None:
                return self._words
            return self.lookups.get_table("lemma_lookup", {})

        def __call__(self, doc: Doc) -> Doc:
            if self.mode != "lookup":
                return super().__call__(doc)
            import numpy
            from spacy.attrs import LEMMA, ORTH

            if not self._validated:
                self._validate_tables()
            cache = self.__dict__.setdefault("_tipqual_cache", {})
            table = self.lemma_table()
            strings = doc.vocab.strings
            orths, old = doc.to_array([ORTH, LEMMA]).T.tolist()
            normaliser = self.__dict__.get("_tipqual_normaliser")
            lemmas = list(map(cache.get, orths))
            if None in lemmas:  # words not seen before: look each up once
                for i, orth in enumerate(orths):
                    if lemmas[i] is None:
                        lemma = cache.get(orth)
                        if lemma is None:
                            text = strings[orth]
                            lemma = strings.add(table.get(text, text))
                            if normaliser is not None:
                                lemma = normaliser.normalise(strings, orth, lemma)
                            cache[orth] = lemma
                        lemmas[i] = lemma
            if not self.overwrite and any(old):  # keep lemmas set before this component
                lemmas = [o or new for o, new in zip(old, lemmas, strict=False)]
            elif normaliser is not None:
                doc.user_data[_NORMALISED] = True
            doc.from_array([LEMMA],
                           cast("Ints2d", numpy.array(lemmas, dtype="uint64").reshape(-1, 1)))
            return doc

    _LOOKUP_CLASS = LookupLemmatizer
    return _LOOKUP_CLASS


def _make_code_ruler(nlp: Language, name: str, spans_key: str) -> CodeRuler:
    return CodeRuler(nlp, name, spans_key=spans_key)


def _make_stakeholder_ruler(nlp: Language, name: str, spans_key: str) -> StakeholderRuler:
    return StakeholderRuler(nlp, name, spans_key=spans_key)


# Doc.user_data flag: lemmas already normalised by the lookup lemmatizer (popped by the normaliser).
_NORMALISED = "tipqual_lemmas_normalised"


class LemmaNormalizer:
    """Lower-cases lemmas, and looks a capitalised word up again in lower case.

    The lookup table is keyed by the exact word, so "Bribes" at the start of a sentence would
    keep its own form; matching lemmas case-insensitively needs "bribe".
    """

    def __init__(self, nlp: Language, name: str):
        self.name = name
        self._lemmatizer = nlp.get_pipe("lemmatizer") if "lemmatizer" in nlp.pipe_names else None
        self._cache: dict[tuple[int, int], int] = {}

    def _table(self) -> Any:
        """The lemmatizer's word table, looked up when needed (a loaded pipeline fills it
        after this component is made)."""
        lemmatizer = self._lemmatizer
        if lemmatizer is not None and hasattr(lemmatizer, "lemma_table"):
            return lemmatizer.lemma_table()
        lookups = getattr(lemmatizer, "lookups", None)
        if lookups is not None and lookups.has_table("lemma_lookup"):
            return lookups.get_table("lemma_lookup")
        return None

    def __call__(self, doc: Doc) -> Doc:
        import numpy
        from spacy.attrs import LEMMA, ORTH

        # Work on the hashes of (word, lemma) pairs, each distinct pair worked out once per
        # pipeline: the per-token Python attribute access cost as much as tokenising.
        if doc.user_data.pop(_NORMALISED, False):
            return doc  # the lookup lemmatizer already wrote this component's lemmas
        orths, old = doc.to_array([ORTH, LEMMA]).T.tolist()
        pairs = list(zip(orths, old, strict=False))
        cache = self._cache
        for pair in set(pairs).difference(cache):
            cache[pair] = self.normalise(doc.vocab.strings, *pair)
        lemmas = numpy.array(list(map(cache.__getitem__, pairs)), dtype="uint64")
        doc.from_array([LEMMA], cast("Ints2d", lemmas.reshape(-1, 1)))
        return doc

    def normalise(self, strings: Any, orth: int, lemma_id: int) -> int:
        """The lower-cased lemma hash for a word hash and the lemma hash it was given."""
        text = strings[orth]
        lemma = (strings[lemma_id] if lemma_id else "") or text
        lower = text.lower()
        if lemma == text and text != lower:
            table = self._table()
            if table is not None:
                lemma = table.get(lower, lower)
        return strings.add(lemma.lower())


def _run_upstream(nlp: Language, name: str, texts: list[str]) -> list[Doc]:
    """Process ``texts`` with the components that come before ``name`` in the pipeline."""
    docs = [nlp.make_doc(text) for text in texts]
    for pipe_name, proc in nlp.pipeline:
        if pipe_name == name:
            break
        docs = [proc(doc) for doc in docs]
    return docs


class CodeRuler:
    """Writes each code's phrase and pattern matches as overlapping spans onto the Doc."""

    def __init__(self, nlp: Language, name: str, spans_key: str = CODE_SPANS):
        self.nlp = nlp
        self.name = name
        self.spans_key = spans_key
        self.rules: list[dict[str, Any]] = []
        self._reset()

    def _reset(self) -> None:
        from spacy.matcher import Matcher, PhraseMatcher

        self._lower = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self._lemma = PhraseMatcher(self.nlp.vocab, attr="LEMMA")
        # Token patterns. spaCy's Matcher tries every pattern at every token and evaluates set
        # predicates (IN) in Python, which cost many times the tokenizer. So each word
        # constraint of a pattern (LOWER, LEMMA or ORTH equal to, or IN, a list of words) gets
        # a bit; every distinct (word, lemma) pair of the text gets, once, the mask of the
        # constraints it meets; a pattern runs only on docs holding every bit it requires,
        # and only near the tokens holding its anchor bit. Patterns made of such constraints
        # alone (one per token, optional or not) are matched on the masks directly; the
        # others by their own spaCy Matcher on those windows.
        self._patterns: list[_Pattern] = []
        self._word_bits: tuple[dict[int, int], ...] = ({}, {}, {})  # by _WORD_COLUMNS
        self._bit_count = 0
        self._masks: dict[tuple[int, int], int] = {}  # (ORTH, LEMMA) -> constraints met
        self._matcher_class = Matcher
        self._hashes: list[tuple[int, int]] = []  # (code, name) string hashes of each rule
        self._index_of: dict[int, int] = {}  # match id hash -> rule index

    def add_codebook(self, codebook: Codebook) -> None:
        """Compile every code's ``phrases`` and ``patterns`` into this ruler."""
        rules: list[dict[str, Any]] = []
        for code in codebook.codes:
            for phrase in code.phrases:
                if str(phrase).strip():
                    rules.append({"code": code.id, "kind": "phrase", "value": str(phrase)})
            for pattern in code.patterns:
                rules.append({"code": code.id, "kind": "pattern", "value": pattern})
        self.add_rules(rules)

    def add_rules(self, rules: Iterable[dict[str, Any]]) -> None:
        """Add rules: ``{"code", "kind": "phrase"|"pattern", "value"}`` dicts."""
        rules = list(rules)
        # Each phrase's doc as the components before this one leave it (its lower-cased
        # words are the tokenizer's; its lemmas the lemmatizer's), all made in one pass.
        phrase_docs = iter(_run_upstream(self.nlp, self.name, [
            rule["value"] for rule in rules if rule["kind"] == "phrase"]))
        for rule in rules:
            index = len(self.rules)
            key = f"{CODE_RULER}:{index}"
            if rule["kind"] == "phrase":
                lemma_doc = next(phrase_docs)
                self._lower.add(key, [lemma_doc])
                if any(t.lemma_ for t in lemma_doc):
                    self._lemma.add(key, [lemma_doc])
            elif rule["kind"] == "pattern":
                from tipqual.codebook.check import pattern_problem

                refused = pattern_problem(rule["value"])
                if refused:  # e.g. a hostile REGEX in a codebook stored by an older tipqual
                    raise CodebookError(f"code {rule['code']!r}: a token pattern is refused: "
                                        f"{refused}; fix the codebook before running "
                                        "'suggest'")
                matcher = self._matcher_class(self.nlp.vocab, validate=True)
                try:
                    matcher.add(key, [rule["value"]])
                except (ValueError, TypeError) as exc:
                    raise CodebookError(f"code {rule['code']!r}: invalid token pattern "
                                        f"{json.dumps(rule['value'])}: {exc}") from None
                self._patterns.append(self._compile(rule["value"], matcher,
                                                    self.nlp.vocab.strings[key]))
            else:
                raise CodebookError(f"unknown rule kind {rule['kind']!r}")
            self.rules.append({"code": rule["code"], "kind": rule["kind"],
                               "value": rule["value"]})
            strings = self.nlp.vocab.strings
            self._hashes.append((strings.add(rule["code"]),
                                 strings.add(self._describe(self.rules[-1]))))

    def __call__(self, doc: Doc) -> Doc:
        from spacy.tokens import Span

        found: dict[tuple[int, int, str], int] = {}
        index_of = self._index_of
        for match_id, start, end in self._matches(doc):
            index = index_of.get(match_id)
            if index is None:
                index = index_of[match_id] = int(
                    self.nlp.vocab.strings[match_id].rsplit(":", 1)[1])
            found.setdefault((start, end, self.rules[index]["code"]), index)
        hashes = self._hashes
        spans = [Span(doc, start, end, label=hashes[index][0], span_id=hashes[index][1])
                 for (start, end, _), index in sorted(found.items())]
        doc.spans[self.spans_key] = spans
        return doc

    def _bit(self, column: int, words: list[str]) -> int:
        """A new constraint bit, met by any of ``words`` in the ``column`` attribute."""
        bit = 1 << self._bit_count
        self._bit_count += 1
        table = self._word_bits[column]
        for word in words:
            key = self.nlp.vocab.strings.add(word)
            table[key] = table.get(key, 0) | bit
        self._masks.clear()
        return bit

    def _compile(self, pattern: list[dict[str, Any]], matcher: Any, key: int) -> _Pattern:
        steps: list[tuple[int, bool]] = []
        required: list[tuple[int, int]] = []  # (bit, shortest word) of each required token
        simple = True
        for token in pattern:
            op = token.get("OP")
            words = [w for w in map(_word_constraint, token.items()) if w is not None]
            simple = (simple and op in (None, "?") and len(words) == 1
                      and len(token) == 1 + ("OP" in token))
            if not words or (op not in (None, "?", "+") and not simple):
                continue
            bit = self._bit(*words[0])
            steps.append((bit, op == "?"))
            if op in (None, "+"):
                required.append((bit, min(len(w) for w in words[0][1])))
        need = 0
        for bit, _ in required:
            need |= bit
        # The anchor: the required token with the longest words ("a", "of", "the" are
        # everywhere; anchoring on them would run the pattern almost everywhere).
        anchor = max(required, key=lambda item: item[1])[0] if required else 0
        return _Pattern(None if simple else matcher, tuple(steps) if simple else (), need,
                        anchor, _max_length(pattern), key)

    def _token_masks(self, doc: Doc) -> list[int]:
        """The constraint mask of each token (worked out once per distinct word and lemma)."""
        from spacy.attrs import LEMMA, ORTH

        masks = self._masks
        pairs = list(zip(*doc.to_array([ORTH, LEMMA]).T.tolist(), strict=False)) if len(doc) else []
        missing = set(pairs).difference(masks)
        if missing:
            lower_bits, lemma_bits, orth_bits = self._word_bits
            vocab = self.nlp.vocab
            for orth, lemma in missing:
                masks[orth, lemma] = (
                    lower_bits.get(vocab[orth].lower, 0) | lemma_bits.get(lemma, 0)
                    | orth_bits.get(orth, 0))
        return list(map(masks.__getitem__, pairs))

    def _matches(self, doc: Doc) -> Iterator[tuple[int, int, int]]:
        for matcher in (self._lower, self._lemma):
            if len(matcher):  # an empty matcher warns on every call
                yield from matcher(doc)
        if not self._patterns:
            return
        masks = self._token_masks(doc)
        marked = [(i, mask) for i, mask in enumerate(masks) if mask]  # most words meet none
        present = 0
        for mask in {mask for _, mask in marked}:
            present |= mask
        size = len(doc)
        for pattern in self._patterns:
            if pattern.need & present != pattern.need:
                continue
            # Every match holds a token with the anchor bit, so it lies within the pattern's
            # length of one.
            hits = ([i for i, mask in marked if mask & pattern.anchor]
                    if pattern.anchor else list(range(size)))
            if pattern.matcher is None:
                for start, end in _step_matches(pattern.steps, masks, hits):
                    yield pattern.key, start, end
            elif not pattern.anchor or pattern.length is None:
                yield from pattern.matcher(doc)
            else:
                for a, b in _windows(hits, pattern.length, size):
                    for match_id, start, end in pattern.matcher(doc[a:b]):
                        yield match_id, start + a, end + a

    @staticmethod
    def _describe(rule: dict[str, Any]) -> str:
        """A short human-readable name of a rule (the span id), e.g. ``phrase "bribe"``."""
        if rule["kind"] == "pattern":
            return "pattern " + json.dumps(rule["value"], sort_keys=True)
        return f'phrase "{rule["value"]}"'

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write the rules as JSON into the folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "rules.json").write_text(json.dumps(self.rules, indent=1, sort_keys=True),
                                         encoding="utf-8")

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> CodeRuler:
        """Read rules written by :meth:`to_disk`, replacing the current ones."""
        rules = json.loads((Path(path) / "rules.json").read_text(encoding="utf-8"))
        self.rules = []
        self._reset()
        self.add_rules(rules)
        return self


# The token attributes a word constraint can test, by their column in CodeRuler._word_bits.
_WORD_COLUMNS = {"LOWER": 0, "LEMMA": 1, "ORTH": 2}
_WORD_ATTRS = {"LOWER": "LOWER", "LEMMA": "LEMMA", "ORTH": "ORTH", "TEXT": "ORTH"}


class _Pattern(NamedTuple):
    matcher: Any  # spaCy Matcher of this pattern alone; None when ``steps`` match it
    steps: tuple[tuple[int, bool], ...]  # (constraint bit, optional) of each token
    need: int  # the bits a doc must hold (one per required token)
    anchor: int  # the bit every match holds (0: none, run the matcher on the whole doc)
    length: int | None  # the most tokens a match spans (None: unbounded)
    key: int  # the match id (hash of the rule's key)


def _word_constraint(item: tuple[Any, Any]) -> tuple[int, list[str]] | None:
    """``(column, words)`` for a token predicate that a word meets or not, else None."""
    key, value = item
    attr = _WORD_ATTRS.get(str(key).upper())
    if attr is None:
        return None
    if isinstance(value, str):
        return _WORD_COLUMNS[attr], [value]
    if isinstance(value, dict) and set(value) == {"IN"} and value["IN"]:
        return _WORD_COLUMNS[attr], [str(v) for v in value["IN"]]
    return None


def _step_matches(steps: tuple[tuple[int, bool], ...], masks: list[int],
                  hits: list[int]) -> list[tuple[int, int]]:
    """Every (start, end) at which ``steps`` match ``masks``, starting near a hit.

    As spaCy's Matcher does for such patterns: each optional token both skipped and taken,
    every resulting match reported, empty ones not.
    """
    size, reach = len(masks), len(steps)
    starts = sorted({s for i in hits for s in range(max(0, i - reach + 1), i + 1)})
    found = []
    for start in starts:
        ends = {start}
        for bit, optional in steps:
            ends = ({e + 1 for e in ends if e < size and masks[e] & bit}
                    | (ends if optional else set()))
            if not ends:
                break
        found += [(start, end) for end in sorted(ends) if end > start]
    return found


def _max_length(pattern: list[dict[str, Any]]) -> int | None:
    """The most tokens a match of ``pattern`` can span (None when unbounded)."""
    if any(str(t.get("OP", "")).startswith(("*", "+", "{")) for t in pattern):
        return None
    return len(pattern)


def _windows(hits: list[int], length: int, size: int) -> list[tuple[int, int]]:
    """Merged token windows reaching ``length`` tokens either side of each hit."""
    out: list[tuple[int, int]] = []
    for i in hits:
        a, b = max(0, i - length + 1), min(size, i + length)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


class StakeholderRuler:
    """Writes stakeholder aliases found in the text as spans (the longest match wins)."""

    def __init__(self, nlp: Language, name: str, spans_key: str = STAKEHOLDER_SPANS):
        self.nlp = nlp
        self.name = name
        self.spans_key = spans_key
        self.aliases: list[dict[str, str]] = []
        self._reset()

    def _reset(self) -> None:
        from spacy.matcher import PhraseMatcher

        self._matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")

    def add_registry(self, codebook: Codebook) -> None:
        """Add every stakeholder's id, name and aliases."""
        entries = []
        for s in codebook.stakeholders:
            for alias in dict.fromkeys([s.id, s.name, *s.aliases]):
                if str(alias).strip():
                    entries.append({"stakeholder": s.id, "alias": str(alias)})
        self.add_aliases(entries)

    def add_aliases(self, entries: Iterable[dict[str, str]]) -> None:
        """Add ``{"stakeholder", "alias"}`` entries."""
        for entry in entries:
            self._matcher.add(entry["stakeholder"], [self.nlp.make_doc(entry["alias"])])
            self.aliases.append({"stakeholder": entry["stakeholder"], "alias": entry["alias"]})

    def __call__(self, doc: Doc) -> Doc:
        from spacy.tokens import Span
        from spacy.util import filter_spans

        matches = self._matcher(doc) if len(self._matcher) else []
        spans = [Span(doc, start, end, label=match_id) for match_id, start, end in matches]
        doc.spans[self.spans_key] = sorted(filter_spans(spans),
                                           key=lambda sp: (sp.start, sp.end, sp.label_))
        return doc

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write the aliases as JSON into the folder ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "aliases.json").write_text(json.dumps(self.aliases, indent=1, sort_keys=True),
                                           encoding="utf-8")

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> StakeholderRuler:
        """Read aliases written by :meth:`to_disk`, replacing the current ones."""
        entries = json.loads((Path(path) / "aliases.json").read_text(encoding="utf-8"))
        self.aliases = []
        self._reset()
        self.add_aliases(entries)
        return self


def blank_pipeline() -> Language:
    """``spacy.blank("en")`` with the lookup lemmatizer and lower-cased lemmas."""
    import spacy

    _register()
    nlp = spacy.blank("en")
    # Nothing here needs memory beyond a constant per token (see the module docstring), so a
    # segment longer than spaCy's default limit is read whole rather than refused.
    nlp.max_length = BLANK_MAX_LENGTH
    nlp.add_pipe(LOOKUP_LEMMATIZER, name="lemmatizer", config={"mode": "lookup"})
    try:
        nlp.initialize()
    except (OSError, ValueError, ImportError) as exc:
        raise TipqualError(f"cannot set up the lemmatizer ({exc}); install "
                           "spacy-lookups-data (pip install spacy-lookups-data)") from None
    normaliser = nlp.add_pipe(LEMMA_NORMALIZER)
    # The lookup lemma depends on the word alone, so the lemmatizer can write the normalised
    # lemma straight away (once per distinct word); the normaliser then has nothing to redo.
    nlp.get_pipe("lemmatizer").__dict__["_tipqual_normaliser"] = normaliser
    return nlp


def load_model(name: str) -> Language:
    """Load an installed trained spaCy pipeline by package name or path."""
    import spacy

    _register()
    try:
        nlp = spacy.load(name)
    except OSError:
        raise TipqualError(f"no installed spaCy pipeline named {name!r}; install it "
                           f"(python -m spacy download {name}) or leave out --model to use "
                           "the built-in rules") from None
    nlp.add_pipe(LEMMA_NORMALIZER)
    return nlp


def build_pipeline(codebook: Codebook, model: str | None = None) -> Language:
    """The pipeline tipqual runs: lemmas, the code ruler and the stakeholder ruler.

    Args:
        codebook: the codes (phrases, patterns) and the stakeholder registry to match.
        model: an installed trained pipeline to start from; None for the blank English one.

    Returns:
        A spaCy ``Language`` whose docs carry ``doc.spans["tipqual"]`` and
        ``doc.spans["stakeholders"]``.
    """
    nlp = load_model(model) if model else blank_pipeline()
    cast(CodeRuler, nlp.add_pipe(CODE_RULER)).add_codebook(codebook)
    cast(StakeholderRuler, nlp.add_pipe(STAKEHOLDER_RULER)).add_registry(codebook)
    return nlp


def doc_mentions(segment_id: str, doc: Doc) -> list[Mention]:
    """The stakeholder mentions the ruler found in one processed segment."""
    from tipqual.records import Mention

    return [Mention(segment=segment_id, stakeholder=sp.label_, start=sp.start_char,
                    end=sp.end_char, text=sp.text)
            for sp in doc.spans.get(STAKEHOLDER_SPANS, [])]


def find_mentions(segments: Iterable[Segment], codebook: Codebook, nlp: Language | None = None,
                  batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[Mention]:
    """Stream the stakeholder mentions of segments (offsets relative to each segment's text).

    Args:
        segments: the segments to read, in any number (they are processed in batches).
        codebook: supplies the stakeholder registry (ids and aliases).
        nlp: a pipeline from :func:`build_pipeline`; built from ``codebook`` when None.
        batch_size: segments per ``nlp.pipe`` batch.

    Returns:
        An iterator of ``Mention`` in segment order, then by position in the segment.
    """
    if nlp is None:
        nlp = blank_pipeline()
        cast(StakeholderRuler, nlp.add_pipe(STAKEHOLDER_RULER)).add_registry(codebook)
    pairs = ((seg.text, seg.id) for seg in segments)
    for doc, segment_id in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size):
        yield from doc_mentions(segment_id, doc)


# --- sentences of long paragraphs (import) -----------------------------------------------------

# Where a piece of text may end: after a sentence's final punctuation (and any closing quotes or
# brackets) and the spaces after it (Chinese and Japanese put none), else after any spaces.
_SENTENCE_END = re.compile(r"[.!?\u061f\u0964][\"'\u2019\u201d\u00bb)\]]*\s+"
                           r"|[\u3002\uff01\uff1f][\"'\u2019\u201d\u300d\u300f)\]\uff09]*\s*")
_SPACES = re.compile(r"\s+")
_AFTER_SENTENCE = re.compile(f"(?:{_SENTENCE_END.pattern})\\Z")


@lru_cache(maxsize=1)
def sentencizer() -> Language:
    """``spacy.blank("en")`` with spaCy's rule-based sentencizer (punctuation, any script)."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def _cut_point(text: str, start: int, size: int) -> int:
    """Where a piece of ``text`` beginning at ``start`` and at most ``size`` long should end.

    The last sentence end in the piece's second half, else its last run of spaces, else
    ``size`` characters on (a text without a space that long).
    """
    hi = start + size
    if hi >= len(text):
        return len(text)
    lo = start + size // 2
    for pattern in (_SENTENCE_END, _SPACES):
        ends = [m.end() for m in pattern.finditer(text, lo, hi)]
        if ends and ends[-1] > start:
            return ends[-1]
    return hi


def text_pieces(text: str, size: int = PIECE_CHARS) -> list[tuple[int, int]]:
    """``(start, end)`` offsets of consecutive pieces of ``text``, each at most ``size`` long.

    The pieces cover the whole text (an empty text is one empty piece) and end, where they
    can, at a sentence end or else between words, so a pipeline reading one piece at a time
    finds the same sentences and entities it would in the whole text.
    """
    if size < 1:
        raise ValueError(f"a piece must hold at least one character, not {size}")
    pieces: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > size:
        end = _cut_point(text, start, size)
        pieces.append((start, end))
        start = end
    pieces.append((start, len(text)))
    return pieces


def _pack(text: str, sentences: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Consecutive sentences joined into chunks of at most ``limit`` characters.

    A sentence longer than ``limit`` is cut as :func:`text_pieces` cuts; each chunk is trimmed
    of surrounding white space and empty ones are dropped.
    """
    spans: list[tuple[int, int]] = []
    for a, b in sentences:
        while a < b:
            end = _cut_point(text, a, limit) if b - a > limit else b
            if spans and end - spans[-1][0] <= limit:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((a, end))
            a = end
    out = []
    for a, b in spans:
        piece = text[a:b]
        a += len(piece) - len(piece.lstrip())
        b -= len(piece) - len(piece.rstrip())
        if b > a:
            out.append((a, b))
    return out


def sentence_chunks(texts: Iterable[str], limit: int, *, piece_chars: int = PIECE_CHARS,
                    batch_size: int = 16) -> Iterator[list[tuple[int, int]]]:
    """Cut each text into chunks of whole sentences, each at most ``limit`` characters.

    Args:
        texts: the texts (long paragraphs), streamed through ``nlp.pipe``; any length.
        limit: the most characters a chunk may hold (at least 1).
        piece_chars: the longest piece of a text given to the sentencizer at once.
        batch_size: pieces per ``nlp.pipe`` batch.

    Returns:
        For each text in order, the ``(start, end)`` offsets of its chunks in that text: the
        sentences found by spaCy's sentencizer, consecutive ones joined while they fit, one
        longer than ``limit`` cut between words (or, with no space in reach, at ``limit``).
    """
    if limit < 1:
        raise ValueError(f"a chunk must hold at least one character, not {limit}")

    def pieces() -> Iterator[tuple[str, tuple[str, int, bool, bool]]]:
        for text in texts:
            bounds = text_pieces(text, piece_chars)
            for k, (a, b) in enumerate(bounds):
                # A piece cut between words (no sentence end in reach) goes on its sentence.
                goes_on = k > 0 and _AFTER_SENTENCE.search(text, max(0, a - 64), a) is None
                yield text[a:b], (text, a, goes_on, k == len(bounds) - 1)

    sentences: list[tuple[int, int]] = []
    for doc, (text, offset, goes_on, last) in sentencizer().pipe(pieces(), as_tuples=True,
                                                                  batch_size=batch_size):
        found = [(offset + s.start_char, offset + s.end_char) for s in doc.sents]
        if goes_on and sentences and found:
            sentences[-1] = (sentences[-1][0], found.pop(0)[1])
        sentences.extend(found)
        if last:
            yield _pack(text, sentences, limit)
            sentences = []
