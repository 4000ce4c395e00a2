"""The offline suggester of the embedded default: a folder of Markdown documents, searched and quoted.

This is a *retrieval draft*, not a language model. :class:`LocalKnowledgeBase` finds the sections of
the documents that best match a customer's message, and :class:`LocalDrafter` answers with sentences
copied from those sections between a greeting and a closing line. Nothing is generated, so nothing can
be invented: every sentence of a draft is in a document the organisation wrote, and the operator still
approves each suggestion before it is sent. It needs no AWS account, no network and no model weights,
which is what the embedded default promises; in AWS the Bedrock knowledge base and agent take over
behind the same ports (:mod:`gateway.ai.ports`).

Why SQLite FTS5 and ``bm25()`` rather than a hand-written scorer: the standard library already ships a
full-text engine with a well-understood ranking function (BM25: rare words count more than common ones,
a match in a short section counts more than one in a long section, per-column weights let a heading
count more than a passing mention), a Unicode-aware tokenizer with Porter stemming ("refunds" finds
"refund") and ``snippet()`` for the cited passage. A home-made word counter would be worse at all of
these and would be one more thing to test. The index lives in memory and is rebuilt from the files, so
the folder stays the only source of truth.

Each ``##`` section is one row of the index: an answer is usually one section, and citing a section
rather than a whole file lets the operator see at a glance why a passage was picked.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.ai.ports import AIError, Draft, Reference

__all__ = ["SAMPLE_DIR", "LocalDrafter", "LocalKnowledgeBase", "seed_knowledge_base"]

# The sample documents ship inside the package (package data), next to this module.
SAMPLE_DIR = Path(__file__).resolve().parent / "knowledge"

# bm25() weights of the columns (document, title, body). A word in a section's heading (or its document's
# title) says what the section is *about*; the same word once in a body is often a passing mention. The
# file name counts as much as a body word: it usually repeats the title, so weighting it higher would
# count the same evidence twice.
_BM25_WEIGHTS: tuple[float, float, float] = (1.0, 4.0, 1.0)

# Tokens of a query that carry no meaning for a search ("what are your opening hours?" → opening, hours).
# Dropping them keeps an OR query from matching every section that contains "the".
_STOP_WORDS_TEXT = """
    a about after again all am an and any are as at be been before being but by can could did do does
    doing for from had has have having he her here hers him his how i if in into is it its just me
    my no nor not of off on once only or our ours out over please she should so some such than that the
    their them then there these they this those to too under until up very was we were what when where
    which while who whom why will with would you your yours hi hello hey thanks thank near get want
    need know tell like
"""
_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())
_MIN_TOKEN_LENGTH = 2
# A long message (a pasted e-mail) must not become a query of hundreds of terms; the first distinct
# meaningful words are enough to find the topic.
_MAX_QUERY_TOKENS = 32
# Letters and digits only: whatever else the customer typed (quotes, parentheses, '*', ':', '^', '-') is a
# separator here, so it can never reach the FTS5 query parser as syntax.
_WORD = re.compile(r"[^\W_]+")

_DOCUMENT_SUFFIX = ".md"
_WHATSAPP_LIMIT = 700


def _is_document(entry: os.DirEntry[str] | Path) -> bool:
    # Hidden files are editor backups and lock files (.#faq.md, .faq.md.swp), not documents.
    name = entry.name
    return name.lower().endswith(_DOCUMENT_SUFFIX) and not name.startswith(".") and entry.is_file()


def seed_knowledge_base(folder: Path) -> int:
    """Create ``folder`` if needed and copy the sample documents into it, only if it has no document yet.

    A user's own documents are never overwritten or mixed with the samples: one ``.md`` file in the folder
    and nothing is copied. Returns how many files were copied."""
    folder.mkdir(parents=True, exist_ok=True)
    if any(_is_document(path) for path in folder.iterdir()):
        return 0
    copied = 0
    for sample in sorted(SAMPLE_DIR.iterdir()):
        if not _is_document(sample):
            continue
        try:
            # "x": if another process seeded the same folder a moment ago, its file stays as it is.
            with sample.open("rb") as source, (folder / sample.name).open("xb") as target:
                shutil.copyfileobj(source, target)
        except FileExistsError:
            continue
        copied += 1
    return copied


@dataclass(frozen=True)
class _Section:
    document: str  # file name
    doc_title: str
    heading: str
    slug: str
    body: str


def _slugify(text: str) -> str:
    return "-".join(_WORD.findall(text.lower())) or "section"


def _parse_document(name: str, text: str) -> list[_Section]:
    """Split a Markdown document into its ``##`` sections (text before the first one is an "Overview")."""
    doc_title = ""
    heading = "Overview"
    lines: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in text.splitlines():
        stripped = line.strip()
        # A '#' inside a fenced code block is a comment or a shell prompt, not a heading.
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and stripped.startswith("# ") and not doc_title:
            doc_title = stripped[2:].strip()
            continue
        elif not in_fence and stripped.startswith("## "):
            sections.append((heading, lines))
            heading, lines = stripped[3:].strip() or "Section", []
            continue
        lines.append(line)
    sections.append((heading, lines))
    doc_title = doc_title or Path(name).stem.replace("-", " ").replace("_", " ").strip().title()

    result: list[_Section] = []
    seen: dict[str, int] = {}
    for section_heading, section_lines in sections:
        body = "\n".join(section_lines).strip()
        if not body:
            continue  # the empty preamble of a document that starts with its title and a section
        slug = _slugify(section_heading)
        # Two sections with the same heading still need distinct citation ids.
        seen[slug] = seen.get(slug, 0) + 1
        if seen[slug] > 1:
            slug = f"{slug}-{seen[slug]}"
        result.append(_Section(name, doc_title, section_heading, slug, body))
    return result


