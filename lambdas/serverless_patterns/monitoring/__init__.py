"""DLQ monitoring: alarm notifications delivered to chat webhooks."""
