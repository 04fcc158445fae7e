"""Mail through an outbox: queued in the caller's transaction, sent to SMTP after the commit.

A change and the mail that reports it commit together or not at all; `deliver_pending` sends
what is queued, and what the SMTP server refuses stays queued with the reason for the next run.
"""

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.core.config import Settings
from coordinator.db.models import OutboxMail

log = logging.getLogger(__name__)

# A message the SMTP server refused this many times is left for an operator to look at.
MAX_ATTEMPTS = 5
SMTP_TIMEOUT_S = 10


@dataclass(frozen=True)
class Delivery:
    """What one run of `deliver_pending` did."""

    sent: int
    failed: int


def is_mail_configured(settings: Settings) -> bool:
    return settings.smtp_host is not None


def queue_mail(session: Session, *, to: str, subject: str, body: str) -> OutboxMail:
    mail = OutboxMail(to_address=to, subject=subject, body=body, attempts=0)
    session.add(mail)
    session.flush()
    return mail


def deliver_pending(session: Session, settings: Settings, *, now: datetime) -> Delivery:
    """Send queued mail over one SMTP connection; commit after each message is taken."""
    if settings.smtp_host is None:
        return Delivery(sent=0, failed=0)
    pending = session.scalars(
        select(OutboxMail)
        .where(OutboxMail.sent_at.is_(None), OutboxMail.attempts < MAX_ATTEMPTS)
        .order_by(OutboxMail.id)
        .limit(100)
    ).all()
    if not pending:
        return Delivery(sent=0, failed=0)
    sent = failed = 0
    try:
        with _connect(settings) as smtp:
            for mail in pending:
                if _send_one(smtp, settings, mail, now):
                    sent += 1
                else:
                    failed += 1
                session.commit()
    except (OSError, smtplib.SMTPException) as error:
        for mail in pending[sent + failed :]:
            _note_failure(mail, f"cannot reach the SMTP server: {error}")
        session.commit()
        failed = len(pending) - sent
    return Delivery(sent=sent, failed=failed)


def _connect(settings: Settings) -> smtplib.SMTP:
    smtp = smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=SMTP_TIMEOUT_S)
    if settings.smtp_starttls:
        smtp.starttls(context=ssl.create_default_context())
    if settings.smtp_username and settings.smtp_password:
        smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    return smtp


def _send_one(smtp: smtplib.SMTP, settings: Settings, mail: OutboxMail, now: datetime) -> bool:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message.set_content(mail.body or "")
    try:
        smtp.send_message(message)
    except smtplib.SMTPException as error:
        _note_failure(mail, str(error))
        return False
    mail.sent_at = now
    mail.attempts += 1
    mail.body = None  # it held a one-time link; the recipient's mailbox has it now
    return True


def _note_failure(mail: OutboxMail, reason: str) -> None:
    mail.attempts += 1
    mail.last_error = reason[:500]


class MailCourier:
    """Hands queued mail to SMTP every `every_s` seconds while the coordinator serves.

    Whatever queued the mail (an invite route, a user created through the API, a CSV import of
    users), it leaves within one interval of its commit; a refused message is tried again on the
    next round. `coordinator mail send` does one round by hand.
    """

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], *, every_s: float
    ) -> None:
        self._settings, self._sessions, self._every_s = settings, sessions, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mail-courier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=SMTP_TIMEOUT_S + 5)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                with self._sessions() as session:
                    delivery = deliver_pending(session, self._settings, now=datetime.now(UTC))
            except Exception:  # the courier must outlive a bad round; the mail stays queued
                log.exception("mail round failed; queued mail is tried again next round")
                continue
            if delivery.sent or delivery.failed:
                log.info("mail: %d sent, %d refused", delivery.sent, delivery.failed)
