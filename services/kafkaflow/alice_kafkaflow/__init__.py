"""Alice kafkaflow service."""
