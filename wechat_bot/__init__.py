"""The conversation of the official account: the router table (`table.py`), its bot handlers, and
the pipeline that answers WeChat exactly once within 5 seconds (`bot.py`)."""
