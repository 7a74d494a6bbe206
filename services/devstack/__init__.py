"""The local stack behind `om dev`: AWS's DynamoDB Local (or serialized moto) plus moto for S3."""
