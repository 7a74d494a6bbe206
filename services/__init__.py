"""The two services (the API and the batch loader), the `om` command line and the local stack."""
