"""The single-table DynamoDB access package shared by the API and the loader.

Pure modules (`schema`, `keys`, `models`, `validation`, `codecs`, `sequence`, `errors`) import only
the standard library; `repository/` is the only code that speaks to AWS.
"""
