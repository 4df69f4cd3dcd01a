"""The review queue's domain: which bursts are left to tag, and which are likely empty."""
