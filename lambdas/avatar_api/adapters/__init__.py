"""Every AWS or network access of the API, behind small classes the domain reaches through
`avatar_api.domain.services.Services`: S3 (`aws.Bucket`, the training records, page cursors), the SageMaker
runtime (`aws`), the state table in DynamoDB (`quotas`, `quota_items`, `idempotency`), SNS (`messaging`),
Comprehend and Rekognition (`moderation_aws`), webhook delivery (`webhooks`) and secrets
(`webhook_secrets`), and the owner-id key in Secrets Manager (`owner_ids`). Nothing here knows HTTP."""
