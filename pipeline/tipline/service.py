"""The tip line's rules, free of HTTP: accept a tip, read a thread, add a follow-up.

Write order for a tip: thread (so the tipster can come back) -> durable publish to tips.raw ->
answer. If the bus refuses, the thread is deleted again, so nothing half-written remains and
the tipster is told to try again or call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from pipeline.bus import Bus, OutMessage
from pipeline.schema import Tip, utcnow
from pipeline.tipline import passphrase
from pipeline.tipline.i18n import Message
from pipeline.tipline.threads import (
    Attachment,
    CodeTaken,
    ThreadMessage,
    ThreadStore,
    ThreadStoreError,
    TipThread,
    UnknownThread,
)
from pipeline.tipline.validation import FollowUpIn, InputError, Schools, TipIn

# Logs name tip ids and outcomes only: never tip text, contact or anything about the client.
log = logging.getLogger("threatline.tipline")

UNAVAILABLE = Message("The tip line cannot safely record your tip right now, so it was not sent. "
                      "Please try again in a few minutes.")
NOT_FOUND = Message("No tip matches that code and passphrase. Check both and try again.")
UNREADABLE = Message("Tips cannot be read right now. Please try again in a few minutes.")
CODE_ALPHABET = set("ABCDEFGHJKMNPQRSTUVWXYZ23456789")
_CODE_ATTEMPTS = 3  # 31^10 codes: a second collision in a row means something else is wrong


class Unavailable(Exception):
    """Nothing was kept; ``message`` (a ``Message``) tells the tipster to try again."""

    @property
    def message(self) -> str:
        return self.args[0] if self.args else UNAVAILABLE


@dataclass(frozen=True)
class Receipt:
    tip_id: str
    code: str
    passphrase: str


class TipService:
    def __init__(self, bus: Bus, threads: ThreadStore, tips_topic: str, schools: Schools):
        self.bus = bus
        self.threads = threads
        self.tips_topic = tips_topic
        self.schools = schools

    def submit(self, tip_in: TipIn, attachment: Attachment | None = None) -> Receipt:
        """``attachment``: a picture already cleaned (``images.clean``). It stays in the thread
        store; the tip on the bus never carries it."""
        school = self.schools.canonical(tip_in.school)  # an unknown school is a 422 before any work
        secret = passphrase.generate()
        salt = passphrase.new_salt()
        tip = self._create_thread(tip_in, school, salt, passphrase.hash_passphrase(secret, salt), attachment)
        self._publish(OutMessage(self.tips_topic, tip.id, tip.to_bytes(), {"kind": "tip"}),
                      undo=lambda: self.threads.delete(tip.code), what="tip")
        log.info("tip accepted id=%s urgent=%s picture=%s", tip.id, tip.urgent, attachment is not None,
                 extra={"item_id": tip.id, "outcome": "accepted"})
        return Receipt(tip.id, tip.code, secret)

    def _create_thread(self, tip_in: TipIn, school: str | None, salt: bytes, digest: bytes,
                       attachment: Attachment | None) -> Tip:
        for _ in range(_CODE_ATTEMPTS):
            tip = Tip(message=tip_in.message, school=school, when_where=tip_in.when_where or None,
                      urgent=tip_in.urgent, contact=tip_in.contact or None)
            try:
                self.threads.create(tip.code, tip.id, salt, digest, tip.school, tip.message, attachment)
                return tip
            except CodeTaken:
                continue
            except ThreadStoreError as exc:
                log.error("tip not accepted: thread store failed: %s", type(exc).__name__)
                raise Unavailable(UNAVAILABLE) from None
        log.error("tip not accepted: %d tip codes in a row were taken", _CODE_ATTEMPTS)
        raise Unavailable(UNAVAILABLE)

    def _publish(self, message: OutMessage, *, undo, what: str) -> None:
        """Durably on the bus, or undone and Unavailable: a tip is never half-accepted."""
        try:
            self.bus.publish([message])
        except Exception as exc:  # noqa: BLE001 - whatever failed, the tip is not known to be on the bus
            self._undo(undo)
            log.error("%s not accepted: bus publish failed (%s); thread write undone", what, type(exc).__name__)
            raise Unavailable(UNAVAILABLE) from None

    def open_thread(self, code: str, typed_passphrase: str | None) -> TipThread:
        """The thread if code and passphrase match; the same error either way otherwise."""
        code = normalize_code(code)
        try:
            thread = self.threads.get(code) if code else None
        except ThreadStoreError:
            raise Unavailable(UNREADABLE) from None
        typed = typed_passphrase or ""
        if thread is None:
            passphrase.burn_time(typed)
            raise InputError(404, NOT_FOUND)
        if not passphrase.verify(typed, thread.salt, thread.passphrase_hash):
            raise InputError(404, NOT_FOUND)
        return thread

    def follow_up(self, code: str, typed_passphrase: str | None, follow: FollowUpIn,
                  attachment: Attachment | None = None) -> TipThread:
        thread = self.open_thread(code, typed_passphrase)
        # A follow-up is a tip of its own for classification (new id, same code), so new
        # details are scored as they arrive; the shared code links it to the thread.
        tip = Tip(code=thread.code, message=follow.message, school=thread.school)
        try:
            seq = self.threads.add_message(thread.code, "tipster", follow.message, attachment)
        except UnknownThread:
            raise InputError(404, NOT_FOUND) from None  # purged since open_thread
        except ThreadStoreError:
            raise Unavailable(UNAVAILABLE) from None
        self._publish(OutMessage(self.tips_topic, tip.id, tip.to_bytes(),
                                 {"kind": "followup", "thread_tip_id": thread.tip_id}),
                      undo=lambda: self.threads.remove_message(thread.code, seq), what="follow-up")
        log.info("follow-up accepted thread=%s id=%s picture=%s", thread.tip_id, tip.id, attachment is not None)
        try:
            return self.threads.get(thread.code) or thread
        except ThreadStoreError:
            # Accepted already: answer with what we know instead of an error.
            added = ThreadMessage(seq, "tipster", follow.message, utcnow().isoformat(),
                                  attachment.media_type if attachment else None)
            return replace(thread, messages=[*thread.messages, added])

    @staticmethod
    def _undo(action) -> None:
        try:
            action()
        except Exception:  # noqa: BLE001 - the caller reports the original failure
            # Thread without a bus message: the tipster was told it failed; staff see nothing.
            log.error("could not undo a thread write after a bus failure")


def normalize_code(typed: str) -> str:
    code = "".join(ch for ch in typed.upper() if ch.isalnum())
    return code if len(code) == 10 and set(code) <= CODE_ALPHABET else ""


def thread_view(thread: TipThread, *, pictures: bool = False) -> dict:
    """What the tipster may see of their thread. With ``pictures`` (the HTML page; the JSON API
    keeps its shape) each message says whether a picture came with it."""
    messages = [{"from": "you" if m.sender == "tipster" else "staff", "text": m.text, "at": m.at,
                 **({"picture": m.attachment is not None} if pictures else {})}
                for m in thread.messages]
    return {"code": thread.code, "status": thread.status, "created_at": thread.created_at,
            "messages": messages, "replies": [m for m in messages if m["from"] == "staff"]}
