"""Issue 3: every real Nuclei output in ../shared/corpus/nuclei/ ingests, with counts worked
out by hand from the files and the rules.

Rules applied (default policy nist-800-40r4, no KEV catalog loaded, so nothing escalates):
critical/high/medium open a ticket, low/info do not; one ticket per template per asset;
fingerprint = template id + normalized asset (scheme://host[:port], path dropped, default
ports folded, trailing dot stripped) + matcher name. No corpus record has
``matcher-status: false`` or an ``error`` key, so ``ignored`` is 0 for every file.
``new + duplicate = findings`` (a second event of a fingerprint in the same body counts as a
duplicate).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.context import AppContext
from bot.ingest.body import FileBody
from bot.ingest.service import ingest
from tests.conftest import corpus_dir
from tests.helpers_ingest import counts, events, evidence_files, findings, tickets

# file: (findings, ignored, new, duplicate, tickets_opened)
EXPECTED: dict[str, tuple[int, int, int, int, int]] = {
    # 0-byte file: a valid, empty scan.
    "defectdojo-empty.jsonl": (0, 0, 0, 0, 0),
    # 0-byte file as well (despite the .json name).
    "defectdojo-no_findings.json": (0, 0, 0, 0, 0),
    # One object: mysql-native-password-bruteforce on nuclei-example.com:3306, info -> no ticket.
    "defectdojo-invalid_cwe.json": (1, 0, 1, 0, 0),
    # One object: favicon-detect / asp.net-favicon on https://example.com, info -> no ticket.
    "defectdojo-issue_9201.json": (1, 0, 1, 0, 0),
    # 18 JSONL records in the old key style, all distinct (template, asset, matcher):
    # openssh5.3-detect (low), nginx-version, 3 tech-detect matchers on 127.0.0.1:8080,
    # 2 on 127.0.0.1:9090, 6 on https://nuclei-example.com, 2 waf-detect matchers,
    # phpmyadmin-panel, mysql bruteforce (all info) and phpmyadmin-setup (medium): 1 ticket.
    "defectdojo-many_findings.json": (18, 0, 18, 0, 1),
    # CVE-2018-15473 on nuclei-example.com:22 (medium -> ticket), prometheus-metrics (low).
    "defectdojo-many_findings_new.json": (2, 0, 2, 0, 1),
    # http-missing-security-headers/x-content-type-options and favicon-detect: info, info.
    "defectdojo-many_findings_third.json": (2, 0, 2, 0, 0),
    # One-element array: multi-cwe-template on https://example.com, high -> 1 ticket.
    "defectdojo-multi_cwe_fabricated.json": (1, 0, 1, 0, 1),
    # tech-detect genexus + recaptcha on the same asset: 2 fingerprints, info -> no ticket.
    "defectdojo-multiple_matches.json": (2, 0, 2, 0, 0),
    # Array of 6 info records on www.asdf.de: dns-saas-service-detection/wix, caa-fingerprint,
    # ssl-issuer, ssl-dns-names and tls-version twice (same asset www.asdf.de:443, no matcher
    # name, only extracted results differ) -> 5 fingerprints + 1 duplicate, no ticket.
    "defectdojo-multiple_v3.json": (6, 0, 5, 1, 0),
    # One object: CVE-2023-48795 (javascript, medium) on example.com:22 -> 1 ticket.
    "ostorlab-result_nuclei_long.json": (1, 0, 1, 0, 1),
    # Two ftp-default-credentials events on www.example.com:21 differing only in meta and
    # timestamp -> one fingerprint (+1 duplicate); critical -> 1 ticket.
    "securecodebox-ftp-test.jsonl": (2, 0, 1, 1, 1),
    # caa-fingerprint on the bare domain example.com, info.
    "securecodebox-hostname-without-port.jsonl": (1, 0, 1, 0, 0),
    # CVE-2021-44228 (critical, transitional key style) on http://203.0.113.0:8080 -> 1 ticket.
    "securecodebox-log4j-test.jsonl": (1, 0, 1, 0, 1),
    # CVE-2021-44228 (critical) on http://10.1.6.107:8080 -> 1 ticket.
    "securecodebox-log4shell.jsonl": (1, 0, 1, 0, 1),
    # dnssec-detection on "localdomain" (host has a trailing dot), info.
    "sner4-parser-nuclei-dns.json": (1, 0, 1, 0, 0),
    # Array: phpinfo-files (low), dvwa-default-login (critical), git-config (medium), all on
    # http://127.123.123.123 -> 3 fingerprints, 2 tickets (different templates).
    "sner4-parser-nuclei.json": (3, 0, 3, 0, 2),
    # 27 JSONL records of nuclei v3.6 against http://dvwa_dvwa_1 (url written as the garbage
    # "/http://dvwa_dvwa_1/", recovered as http://dvwa_dvwa_1), all distinct (template,
    # matcher): dvwa-default-login (critical), git-config (medium) and
    # dockerfile-hidden-disclosure (medium) -> 3 tickets; phpinfo-files (low) and 22 info
    # records (incl. 11 http-missing-security-headers matchers, and record 26, a DNS
    # nameserver-fingerprint with no matched-at/host/url, which gets the stable placeholder
    # asset) -> no ticket.
    "defectdojo-issue_14071.json": (27, 0, 27, 0, 3),
}


def corpus_files() -> list[str]:
    return sorted(EXPECTED)


def test_expected_table_covers_the_whole_corpus() -> None:
    folder = corpus_dir("nuclei")
    on_disk = {p.name for p in folder.iterdir() if p.suffix in (".json", ".jsonl")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", corpus_files())
def test_corpus_file_ingests(ctx: AppContext, now: datetime, name: str) -> None:
    path = corpus_dir("nuclei") / name
    n_findings, n_ignored, n_new, n_duplicate, n_tickets = EXPECTED[name]
    summary = ingest(ctx, FileBody(path), source="cli", target=None, now=now)

    assert summary.findings == n_findings
    assert summary.ignored == n_ignored
    assert summary.new == n_new
    assert summary.duplicate == n_duplicate
    assert summary.reopened == 0
    assert summary.escalated_kev == 0
    assert summary.tickets_opened == n_tickets
    assert summary.new + summary.duplicate + summary.reopened == summary.findings

    rows = counts(ctx)
    assert rows["scans"] == 1
    assert rows["findings"] == n_new
    assert rows["tickets"] == n_tickets
    assert len(events(ctx, "finding.new")) == n_new
    assert len(events(ctx, "ticket.opened")) == n_tickets
    [scan_event] = events(ctx, "scan.ingested")
    ticketed = [f for f in findings(ctx) if f.ticket_id is not None]
    assert scan_event.details["new_below_threshold"] == n_new - len(ticketed)
    assert len(evidence_files(ctx)) == 1
    # every ticket is critical/high/medium; every finding below medium has no ticket
    for ticket in tickets(ctx):
        assert ticket.severity in ("critical", "high", "medium")
        assert ticket.due_date is not None
    for finding in findings(ctx):
        assert (finding.ticket_id is None) == (finding.severity in ("low", "info", "unknown"))
        assert finding.occurrences >= 1


def test_corpus_reingest_is_all_duplicates(ctx: AppContext, now: datetime) -> None:
    """The whole corpus twice: the second pass adds nothing but occurrences."""
    folder = corpus_dir("nuclei")
    first = [
        ingest(ctx, FileBody(folder / name), source="cli", target=None, now=now)
        for name in corpus_files()
    ]
    before = counts(ctx)
    later = now.replace(hour=11)
    second = [
        ingest(ctx, FileBody(folder / name), source="cli", target=None, now=later)
        for name in corpus_files()
    ]
    after = counts(ctx)
    assert sum(s.findings for s in second) == sum(s.findings for s in first)
    assert sum(s.new for s in second) == 0
    assert sum(s.tickets_opened for s in second) == 0
    assert after["findings"] == before["findings"]
    assert after["tickets"] == before["tickets"]
    assert after["jobs"] == before["jobs"]
    # only scan.ingested events were added
    assert after["events"] - before["events"] == len(corpus_files())
