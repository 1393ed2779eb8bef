"""Followers of the official account: following and leaving, org binding by QR scene, last interaction
(following, live, store); worker-service centres found by location (centres, centres_store)."""
