"""The tip line's rules, free of HTTP: accept a tip, read a thread, add a follow-up.

Write order for a tip: thread (so the tipster can come back) -> durable publish to tips.raw ->
answer. If the bus refuses, the thread is deleted again, so nothing half-written remains and
the tipster is told to try again or call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.bus import Bus, BusError, OutMessage
from pipeline.schema import Tip, new_tip_code
from pipeline.tipline import passphrase
from pipeline.tipline.threads import ThreadStore, ThreadStoreError, TipThread
from pipeline.tipline.validation import FollowUpIn, InputError, Schools, TipIn

# Logs name tip ids and outcomes only: never tip text, contact or anything about the client.
log = logging.getLogger("threatline.tipline")

UNAVAILABLE = ("The tip line cannot safely record your tip right now, so it was not sent. "
               "Please try again in a few minutes.")
NOT_FOUND = "No tip matches that code and passphrase. Check both and try again."
CODE_ALPHABET = set("ABCDEFGHJKMNPQRSTUVWXYZ23456789")


class Unavailable(Exception):
    pass


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

    def submit(self, tip_in: TipIn) -> Receipt:
        tip = Tip(message=tip_in.message, school=self.schools.canonical(tip_in.school),
                  when_where=tip_in.when_where or None, urgent=tip_in.urgent, contact=tip_in.contact or None)
        secret = passphrase.generate()
        salt = passphrase.new_salt()
        try:
            self.threads.create(tip.code, tip.id, salt, passphrase.hash_passphrase(secret, salt),
                                tip.school, tip.message)
        except ThreadStoreError as exc:
            # A code collision (31^10 codes) lands here too; the tipster simply sends again.
            log.error("tip not accepted: thread store failed: %s", type(exc).__name__)
            raise Unavailable(UNAVAILABLE) from None
        try:
            self.bus.publish([OutMessage(self.tips_topic, tip.id, tip.to_bytes(), {"kind": "tip"})])
        except BusError:
            self._undo(lambda: self.threads.delete(tip.code))
            log.error("tip not accepted: bus publish failed; thread removed")
            raise Unavailable(UNAVAILABLE) from None
        log.info("tip accepted id=%s urgent=%s", tip.id, tip.urgent)
        return Receipt(tip.id, tip.code, secret)

    def open_thread(self, code: str, typed_passphrase: str | None) -> TipThread:
        """The thread if code and passphrase match; the same error either way otherwise."""
        code = normalize_code(code)
        try:
            thread = self.threads.get(code) if code else None
        except ThreadStoreError:
            raise Unavailable("Tips cannot be read right now. Please try again in a few minutes.") from None
        typed = typed_passphrase or ""
        if thread is None:
            passphrase.burn_time(typed)
            raise InputError(404, NOT_FOUND)
        if not passphrase.verify(typed, thread.salt, thread.passphrase_hash):
            raise InputError(404, NOT_FOUND)
        return thread

    def follow_up(self, code: str, typed_passphrase: str | None, follow: FollowUpIn) -> TipThread:
        thread = self.open_thread(code, typed_passphrase)
        # A follow-up is a tip of its own for classification (new id, same code), so new
        # details are scored as they arrive; the shared code links it to the thread.
        tip = Tip(code=thread.code, message=follow.message, school=thread.school)
        try:
            seq = self.threads.add_message(thread.code, "tipster", follow.message)
        except ThreadStoreError:
            raise Unavailable(UNAVAILABLE) from None
        try:
            self.bus.publish([OutMessage(self.tips_topic, tip.id, tip.to_bytes(),
                                         {"kind": "followup", "thread_tip_id": thread.tip_id})])
        except BusError:
            self._undo(lambda: self.threads.remove_message(thread.code, seq))
            log.error("follow-up not accepted: bus publish failed; message removed")
            raise Unavailable(UNAVAILABLE) from None
        log.info("follow-up accepted thread=%s id=%s", thread.tip_id, tip.id)
        return self.threads.get(thread.code)

    @staticmethod
    def _undo(action) -> None:
        try:
            action()
        except ThreadStoreError:
            # Thread without a bus message: the tipster was told it failed; staff see nothing.
            log.error("could not undo a thread write after a bus failure")


def normalize_code(typed: str) -> str:
    code = "".join(ch for ch in typed.upper() if ch.isalnum())
    return code if len(code) == 10 and set(code) <= CODE_ALPHABET else ""


def thread_view(thread: TipThread) -> dict:
    """What the tipster may see of their thread."""
    messages = [{"from": "you" if m.sender == "tipster" else "staff", "text": m.text, "at": m.at}
                for m in thread.messages]
    return {"code": thread.code, "status": thread.status, "created_at": thread.created_at,
            "messages": messages, "replies": [m for m in messages if m["from"] == "staff"]}
