"""The batch loader: what the AWS Batch job runs for each uploaded CSV (`om load-job`)."""
