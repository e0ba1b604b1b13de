"""Events out of the tables (API.md "Events and webhooks", ARCHITECTURE.md
"Events flow out of the tables"): the change streams of the business tables
are read by one events function that derives each event from the old and new
images (`derive`, pure), with an id derived from the change itself (`ids`),
and writes it to the events table (`feed`), whose own stream feeds the webhook
deliveries and the SMS notifications (`dispatch`). The hot paths write nothing
for it. `GET /v1/events` reads the same table (`feed.read`)."""
