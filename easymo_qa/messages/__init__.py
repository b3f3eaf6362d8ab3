"""The inventory of the bot's messages and their approval (the cutover plan §1.1: every user-facing message
reviewed and approved).

``normalise`` turns run-specific values into placeholders and keys a message; ``inventory`` folds the
messages each test received into distinct entries; ``approved`` reads ``fixtures/messages.approved.yaml``,
reviews an inventory against it and rewrites it (``easymo-qa messages approve``); ``writers`` writes
``reports/messages.{md,csv,json}``; ``section`` gives the sign-off its metric and report section.
``easymo_qa/pytest_messages.py`` collects the messages during a pytest session.
"""
