"""Houston, the copilot that answers questions about clients' marketing data in Slack.

`agent` builds the agent and answers one question, `tools` reads Mission Control data for it, `tenant` is
the trusted context of a run, and `memory` keeps each Slack thread's history.
"""
