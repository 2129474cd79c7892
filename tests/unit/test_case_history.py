"""A case's history decided record by record, from the mixed corpus (no broker)."""

from __future__ import annotations

import pytest

from agents.audit import belongs_to_case, case_history
from agents.model import Disposition
from infra.sites import SiteRegistry
from streams.topics import Topics
from tests.corpus import build_corpus

pytestmark = pytest.mark.unit

TOPICS = Topics("mk")


def test_the_history_ends_with_the_expected_status_row() -> None:
    corpus = build_corpus(cases=4)
    history = case_history(corpus.source_records(TOPICS), "CB-DUPS", TOPICS, SiteRegistry.load())
    assert history.derived_status == corpus.rows["CB-DUPS"]


def test_every_record_keyed_with_the_case_is_in_its_history() -> None:
    corpus = build_corpus(cases=4)
    records = corpus.source_records(TOPICS)
    history = case_history(records, "CB-BAD", TOPICS, SiteRegistry.load())
    assert len(history.entries) == sum(belongs_to_case(r, "CB-BAD") for r in records)
    assert any(e.event is None and e.decode_error for e in history.entries)


def test_a_held_record_shows_its_later_disposition() -> None:
    corpus = build_corpus(cases=7)  # scenario 6: the registration arrives last
    case = corpus.case_of_scenario("registration_last")
    history = case_history(corpus.source_records(TOPICS), case, TOPICS, SiteRegistry.load())
    held = [e for e in history.entries if e.disposition is Disposition.HELD]
    assert held
    assert {e.final_disposition for e in held} == {Disposition.ACCEPTED}