def _match_expression(query: str) -> str:
    """An FTS5 MATCH expression for free text: each meaningful word quoted, the words OR-ed.

    Quoting makes every token a string, never an operator (AND, OR, NOT, NEAR) or a column filter, and the
    tokens contain only letters and digits, so no quote can close the string early. OR rather than the
    implicit AND: a customer's message has words no document contains, and bm25 already ranks the
    sections that match more of the words first. Returns "" when nothing is left to search for."""
    tokens: list[str] = []
    for token in _WORD.findall(query.lower()):
        if len(token) < _MIN_TOKEN_LENGTH or token in _STOP_WORDS or token in tokens:
            continue
        tokens.append(token)
        if len(tokens) == _MAX_QUERY_TOKENS:
            break
    return " OR ".join(f'"{token}"' for token in tokens)


_Signature = frozenset[tuple[str, int, int]]


class LocalKnowledgeBase:
    """A :class:`~gateway.ai.ports.Retriever` over the ``*.md`` files of a folder (SQLite FTS5, in memory).

    The index follows the folder: each :meth:`retrieve` compares the files' names, sizes and modification
    times with those indexed (one ``stat`` per file) and re-indexes when they differ, so a document the
    operator edits or adds is searched on the next message without a restart.

    Thread-safe: one connection (``check_same_thread=False``) guarded by a lock. The index is small and a
    query takes well under a millisecond, so serialising callers costs nothing worth a connection pool."""

    def __init__(self, folder: Path, *, name: str = "local-kb") -> None:
        self.name = name
        self.folder = folder
        self._lock = threading.Lock()
        self._signature: _Signature | None = None  # None: never indexed
        self._connection = _open_index()

    # -- Retriever ---------------------------------------------------------------------------------------

    def retrieve(self, query: str, *, max_results: int = 5) -> list[Reference]:
        """The best sections for ``query``, best first; [] when the query has no searchable word."""
        expression = _match_expression(query)
        if not expression or max_results < 1:
            return []
        w_document, w_title, w_body = _BM25_WEIGHTS
        # The weights are floats of this module (not user input), formatted into the SQL because bm25()
        # takes them as arguments of the call; the query itself is always a bound parameter.
        sql = (
            "SELECT document, doc_title, heading, slug, body, "
            f"bm25(sections, {w_document!r}, {w_title!r}, {w_body!r}) AS rank, "
            "snippet(sections, 2, '', '', '…', 24) "
            "FROM sections WHERE sections MATCH ? ORDER BY rank, document, slug LIMIT ?"
        )
        with self._lock:
            self._refresh()
            try:
                rows: list[tuple[Any, ...]] = self._connection.execute(
                    sql, (expression, max_results)
                ).fetchall()
            except sqlite3.Error as error:
                # Not expected from a quoted expression, but callers handle AIError, not sqlite3 errors.
                raise AIError(
                    f"local knowledge base query failed: {error}", code="KB_QUERY_FAILED", retryable=False
                ) from error
        return _references(rows)

    # -- lifecycle ---------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self) -> LocalKnowledgeBase:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- indexing ----------------------------------------------------------------------------------------

    def _scan(self) -> _Signature:
        found: set[tuple[str, int, int]] = set()
        try:
            with os.scandir(self.folder) as entries:
                for entry in entries:
                    try:
                        if _is_document(entry):
                            stat = entry.stat()
                            found.add((entry.name, stat.st_mtime_ns, stat.st_size))
                    except FileNotFoundError:
                        continue  # deleted while listing: it is simply not there any more
        except FileNotFoundError:
            return frozenset()  # no folder yet: nothing to search, not an error
        return frozenset(found)

    def _refresh(self) -> None:
        """Re-index if the folder changed since the last index (the caller holds the lock)."""
        try:
            signature = self._scan()
        except OSError as error:
            raise AIError(
                f"cannot read knowledge base folder {self.folder}: {error}",
                code="KB_UNREADABLE",
                retryable=True,
            ) from error
        if signature == self._signature:
            return
        sections: list[_Section] = []
        for name, _mtime, _size in sorted(signature):
            try:
                # errors="replace": one badly encoded file must not take the whole knowledge base down.
                text = (self.folder / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue  # removed between the scan and the read; the next scan will differ anyway
            sections.extend(_parse_document(name, text))
        # One transaction: a failure leaves the previous index in place rather than half of a new one.
        with self._connection:
            self._connection.execute("DELETE FROM sections")
            self._connection.executemany(
                "INSERT INTO sections (document, title, body, doc_title, heading, slug) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (s.document, f"{s.doc_title} — {s.heading}", s.body, s.doc_title, s.heading, s.slug)
                    for s in sections
                ],
            )
        self._signature = signature


