"""Citizens' doors (issue #17, part 1): the channel role's intake and citizen view, retrieval
codes, the public lookup, the citizen's evaluation and the SMS sent through the outbox.
docs/channels.md describes each door."""
