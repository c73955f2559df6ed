"""What the adapters share: ask-and-record, uploads and jobs, feedback."""
