"""Local-directory evidence store: write-once, read-only files, safe keys, concurrent writers."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.evidence import (
    EvidenceNotFoundError,
    EvidenceStore,
    EvidenceStoreError,
    InvalidEvidenceKeyError,
    LocalEvidenceStore,
)

NOW = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)
KEY = "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.json"


@pytest.fixture
def store(tmp_path: Path) -> LocalEvidenceStore:
    return LocalEvidenceStore(tmp_path / "evidence")


def test_is_an_evidence_store(store: LocalEvidenceStore) -> None:
    assert isinstance(store, EvidenceStore)


def test_put_get_head(store: LocalEvidenceStore) -> None:
    body = b'{"week": "2025-W01"}'
    stored = store.put(KEY, body, content_type="application/json", now=NOW)

    path = store.root / "sla-snapshots" / "2025" / "01" / "06" / "sla-snapshot-2025-W01.json"
    assert path.read_bytes() == body
    assert stored.created is True
    assert stored.key == KEY
    assert stored.uri == path.as_uri()
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.size == len(body)
    assert stored.version_id is None
    assert stored.retain_until is None

    assert store.get(KEY) == body
    head = store.head(KEY)
    assert head is not None
    assert head.created is False
    assert (head.uri, head.key, head.sha256, head.size) == (
        stored.uri,
        KEY,
        stored.sha256,
        stored.size,
    )


def test_missing_key(store: LocalEvidenceStore) -> None:
    assert store.head("nothing/here.json") is None
    assert store.head("sla-snapshots") is None  # a directory is not an object
    with pytest.raises(EvidenceNotFoundError, match=r"nothing/here\.json"):
        store.get("nothing/here.json")
    store.put(KEY, b"x", content_type="application/json", now=NOW)
    assert store.head("sla-snapshots/2025") is None
    with pytest.raises(EvidenceNotFoundError):
        store.get("sla-snapshots/2025")


def test_get_with_version_id_is_an_error(store: LocalEvidenceStore) -> None:
    store.put(KEY, b"x", content_type="application/json", now=NOW)
    with pytest.raises(EvidenceStoreError, match="no versions"):
        store.get(KEY, version_id="v1")


def test_never_overwrites(store: LocalEvidenceStore) -> None:
    first = store.put(KEY, b"first", content_type="application/json", now=NOW)
    second = store.put(KEY, b"second, different", content_type="application/json", now=NOW)

    assert first.created is True
    assert second.created is False
    assert second.sha256 == first.sha256 == hashlib.sha256(b"first").hexdigest()
    assert second.size == len(b"first")
    assert second.uri == first.uri
    assert store.get(KEY) == b"first"


def test_files_are_read_only(store: LocalEvidenceStore) -> None:
    store.put(KEY, b"body", content_type="application/json", now=NOW)
    mode = stat.S_IMODE((store.root / KEY).stat().st_mode)
    assert mode == 0o444


def test_no_temporary_files_left_behind(store: LocalEvidenceStore) -> None:
    store.put(KEY, b"one", content_type="application/json", now=NOW)
    store.put(KEY, b"two", content_type="application/json", now=NOW)
    leftovers = [p.name for p in store.root.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []


def test_naive_now_rejected(store: LocalEvidenceStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.put(KEY, b"x", content_type="application/json", now=datetime(2025, 1, 6))


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside.json",
        "a/../../outside.json",
        "a/..",
        "a\\b.json",
        "..\\outside.json",
        "a//b.json",
        "a/./b.json",
        "a/b/",
        ".hidden",
        "a/.slabot-tmp-x",
        "C:/evidence.json",
        "a/b\x00c",
        "line\nbreak",
        "x" * 1000,
    ],
)
def test_bad_keys_rejected(store: LocalEvidenceStore, key: str) -> None:
    with pytest.raises(InvalidEvidenceKeyError, match="evidence key"):
        store.put(key, b"x", content_type="application/json", now=NOW)
    with pytest.raises(InvalidEvidenceKeyError):
        store.get(key)
    with pytest.raises(InvalidEvidenceKeyError):
        store.head(key)
    assert not store.root.exists() or list(store.root.rglob("*")) == []


def test_bad_key_error_is_a_value_error(store: LocalEvidenceStore) -> None:
    with pytest.raises(ValueError, match=r"'\.\./x'.*'\.\.'"):
        store.put("../x", b"x", content_type="text/plain", now=NOW)


def test_list_sorted_under_prefix(store: LocalEvidenceStore) -> None:
    keys = [
        "vulnerability-scans/2025/01/07/nuclei-b.json",
        "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.json",
        "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.csv",
        "vulnerability-scans/2025/01/06/nuclei-a.json",
        "sla-snapshots/2025/01/13/sla-snapshot-2025-W02.json",
    ]
    for key in keys:
        store.put(key, key.encode(), content_type="application/json", now=NOW)
    # temp and hidden files are never listed
    (store.root / "sla-snapshots" / ".slabot-tmp-stray").write_bytes(b"partial")

    assert list(store.list("")) == sorted(keys)
    assert list(store.list("sla-snapshots/")) == sorted(k for k in keys if k.startswith("sla-"))
    assert list(store.list("sla-snapshots/2025/01/06/sla-snapshot-2025-W01.")) == [
        "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.csv",
        "sla-snapshots/2025/01/06/sla-snapshot-2025-W01.json",
    ]
    assert list(store.list("vuln")) == sorted(k for k in keys if k.startswith("vuln"))
    assert list(store.list("nothing/")) == []
    with pytest.raises(InvalidEvidenceKeyError):
        list(store.list("../"))


def test_list_on_missing_directory_is_empty(tmp_path: Path) -> None:
    assert list(LocalEvidenceStore(tmp_path / "absent").list("")) == []


def test_concurrent_puts_of_one_key_create_exactly_one(store: LocalEvidenceStore) -> None:
    writers = 16
    barrier = threading.Barrier(writers)
    results: list[object] = [None] * writers

    def write(i: int) -> None:
        barrier.wait()
        try:
            results[i] = store.put(
                KEY, f"writer {i}".encode(), content_type="application/json", now=NOW
            )
        except Exception as exc:  # pragma: no cover - reported by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    stored = [r for r in results if not isinstance(r, Exception)]
    assert len(stored) == writers, results
    created = [r for r in stored if getattr(r, "created", False)]
    assert len(created) == 1
    winner_body = store.get(KEY)
    assert winner_body.startswith(b"writer ")
    assert {getattr(r, "sha256", None) for r in stored} == {hashlib.sha256(winner_body).hexdigest()}
    assert [p.name for p in (store.root / KEY).parent.iterdir()] == [Path(KEY).name]


def test_falls_back_without_hard_links(
    store: LocalEvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported here")

    monkeypatch.setattr(os, "link", no_link)
    first = store.put(KEY, b"first", content_type="application/json", now=NOW)
    second = store.put(KEY, b"second", content_type="application/json", now=NOW)
    assert (first.created, second.created) == (True, False)
    assert store.get(KEY) == b"first"
    assert stat.S_IMODE((store.root / KEY).stat().st_mode) == 0o444
    assert [p.name for p in (store.root / KEY).parent.iterdir()] == [Path(KEY).name]


def test_put_where_a_file_blocks_the_directory(store: LocalEvidenceStore) -> None:
    store.put("a", b"file", content_type="text/plain", now=NOW)
    with pytest.raises(EvidenceStoreError, match="cannot create directory"):
        store.put("a/b.json", b"x", content_type="application/json", now=NOW)


def test_check_healthy_creates_directory(store: LocalEvidenceStore) -> None:
    assert not store.root.exists()
    assert store.check() == []
    assert store.root.is_dir()
    assert list(store.root.iterdir()) == []  # the write probe is removed


def test_check_reports_a_file_in_the_way(tmp_path: Path) -> None:
    blocker = tmp_path / "evidence"
    blocker.write_text("not a directory")
    problems = LocalEvidenceStore(blocker).check()
    assert len(problems) == 1
    assert "not a directory" in problems[0]
    assert str(blocker) in problems[0]


def test_check_reports_uncreatable_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    problems = LocalEvidenceStore(tmp_path / "file" / "evidence").check()
    assert len(problems) == 1
    assert "cannot be created" in problems[0]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_check_reports_read_only_directory(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o555)
    try:
        problems = LocalEvidenceStore(root).check()
    finally:
        root.chmod(0o755)
    assert len(problems) == 1
    assert "not writable" in problems[0]


def test_describe(store: LocalEvidenceStore) -> None:
    text = store.describe()
    assert text.startswith(store.root.as_uri())
    assert "read-only" in text
