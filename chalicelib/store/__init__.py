"""PynamoDB models and tenant-scoped repositories: the only place that knows DynamoDB."""
