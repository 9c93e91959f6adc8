"""Pure logic on plain data. Imports neither boto3, httpx nor PynamoDB."""
