"""抢券: coupon batches with waves and fair shares per org, one Lua decision per grab, written behind
into the benefits ledger. See live.py (the Redis side), grabbing.py (workers), admin.py (editors)."""
