"""The live page: signed links and the event stream of a meeting's snapshots."""
