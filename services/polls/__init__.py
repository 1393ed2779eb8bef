"""Polls (投票): editors define and publish them (admin, definitions, input); workers vote (voting): one Lua
decision per ballot counts it and queues it (live), the flusher writes ballots behind to MongoDB
(flusher, ballots_store); poll documents in store."""
