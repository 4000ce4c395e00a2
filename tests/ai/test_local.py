"""The offline suggester: seeding the sample documents, FTS5 retrieval and the retrieval draft."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ai import local
from gateway.ai.local import SAMPLE_DIR, LocalDrafter, LocalKnowledgeBase, seed_knowledge_base
from gateway.ai.ports import AIError, Reference

SAMPLE_NAMES = sorted(path.name for path in SAMPLE_DIR.glob("*.md"))


def write(path: Path, text: str) -> None:
    """Write a document and move its mtime forward, so a rewrite within one clock tick is still seen."""
    existed = path.exists()
    path.write_text(text, encoding="utf-8")
    if existed:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def citation_id(reference: Reference) -> str:
    return str(reference.location["customDocumentLocation"]["id"])


@pytest.fixture
def samples(tmp_path: Path) -> Iterator[LocalKnowledgeBase]:
    folder = tmp_path / "kb"
    seed_knowledge_base(folder)
    with LocalKnowledgeBase(folder) as kb:
        yield kb


@pytest.fixture(scope="module")
def sample_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKnowledgeBase]:
    # Module-scoped so the hypothesis property below reuses one index (function-scoped fixtures are not
    # reset between examples, and hypothesis rejects them).
    folder = tmp_path_factory.mktemp("kb")
    seed_knowledge_base(folder)
    with LocalKnowledgeBase(folder) as kb:
        yield kb


# -- the sample documents and seeding ------------------------------------------------------------------


def test_sample_documents_are_titled_markdown_with_sections() -> None:
    assert 4 <= len(SAMPLE_NAMES) <= 5
    for name in SAMPLE_NAMES:
        lines = (SAMPLE_DIR / name).read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# "), name
        assert sum(line.startswith("## ") for line in lines) >= 3, name
    # The opt-out instruction customers are told about elsewhere must be in the knowledge base too.
    assert "replying STOP" in (SAMPLE_DIR / "privacy-and-opt-out.md").read_text(encoding="utf-8")


def test_seeding_copies_the_samples_into_a_new_folder_once(tmp_path: Path) -> None:
    folder = tmp_path / "users" / "alice" / "kb"  # parents missing too

    assert seed_knowledge_base(folder) == len(SAMPLE_NAMES)
    assert sorted(path.name for path in folder.iterdir()) == SAMPLE_NAMES
    for name in SAMPLE_NAMES:
        assert (folder / name).read_bytes() == (SAMPLE_DIR / name).read_bytes()

    # The user edits a sample and deletes another: seeding again must neither restore nor overwrite.
    edited = folder / SAMPLE_NAMES[0]
    edited.write_text("# Mine\n\n## Hours\nWe open at noon.\n", encoding="utf-8")
    (folder / SAMPLE_NAMES[1]).unlink()
    assert seed_knowledge_base(folder) == 0
    assert edited.read_text(encoding="utf-8") == "# Mine\n\n## Hours\nWe open at noon.\n"
    assert not (folder / SAMPLE_NAMES[1]).exists()


def test_seeding_leaves_a_folder_with_the_users_own_documents_alone(tmp_path: Path) -> None:
    (tmp_path / "faq.md").write_text("# FAQ\n\n## Parking\nPark behind the building.\n", encoding="utf-8")

    assert seed_knowledge_base(tmp_path) == 0
    assert [path.name for path in tmp_path.iterdir()] == ["faq.md"]


def test_seeding_ignores_files_that_are_not_documents(tmp_path: Path) -> None:
    # An editor's backup or a text note is not a document: the folder still counts as empty.
    (tmp_path / ".faq.md.swp").write_text("x", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")

    assert seed_knowledge_base(tmp_path) == len(SAMPLE_NAMES)


# -- retrieval -----------------------------------------------------------------------------------------


def test_opening_hours_question_cites_the_opening_hours_document(samples: LocalKnowledgeBase) -> None:
    references = samples.retrieve("What are your opening hours on Saturday?")

    best = references[0]
    assert best.document == "opening-hours.md"
    assert citation_id(best) == "opening-hours.md#weekend-hours"
    assert best.location["type"] == "CUSTOM"
    assert best.metadata["title"] == "Opening Hours"
    assert best.metadata["section"] == "Weekend hours"
    assert best.metadata["path"] == "opening-hours.md"
    # text is the whole section; the snippet is a passage of it (FTS5 marks a cut with '…').
    assert best.text.startswith("On Saturdays we are open from 10:00 to 14:00")
    snippet = str(best.metadata["snippet"])
    assert "Saturdays" in snippet
    assert all(part.strip() in best.text for part in snippet.split("…") if part.strip())
    # Scores: positive, best first, the best normalised to 1.0.
    scores = [reference.score if reference.score is not None else -1.0 for reference in references]
    assert scores[0] == 1.0
    assert all(0 < score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    assert len(references) <= 5


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how can I stop these messages", "privacy-and-opt-out.md#opting-out-of-messages"),
        ("I need to reschedule my appointment", "appointments.md#rescheduling-and-cancelling"),
        ("when will my refunds arrive", "payments-and-refunds.md#refunds"),  # stemmed: refunds → refund
        ("how much is express delivery?", "delivery-and-returns.md#delivery-charges"),
    ],
)
def test_questions_find_the_section_that_answers_them(
    samples: LocalKnowledgeBase, query: str, expected: str
) -> None:
    assert citation_id(samples.retrieve(query)[0]) == expected


def test_max_results_caps_the_answer(samples: LocalKnowledgeBase) -> None:
    assert len(samples.retrieve("opening hours delivery refunds appointments", max_results=2)) == 2
    assert samples.retrieve("opening hours", max_results=0) == []


def test_a_matching_heading_outranks_a_passing_mention_in_a_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "parking" is the heading of one section and a single word of another, shorter body. Unweighted, the
    # short body's mention wins (bm25 favours short fields); the heading must win because it says what the
    # section is about.
    write(
        tmp_path / "visiting.md",
        "# Visiting us\n\n## Parking\nThere are twenty spaces behind the building, free for visitors "
        "during opening hours, with two spaces reserved near the entrance.\n",
    )
    write(tmp_path / "contact.md", "# Contact\n\n## Address\nOur office has parking nearby.\n")

    with LocalKnowledgeBase(tmp_path) as kb:
        ranked = [citation_id(reference) for reference in kb.retrieve("parking")]
        assert ranked == ["visiting.md#parking", "contact.md#address"]

        # The title weight is what decides: with every column weighted alike the order flips.
        monkeypatch.setattr(local, "_BM25_WEIGHTS", (1.0, 1.0, 1.0))
        flipped = [citation_id(reference) for reference in kb.retrieve("parking")]
        assert flipped == ["contact.md#address", "visiting.md#parking"]


HOSTILE = [
    "",
    "   ",
    '"',
    '"opening" "',
    "NEAR(",
    "NEAR(opening hours, 2)",
    "opening*",
    "*",
    "AND OR NOT",
    "opening AND OR NOT hours",
    "title:opening",
    "{document title}: hours",
    "^opening",
    "-hours +opening",
    "(((",
    "opening)",
    "'; DROP TABLE sections; --",
    "ﬁnance ß Ǆ İstanbul ٣ 日本語の営業時間 🙂",
    "\x00opening\x00",
    "a " * 5000,
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_query_text_never_raises(sample_kb: LocalKnowledgeBase, query: str) -> None:
    references = sample_kb.retrieve(query)
    assert isinstance(references, list)
    assert all(isinstance(reference, Reference) for reference in references)


def test_operators_in_the_query_are_searched_as_words(sample_kb: LocalKnowledgeBase) -> None:
    # With the syntax neutralised the meaningful words still find their section.
    assert sample_kb.retrieve('NEAR("opening" AND hours*)')[0].document == "opening-hours.md"
    assert sample_kb.retrieve("") == []
    assert sample_kb.retrieve("what is the") == []  # stop words only: nothing to search for


FTS5_SYNTAX = st.lists(
    st.sampled_from(
        [
            '"',
            "'",
            "(",
            ")",
            "*",
            ":",
            "^",
            "+",
            "-",
            "{",
            "}",
            ",",
            "AND",
            "OR",
            "NOT",
            "NEAR",
            "NEAR(",
            "opening",
            "hours",
            "title",
            "body",
            "document",
            "ü",
            "İ",
            "\x00",
            "\n",
        ]
    ),
    max_size=12,
).map(" ".join)


@settings(deadline=None, max_examples=200)
@given(query=st.one_of(st.text(), FTS5_SYNTAX), max_results=st.integers(min_value=-1, max_value=20))
def test_arbitrary_query_text_never_raises(
    sample_kb: LocalKnowledgeBase, query: str, max_results: int
) -> None:
    references = sample_kb.retrieve(query, max_results=max_results)
    assert len(references) <= max(max_results, 0)
    assert all(reference.score is not None and 0 < reference.score <= 1.0 for reference in references)


def test_changed_added_and_removed_files_are_picked_up_on_the_next_retrieve(tmp_path: Path) -> None:
    write(tmp_path / "faq.md", "# FAQ\n\n## Parking\nPark behind the building.\n")
    with LocalKnowledgeBase(tmp_path) as kb:
        assert kb.retrieve("parking")[0].text == "Park behind the building."
        assert kb.retrieve("wheelchair") == []

        write(tmp_path / "faq.md", "# FAQ\n\n## Parking\nPark in the multi-storey car park opposite.\n")
        assert kb.retrieve("parking")[0].text == "Park in the multi-storey car park opposite."

        write(tmp_path / "access.md", "# Access\n\n## Wheelchair access\nThere is a ramp at the side door.\n")
        assert citation_id(kb.retrieve("wheelchair")[0]) == "access.md#wheelchair-access"

        (tmp_path / "access.md").unlink()
        assert kb.retrieve("wheelchair") == []


def test_a_missing_folder_is_an_empty_knowledge_base(tmp_path: Path) -> None:
    with LocalKnowledgeBase(tmp_path / "not-yet") as kb:
        assert kb.retrieve("opening hours") == []
        seed_knowledge_base(tmp_path / "not-yet")
        assert kb.retrieve("opening hours")[0].document == "opening-hours.md"


def test_sections_are_split_and_cited_distinctly(tmp_path: Path) -> None:
    write(
        tmp_path / "shop_notes.md",  # no "# Title": the file name stands in
        "Intro about the shop and its parking.\n\n"
        "## Parking\nParking at the front.\n\n"
        "```sh\n## parking is not a heading inside code\n```\n\n"
        "## Parking\nMore parking at the back.\n",
    )
    with LocalKnowledgeBase(tmp_path) as kb:
        references = kb.retrieve("parking")
    ids = sorted(citation_id(reference) for reference in references)
    assert ids == ["shop_notes.md#overview", "shop_notes.md#parking", "shop_notes.md#parking-2"]
    assert {reference.metadata["title"] for reference in references} == {"Shop Notes"}
    second = next(ref for ref in references if citation_id(ref) == "shop_notes.md#parking")
    assert "not a heading inside code" in second.text  # the fenced block stayed in its section


def test_concurrent_retrieves_from_many_threads_agree(samples: LocalKnowledgeBase) -> None:
    expected = [citation_id(reference) for reference in samples.retrieve("refunds and returns")]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(25):
                results.append([citation_id(ref) for ref in samples.retrieve("refunds and returns")])
        except BaseException as error:  # collected and asserted below; a thread cannot fail the test
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 200
    assert all(result == expected for result in results)


class _NoFts5(sqlite3.Connection):
    """A connection as a SQLite built without FTS5 would behave."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if "fts5" in sql.lower():
            raise sqlite3.OperationalError("no such module: fts5")
        return super().execute(sql, parameters)


