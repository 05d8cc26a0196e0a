"""Engagement: click and open tracking, people-or-machine verdicts, and the report.

- `links`: a send's stored links and the HTML it goes out with (rewritten once per send by
  `authoring.tracked_links`); the link lookup of the redirect.
- `agents` (+ `agents.toml`, the one list of scanner and proxy agents, with sources) and
  `judge`: each hit judged on arrival; only the verdict and its reason are kept.
- `arrival` (a hit as the web app receives it) and `hits` (recording it, judged against the
  recipient's recent hits in the database, so every server process judges alike; `hits_pg`
  for PostgreSQL's concurrent writers, `hit_rows` for what both share, in plain SQL on the
  driver through `db.driver_sql`).
- `provider`: SendGrid's own open and click events, through the same judging.
- `optout` ("Don't track my opens and clicks"), `unsubscribes` (unsubscribes through an issue's
  links), `retention` (hits expire into totals).
- `report`, `report_html`, `timeline`: the figures of a send, as JSON, text or one HTML page;
  a subject-line test's figures per variant (`ab_figures`), its verdict (`ab_verdict`) and its
  part of the report (`ab_report`).
- `overview_html`, `growth_chart`: the page without an issue, growth per week (a chart drawn
  from `audience.growth`) beside the last 20 sends.

May import: `authoring`, `audience`, `db` and the kernel; never `sending` (which imports this
package to track a send), `mailbox`, `web` or `cli`.
"""
