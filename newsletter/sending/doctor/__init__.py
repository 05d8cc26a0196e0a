"""`newsletter doctor`: will Gmail, Yahoo and Outlook accept this domain's bulk mail? Each
check (`findings`: pass, warn, fail or info, the record read, the fix) reads DNS through
`lookup` (dnspython; time-outs and SERVFAIL are "could not check"), about the names of
`domain`: SPF with its lookup count (`spf`) and DKIM (`auth_checks`), DMARC, MX and the
informational records (`policy_checks`), and the message built by the real message code
(`message_checks`, with the free-mail domains in `freemail.txt`); `run` puts them in order.
"""
