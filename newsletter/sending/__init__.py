"""Sending: what a send will do (`plan`), the send itself (`send`), the batch loop (`batches`,
`pace`, and how a flight that went wrong ends: `flight_end`), a graceful stop on a signal
(`stopping`), subject-line tests (`ab_store`: variants stored with the send, `ab_sample`: the test
share chosen in SQL, `ab_phase`: testing, waiting, winner, `ab_winner`: the decision), units in
flight (`inflight`, and what they decide when things go wrong: `flight_trouble`), their recorder
(`recorder`) and what it writes (`recording`), a worker's patience with its database gone
(`patience`) and the journal of what it delivered but could not record (`journal`), what the
workers learn about their relay (`pacing`), crash points for the crash tests (`crashpoints`), the
per-recipient ledger (`sends`, `ledger`, and the rows of mail that came back: `ledger_returns`),
what became of a send's messages, one definition for the status and the report (`outcomes`),
workers and their liveness (`workers`, `worker_loop`, what they handed out: `handed`), database
locks (`locks`), scheduled sends (`schedule`, and the notices it gives once: `notices`), the MIME
message built once (`mime/`), the delivery backends (`delivery/`), provider events
(`provider_events`), what comes back along the return path, bounces and complaints from any source
(`return_path`, with the map of the whole bounce path), proofs (`proof`), the archive of sent
issues (`archive`) and the domain's check-up before sending (`doctor/`). The sub-packages `mime/`
and `delivery/` are layers of their own: a transport knows nothing of the ledger.

May import: `tracking`, `authoring`, `audience`, `db` and the kernel; never `mailbox` (which
imports this package for the return path), `web` or `cli`.
"""
