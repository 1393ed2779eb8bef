"""Org settings: the province builds the base version of 齐鲁工惠, each city (and below) customises it.

A setting is a key of the registry (`registry`: module switches, branding, hotlines, links), set
per org and resolved along the org path (`resolve`: the nearest value wins unless an ancestor
locked the key). Editors set and lock values for their working org (`admin`); every process
keeps resolved settings per (org, version) and sees a change within a second (`live`).
The worker's home (`home`) is what the mini-program opens first: enabled modules, branding and
what is on now.
"""
