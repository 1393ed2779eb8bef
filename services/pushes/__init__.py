"""Pushes: editors compose (compose, admin, rules, trial_and_uploads) template, subscribe,
customer-service and mass messages to an audience (audiences); every instance fans them out in leased
chunks (fanout, snapshot, chunk, send, context) with live counters (live), control (pause, resume,
cancel, quota), progress, and WeChat's delivery receipts (receipts, receipts_live)."""
