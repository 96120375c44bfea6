"""Media in and out: decoding videos and images, encoding MP4."""
