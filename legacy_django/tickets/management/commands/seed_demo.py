"""``manage.py seed_demo``: the demo users and their tickets, safe to run on every start.

Tickets are looked up by (owner, title), so a second run adds nothing; the
passwords are set again each time, so a forgotten or changed demo password is
one command away from known.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from legacy_django.tickets.models import Ticket

DEMO_PASSWORD = "demo-password"

_Status = Ticket.Status
_Priority = Ticket.Priority

# (username, is_staff) — staff here are also superusers, as the help-desk admin is.
DEMO_USERS: tuple[tuple[str, bool], ...] = (("alice", False), ("bob", False), ("admin", True))

# Three tickets per status per regular user, each title saying whose it is.
DEMO_TICKETS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "alice": (
        (
            "Alice: VPN drops every hour",
            "Since Monday the VPN disconnects on the hour, every hour, and I lose my SSH "
            "sessions to the build box. Wired or Wi-Fi makes no difference.",
            _Status.OPEN,
            _Priority.HIGH,
        ),
        (
            "Alice: Need access to the finance share",
            "I am covering for Priya during the quarter close and need read access to "
            "\\\\files\\finance until the end of the month.",
            _Status.OPEN,
            _Priority.NORMAL,
        ),
        (
            "Alice: Laptop fan is very loud",
            "The fan runs at full speed even when the laptop is idle. It started after "
            "last week's firmware update.",
            _Status.OPEN,
            _Priority.LOW,
        ),
        (
            "Alice: Calendar invites arrive twice",
            "Every meeting invite shows up twice in my calendar; declining one declines "
            "both. Waiting on the mail team to check the transport rules.",
            _Status.PENDING,
            _Priority.NORMAL,
        ),
        (
            "Alice: Order a second monitor",
            "Manager approved a second 27\" monitor for my desk (approval attached to the "
            "purchase request). Waiting for the supplier's delivery date.",
            _Status.PENDING,
            _Priority.LOW,
        ),
        (
            "Alice: Expense tool rejects my receipts",
            "Uploading PDF receipts fails with 'unsupported file'. Vendor says a fix ships "
            "in their next release.",
            _Status.PENDING,
            _Priority.HIGH,
        ),
        (
            "Alice: Password expired while travelling",
            "Reset by phone from the airport; I can sign in again. Thanks!",
            _Status.CLOSED,
            _Priority.URGENT,
        ),
        (
            "Alice: Install Python 3.11 on the build box",
            "Done: python3.11 is on the PATH of the build box.",
            _Status.CLOSED,
            _Priority.NORMAL,
        ),
        (
            "Alice: Badge does not open the 2nd floor door",
            "Security re-synced the badge; the door opens again.",
            _Status.CLOSED,
            _Priority.LOW,
        ),
    ),
    "bob": (
        (
            "Bob: Printer on floor 3 jams",
            "The big printer by the kitchen on floor 3 jams on every duplex job. Single "
            "sided works. Paper tray 2 looks bent.",
            _Status.OPEN,
            _Priority.NORMAL,
        ),
        (
            "Bob: Outlook crashes when opening attachments",
            "Outlook closes without a message whenever I open an Excel attachment. "
            "Restarting does not help; the web client works.",
            _Status.OPEN,
            _Priority.URGENT,
        ),
        (
            "Bob: Phone headset crackles",
            "The desk phone headset crackles during calls. Tried another cable, same thing.",
            _Status.OPEN,
            _Priority.LOW,
        ),
        (
            "Bob: Shared drive is full",
            "The team's shared drive reports 0 bytes free; we cannot save the weekly "
            "reports. Storage team is looking into a quota increase.",
            _Status.PENDING,
            _Priority.HIGH,
        ),
        (
            "Bob: New starter needs an account",
            "Sam joins the sales team on the 1st. Needs an email account, a laptop and "
            "CRM access. HR form submitted, waiting on the signed contract.",
            _Status.PENDING,
            _Priority.NORMAL,
        ),
        (
            "Bob: Wi-Fi is slow in meeting room B",
            "Video calls in meeting room B stutter. Network team will measure it on Thursday.",
            _Status.PENDING,
            _Priority.LOW,
        ),
        (
            "Bob: Locked out after too many attempts",
            "Account unlocked; I'm back in.",
            _Status.CLOSED,
            _Priority.HIGH,
        ),
        (
            "Bob: Replace broken keyboard",
            "New keyboard delivered to desk 3-14.",
            _Status.CLOSED,
            _Priority.LOW,
        ),
        (
            "Bob: CRM export times out",
            "The CRM export now finishes in under a minute after the index rebuild.",
            _Status.CLOSED,
            _Priority.NORMAL,
        ),
    ),
}


class Command(BaseCommand):
    help = "Create or refresh the demo users (alice, bob, admin) and their tickets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default=DEMO_PASSWORD,
            help=f"Password set for every demo user (default: {DEMO_PASSWORD!r}).",
        )

    @transaction.atomic
    def handle(self, *args: Any, password: str, **options: Any) -> None:
        user_model = get_user_model()
        users = {}
        for username, is_staff in DEMO_USERS:
            user, _ = user_model._default_manager.get_or_create(username=username)
            user.is_active = True
            user.is_staff = is_staff
            user.is_superuser = is_staff
            user.set_password(password)
            user.save()
            users[username] = user

        created = 0
        for username, tickets in DEMO_TICKETS.items():
            # Lists show newest first: create in reverse so open tickets lead the list.
            for title, body, status, priority in reversed(tickets):
                _, was_created = Ticket.objects.get_or_create(
                    owner=users[username],
                    title=title,
                    defaults={"body": body, "status": status, "priority": priority},
                )
                created += was_created

        total = sum(len(tickets) for tickets in DEMO_TICKETS.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo users {', '.join(users)} ready, passwords set. "
                f"Tickets: {created} created, {total - created} already there."
            )
        )