def _open_index() -> sqlite3.Connection:
    connection = _connect()
    try:
        # document, title, body are searched (bm25 weights in that order); the rest is carried for the
        # citation. "porter unicode61": case- and accent-folding, then English stemming.
        connection.execute(
            "CREATE VIRTUAL TABLE sections USING fts5("
            "document, title, body, doc_title UNINDEXED, heading UNINDEXED, slug UNINDEXED, "
            "tokenize = 'porter unicode61')"
        )
    except sqlite3.OperationalError as error:
        connection.close()
        raise AIError(
            f"this Python's SQLite ({sqlite3.sqlite_version}) was built without FTS5, which the local "
            f"knowledge base needs ({error}); use a Python whose sqlite3 has FTS5, or the Bedrock "
            "knowledge base",
            code="FTS5_UNAVAILABLE",
            retryable=False,
        ) from error
    return connection


def _connect() -> sqlite3.Connection:
    # check_same_thread=False: requests are served from a thread pool; LocalKnowledgeBase._lock serialises.
    return sqlite3.connect(":memory:", check_same_thread=False)


def _references(rows: Sequence[tuple[Any, ...]]) -> list[Reference]:
    # bm25() is negative, more negative is better; -bm25 over the best one gives 0..1 with the best at 1.0,
    # comparable within one answer (which is all a score is used for: ordering and the drafter's cut-off).
    relevance = [-float(row[5]) for row in rows]
    best = max(relevance, default=0.0)
    references = []
    for (document, doc_title, heading, slug, body, _rank, snippet), value in zip(
        rows, relevance, strict=True
    ):
        references.append(
            Reference(
                text=body,
                document=document,
                location={"type": "CUSTOM", "customDocumentLocation": {"id": f"{document}#{slug}"}},
                score=round(value / best, 6) if best > 0 else 1.0,
                metadata={"title": doc_title, "section": heading, "path": document, "snippet": snippet},
            )
        )
    return references


# -- drafting ------------------------------------------------------------------------------------------------

_GREETING = "Hello, thank you for your message."
_CLOSING = "Is there anything else I can help you with?"
_HOLDING = (
    "Hello, thank you for your message. A colleague will look into this and get back to you as soon as "
    "possible."
)
# A second passage is added only if it matched nearly as well as the first; a weak second match is more
# likely to be off-topic than helpful.
_SECOND_PASSAGE_MIN_SCORE = 0.5
_SENTENCES_PER_PASSAGE = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _sentences(markdown: str) -> list[str]:
    """The sentences of a section, Markdown markup removed (WhatsApp shows '**' and '[x](y)' literally)."""
    units: list[str] = []
    paragraph: list[str] = []
    for line in [*markdown.splitlines(), ""]:
        if _LIST_MARKER.match(line) or not line.strip():
            if paragraph:
                units.append(" ".join(paragraph))
                paragraph = []
            if line.strip():
                units.append(_LIST_MARKER.sub("", line).strip())  # a list item stands on its own
        elif not line.lstrip().startswith(("#", "```", "~~~", "|")):
            paragraph.append(line.strip())
    sentences: list[str] = []
    for unit in units:
        clean = _LINK.sub(r"\1 (\2)", unit).replace("**", "").replace("__", "").replace("`", "")
        sentences.extend(part.strip() for part in _SENTENCE_END.split(clean) if part.strip())
    return sentences


