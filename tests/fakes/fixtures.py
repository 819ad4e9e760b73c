"""pytest fixtures for the fake trackers. Use them from a conftest::

    from tests.fakes.fixtures import fake_jira, fake_linear, jira_tracker, linear_tracker

or ``pytest_plugins = ["tests.fakes.fixtures"]`` in the root conftest.

* ``fake_jira`` / ``fake_linear``: a started fake server (function scope, stopped afterwards);
  tune failure injection on it (``fail_next``, ``hang_next``, ``lose_next``, ``failure_rate``,
  ``lose_reply_rate``; Linear also ``ratelimit_next``).
* ``jira_tracker`` / ``linear_tracker``: the real clients pointed at them, with a short timeout
  (:data:`CLIENT_TIMEOUT`) and a small page size so paging is exercised.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.trackers import JiraTracker, LinearTracker

from .jira import FakeJira
from .linear import FakeLinear

__all__ = ["CLIENT_TIMEOUT", "fake_jira", "fake_linear", "jira_tracker", "linear_tracker"]

CLIENT_TIMEOUT = 0.5  # seconds; a fake's hang_next(seconds=1.0) is past it


@pytest.fixture
def fake_jira() -> Iterator[FakeJira]:
    with FakeJira(seed=1234) as fake:
        assert isinstance(fake, FakeJira)
        yield fake


@pytest.fixture
def jira_tracker(fake_jira: FakeJira) -> Iterator[JiraTracker]:
    tracker = JiraTracker(
        fake_jira.url,
        fake_jira.email,
        fake_jira.api_token,
        fake_jira.project_key,
        "Bug",
        timeout=CLIENT_TIMEOUT,
        page_size=2,
    )
    yield tracker
    tracker.close()


@pytest.fixture
def fake_linear() -> Iterator[FakeLinear]:
    with FakeLinear(seed=1234) as fake:
        assert isinstance(fake, FakeLinear)
        yield fake


@pytest.fixture
def linear_tracker(fake_linear: FakeLinear) -> Iterator[LinearTracker]:
    tracker = LinearTracker(
        fake_linear.api_key,
        fake_linear.team_id,
        api_url=f"{fake_linear.url}/graphql",
        timeout=CLIENT_TIMEOUT,
        page_size=2,
    )
    yield tracker
    tracker.close()
