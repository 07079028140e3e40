"""The wire: HTTP exchanges with the service, the SFTP drop, webhooks, retries and secrets."""
