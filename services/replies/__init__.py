"""Automatic replies: what editors may write (a small template language, linear-time regexes, safe links)."""
