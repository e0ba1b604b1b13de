"""Basic phones (DOMAIN.md "Channels and notifications"): the USSD menu
(`ussd`, `menu`, `sessions`) and the SMS keywords (`sms`) as thin adapters over
the same services as the HTTP routes, their screens and replies (`screens`),
and the gateways that call them (`gateways`)."""
