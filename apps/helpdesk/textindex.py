"""Terms, passages and ranking of the knowledge base.

Chinese follows the message search's rules (apps.core.cjk): a document's CJK run is indexed as
its characters and adjacent pairs, a question's as its pairs. Latin words are lower-cased,
stop words dropped and reduced by a few suffix rules (the same on both sides, so "refunds"
finds "refund"). Ranking is BM25 over the desk's passages; the confidence of a result is the
share of the question's term weight (IDF; a term the knowledge base lacks weighs the most)
that the passage contains, between 0 and 1.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from apps.core.cjk import CJK_RUN, document_grams, query_grams

# Shared with the assistant, which splits files' text the same way.
from apps.files.document_text import PASSAGE_TARGET_CHARS as PASSAGE_TARGET_CHARS
from apps.files.document_text import split_passages as split_passages

MAX_TERM_CHARS = 64
_WORD = re.compile(r"[^\W_]+")
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)
_K1 = 1.2
_B = 0.75


def _stem(word: str) -> str:
    for suffix, replacement, min_length in (
        ("ies", "y", 5),
        ("sses", "ss", 5),
        ("ing", "", 6),
        ("ed", "", 5),
        ("es", "", 5),
        ("s", "", 4),
    ):
        if word.endswith(suffix) and len(word) >= min_length and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + replacement
    return word


def terms(text: str, *, query: bool = False) -> list[str]:
    """The index terms of `text` (a question's when `query`), repeated as often as they occur."""
    found: list[str] = []
    for run in CJK_RUN.findall(text):
        found.extend(query_grams(run) if query else document_grams(run))
    for word in _WORD.findall(CJK_RUN.sub(" ", text).lower()):
        if word not in STOP_WORDS and len(word) <= MAX_TERM_CHARS:
            found.append(_stem(word))
    return found


def _is_cjk_pair(term: str) -> bool:
    return len(term) == 2 and CJK_RUN.fullmatch(term) is not None


def _meaningful(query_terms: list[str], *, known: set[str]) -> list[str]:
    """The question's terms without the CJK pairs that straddle two words.

    A question's CJK run is looked up by all its adjacent pairs, and the pairs across a word
    boundary ("我想申请退款": 想申) are in no document. Such a pair next to a pair the knowledge
    base has is taken for a straddling one and left out of the confidence; an unknown pair with
    no known neighbour (a word the knowledge base lacks) still counts against it.
    """
    kept = []
    for index, term in enumerate(query_terms):
        if term not in known and _is_cjk_pair(term):
            neighbours = query_terms[max(0, index - 1) : index] + query_terms[index + 1 : index + 2]
            if any(
                _is_cjk_pair(n) and n in known and (n[1] == term[0] or n[0] == term[1])
                for n in neighbours
            ):
                continue
        kept.append(term)
    return kept


@dataclass(frozen=True)
class ScoredPassage:
    passage_id: int
    score: float
    confidence: float


def rank(
    *,
    query_terms: list[str],
    postings: dict[str, dict[int, int]],
    lengths: dict[int, int],
    passage_total: int,
    average_length: float,
    limit: int,
) -> list[ScoredPassage]:
    """BM25 of each passage in `postings` ({term: {passage id: count}}) for `query_terms`.

    `lengths` has the term count of every passage that appears in `postings`; `passage_total`
    and `average_length` describe the whole desk.
    """
    if not query_terms or passage_total == 0:
        return []
    weights = Counter(_meaningful(query_terms, known=set(postings)))
    max_idf = math.log(1 + (passage_total + 0.5) / 0.5)

    def idf(term: str) -> float:
        frequency = len(postings.get(term, {}))
        if frequency == 0:
            return max_idf
        return math.log(1 + (passage_total - frequency + 0.5) / (frequency + 0.5))

    total_weight = sum(idf(term) * count for term, count in weights.items())
    scores: dict[int, float] = {}
    covered: dict[int, float] = {}
    for term, count in weights.items():
        term_idf = idf(term)
        for passage_id, frequency in postings.get(term, {}).items():
            norm = _K1 * (1 - _B + _B * lengths[passage_id] / max(average_length, 1.0))
            bm25 = term_idf * frequency * (_K1 + 1) / (frequency + norm)
            scores[passage_id] = scores.get(passage_id, 0.0) + bm25 * count
            covered[passage_id] = covered.get(passage_id, 0.0) + term_idf * count
    best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        ScoredPassage(
            passage_id=passage_id,
            score=round(score, 4),
            confidence=round(min(1.0, covered[passage_id] / total_weight), 4),
        )
        for passage_id, score in best
    ]
