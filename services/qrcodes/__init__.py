"""Parametric QR codes editors make: `org:<code>` binds a scanning follower to an org, `checkin:<activity>`
checks them in at a venue (admin, store)."""
