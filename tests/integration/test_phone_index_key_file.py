"""The phone index key file when several processes start at once (serve with the scheduler,
parallel test workers): each must end up with the same whole key, never an empty one."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from hub.db.phone_index import key_from_file


def test_racing_starts_all_get_the_one_whole_key(tmp_path: Path) -> None:
    path = tmp_path / "var" / "phone-index.key"
    racers = 8
    start = threading.Barrier(racers)
    keys: list[bytes] = []

    def start_up() -> None:
        start.wait()
        keys.append(key_from_file(path))

    threads = [threading.Thread(target=start_up) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(keys) == racers
    assert len(set(keys)) == 1 and len(keys[0]) == 32  # 32 random bytes, written as 64 hex digits
    assert path.read_text(encoding="ascii") == keys[0].hex() + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["phone-index.key"]  # no draft left behind


def test_an_existing_key_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "phone-index.key"
    path.write_text("ab" * 32 + "\n", encoding="ascii")
    assert key_from_file(path) == bytes.fromhex("ab" * 32)
