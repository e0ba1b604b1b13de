"""Webhook endpoints of operators and partners (API.md "Events and webhooks"):
registration with URL safety (`urls`), secrets shown once and sealed at rest
(`secrets`), Standard Webhooks signatures (`signing`), and the deliveries
queue's consumer with its retry schedule (`deliveries`)."""
