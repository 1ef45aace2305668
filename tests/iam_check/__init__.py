"""The IAM check: every AWS call the suite's code makes, evaluated against the policies the stacks deploy."""
