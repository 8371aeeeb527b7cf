"""The emulator's journal: records come back in order, a record torn by a kill is dropped (and the
next append follows the last whole record), compaction replaces the history with a snapshot."""

from __future__ import annotations

import pytest

from emulator.journal import MAGIC, Journal, JournalError, encode_frame


def replay(directory) -> tuple[Journal, list[bytes]]:
    journal = Journal(directory, fsync=False)
    return journal, list(journal.open())


def journal_files(directory) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_records_come_back_in_append_order(tmp_path):
    journal, found = replay(tmp_path)
    assert found == []
    for n in range(5):
        journal.write(f"record {n}".encode())
    journal.close()
    _, found = replay(tmp_path)
    assert found == [f"record {n}".encode() for n in range(5)]


@pytest.mark.parametrize("keep", [1, 4, 9], ids=["in-header", "mid-header", "mid-payload"])
def test_a_torn_last_record_is_dropped_and_appends_follow_the_whole_ones(tmp_path, keep):
    journal, _ = replay(tmp_path)
    journal.write(b"first")
    journal.write(b"second")
    journal.close()
    path = tmp_path / "journal-00000001.log"
    with path.open("ab") as handle:  # what a kill -9 in the middle of an append leaves
        handle.write(encode_frame(b"never acknowledged")[:keep])
    journal, found = replay(tmp_path)
    assert found == [b"first", b"second"]
    journal.write(b"third")
    journal.close()
    assert replay(tmp_path)[1] == [b"first", b"second", b"third"]


def test_a_record_with_a_wrong_checksum_ends_the_replay(tmp_path):
    journal, _ = replay(tmp_path)
    journal.write(b"good")
    journal.write(b"torn")
    journal.close()
    path = tmp_path / "journal-00000001.log"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the payload was not all written, the length was
    path.write_bytes(bytes(data))
    assert replay(tmp_path)[1] == [b"good"]


def test_compaction_replaces_the_history_and_later_appends_follow_the_snapshot(tmp_path):
    journal, _ = replay(tmp_path)
    for n in range(3):
        journal.write(f"old {n}".encode())

    def snapshot(emit):
        emit(b"state")
        journal.write(b"during")  # appends go on while the snapshot is written

    journal.compact(snapshot)
    journal.write(b"after")
    journal.close()
    assert journal_files(tmp_path) == ["journal-00000002.log", "snapshot-00000002.log"]
    assert replay(tmp_path)[1] == [b"state", b"during", b"after"]


def test_an_unfinished_snapshot_is_ignored_and_the_journals_replay_in_order(tmp_path):
    journal, _ = replay(tmp_path)
    journal.write(b"one")
    journal.compact(lambda emit: emit(b"snapshot"))
    journal.write(b"two")
    journal.close()
    # A crash after the next rotation, while its snapshot was being written.
    (tmp_path / "journal-00000003.log").write_bytes(MAGIC + encode_frame(b"three"))
    (tmp_path / "snapshot-00000003.tmp").write_bytes(MAGIC + encode_frame(b"half a snap"))
    journal, found = replay(tmp_path)
    assert found == [b"snapshot", b"two", b"three"]
    assert not (tmp_path / "snapshot-00000003.tmp").exists()
    journal.write(b"four")
    journal.close()
    assert replay(tmp_path)[1] == [b"snapshot", b"two", b"three", b"four"]


def test_a_damaged_snapshot_is_an_error_not_an_empty_state(tmp_path):
    journal, _ = replay(tmp_path)
    journal.compact(lambda emit: emit(b"state"))
    journal.close()
    path = tmp_path / "snapshot-00000002.log"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(JournalError, match="damaged"):
        replay(tmp_path)


def test_appending_to_a_closed_journal_fails(tmp_path):
    journal, _ = replay(tmp_path)
    journal.close()
    with pytest.raises(JournalError):
        journal.write(b"late")
