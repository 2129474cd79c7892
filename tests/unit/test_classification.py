"""Classification of a case's stored events: accepted, held or rejected (DESIGN.md)."""

from __future__ import annotations

import pytest

from agents.classification import (
    ACCEPTED,
    CaseEvent,
    Classification,
    changes,
    classify,
    winning_registration,
)
from agents.errors import CaseRuleError
from agents.model import Disposition, RejectReason
from streams.events import Event
from tests.unit.case_events import (
    OTHER_SITE,
    SITE,
    arrived,
    event_id,
    failed,
    passed,
    receipt,
    registration,
    review,
)

pytestmark = pytest.mark.unit


def dispositions(*events: Event) -> list[Disposition]:
    result = classify(arrived(events))
    return [result[e.event_id].disposition for e in events]


def test_first_arrived_registration_wins_even_if_it_occurred_later() -> None:
    late, early = registration(minute=60), registration(minute=0)
    result = classify(arrived([late, early]))
    assert result[late.event_id] == ACCEPTED
    assert result[early.event_id].reason is RejectReason.DUPLICATE_REGISTRATION


def test_second_registration_at_same_site_is_duplicate_registration() -> None:
    first, second = registration(), registration()
    rejected = classify(arrived([first, second]))[second.event_id]
    assert rejected.disposition is Disposition.REJECTED
    assert rejected.reason is RejectReason.DUPLICATE_REGISTRATION
    assert str(first.event_id) in (rejected.message or "")


def test_second_registration_at_other_site_is_site_mismatch() -> None:
    first, second = registration(), registration(site=OTHER_SITE)
    rejected = classify(arrived([first, second]))[second.event_id]
    assert rejected.reason is RejectReason.SITE_MISMATCH


def test_arrival_positions_compare_as_partition_offset_tuples() -> None:
    first, second = registration(), registration()
    stored = [CaseEvent(second, (0, 10)), CaseEvent(first, (0, 9))]
    assert winning_registration(stored) == first


def test_equal_arrival_positions_fall_back_to_order_key() -> None:
    later, earlier = registration(minute=5), registration(minute=1)
    stored = [CaseEvent(later, 3), CaseEvent(earlier, 3)]
    assert winning_registration(stored) == earlier


def test_without_registration_every_event_is_held_as_orphan() -> None:
    events = (receipt("S-1", minute=1), passed("S-1", minute=2), review(minute=3))
    result = classify(arrived(events))
    assert {c.disposition for c in result.values()} == {Disposition.HELD}
    assert all("registration" in (c.message or "") for c in result.values())


def test_orphans_count_as_soon_as_the_registration_arrives() -> None:
    orphans = [receipt("S-1", minute=1), passed("S-1", minute=2), review(minute=3)]
    reg = registration()
    before = classify(arrived(orphans))
    after = classify(arrived([*orphans, reg]))
    assert {c.disposition for c in after.values()} == {Disposition.ACCEPTED}
    changed = {c.event_id for c in changes(before, after)}
    assert changed == {e.event_id for e in [*orphans, reg]}


def test_event_at_other_site_is_site_mismatch_naming_both_sites() -> None:
    stray = receipt("S-1", minute=1, site=OTHER_SITE)
    rejected = classify(arrived([registration(), stray]))[stray.event_id]
    assert rejected.reason is RejectReason.SITE_MISMATCH
    assert SITE in (rejected.message or "") and OTHER_SITE in (rejected.message or "")


def test_held_orphan_at_other_site_becomes_site_mismatch() -> None:
    stray = review(minute=1, site=OTHER_SITE)
    before = classify(arrived([stray]))
    after = classify(arrived([stray, registration()]))
    change = next(c for c in changes(before, after) if c.event_id == stray.event_id)
    assert change.before is not None and change.before.disposition is Disposition.HELD
    assert change.after.reason is RejectReason.SITE_MISMATCH


def test_sample_receipts_are_accepted_including_repeated_ones() -> None:
    assert (
        dispositions(registration(), receipt("S-1", minute=1), receipt("S-1", minute=2))
        == [Disposition.ACCEPTED] * 3
    )


def test_qa_result_is_held_until_its_sample_is_received() -> None:
    result = failed("S-2", minute=2)
    assert dispositions(registration(), receipt("S-1", minute=1), result)[-1] is Disposition.HELD
    assert dispositions(registration(), receipt("S-2", minute=3), result)[-1] is (
        Disposition.ACCEPTED
    )


def test_review_is_held_while_no_sample_has_passed() -> None:
    events = (registration(), receipt("S-1", minute=1), failed("S-1", minute=2), review(minute=3))
    assert dispositions(*events)[-1] is Disposition.HELD


def test_held_review_becomes_accepted_once_a_sample_passes() -> None:
    base = [registration(), receipt("S-1", minute=1), review(minute=3)]
    before = classify(arrived(base))
    after = classify(arrived([*base, passed("S-1", minute=2)]))
    assert before[base[-1].event_id].disposition is Disposition.HELD
    assert after[base[-1].event_id] == ACCEPTED


def test_later_failed_result_sends_the_review_back_to_held() -> None:
    base = [registration(), receipt("S-1", minute=1), passed("S-1", minute=2), review(minute=3)]
    before = classify(arrived(base))
    after = classify(arrived([*base, failed("S-1", minute=4)]))
    (change,) = [c for c in changes(before, after) if c.before is not None]
    assert change.event_id == base[-1].event_id
    assert change.after.disposition is Disposition.HELD


def test_earlier_failed_result_does_not_undo_the_pass() -> None:
    base = [registration(), receipt("S-1", minute=1), passed("S-1", minute=5), review(minute=6)]
    assert dispositions(*base, failed("S-1", minute=4))[3] is Disposition.ACCEPTED


def test_same_time_qa_results_are_decided_by_the_greater_event_id() -> None:
    base = [registration(), receipt("S-1", minute=1), review(minute=3)]
    fail_low = failed("S-1", minute=2, eid=event_id(1))
    pass_high = passed("S-1", minute=2, eid=event_id(2))
    assert dispositions(*base, pass_high, fail_low)[2] is Disposition.ACCEPTED
    pass_low = passed("S-1", minute=2, eid=event_id(3))
    fail_high = failed("S-1", minute=2, eid=event_id(4))
    assert dispositions(*base, fail_high, pass_low)[2] is Disposition.HELD


def test_events_of_two_cases_are_refused() -> None:
    with pytest.raises(CaseRuleError, match="one case"):
        classify(arrived([registration(), receipt("S-1", minute=1, case="MK-OTHER-0002")]))


def test_repeated_event_ids_are_refused() -> None:
    reg = registration()
    with pytest.raises(CaseRuleError, match=str(reg.event_id)):
        classify([CaseEvent(reg, 0), CaseEvent(reg, 1)])


def test_changes_report_new_events_with_no_previous_classification() -> None:
    reg = registration()
    (change,) = changes({}, classify(arrived([reg])))
    assert (change.event_id, change.before, change.after) == (reg.event_id, None, ACCEPTED)


def test_changes_ignore_a_new_message_for_the_same_hold() -> None:
    orphan_hold = Classification(Disposition.HELD, message="waiting for the registration")
    sample_hold = Classification(Disposition.HELD, message="waiting for the receipt")
    assert changes({event_id(1): orphan_hold}, {event_id(1): sample_hold}) == []
