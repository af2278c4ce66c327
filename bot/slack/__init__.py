"""Slack: the Bolt app and its listeners, and how the core's messages reach a channel.

A new Slack surface (a form, the App Home) goes here; the core knows nothing of Slack.
"""
