"""Sending: what a send will do (`plan`), the send itself (`send`), the batch loop (`batches`,
`pace`), units in flight and their recorder (`inflight`), crash points for the crash tests
(`crashpoints`), the per-recipient ledger (`sends`, `ledger`), workers and their liveness
(`workers`, `worker_loop`), database locks (`locks`), scheduled sends (`schedule`), the MIME
message built once (`mime/`), the delivery backends (`delivery/`), provider events
(`provider_events`), what comes back along the return path, bounces and complaints from any
source (`return_path`), proofs (`proof`) and the archive of sent issues (`archive`).

Layer: above `authoring` and `audience`, which it may import with `db` and the kernel; beside
`tracking` and `mailbox`; never `web` or `cli`.
"""
