"""Merging the generator processes' observations, and the audit against PostgreSQL.

Audit rules (the delivery guarantee, docs/architecture/realtime.md):
- every acknowledged message is stored exactly once, with the id, channel, seq and body acked;
- a stored message that was never acknowledged is reported (allowed, but worth knowing);
- each channel's sequence is dense over the run: the new seq values are exactly
  last_seq_before + 1 ... last_seq_after;
- every stored message reached every member socket that was online from before its send
  until the end of the run exactly once (the sender's own socket included), and no socket
  received a message of a room its user is not in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.load.harness.client import ClientResult, Sent
from tests.load.harness.dataset import Dataset
from tests.load.harness.stats import latency_summary

SATURATION_P99_ACK_SECONDS = 1.0


@dataclass
class Merged:
    connected_at: dict[int, float] = field(default_factory=dict)
    disconnected_at: dict[int, float] = field(default_factory=dict)
    sends: dict[str, Sent] = field(default_factory=dict)
    acks: dict[str, tuple[int, int, int, bool, float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error_counts: Counter[str] = field(default_factory=Counter)
    connect_errors: Counter[str] = field(default_factory=Counter)
    connect_retries: Counter[str] = field(default_factory=Counter)
    close_codes: Counter[str] = field(default_factory=Counter)
    event_counts: Counter[str] = field(default_factory=Counter)
    connect_latencies: list[float] = field(default_factory=list)
    pushed: dict[int, tuple[int, int, str | None, int, str]] = field(default_factory=dict)
    push_mismatches: int = 0
    frames_received: int = 0
    bytes_received: int = 0
    send_started: float = 0.0
    send_ended: float = 0.0
    send_lag_max: float = 0.0


def merge(results: list[ClientResult]) -> Merged:
    merged = Merged()
    merged.send_started = min((r.send_started for r in results if r.send_started), default=0.0)
    merged.send_ended = max((r.send_ended for r in results), default=0.0)
    for result in results:
        merged.connected_at.update(result.connected_at)
        merged.disconnected_at.update(result.disconnected_at)
        merged.sends.update((sent.client_msg_id, sent) for sent in result.sends)
        merged.acks.update(result.acks)
        merged.errors.update(result.errors)
        merged.error_counts.update(result.error_counts)
        merged.connect_errors.update(result.connect_errors)
        merged.connect_retries.update(result.connect_retries)
        merged.close_codes.update(result.close_codes)
        merged.event_counts.update(result.event_counts)
        merged.connect_latencies.extend(result.connect_latencies)
        for message_id, seen in result.pushed.items():
            first = merged.pushed.setdefault(message_id, seen)
            if first != seen:
                merged.push_mismatches += 1
        merged.push_mismatches += result.push_mismatches
        merged.frames_received += result.frames_received
        merged.bytes_received += result.bytes_received
        merged.send_lag_max = max(merged.send_lag_max, result.send_lag_max)
    return merged


@dataclass(frozen=True)
class StoredRow:
    id: int
    sender_id: int
    client_msg_id: str
    channel_id: int
    seq: int
    body: str


def stored_rows(client_msg_ids: list[str]) -> list[StoredRow]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, sender_id, client_msg_id::text, channel_id, seq, body FROM chat_message "
            "WHERE client_msg_id = ANY(%s::uuid[])",
            [client_msg_ids],
        )
        return [StoredRow(*row) for row in cursor.fetchall()]


def acked_rows(merged: Merged) -> list[StoredRow]:
    """What the acks say was stored (for a relay, which stores nothing)."""
    return [
        StoredRow(message_id, merged.sends[cmid].sender_id, cmid, channel_id, seq, sent.body)
        for cmid, (message_id, channel_id, seq, _dup, _at) in merged.acks.items()
        for sent in (merged.sends[cmid],)
    ]


def seq_density(before: dict[int, int]) -> dict[str, Any]:
    """Channels whose new seq values since `before` are not exactly before+1..last_seq."""
    from django.db import connection

    channel_ids = list(before)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.cid, c.last_seq, count(m.id), count(DISTINCT m.seq) "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS s(cid, after) "
            "JOIN chat_channel c ON c.id = s.cid "
            "LEFT JOIN chat_message m ON m.channel_id = s.cid AND m.seq > s.after "
            "GROUP BY s.cid, c.last_seq",
            [channel_ids, [before[cid] for cid in channel_ids]],
        )
        rows = cursor.fetchall()
    missing = 0
    channels_with_gaps = 0
    new_values = 0
    for channel_id, last_seq, count, distinct in rows:
        expected = int(last_seq) - before[int(channel_id)]
        new_values += expected
        if count != expected or distinct != expected:
            channels_with_gaps += 1
            missing += expected - int(distinct)
    return {
        "channels_checked": len(rows),
        "new_seq_values": new_values,
        "channels_with_gaps": channels_with_gaps,
        "missing_seq_values": missing,
    }


def ack_timeline(merged: Merged, step: float = 30.0) -> list[dict[str, Any]]:
    """Ack latency per `step` seconds of sending: a run that holds, then falls behind (a
    PostgreSQL checkpoint, a collector pause), shows here, not in the run's percentiles."""
    buckets: dict[int, list[float]] = {}
    for client_msg_id, ack in merged.acks.items():
        sent = merged.sends[client_msg_id].sent_at
        buckets.setdefault(int((sent - merged.send_started) // step), []).append(ack[4] - sent)
    timeline = []
    for index, samples in sorted(buckets.items()):
        window = latency_summary(samples)
        timeline.append(
            {
                "from_s": index * step,
                "count": window["count"],
                "p50_ms": window["p50_ms"],
                "p99_ms": window["p99_ms"],
                "max_ms": window["max_ms"],
            }
        )
    return timeline


def analyse(
    *,
    results: list[ClientResult],
    dataset: Dataset,
    seq_before: dict[int, int],
    rate: float,
    duration: float,
    relay: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """The summary sections about traffic, latency and the audit, and the list of failures.

    `relay`: the server stores nothing (tests/load/relay.py), so the acks stand in for the
    stored rows and only the deliveries are audited.
    """
    merged = merge(results)
    failures: list[str] = []

    # --- sends and acks -----------------------------------------------------------------------
    ack_latencies = [ack[4] - merged.sends[cmid].sent_at for cmid, ack in merged.acks.items()]
    window = max(1e-9, merged.send_ended - merged.send_started)
    duplicates_acked = sum(1 for ack in merged.acks.values() if ack[3])

    # --- database audit -------------------------------------------------------------------------
    rows = acked_rows(merged) if relay else stored_rows(list(merged.sends))
    by_key: Counter[tuple[int, str]] = Counter((row.sender_id, row.client_msg_id) for row in rows)
    row_of = {row.client_msg_id: row for row in rows}
    db_duplicates = sum(n - 1 for n in by_key.values() if n > 1)
    acked_missing = 0
    acked_mismatch = 0
    for cmid, (message_id, channel_id, seq, _dup, _at) in merged.acks.items():
        row = row_of.get(cmid)
        sent = merged.sends[cmid]
        if row is None:
            acked_missing += 1
        elif (row.id, row.channel_id, row.seq, row.sender_id, row.body) != (
            message_id,
            channel_id,
            seq,
            sent.sender_id,
            sent.body,
        ) or channel_id != sent.channel_id:
            acked_mismatch += 1
    stored_unacked = sum(1 for cmid in row_of if cmid not in merged.acks)
    unacked_by_reason = Counter(
        merged.errors.get(cmid, "no_ack") for cmid in merged.sends if cmid not in merged.acks
    )
    density = {"not_applicable": "relay"} if relay else seq_density(seq_before)

    # --- deliveries -----------------------------------------------------------------------------
    # Expected recipients: members online from before the send to the end, sender included.
    stable_online = {uid for uid in merged.connected_at if uid not in merged.disconnected_at}
    receipts: Counter[int] = Counter()
    receipt_time: dict[int, float] = {}
    unknown_pushes = 0
    message_of = {row.id: row for row in rows}
    for result in results:
        for message_id, user_id, at in zip(
            result.delivery_message_ids,
            result.delivery_user_ids,
            result.delivery_times,
            strict=True,
        ):
            if message_id not in message_of:
                unknown_pushes += 1
                continue
            key = (message_id << 32) | user_id
            receipts[key] += 1
            receipt_time.setdefault(key, at)
    push_mismatches = merged.push_mismatches
    for message_id, seen in merged.pushed.items():
        row = message_of.get(message_id)
        if row is not None and seen != (
            row.channel_id,
            row.seq,
            row.client_msg_id,
            row.sender_id,
            row.body,
        ):
            push_mismatches += 1

    expected = missed = duplicates = 0
    delivery_latencies: list[float] = []
    fanout_latencies: list[float] = []
    missed_by_room_kind: Counter[str] = Counter()
    for row in rows:
        sent_at = merged.sends[row.client_msg_id].sent_at
        room = dataset.rooms.get(row.channel_id)
        if room is None:
            continue
        slowest = 0.0
        complete = True
        for user_id in room.member_ids:
            joined = merged.connected_at.get(user_id)
            if joined is None or joined > sent_at or user_id not in stable_online:
                continue
            expected += 1
            key = (row.id << 32) | user_id
            count = receipts.get(key, 0)
            if count == 0:
                missed += 1
                missed_by_room_kind[room.kind] += 1
                complete = False
                continue
            duplicates += count - 1
            if user_id != row.sender_id:
                latency = receipt_time[key] - sent_at
                delivery_latencies.append(latency)
                slowest = max(slowest, latency)
        if complete and slowest > 0:
            fanout_latencies.append(slowest)
    received = sum(receipts.values())
    foreign = merged.event_counts.pop("message.new_foreign_room", 0)

    if acked_missing:
        failures.append(f"{acked_missing} acknowledged messages are not in PostgreSQL")
    if acked_mismatch:
        failures.append(f"{acked_mismatch} stored messages differ from their ack")
    if db_duplicates:
        failures.append(f"{db_duplicates} duplicate rows for (sender, client_msg_id)")
    if density.get("channels_with_gaps"):
        failures.append(f"{density['missing_seq_values']} seq values missing (gaps)")
    if missed:
        failures.append(f"{missed} expected deliveries missed")
    if duplicates:
        failures.append(f"{duplicates} duplicate deliveries")
    if foreign:
        failures.append(f"{foreign} pushes of rooms the user is not in")
    if push_mismatches:
        failures.append(f"{push_mismatches} pushes differ from the stored message")

    ack_summary = latency_summary(ack_latencies)
    p99_ack = ack_summary.get("p99_ms")
    achieved = len(merged.sends) / window
    summary: dict[str, Any] = {
        "connections": {
            "attempted": len(dataset.users),
            "connected": len(merged.connected_at),
            "connect_errors": dict(merged.connect_errors),
            "failed_attempts_retried": dict(merged.connect_retries),
            "connect_latency": latency_summary(merged.connect_latencies),
            "unexpected_disconnects": len(merged.disconnected_at),
            "close_codes": dict(merged.close_codes),
        },
        "send": {
            "target_rate": rate,
            "duration_s": duration,
            "sent": len(merged.sends),
            "achieved_rate": round(achieved, 1),
            "max_send_lag_ms": round(merged.send_lag_max * 1000, 1),
            "acks": len(merged.acks),
            "ack_rate": round(len(merged.acks) / window, 1),
            "acked_duplicate_flag": duplicates_acked,
            "unacked_by_reason": dict(unacked_by_reason),
            "errors_by_code": dict(merged.error_counts),
        },
        "latency": {
            "ack": ack_summary,
            "delivery": latency_summary(delivery_latencies),
            "fanout_complete": latency_summary(fanout_latencies),
            "ack_timeline_30s": ack_timeline(merged),
        },
        "deliveries": {
            "expected": expected,
            "received": received,
            "missed": missed,
            "missed_by_room_kind": dict(missed_by_room_kind),
            "duplicates": duplicates,
            "foreign_room": foreign,
            "unknown_message": unknown_pushes,
            "frames_received": merged.frames_received,
            "mib_received": round(merged.bytes_received / 2**20, 1),
            "other_events": dict(merged.event_counts),
        },
        "audit": {
            "ok": not failures,
            "failures": failures,
            "stored": len(rows),
            "acked_missing_in_db": acked_missing,
            "acked_mismatch": acked_mismatch,
            "db_duplicates": db_duplicates,
            "stored_unacked": stored_unacked,
            "push_mismatches": push_mismatches,
            "seq": density,
        },
        "saturated": bool(
            failures
            or achieved < 0.95 * rate
            or len(merged.acks) < 0.99 * len(merged.sends)
            or (p99_ack is not None and p99_ack > SATURATION_P99_ACK_SECONDS * 1000)
        ),
    }
    return summary, failures
