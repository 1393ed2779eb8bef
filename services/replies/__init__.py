"""The conversation's editable content: keyword rules, welcome, default and menu-click replies per org
(admin, edit, store), compiled into a per-process snapshot every process keeps current (compile, cache);
what an answer can be (types) and what editors may write: a small template language, linear-time
regexes, safe links (safe_text)."""
