"""Fakes of external systems, run as real loopback HTTP servers (port 0, threaded).

* :mod:`tests.fakes.jira` — ``FakeJira``, Jira Cloud REST (v2/v3) for the ``jira`` library.
* :mod:`tests.fakes.linear` — ``FakeLinear``, Linear GraphQL.
* :mod:`tests.fakes.fixtures` — pytest fixtures ``fake_jira``, ``jira_tracker``,
  ``fake_linear``, ``linear_tracker``; :mod:`tests.fakes.drafts` — ``make_draft``.
* :mod:`tests.fakes.slack` / :mod:`tests.fakes.slack_fixtures` — the fake Slack Web API.
"""
