"""Bodies of the SQS and schedule handlers: glue between queues, domain and adapters."""
