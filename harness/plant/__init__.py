"""The real-protocol plant: simulator servers, collector processes, sensor faults."""
