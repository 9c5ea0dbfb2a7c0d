"""HTTP hygiene middlewares on the gateway's edge: request ids, access records and traces, body size,
forwarded headers, foreign Host, safe validation errors, and outages of the database or
session store answered 503."""
