//! DynamoDB snapshot store adapter.
