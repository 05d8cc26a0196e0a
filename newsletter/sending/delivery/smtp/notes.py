"""Notes on their way: the messages whose end waits for the feed to note them as handed to the
network. They are asked for together, once per turn of the loop, with the turn's results (one
commit for all of them), and come back as the commits complete (or the send stops and they
are refused)."""

from __future__ import annotations

import threading

from newsletter.sending.delivery.base import Done, Feed
from newsletter.sending.delivery.smtp.link import Link
from newsletter.sending.delivery.smtp.transaction import Transaction

Waiting = list[tuple[Link, Transaction]]


class Notes:
    def __init__(self, feed: Feed):
        self.feed = feed
        self.wanted: Waiting = []
        self.asked: list[tuple[threading.Event, Waiting]] = []

    def __bool__(self) -> bool:
        return bool(self.asked)

    def want(self, link: Link, txn: Transaction) -> None:
        self.wanted.append((link, txn))

    def ask(self, finished: list[Done]) -> bool:
        """Hand the feed this turn's results and ask for the notes wanted, in one report (so
        one commit stores both); True if it noted them at once."""
        if not self.wanted:
            if finished:
                self.feed.report(finished, [])
                finished.clear()
            return False
        batch, self.wanted = self.wanted, []
        ready = self.feed.report(finished, [txn.unit for _, txn in batch])
        finished.clear()
        self.asked.append((ready, batch))
        return ready.is_set()

    def answered(self) -> Waiting:
        """The messages whose notes are committed (or refused) since the last call."""
        done: Waiting = []
        pending = []
        for ready, batch in self.asked:
            if ready.is_set():
                done += batch
            else:
                pending.append((ready, batch))
        self.asked = pending
        return done