def _stem(word: str) -> str:
    # Enough to match "refunds" with "refund" and "opening" with "open" when picking sentences; the
    # retrieval itself uses FTS5's Porter stemmer.
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _terms(text: str) -> set[str]:
    return {
        _stem(token)
        for token in _WORD.findall(text.lower())
        if len(token) >= _MIN_TOKEN_LENGTH and token not in _STOP_WORDS
    }


def _passage(query_terms: set[str], reference: Reference, *, best: bool) -> str:
    """The sentences of a section that share most words with the query, in the section's own order.

    When no sentence shares a word, the best section was found through its heading, so its opening
    sentences say what it is about; a runner-up without a shared word is left out ("")."""
    sentences = _sentences(reference.text)
    if not sentences:
        return ""
    overlap = [len(query_terms & _terms(sentence)) for sentence in sentences]
    if not any(overlap):
        return " ".join(sentences[:_SENTENCES_PER_PASSAGE]) if best else ""
    ranked = sorted(range(len(sentences)), key=lambda i: (-overlap[i], i))
    chosen = sorted(i for i in ranked[:_SENTENCES_PER_PASSAGE] if overlap[i] > 0)
    return " ".join(sentences[i] for i in chosen)


def _fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters: at a sentence end if possible, else at a word, with '…'."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    sentence_end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if sentence_end >= limit // 2:
        return cut[: sentence_end + 1]
    word_end = cut[: limit - 1].rfind(" ")
    return (cut[: word_end if word_end > 0 else limit - 1]).rstrip(" ,;:") + "…"


class LocalDrafter:
    """A :class:`~gateway.ai.ports.Drafter` that quotes the best one or two passages (no language model).

    The draft is a greeting, the sentences of the best-matching sections most relevant to the query, and a
    closing line, at most 700 characters (one readable WhatsApp message). Without references it returns a
    polite holding reply, so an operator always has something to approve or edit."""

    def __init__(self, *, name: str = "local-draft") -> None:
        self.name = name

    def draft(self, query: str, references: Sequence[Reference], *, session_id: str) -> Draft:
        # session_id is part of the port (Bedrock keeps a conversation per contact); a retrieval draft has
        # no conversation state, so it is only recorded in the trace.
        query_terms = _terms(query)
        used: list[Reference] = []
        passages: list[str] = []
        # Characters left for passages once the greeting, the closing and the blank lines are counted.
        budget = _WHATSAPP_LIMIT - len(_GREETING) - len(_CLOSING) - 4
        for reference in references[:2]:
            if used and not self._close_enough(used[0], reference):
                break
            passage = _passage(query_terms, reference, best=not used)
            if not passage:
                continue
            room = budget - sum(len(p) + 2 for p in passages)
            if used and len(passage) > room:
                break  # a second passage is only worth adding whole
            passages.append(_fit(passage, room))
            used.append(reference)
        trace: dict[str, Any] = {
            "session_id": session_id,
            "references_given": len(references),
            "references_used": [_citation_id(reference) for reference in used],
        }
        if not used:
            return Draft(text=_HOLDING, backend="local", model=self.name, citations=(), trace=trace)
        text = "\n\n".join([_GREETING, *passages, _CLOSING])
        return Draft(text=text, backend="local", model=self.name, citations=tuple(used), trace=trace)

    @staticmethod
    def _close_enough(best: Reference, other: Reference) -> bool:
        if best.score is None or other.score is None or best.score <= 0:
            return True  # no scores to compare (another retriever): the order is all we have
        return other.score / best.score >= _SECOND_PASSAGE_MIN_SCORE


def _citation_id(reference: Reference) -> str:
    custom = reference.location.get("customDocumentLocation")
    if isinstance(custom, dict) and isinstance(custom.get("id"), str):
        return str(custom["id"])
    return reference.document
