"""One request lifecycle for every RunComfy queue API: submit, poll a status, fetch a result, cancel.

The Model API's requests, the Serverless API's deployment requests and the Trainer API's jobs all have that
shape; what differs between them is data, not code::

    apis.py      QueueAPI: where status, result and cancel live for an id, the status vocabulary, where the
                 queue position, the progress and the output files are found. MODEL_API is one such description.
    context.py   CallContext: the session, base URL, retry policy, clock, sleep, retry hooks and rate gate that
                 every call of a client shares; handles and the wait loop receive it, never the Client itself.
    waiting.py   the one wait loop: poll until terminal within a deadline, ride out outages, re-fetch a result
                 that lags its status, bound a status nobody knows.
    handle.py    RequestHandle: one request of one API (status, iter_status, wait, result, cancel).

Nothing here prints, prompts or exits.
"""
