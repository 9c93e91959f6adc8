"""Service functions the admin API calls: validation and orchestration over stores and queues."""
