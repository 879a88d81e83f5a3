"""Registering attendees: Zoom's answer carries a personal join link, and whoever joins through it shows
up in the participant reports with the registration's ``registrant_id``, even from outside the account
where Zoom blanks ids and e-mails. Rollcall keeps which customer key (employee id) each registration was
for, so reconciliation can name that person."""
from __future__ import annotations

from orchestrator.report_store import ReportStore
from orchestrator.zoom.api import ZoomApi
from orchestrator.zoom.models import Registration


def register_attendee(api: ZoomApi, store: ReportStore, meeting_id: str, customer_key: str, first_name: str,
                      email: str, last_name: str | None = None) -> Registration:
    """Register ``customer_key`` for the meeting and remember the binding; returns the registration (its
    ``join_url`` is absent when the host approves registrations by hand)."""
    registration = api.add_registrant(meeting_id, first_name, email, last_name)
    store.bind_registrant(meeting_id, registration.registrant_id, customer_key)
    return registration
