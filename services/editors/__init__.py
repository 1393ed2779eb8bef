"""The editors of the console: accounts and roles (accounts), login and sessions (auth, sessions_live), the
org scope every console service takes (scope), the audit log (audit, audit_store), one audited
create/update/status path for content kinds (audited), duplicate-submit keys (once, once_live) and
exports (CSV with formula protection, xlsx)."""
