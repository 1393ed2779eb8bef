"""The conversation's editable content: keyword rules, welcome, default and menu-click replies per org
(admin, edit, store), compiled into a per-process snapshot every process keeps current (compile, cache);
what an answer can be (types)."""