def test_a_sqlite_without_fts5_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "_connect", lambda: sqlite3.connect(":memory:", factory=_NoFts5))

    with pytest.raises(AIError) as raised:
        LocalKnowledgeBase(tmp_path)
    assert raised.value.code == "FTS5_UNAVAILABLE"
    assert raised.value.retryable is False
    assert "FTS5" in raised.value.message


# -- drafting ------------------------------------------------------------------------------------------


def test_the_draft_quotes_and_cites_the_best_passage(samples: LocalKnowledgeBase) -> None:
    references = samples.retrieve("What are your opening hours on Saturday?")
    draft = LocalDrafter().draft("What are your opening hours on Saturday?", references, session_id="c-1")

    assert draft.backend == "local"
    assert draft.model == "local-draft"
    assert draft.text.startswith("Hello")
    assert draft.text.endswith("Is there anything else I can help you with?")
    assert "On Saturdays we are open from 10:00 to 14:00" in draft.text
    assert 1 <= len(draft.citations) <= 2
    assert draft.citations[0] == references[0]
    assert all(citation in references for citation in draft.citations)
    assert draft.trace["references_used"] == [citation_id(citation) for citation in draft.citations]
    assert len(draft.text) <= 700


def test_the_draft_does_not_quote_an_unrelated_runner_up(samples: LocalKnowledgeBase) -> None:
    query = "how can I stop these messages"
    draft = LocalDrafter().draft(query, samples.retrieve(query), session_id="c-1")

    assert "replying STOP" in draft.text
    # Every sentence quoted comes from a cited section: nothing is made up, nothing is uncited.
    body = draft.text.split("\n\n")[1:-1]
    assert body
    assert all(any(passage in citation.text for citation in draft.citations) for passage in body)


