"""The service: settings, app factory, data access, services, adapters (composition root)."""
