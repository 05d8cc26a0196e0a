// A PIPELINING SMTP sink on 127.0.0.1 built on npm smtp-server, as real relays advertise it.
//   node smtp_sink.js PORT SUMMARY_FILE [LATENCY_MS]
// Prints "listening on PORT"; accepts every message; on SIGTERM writes
// {"messages": n, "distinct": n} to SUMMARY_FILE. LATENCY_MS delays every write to a client
// (each SMTP reply), in order, like a server that far away.
"use strict";
const fs = require("fs");
const net = require("net");
const { SMTPServer } = require("smtp-server");

const port = parseInt(process.argv[2] || "0", 10);
const summary = process.argv[3] || "";
const latency = parseFloat(process.argv[4] || "0");

if (latency > 0) {
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (...args) {
    setTimeout(() => write.apply(this, args), latency);
    return true;
  };
}

let messages = 0;
const recipients = new Set();
const server = new SMTPServer({
  authOptional: true,
  disableReverseLookup: true, // no DNS here: a lookup of 127.0.0.1 delays each greeting ~100 ms
  disabledCommands: ["STARTTLS", "AUTH"],
  logger: false,
  maxClients: 1000,
  size: 50 * 1024 * 1024,
  onData(stream, session, callback) {
    stream.on("data", () => {});
    stream.on("end", () => {
      messages += 1;
      for (const r of session.envelope.rcptTo) recipients.add(r.address);
      callback(null, "OK queued");
    });
  },
});
server.listen(port, "127.0.0.1", () => {
  console.log("listening on " + server.server.address().port);
});
process.on("SIGTERM", () => {
  if (summary) fs.writeFileSync(summary, JSON.stringify({ messages, distinct: recipients.size }));
  process.exit(0);
});
