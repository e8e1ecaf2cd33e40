"""Chinese (and Japanese, Korean) text as words, for every index Enclave builds.

CJK text has no spaces between words, so a word-based index sees a whole sentence as one
token. Like Elasticsearch's CJK analyzer, Enclave indexes CJK text as character n-grams: every
character on its own and every two adjacent ones, and looks a query's CJK run up by its
bigrams (a lone character by itself). Message search (apps.search, on PostgreSQL's full-text
index) and the help desk's knowledge base (apps.helpdesk, its own term table) share these rules.
"""

from __future__ import annotations

import re

# Kana, CJK ideographs (with extension A and the compatibility block) and Hangul syllables.
CJK_CHARACTERS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
CJK_RUN = re.compile(f"[{CJK_CHARACTERS}]+")


def query_grams(run: str) -> list[str]:
    """A query's CJK run as it is looked up: its bigrams, or a lone character as itself."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def document_grams(run: str) -> list[str]:
    """A document's CJK run as it is indexed: every character and every adjacent pair."""
    return [*run, *(run[i : i + 2] for i in range(len(run) - 1))]
