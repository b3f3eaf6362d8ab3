"""``easymo-qa chat``: a QA engineer talks to the bot as a buyer, station, vendor or driver, sees each reply
as WhatsApp would show it, and can save the session as a journey that replays (``--record``).

``session`` runs the conversation (commands in ``commands``, rendering in ``render``), ``model`` holds what
happened, and ``record`` (with ``patterns``) writes it as a ``*.journey.yaml``.
"""
