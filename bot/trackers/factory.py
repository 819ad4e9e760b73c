"""Build the configured tracker client once per process (cached on the context)."""

from __future__ import annotations

from bot.context import AppContext
from integrations.trackers import JiraTracker, LinearTracker, Tracker


def get_tracker(ctx: AppContext) -> Tracker | None:
    """The remote tracker, or None for the local tracker (tickets live in slabot's DB)."""
    settings = ctx.settings
    if settings.tracker == "local":
        return None
    cached = ctx.services.get("tracker")
    if cached is not None:
        tracker: Tracker = cached
        return tracker
    if settings.tracker == "jira":
        assert settings.jira_url and settings.jira_email and settings.jira_project
        assert settings.jira_api_token is not None
        tracker = JiraTracker(
            settings.jira_url,
            settings.jira_email,
            settings.jira_api_token.get_secret_value(),
            settings.jira_project,
            settings.jira_issue_type,
        )
    else:
        assert settings.linear_api_key is not None and settings.linear_team_id
        tracker = LinearTracker(
            settings.linear_api_key.get_secret_value(),
            settings.linear_team_id,
            api_url=settings.linear_api_url,
        )
    ctx.services["tracker"] = tracker
    return tracker
