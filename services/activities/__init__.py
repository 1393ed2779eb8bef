"""Activities (惠工活动): editors define them (admin, definitions), workers browse and sign up with capacity,
waitlist and cancellation (browsing, signups: one Lua decision per sign-up in live/signup_lua), check in at
the venue (checkin), get confirmations and reminders (reminders); sign-ups are written behind to MongoDB
(flusher, signups_store). Background work: jobs.py."""
