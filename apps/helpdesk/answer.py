"""The help-desk bot's answer to a question, from the passages the ranking found.

`compose_answer` is the one place an answer is written. Today it is extractive: it quotes the
best passage and cites the others, and invents no text. When an LLM endpoint is configured the
generation can be routed through it here (grounded in the same passages and citations), and
nothing else in the help desk changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

MAX_CITATIONS = 3
# A further passage is cited only when it scores at least this share of the best one.
CITATION_SCORE_SHARE = 0.5


class Citation(TypedDict):
    document_id: int
    title: str
    position: int
    text: str
    score: float


@dataclass(frozen=True)
class RankedPassage:
    """A passage as the ranking returns it: `answer_text` is what is quoted (an FAQ entry's
    answer without its question; a document's passage as it is)."""

    passage_id: int
    document_id: int
    title: str
    position: int
    text: str
    answer_text: str
    score: float
    confidence: float


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[Citation]
    confidence: float


def compose_answer(question: str, passages: list[RankedPassage]) -> Answer | None:
    """The answer to `question` from `passages` (best first), or None when there is none.

    The confidence is the best passage's (apps.helpdesk.textindex.rank).
    """
    if not passages:
        return None
    best = passages[0]
    cited = [best] + [
        passage
        for passage in passages[1:MAX_CITATIONS]
        if passage.score >= best.score * CITATION_SCORE_SHARE
    ]
    return Answer(
        text=best.answer_text,
        citations=[
            Citation(
                document_id=passage.document_id,
                title=passage.title,
                position=passage.position,
                text=passage.text,
                score=passage.score,
            )
            for passage in cited
        ],
        confidence=best.confidence,
    )
