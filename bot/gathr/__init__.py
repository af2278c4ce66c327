"""Gathr: the REST client, its transport, what a refusal was about, and a simulator.

A new application type or a new Gathr call goes here (and its name in `bot.model`).
"""