def test_long_sections_are_trimmed_to_one_whatsapp_message(tmp_path: Path) -> None:
    sentence = "Parking for visitors is available in the large car park behind the main building. "
    write(tmp_path / "a.md", "# Parking\n\n## Visitors\n" + sentence * 30 + "\n")
    write(tmp_path / "b.md", "# Parking rules\n\n## Parking at night\n" + sentence * 30 + "\n")
    word = "Parking " + "x" * 900  # one "sentence" longer than the whole message
    write(tmp_path / "c.md", "# Parking\n\n## Overflow\n" + word + "\n")

    with LocalKnowledgeBase(tmp_path) as kb:
        references = kb.retrieve("visitor parking")
        drafter = LocalDrafter(name="kb-quotes")
        for refs in (references, [references[-1]], list(reversed(references))):
            draft = drafter.draft("visitor parking", refs, session_id="c-2")
            assert len(draft.text) <= 700
            assert draft.model == "kb-quotes"
            assert draft.citations
            assert all(citation in refs for citation in draft.citations)


def test_no_references_is_a_holding_reply_not_an_error() -> None:
    draft = LocalDrafter().draft("Can I bring my dog?", [], session_id="c-3")

    assert "colleague" in draft.text
    assert draft.citations == ()
    assert draft.backend == "local"
    assert draft.trace["references_given"] == 0
    assert len(draft.text) <= 700


def test_references_from_another_retriever_are_drafted_too() -> None:
    # Bedrock references have an S3 location and no section slug; the drafter only needs their text.
    reference = Reference(
        text="**Refunds** take 5 to 7 working days. See [our policy](https://wecare.digital/refunds).",
        document="s3://kb/refunds.md",
        location={"type": "S3", "s3Location": {"uri": "s3://kb/refunds.md"}},
        score=None,
    )
    draft = LocalDrafter().draft("refund", [reference], session_id="c-4")

    assert "Refunds take 5 to 7 working days." in draft.text  # Markdown markup removed for WhatsApp
    assert "our policy (https://wecare.digital/refunds)" in draft.text
    assert draft.citations == (reference,)
    assert draft.trace["references_used"] == ["s3://kb/refunds.md"]
