"""Bulk messaging: jobs, recipients, chunks and the worker; each recipient is one ``gateway.send()``."""
