"""The deliverable: unpacked, its CSVs read, merged back onto the frame, summarised."""
