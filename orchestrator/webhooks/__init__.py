"""Zoom's webhooks in: signature checks, the receiver, what each event means, and refused deliveries."""
